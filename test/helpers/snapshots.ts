import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';

/**
 * Hand-made samples for tests that judge logic rather than the machine: a process with everything a
 * collector fills in, and a whole machine around some processes.
 */

/**
 * A sleeping process of user `dev` (uid 1000) running `argv`, its own group and session leader, child of
 * pid 1, started at boot (start ticks = pid), 64 MiB resident; `fields` override any of it.
 */
export function processSample(
  pid: number,
  argv: string[],
  fields: Partial<ProcessSample> = {},
): ProcessSample {
  return {
    pid,
    ppid: 1,
    pgid: pid,
    sid: pid,
    state: 'S',
    comm: (argv[0] ?? '').split('/').pop()!.slice(0, 15),
    cmdline: argv.join(' '),
    argv,
    uid: 1000,
    user: 'dev',
    startTime: 0,
    startTicks: pid,
    threads: 1,
    rssBytes: 64 * 2 ** 20,
    swapBytes: 0,
    virtualBytes: 0,
    nice: 0,
    cpuPercent: 0,
    cpuSeconds: 0,
    cgroup: null,
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
    ...fields,
  };
}

/** A 16 GiB, 8-core machine without swap at `takenAt` with RAM `memUsedPercent` used and `processes`. */
export function machineSnapshot(
  takenAt: number,
  memUsedPercent: number,
  processes: ProcessSample[] = [],
): Snapshot {
  const total = 16 * 2 ** 30;
  return {
    takenAt,
    host: { hostname: 'h', kernel: 'k', uptimeSecs: 1000 },
    processes,
    memory: {
      totalBytes: total,
      availableBytes: total * (1 - memUsedPercent / 100),
      availableEstimated: false,
      freeBytes: 0,
      buffersBytes: 0,
      cachedBytes: 0,
      usedPercent: memUsedPercent,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
      swapUsedBytes: 0,
      swapUsedPercent: 0,
      pressure: null,
    },
    cpu: {
      cores: 8,
      load: [0.5, 0.5, 0.5],
      runnable: 1,
      tasks: 300,
      usagePercent: 5,
      iowaitPercent: 0,
      perCore: [],
      pressure: null,
      bootTime: 0,
    },
    collectors: [],
  };
}
