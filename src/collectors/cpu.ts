import { join } from 'node:path';
import { readAttribute, readText } from '../host/files.js';
import type { CoreSample, CpuSlice } from '../model/snapshot.js';
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

function busyPercent(now: RawCpuTimes, before: RawCpuTimes | undefined): number | null {
  if (before === undefined) return null;
  const total = now.totalTicks - before.totalTicks;
  if (total <= 0) return null;
  return Math.min(100, Math.max(0, ((total - (now.idleTicks - before.idleTicks)) / total) * 100));
}

/**
 * CPU use per core and in total (the busy share between two reads of /proc/stat), load average,
 * per-core frequency from sysfs cpufreq (absent in most VMs: null), and CPU pressure.
 */
export function createCpuCollector(): SyncCollector<CpuSlice> {
  let previous: RawProcStatSystem | undefined;
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
      const before = previous;
      previous = stat;
      const perCore: CoreSample[] = stat.cores.map((core) => {
        const khz = Number(
          readAttribute(join(ctx.paths.sysfs, 'devices/system/cpu', core.name, 'cpufreq/scaling_cur_freq')),
        );
        return {
          name: core.name,
          usagePercent: busyPercent(
            core,
            before?.cores.find((c) => c.name === core.name),
          ),
          frequencyMhz: Number.isFinite(khz) && khz > 0 ? khz / 1000 : null,
        };
      });
      let iowaitPercent: number | null = null;
      if (before !== undefined) {
        const total = stat.total.totalTicks - before.total.totalTicks;
        if (total > 0) iowaitPercent = ((stat.total.iowaitTicks - before.total.iowaitTicks) / total) * 100;
      }
      return {
        cores: stat.cores.length,
        load: loadavg.load,
        runnable: loadavg.runnable,
        tasks: loadavg.tasks,
        usagePercent: busyPercent(stat.total, before?.total),
        iowaitPercent,
        perCore,
        pressure: readPressure(ctx.paths, 'cpu'),
        bootTime: stat.bootTimeSecs * 1000,
      };
    },
  };
}
