import { assembleSnapshot, CollectorSet, makeContext, type SampleOptions } from '../collectors/index.js';
import type { ProcessSample, Snapshot, TemperatureSample } from '../model/snapshot.js';
import type { ProcessRecord, SnapshotRecord } from '../store/types.js';
import type { SampleRequest, SampleSource } from './source.js';
import { NOWHERE } from './source.js';

/**
 * What history does not keep of the machine, taken from the machine as it is today (the history is this
 * machine's own): its cores (load is judged against them), its swap size and its mounts' sizes (history
 * keeps shares). Unknown sizes are 0.
 */
export interface MachineShape {
  readonly hostname: string;
  readonly kernel: string;
  readonly cores: number;
  readonly swapTotalBytes: number;
  /** Size of each mount, by mount point. */
  readonly diskTotalBytes: ReadonlyMap<string, number>;
}

/** The machine's shape today, read from the sampling options' /proc and /sys (cores, swap, mounts). */
export async function machineShapeNow(sampling: SampleOptions): Promise<MachineShape> {
  const ctx = makeContext(sampling);
  const now = assembleSnapshot(await new CollectorSet().run(['cpu', 'memory', 'disks'], ctx), ctx);
  return {
    hostname: now.host.hostname,
    kernel: now.host.kernel,
    cores: now.cpu?.cores ?? 1,
    swapTotalBytes: now.memory?.swapTotalBytes ?? 0,
    diskTotalBytes: new Map((now.disks ?? []).map((d) => [d.mount, d.totalBytes])),
  };
}

/** Sensor sources of the temperatures history keeps: the hottest CPU and the hottest GPU sensor. */
const HOTTEST_CPU = { chip: 'cpu_thermal', label: 'hottest CPU sensor', path: 'history', input: 'cpu' };
const HOTTEST_GPU = { chip: 'nvidia', label: 'hottest GPU sensor', path: 'history', input: 'gpu' };

/**
 * A stored history row as a Snapshot, holding only what history keeps (see store/records.ts): memory and
 * swap use, load, CPU busy share, pressure averages, the hottest CPU and GPU sensors, each mount's used
 * share, and the kept processes — the top ones by CPU and by memory and those in a finding then — without
 * parents, sessions, threads or cgroups (a parent of 0 makes the lineage judge none of them an orphan).
 * `firstSeenAt` gives a process's start: the first stored sight of it.
 */
export function snapshotFromRecord(
  record: SnapshotRecord,
  shape: MachineShape,
  firstSeenAt: (p: ProcessRecord) => number = () => record.takenAt,
): Snapshot {
  const used = record.memUsedPercent;
  const available = record.memAvailableBytes;
  // used % = (total − available) / total, so total = available / (1 − used %).
  const total =
    used !== null && available !== null && used < 100 ? Math.round(available / (1 - used / 100)) : 0;
  const swapPercent = record.swapUsedPercent ?? 0;
  const swapUsed = Math.round((shape.swapTotalBytes * swapPercent) / 100);
  const pressureOf = (some: number | null, full: number | null) =>
    some === null && full === null
      ? null
      : {
          some: some === null ? null : { avg10: some, avg60: some, avg300: some, totalMicros: 0 },
          full: full === null ? null : { avg10: full, avg60: full, avg300: full, totalMicros: 0 },
        };
  const temperatures: TemperatureSample[] = [];
  const sensor = (at: typeof HOTTEST_CPU, celsius: number | null) => {
    if (celsius !== null)
      temperatures.push({
        ...at,
        tempCelsius: celsius,
        maxCelsius: null,
        critCelsius: null,
        source: 'hwmon',
      });
  };
  sensor(HOTTEST_CPU, record.cpuTempCelsius);
  sensor(HOTTEST_GPU, record.gpuTempCelsius);
  const hasLoad = record.load1 !== null && record.load5 !== null && record.load15 !== null;
  return {
    takenAt: record.takenAt,
    host: { hostname: shape.hostname, kernel: shape.kernel, uptimeSecs: 0 },
    processes: record.processes.map((p) => processFromRecord(p, firstSeenAt(p))),
    ...(used !== null && available !== null
      ? {
          memory: {
            totalBytes: total,
            availableBytes: available,
            availableEstimated: false,
            freeBytes: 0,
            buffersBytes: 0,
            cachedBytes: 0,
            usedPercent: used,
            swapTotalBytes: shape.swapTotalBytes,
            swapFreeBytes: shape.swapTotalBytes - swapUsed,
            swapUsedBytes: swapUsed,
            swapUsedPercent: swapPercent,
            // avg60 is not kept: the 10-second average stands in for it.
            pressure: pressureOf(record.psiMemSomeAvg10, record.psiMemFullAvg10),
          },
        }
      : {}),
    ...(hasLoad || record.cpuPercent !== null
      ? {
          cpu: {
            cores: shape.cores,
            load: [record.load1 ?? 0, record.load5 ?? 0, record.load15 ?? 0],
            runnable: 0,
            tasks: 0,
            usagePercent: record.cpuPercent,
            iowaitPercent: null,
            perCore: [],
            pressure: pressureOf(record.psiCpuSomeAvg10, null),
            bootTime: 0,
          },
        }
      : {}),
    ioPressure: pressureOf(null, record.psiIoFullAvg10),
    temperatures,
    disks: Object.entries(record.disks).map(([mount, usedPercent]) => {
      const size = shape.diskTotalBytes.get(mount) ?? 0;
      return {
        mount,
        device: '',
        fsType: '',
        totalBytes: size,
        availableBytes: Math.round(size * (1 - usedPercent / 100)),
        usedPercent,
        inodesUsedPercent: null,
        io: null,
      };
    }),
    collectors: [],
  };
}

function processFromRecord(p: ProcessRecord, startTime: number): ProcessSample {
  const uid = /^\d+$/.test(p.user) ? Number(p.user) : -1;
  return {
    pid: p.pid,
    ppid: 0,
    pgid: 0,
    sid: 0,
    state: p.state,
    comm: p.comm,
    cmdline: p.cmdline,
    argv: p.cmdline === '' ? [] : p.cmdline.split(' '),
    uid,
    user: p.user,
    startTime,
    startTicks: p.startTicks,
    threads: 0,
    rssBytes: p.rssBytes,
    swapBytes: p.swapBytes ?? null,
    virtualBytes: 0,
    nice: 0,
    cpuPercent: p.cpuPercent,
    cpuSeconds: p.cpuSeconds,
    cgroup: null,
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
  };
}

/**
 * Samples read from the history instead of the machine: at the clock's time, the latest stored snapshot
 * taken at or before it (none before the first: an empty sample). The facts read nothing of the live
 * machine for them (see {@link NOWHERE}). Records are given in time order, all at once or window after
 * window (`load`); a process's first stored sight is remembered across windows as its start.
 */
export class HistorySource implements SampleSource {
  readonly paths = NOWHERE;
  private records: readonly SnapshotRecord[] = [];
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly shape: MachineShape,
    records: readonly SnapshotRecord[] = [],
  ) {
    this.load(records);
  }

  /** Answers from these records (in time order) from now on. */
  load(records: readonly SnapshotRecord[]): void {
    this.records = records;
    for (const record of records) {
      for (const p of record.processes) {
        const id = `${p.pid}:${p.startTicks}`;
        if (!this.firstSeen.has(id)) this.firstSeen.set(id, record.takenAt);
      }
    }
  }

  /** The latest record at or before `atMs`, or null. */
  recordAt(atMs: number): SnapshotRecord | null {
    let lo = 0;
    let hi = this.records.length - 1;
    let found: SnapshotRecord | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const record = this.records[mid]!;
      if (record.takenAt <= atMs) {
        found = record;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  async sample(request: SampleRequest): Promise<Snapshot> {
    const atMs = request.clock.now();
    const record = this.recordAt(atMs);
    if (record === null) {
      return {
        takenAt: atMs,
        host: { hostname: this.shape.hostname, kernel: this.shape.kernel, uptimeSecs: 0 },
        collectors: [],
      };
    }
    return snapshotFromRecord(
      record,
      this.shape,
      (p) => this.firstSeen.get(`${p.pid}:${p.startTicks}`) ?? record.takenAt,
    );
  }

  close(): void {}
}
