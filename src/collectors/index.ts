import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CommandTimedOut } from '../host/command.js';
import { readText } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import type { CollectorStatus, MemorySlice, Pressure, Snapshot } from '../model/snapshot.js';
import { createCpuCollector, parseLoadavg } from './cpu.js';
import { createDisksCollector } from './disks.js';
import { createGpuCollector } from './gpu.js';
import { readHostInfo } from './host.js';
import { createJournalCollector } from './journal.js';
import { createMemoryCollector } from './memory.js';
import { createNetworkCollector } from './network.js';
import { readPressure } from './pressure.js';
import { createProcessCollector } from './processes.js';
import { createThermalCollector } from './thermal.js';
import { type CollectContext, type Collector, type JournalSource, Unsupported } from './types.js';
import { createUnitsCollector } from './units.js';

/**
 * One source, as the registry knows it: its name (the key of its slice and of its status), how to make an
 * instance, and where its slice goes in the Snapshot. `command`: it runs an external program (slow, at the
 * mercy of that program: a hung GPU driver hangs nvidia-smi), so it is started first, awaited last, and
 * the daemon never waits on it for long (see pipeline/source.ts). `rate`: it reports counters that values
 * are derived from between two samples (CPU %, bytes/s: pipeline/derive.ts), so a one-shot look samples
 * it twice.
 */
export interface CollectorDefinition<N extends string = string, T = unknown> {
  readonly name: N;
  readonly create: (options: Readonly<Record<string, unknown>>) => Collector<T>;
  readonly place: (slice: T) => Partial<Snapshot>;
  readonly command: boolean;
  readonly rate: boolean;
}

/** What a collector instance may be tuned with (each takes what it knows and ignores the rest). */
export type CollectorOptions = { readonly tcpStatesEveryMs?: number };

/** `file`: reads files; `rate`: reads counters for rates between two samples; `command`: runs a program. */
type CollectorKind = 'file' | 'rate' | 'command';

function define<N extends string, T>(
  name: N,
  kind: CollectorKind,
  create: (options: Readonly<Record<string, unknown>>) => Collector<T>,
  place: (slice: T) => Partial<Snapshot>,
): CollectorDefinition<N, T> {
  return { name, create, place, command: kind === 'command', rate: kind === 'rate' };
}

/**
 * The registry: every collector, in the order they run (command collectors first, so their latency
 * overlaps the file reads). Adding a source is its file (a `createXCollector` and pure parsers) and one
 * line here, as node_exporter's `registerCollector`; names, kinds, slices and the Snapshot follow.
 */
export const REGISTRY = [
  define('gpu', 'command', createGpuCollector, (g) => ({ gpus: g.gpus, gpuProcesses: g.processes })),
  define('journal', 'command', createJournalCollector, (journal) => ({ journal })),
  define('units', 'command', createUnitsCollector, (units) => ({ units })),
  define('processes', 'rate', createProcessCollector, (processes) => ({ processes })),
  define('memory', 'file', createMemoryCollector, (memory) => ({ memory })),
  define('cpu', 'rate', createCpuCollector, (cpu) => ({ cpu })),
  define('thermal', 'file', createThermalCollector, (temperatures) => ({ temperatures })),
  define('disks', 'rate', createDisksCollector, (d) => ({ disks: d.disks, ioPressure: d.ioPressure })),
  define('network', 'rate', createNetworkCollector, (n) => ({ network: n.interfaces, tcp: n.tcp })),
] as const;

type Registered = (typeof REGISTRY)[number];
export type CollectorName = Registered['name'];
/** What each collector returns, by name. */
export type SliceMap = {
  [D in Registered as D['name']]: D extends CollectorDefinition<string, infer T> ? T : never;
};

/** Every collector's name, in the order they run. */
export const COLLECTOR_NAMES: readonly CollectorName[] = REGISTRY.map((d) => d.name);

/** Collectors whose counters give rates between two samples (CPU %, bytes/s). */
export const RATE_COLLECTORS: readonly CollectorName[] = REGISTRY.filter((d) => d.rate).map((d) => d.name);

/** Collectors that run an external program (nvidia-smi, journalctl, systemctl). */
export const COMMAND_COLLECTORS: readonly CollectorName[] = REGISTRY.filter((d) => d.command).map(
  (d) => d.name,
);

const DEFINITIONS = new Map<string, CollectorDefinition<string, never>>(
  REGISTRY.map((d) => [d.name, d as unknown as CollectorDefinition<string, never>]),
);

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

/**
 * A context for one sample. `at` is the sample's time, from whoever owns the clock (the pipeline's
 * Watcher, a test's fake clock); without it, now.
 */
export function makeContext(
  options: SampleOptions,
  at: { readonly nowMs: number; readonly monoMs: number } = { nowMs: Date.now(), monoMs: performance.now() },
): CollectContext {
  return { ...options, nowMs: at.nowMs, monoMs: at.monoMs };
}

/**
 * Runs one collector, timing it and turning every outcome into a status (with the sample's monotonic
 * time, which rates derived from its counters divide by); never throws.
 */
async function runOne<T>(
  collector: Collector<T>,
  ctx: CollectContext,
): Promise<{ value?: T; status: CollectorStatus }> {
  const skipped: string[] = [];
  const started = performance.now();
  const done = (partial: Partial<CollectorStatus>) => ({
    name: collector.name,
    ok: false,
    error: null,
    unsupported: null,
    ...partial,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    readAtMonoMs: ctx.monoMs,
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
 * The set of live collector instances, one per registered collector, kept for the life of a daemon or
 * dashboard for what they cache of stable facts (a process's argv and owner, a source found to have
 * journal files). They keep no previous counters: rates are derived from two samples by the pipeline.
 */
export class CollectorSet {
  private readonly collectors = new Map<string, Collector<unknown>>();

  constructor(options: CollectorOptions = {}) {
    for (const d of REGISTRY) this.collectors.set(d.name, d.create(options) as Collector<unknown>);
  }

  /** Runs the named collectors concurrently (command collectors first, so their latency overlaps). */
  async run(names: readonly CollectorName[], ctx: CollectContext): Promise<Results> {
    const ordered = COLLECTOR_NAMES.filter((name) => names.includes(name));
    const outcomes = await Promise.all(ordered.map((name) => runOne(this.collectors.get(name)!, ctx)));
    const results: Results = { values: {}, statuses: [] };
    ordered.forEach((name, i) => {
      const outcome = outcomes[i]!;
      if (outcome.value !== undefined) (results.values as Record<string, unknown>)[name] = outcome.value;
      results.statuses.push(outcome.status);
    });
    return results;
  }

  /** One complete raw sample: counters as read, every rate null (pipeline/derive.ts fills them). */
  async sample(ctx: CollectContext): Promise<Snapshot> {
    return assembleSnapshot(await this.run(COLLECTOR_NAMES, ctx), ctx);
  }
}

/**
 * Builds the immutable Snapshot: each slice where its collector's definition puts it, then per-process GPU
 * memory from nvidia-smi joined onto the process table.
 */
export function assembleSnapshot(results: Results, ctx: CollectContext): Snapshot {
  const slices: Partial<Snapshot> = {};
  for (const [name, value] of Object.entries(results.values)) {
    if (value !== undefined) Object.assign(slices, DEFINITIONS.get(name)?.place(value as never));
  }
  let processes = slices.processes;
  const gpuProcesses = slices.gpuProcesses;
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
    ...slices,
    ...(processes ? { processes } : {}),
    collectors: results.statuses,
  };
}

/** What the daemon's one-second fast path reads: memory, swap, load and pressure, a few small files. */
export interface LightSlice {
  readonly memory: MemorySlice;
  readonly load: readonly [number, number, number];
  readonly cpuPressure: Pressure | null;
  readonly ioPressure: Pressure | null;
}

/**
 * Reads the light slice (/proc/meminfo, /proc/loadavg, /proc/pressure/{memory,cpu,io}) synchronously.
 * Throws when one of them cannot be read: the full cycle reports collector failures.
 */
export function sampleLight(ctx: CollectContext): LightSlice {
  const memory = createMemoryCollector().collect(ctx, { skip: () => {} });
  const { load } = parseLoadavg(readText(join(ctx.paths.procfs, 'loadavg')));
  return {
    memory,
    load,
    cpuPressure: readPressure(ctx.paths, 'cpu'),
    ioPressure: readPressure(ctx.paths, 'io'),
  };
}
