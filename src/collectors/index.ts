import { performance } from 'node:perf_hooks';
import { CommandTimedOut } from '../host/command.js';
import type { HostPaths } from '../host/paths.js';
import type {
  CollectorStatus,
  CpuSlice,
  DisksSlice,
  GpuSlice,
  JournalEntry,
  MemorySlice,
  NetworkSlice,
  ProcessSample,
  Snapshot,
  TemperatureSample,
  UnitSample,
} from '../model/snapshot.js';
import { createCpuCollector } from './cpu.js';
import { createDisksCollector } from './disks.js';
import { createGpuCollector } from './gpu.js';
import { readHostInfo } from './host.js';
import { createJournalCollector } from './journal.js';
import { createMemoryCollector } from './memory.js';
import { createNetworkCollector } from './network.js';
import { createProcessCollector } from './processes.js';
import { createThermalCollector } from './thermal.js';
import { type CollectContext, type Collector, type JournalSource, Unsupported } from './types.js';
import { createUnitsCollector } from './units.js';

/** What each collector returns, by name. */
export interface SliceMap {
  processes: ProcessSample[];
  memory: MemorySlice;
  cpu: CpuSlice;
  thermal: TemperatureSample[];
  disks: DisksSlice;
  network: NetworkSlice;
  journal: JournalEntry[];
  gpu: GpuSlice;
  units: UnitSample[];
}
export type CollectorName = keyof SliceMap;

/** Every collector, in the order they run. An explicit list: adding a source means adding a line here. */
export const COLLECTOR_NAMES: readonly CollectorName[] = [
  'gpu',
  'journal',
  'units',
  'processes',
  'memory',
  'cpu',
  'thermal',
  'disks',
  'network',
];

/** Collectors whose values are rates between two samples (CPU %, bytes/s). */
export const RATE_COLLECTORS: readonly CollectorName[] = ['processes', 'cpu', 'disks', 'network'];

/**
 * Collectors that run an external program: slow, and at the mercy of that program (a hung GPU driver
 * hangs nvidia-smi). Started first and awaited last; the daemon runs them in the background and never
 * waits on them for long (see Watcher.cycle).
 */
export const COMMAND_COLLECTORS: readonly CollectorName[] = ['gpu', 'journal', 'units'];

type CollectorMap = { [K in CollectorName]: Collector<SliceMap[K]> };

export interface Results {
  values: Partial<SliceMap>;
  statuses: CollectorStatus[];
}

export interface SampleOptions {
  readonly paths: HostPaths;
  readonly nvidiaSmi: string;
  readonly journal: JournalSource;
  readonly journalSince: string;
  readonly commandTimeoutMs: number;
}

export function makeContext(options: SampleOptions): CollectContext {
  return { ...options, nowMs: Date.now(), monoMs: performance.now() };
}

/** Runs one collector, timing it and turning every outcome into a status; never throws. */
async function runOne<K extends CollectorName>(
  collector: Collector<SliceMap[K]>,
  ctx: CollectContext,
): Promise<{ value?: SliceMap[K]; status: CollectorStatus }> {
  const skipped: string[] = [];
  const started = performance.now();
  const done = (partial: Partial<CollectorStatus>) => ({
    name: collector.name,
    ok: false,
    error: null,
    unsupported: null,
    ...partial,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    ...(skipped.length > 0 ? { skipped } : {}),
  });
  try {
    const value = await collector.collect(ctx, { skip: (reason) => skipped.push(reason) });
    return { value, status: done({ ok: true }) };
  } catch (error) {
    if (error instanceof Unsupported) return { status: done({ ok: true, unsupported: error.message }) };
    const timedOut = error instanceof CommandTimedOut ? { timedOut: true } : {};
    return { status: done({ error: error instanceof Error ? error.message : String(error), ...timedOut }) };
  }
}

/**
 * The set of live collector instances. Kept for the life of a daemon or dashboard so rate collectors can
 * compare with their previous sample; `vigil status` takes two samples a short window apart.
 */
export class CollectorSet {
  private readonly collectors: CollectorMap;

  /** `tcpStatesEveryMs`: see {@link createNetworkCollector}. */
  constructor(options: { tcpStatesEveryMs?: number } = {}) {
    this.collectors = {
      processes: createProcessCollector(),
      memory: createMemoryCollector(),
      cpu: createCpuCollector(),
      thermal: createThermalCollector(),
      disks: createDisksCollector(),
      network: createNetworkCollector(options),
      journal: createJournalCollector(),
      gpu: createGpuCollector(),
      units: createUnitsCollector(),
    };
  }

  /** Runs the named collectors concurrently (command collectors first, so their latency overlaps). */
  async run(names: readonly CollectorName[], ctx: CollectContext): Promise<Results> {
    const ordered = COLLECTOR_NAMES.filter((name) => names.includes(name));
    const outcomes = await Promise.all(ordered.map((name) => runOne(this.collectors[name], ctx)));
    const results: Results = { values: {}, statuses: [] };
    ordered.forEach((name, i) => {
      const outcome = outcomes[i]!;
      if (outcome.value !== undefined) (results.values as Record<string, unknown>)[name] = outcome.value;
      results.statuses.push(outcome.status);
    });
    return results;
  }

  /** One complete snapshot (rates relative to the previous call, null on the first). */
  async sample(ctx: CollectContext): Promise<Snapshot> {
    return assembleSnapshot(await this.run(COLLECTOR_NAMES, ctx), ctx);
  }
}

export function mergeResults(...parts: Results[]): Results {
  const merged: Results = { values: {}, statuses: [] };
  for (const part of parts) {
    Object.assign(merged.values, part.values);
    merged.statuses.push(...part.statuses);
  }
  merged.statuses.sort(
    (a, b) =>
      COLLECTOR_NAMES.indexOf(a.name as CollectorName) - COLLECTOR_NAMES.indexOf(b.name as CollectorName),
  );
  return merged;
}

/** Builds the immutable Snapshot, joining per-process GPU memory from nvidia-smi onto the process table. */
export function assembleSnapshot(results: Results, ctx: CollectContext): Snapshot {
  const { values } = results;
  let processes = values.processes;
  const gpuProcesses = values.gpu?.processes;
  if (processes && gpuProcesses && gpuProcesses.length > 0) {
    const vram = new Map<number, number | null>();
    for (const app of gpuProcesses) {
      const before = vram.get(app.pid);
      vram.set(
        app.pid,
        app.usedMemoryBytes === null || before === null ? null : (before ?? 0) + app.usedMemoryBytes,
      );
    }
    processes = processes.map((p) =>
      vram.has(p.pid) ? { ...p, gpuMemoryBytes: vram.get(p.pid) ?? null } : p,
    );
  }
  return {
    takenAt: ctx.nowMs,
    host: readHostInfo(ctx.paths),
    ...(processes ? { processes } : {}),
    ...(values.memory ? { memory: values.memory } : {}),
    ...(values.cpu ? { cpu: values.cpu } : {}),
    ...(values.thermal ? { temperatures: values.thermal } : {}),
    ...(values.disks ? { disks: values.disks.disks, ioPressure: values.disks.ioPressure } : {}),
    ...(values.network ? { network: values.network.interfaces, tcp: values.network.tcp } : {}),
    ...(values.journal ? { journal: values.journal } : {}),
    ...(values.gpu ? { gpus: values.gpu.gpus, gpuProcesses: values.gpu.processes } : {}),
    ...(values.units ? { units: values.units } : {}),
    collectors: results.statuses,
  };
}
