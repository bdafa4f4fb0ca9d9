import { SECTOR_BYTES } from '../collectors/disks.js';
import type {
  CoreSample,
  CpuSlice,
  CpuTicks,
  DiskIo,
  DiskIoCounters,
  DiskSample,
  NetworkInterfaceSample,
  ProcessSample,
  Snapshot,
} from '../model/snapshot.js';

/**
 * Values that are a change between two samples — CPU % per process, per core and in total, iowait %,
 * disk and network rates — derived from the raw counters of the previous sample and the current one,
 * as below's `Model::new(sample, prev)` does. The collectors only read counters; the Watcher keeps the
 * previous sample and calls this on each new one, so a fake clock, a fixture tree or stored samples get
 * the same arithmetic as the live machine.
 *
 * A slice is derived when both samples read it, each at a known monotonic time (its collector's status
 * says when: `readAtMonoMs`):
 * - the current sample has no such time (a hand-made or stored snapshot): its values are taken as given;
 * - no previous sample, the previous one lacks the slice or its time, or the clock went back: the slice is
 *   left as the collector made it, every derived value null (the first sample, as before);
 * - both read at the same time (a slice kept from an earlier run, not read again): each item keeps the
 *   value derived for it then;
 * - otherwise each item is paired with the same item of the previous sample — a process by pid AND
 *   start time (a reused pid is a new process), a core, device or interface by name — and a value is
 *   null when there is no pair (new since the previous sample) or when a counter went backwards (a
 *   reboot, a re-created device or interface, a counter that wrapped): a wrong number is worse than none.
 *
 * Pure: neither sample is changed; items whose values do not change are shared with `current`.
 */
export function derive(previous: Snapshot | null, current: Snapshot): Snapshot {
  if (previous === null) return current;
  const derived: { -readonly [K in keyof Snapshot]?: Snapshot[K] } = {};

  const processes = pair(previous, current, 'processes', (s) => s.processes);
  if (processes) derived.processes = deriveProcesses(processes.before, processes.now, processes.elapsedMs);

  const cpu = pair(previous, current, 'cpu', (s) => s.cpu);
  if (cpu) derived.cpu = deriveCpu(cpu.before, cpu.now, cpu.elapsedMs);

  const disks = pair(previous, current, 'disks', (s) => s.disks);
  if (disks) derived.disks = deriveDisks(disks.before, disks.now, disks.elapsedMs);

  const network = pair(previous, current, 'network', (s) => s.network);
  if (network) derived.network = deriveNetwork(network.before, network.now, network.elapsedMs);

  return Object.keys(derived).length === 0 ? current : { ...current, ...derived };
}

/** When the named collector read for this sample (monotonic ms), if the sample says. */
function readAt(snapshot: Snapshot, collector: string): number | undefined {
  for (const status of snapshot.collectors) if (status.name === collector) return status.readAtMonoMs;
  return undefined;
}

/** The slice in both samples and the time between its two reads, or null when they cannot be paired. */
function pair<T>(
  previous: Snapshot,
  current: Snapshot,
  collector: string,
  slice: (s: Snapshot) => T | undefined,
): { before: T; now: T; elapsedMs: number } | null {
  const now = slice(current);
  const before = slice(previous);
  if (now === undefined || before === undefined) return null;
  const nowAt = readAt(current, collector);
  const beforeAt = readAt(previous, collector);
  if (nowAt === undefined || beforeAt === undefined || !(nowAt >= beforeAt)) return null;
  return { before, now, elapsedMs: nowAt - beforeAt };
}

/**
 * CPU % of each process: its CPU seconds (utime + stime) used between the two samples over the seconds
 * between them, 100 = one core (a process with many threads can pass 100).
 */
export function deriveProcesses(
  before: readonly ProcessSample[],
  now: readonly ProcessSample[],
  elapsedMs: number,
): ProcessSample[] {
  const previous = new Map<number, ProcessSample>();
  for (const p of before) previous.set(p.pid, p);
  const seconds = elapsedMs / 1000;
  const out = new Array<ProcessSample>(now.length);
  for (let i = 0; i < now.length; i++) {
    const p = now[i]!;
    const b = previous.get(p.pid);
    let cpuPercent: number | null = null;
    if (b !== undefined && b.startTicks === p.startTicks) {
      if (elapsedMs === 0) cpuPercent = b.cpuPercent;
      else {
        const used = p.cpuSeconds - b.cpuSeconds;
        if (used >= 0) cpuPercent = (used / seconds) * 100;
      }
    }
    out[i] = cpuPercent === p.cpuPercent ? p : { ...p, cpuPercent };
  }
  return out;
}

/**
 * The busy share between two readings of a `cpu` line: 1 − Δidle / Δtotal. Null when the total did not
 * advance or went back (a reboot, a core taken offline and back). Idle time may go back a little while the
 * total advances — the kernel moves time between iowait and idle (proc(5): iowait "may decrease") — so
 * the share is kept within 0..100 rather than refused.
 */
function busyPercent(now: CpuTicks | undefined, before: CpuTicks | undefined): number | null {
  if (now === undefined || before === undefined) return null;
  const total = now.totalTicks - before.totalTicks;
  if (!(total > 0)) return null;
  const idle = now.idleTicks - before.idleTicks;
  return Math.min(100, Math.max(0, ((total - idle) / total) * 100));
}

/** The iowait share of all cores' time between two readings, within 0..100 (see {@link busyPercent}). */
function iowaitPercent(now: CpuTicks | undefined, before: CpuTicks | undefined): number | null {
  if (now === undefined || before === undefined) return null;
  const total = now.totalTicks - before.totalTicks;
  if (!(total > 0)) return null;
  return Math.min(100, Math.max(0, ((now.iowaitTicks - before.iowaitTicks) / total) * 100));
}

/** CPU use in total, per core (paired by name) and iowait, from the jiffies of two /proc/stat reads. */
export function deriveCpu(before: CpuSlice, now: CpuSlice, elapsedMs: number): CpuSlice {
  const perCore = now.perCore.map((core, i): CoreSample => {
    const same = before.perCore[i]?.name === core.name ? before.perCore[i] : undefined;
    const prior = same ?? before.perCore.find((c) => c.name === core.name);
    const usagePercent =
      elapsedMs === 0 ? (prior?.usagePercent ?? null) : busyPercent(core.ticks, prior?.ticks);
    return usagePercent === core.usagePercent ? core : { ...core, usagePercent };
  });
  if (elapsedMs === 0) {
    return { ...now, usagePercent: before.usagePercent, iowaitPercent: before.iowaitPercent, perCore };
  }
  return {
    ...now,
    usagePercent: busyPercent(now.ticks, before.ticks),
    iowaitPercent: iowaitPercent(now.ticks, before.ticks),
    perCore,
  };
}

/**
 * Rates of one block device between two readings of its diskstats counters: bytes read and written per
 * second, the share of time it was busy (at most 100 %) and the average time per completed I/O (null
 * when none completed). All null when any counter went backwards (device re-created, a 32-bit wrap).
 */
export function diskRates(
  io: DiskIo,
  before: DiskIoCounters | undefined,
  elapsedMs: number,
): Pick<DiskIo, 'readBytesPerSec' | 'writeBytesPerSec' | 'utilizationPercent' | 'awaitMs'> {
  const none = { readBytesPerSec: null, writeBytesPerSec: null, utilizationPercent: null, awaitMs: null };
  const now = io.counters;
  if (now === undefined || before === undefined || !(elapsedMs > 0)) return none;
  const sectorsRead = now.sectorsRead - before.sectorsRead;
  const sectorsWritten = now.sectorsWritten - before.sectorsWritten;
  const ioMs = now.ioMs - before.ioMs;
  const ios = now.readsCompleted + now.writesCompleted - (before.readsCompleted + before.writesCompleted);
  const ioWaitMs = now.readMs + now.writeMs - (before.readMs + before.writeMs);
  const reads = now.readsCompleted - before.readsCompleted;
  const writes = now.writesCompleted - before.writesCompleted;
  const readMs = now.readMs - before.readMs;
  const writeMs = now.writeMs - before.writeMs;
  if ([sectorsRead, sectorsWritten, ioMs, reads, writes, readMs, writeMs].some((d) => d < 0)) return none;
  const seconds = elapsedMs / 1000;
  return {
    readBytesPerSec: (sectorsRead * SECTOR_BYTES) / seconds,
    writeBytesPerSec: (sectorsWritten * SECTOR_BYTES) / seconds,
    utilizationPercent: Math.min(100, (ioMs / elapsedMs) * 100),
    awaitMs: ios > 0 ? ioWaitMs / ios : null,
  };
}

/** Each mount's device rates, the device paired by its kernel name with the previous sample's. */
export function deriveDisks(
  before: readonly DiskSample[],
  now: readonly DiskSample[],
  elapsedMs: number,
): DiskSample[] {
  const previous = new Map<string, DiskIo>();
  for (const d of before) if (d.io) previous.set(d.io.name, d.io);
  return now.map((disk) => {
    const io = disk.io;
    if (io === null) return disk;
    const prior = previous.get(io.name);
    const rates =
      elapsedMs === 0
        ? {
            readBytesPerSec: prior?.readBytesPerSec ?? null,
            writeBytesPerSec: prior?.writeBytesPerSec ?? null,
            utilizationPercent: prior?.utilizationPercent ?? null,
            awaitMs: prior?.awaitMs ?? null,
          }
        : diskRates(io, prior?.counters, elapsedMs);
    return { ...disk, io: { ...io, ...rates } };
  });
}

/**
 * Each interface's byte rates, paired by name with the previous sample's: null for a new interface, or
 * when a counter went backwards (the interface was re-created, or a 32-bit counter wrapped).
 */
export function deriveNetwork(
  before: readonly NetworkInterfaceSample[],
  now: readonly NetworkInterfaceSample[],
  elapsedMs: number,
): NetworkInterfaceSample[] {
  const previous = new Map<string, NetworkInterfaceSample>();
  for (const i of before) previous.set(i.name, i);
  return now.map((iface) => {
    const prior = previous.get(iface.name);
    let rxBytesPerSec: number | null = null;
    let txBytesPerSec: number | null = null;
    if (prior !== undefined && elapsedMs === 0) {
      rxBytesPerSec = prior.rxBytesPerSec;
      txBytesPerSec = prior.txBytesPerSec;
    } else if (prior !== undefined) {
      const rx = iface.rxBytes - prior.rxBytes;
      const tx = iface.txBytes - prior.txBytes;
      if (rx >= 0 && tx >= 0) {
        rxBytesPerSec = rx / (elapsedMs / 1000);
        txBytesPerSec = tx / (elapsedMs / 1000);
      }
    }
    return { ...iface, rxBytesPerSec, txBytesPerSec };
  });
}
