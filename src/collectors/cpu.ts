import { join } from 'node:path';
import { readAttribute, readText } from '../host/files.js';
import type { CoreSample, CpuSlice, CpuTicks } from '../model/snapshot.js';
import { readPressure } from './pressure.js';
import type { SyncCollector } from './types.js';

/** Jiffy counters of one `cpu` line of /proc/stat, see proc(5). */
export interface RawCpuTimes {
  readonly name: string;
  /** All time except guest and guest_nice, which are already counted in user and nice. */
  readonly totalTicks: number;
  /** idle + iowait. */
  readonly idleTicks: number;
  readonly iowaitTicks: number;
}

export interface RawProcStatSystem {
  readonly total: RawCpuTimes;
  readonly cores: readonly RawCpuTimes[];
  readonly bootTimeSecs: number;
}

/** Parses the `cpu`, `cpuN` and `btime` lines of /proc/stat. */
export function parseProcStatSystem(text: string): RawProcStatSystem {
  let total: RawCpuTimes | undefined;
  const cores: RawCpuTimes[] = [];
  let bootTimeSecs = Number.NaN;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu')) {
      const [name, ...fields] = line.split(/\s+/);
      const v = fields.map(Number);
      if (v.length < 4 || v.some((x) => !Number.isFinite(x))) throw new Error(`garbled line "${line}"`);
      const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
      const times: RawCpuTimes = {
        name: name ?? 'cpu',
        totalTicks: user + nice + system + idle + iowait + irq + softirq + steal,
        idleTicks: idle + iowait,
        iowaitTicks: iowait,
      };
      if (name === 'cpu') total = times;
      else cores.push(times);
    } else if (line.startsWith('btime ')) {
      bootTimeSecs = Number(line.slice(6));
    }
  }
  if (total === undefined) throw new Error('no "cpu" line');
  if (!Number.isFinite(bootTimeSecs)) throw new Error('no btime line');
  return { total, cores, bootTimeSecs };
}

/** /proc/loadavg: `0.52 0.58 0.59 2/1036 12345`. */
export function parseLoadavg(text: string): {
  load: [number, number, number];
  runnable: number;
  tasks: number;
} {
  const [a, b, c, tasks] = text.trim().split(/\s+/);
  const load: [number, number, number] = [Number(a), Number(b), Number(c)];
  const [runnable, all] = (tasks ?? '').split('/').map(Number);
  if (load.some((x) => !Number.isFinite(x))) throw new Error(`garbled loadavg "${text.trim()}"`);
  return { load, runnable: runnable ?? 0, tasks: all ?? 0 };
}

function ticksOf(times: RawCpuTimes): CpuTicks {
  return { totalTicks: times.totalTicks, idleTicks: times.idleTicks, iowaitTicks: times.iowaitTicks };
}

/**
 * The jiffy counters of /proc/stat per core and in total, load average, per-core frequency from sysfs
 * cpufreq (absent in most VMs: null), and CPU pressure. CPU use is a share between two reads of the
 * counters: the pipeline derives it (pipeline/derive.ts), so this collector leaves it null and keeps
 * nothing between calls.
 */
export function createCpuCollector(): SyncCollector<CpuSlice> {
  return {
    name: 'cpu',
    collect(ctx) {
      const statPath = join(ctx.paths.procfs, 'stat');
      const loadPath = join(ctx.paths.procfs, 'loadavg');
      let stat: RawProcStatSystem;
      let loadavg: ReturnType<typeof parseLoadavg>;
      try {
        stat = parseProcStatSystem(readText(statPath));
      } catch (error) {
        throw new Error(`cannot read ${statPath}: ${(error as Error).message}`, { cause: error });
      }
      try {
        loadavg = parseLoadavg(readText(loadPath));
      } catch (error) {
        throw new Error(`cannot read ${loadPath}: ${(error as Error).message}`, { cause: error });
      }
      const perCore: CoreSample[] = stat.cores.map((core) => {
        const khz = Number(
          readAttribute(join(ctx.paths.sysfs, 'devices/system/cpu', core.name, 'cpufreq/scaling_cur_freq')),
        );
        return {
          name: core.name,
          usagePercent: null,
          frequencyMhz: Number.isFinite(khz) && khz > 0 ? khz / 1000 : null,
          ticks: ticksOf(core),
        };
      });
      return {
        cores: stat.cores.length,
        load: loadavg.load,
        runnable: loadavg.runnable,
        tasks: loadavg.tasks,
        usagePercent: null,
        iowaitPercent: null,
        perCore,
        pressure: readPressure(ctx.paths, 'cpu'),
        bootTime: stat.bootTimeSecs * 1000,
        ticks: ticksOf(stat.total),
      };
    },
  };
}
