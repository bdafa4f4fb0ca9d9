/**
 * Child process of the snapshot section: takes N snapshots in one process and records its memory, so the
 * parent can tell whether RSS stays flat. It runs under plain node on the compiled code, so the RSS is
 * vigil's own and not tsx's: the parent transpiles this file (`compileBenchScript` in lib.ts) and runs
 * `node --expose-gc <copy>.mjs --dist <file URL of dist/> --count 1000 --warmup 50 --every 50`, which
 * prints one JSON object (`RssReport`) on stdout. Only types come from src/.
 *
 * It uses the daemon's path (`CollectorSet.sample`, every collector) when dist/collectors/index.js loads,
 * and falls back to the process collector alone when it does not (a collector still being written), saying
 * so in `mode` and `fallbackReason`.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { CollectContext } from '../src/collectors/types.js';
import type { HostPaths } from '../src/host/paths.js';

export interface RssPoint {
  /** Snapshots taken after the warm-up when this point was recorded. */
  readonly n: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

export interface RssReport {
  readonly mode: 'collector-set' | 'process-collector';
  readonly fallbackReason?: string;
  readonly gcForced: boolean;
  readonly warmup: number;
  readonly count: number;
  readonly points: RssPoint[];
  readonly msPerSnapshot: number;
  readonly processesPerSnapshot: number;
  /** Distinct collector errors seen (a failing collector would make the figure meaningless). */
  readonly collectorErrors: string[];
  /** The node flags this child ran with, and NODE_OPTIONS: proof that no loader (tsx) was resident. */
  readonly execArgv: string[];
  readonly nodeOptions: string;
}

const paths: HostPaths = { procfs: '/proc', sysfs: '/sys', etc: '/etc', rootfs: '/' };
const options = {
  paths,
  nvidiaSmi: 'nvidia-smi',
  journal: { kind: 'system' },
  journalSince: '-1h',
  commandTimeoutMs: 5000,
} as const;

type TakeOne = () => Promise<{ processes: number; errors: string[] }>;

/** Imports a compiled module; the type is that of the source it was built from. */
async function fromDist<T>(dist: string, path: string): Promise<T> {
  return (await import(new URL(path, dist).href)) as T;
}

async function makeSampler(
  dist: string,
): Promise<{ take: TakeOne; mode: RssReport['mode']; fallbackReason?: string }> {
  try {
    const { CollectorSet, makeContext } = await fromDist<typeof import('../src/collectors/index.js')>(
      dist,
      'collectors/index.js',
    );
    const set = new CollectorSet();
    const take: TakeOne = async () => {
      const snapshot = await set.sample(makeContext(options));
      const errors = snapshot.collectors.flatMap((s) => (s.error ? [`${s.name}: ${s.error}`] : []));
      return { processes: snapshot.processes?.length ?? 0, errors };
    };
    return { take, mode: 'collector-set' };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    const { createProcessCollector } = await fromDist<typeof import('../src/collectors/processes.js')>(
      dist,
      'collectors/processes.js',
    );
    const collector = createProcessCollector();
    const take: TakeOne = async () => {
      const ctx: CollectContext = { ...options, nowMs: Date.now(), monoMs: performance.now() };
      const samples = await collector.collect(ctx, { skip() {} });
      return { processes: samples.length, errors: [] };
    };
    return { take, mode: 'process-collector', fallbackReason: reason };
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dist: { type: 'string', default: new URL('../dist/', import.meta.url).href },
      count: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '50' },
      every: { type: 'string', default: '50' },
    },
  });
  const count = Number(values.count);
  const warmup = Number(values.warmup);
  const every = Number(values.every);
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = (n: number): RssPoint => {
    gc?.();
    const usage = process.memoryUsage();
    return { n, rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
  };

  const dist = values.dist.endsWith('/') ? values.dist : `${values.dist}/`;
  const sampler = await makeSampler(dist);
  const errors = new Set<string>();
  let processes = 0;
  const once = async () => {
    const result = await sampler.take();
    processes = result.processes;
    for (const error of result.errors) errors.add(error);
  };
  for (let i = 0; i < warmup; i++) await once();
  const points: RssPoint[] = [measure(0)];
  let timed = 0;
  for (let i = 1; i <= count; i++) {
    const t = performance.now();
    await once();
    timed += performance.now() - t;
    if (i % every === 0 || i === count) points.push(measure(i));
  }
  const report: RssReport = {
    mode: sampler.mode,
    ...(sampler.fallbackReason !== undefined ? { fallbackReason: sampler.fallbackReason } : {}),
    gcForced: gc !== undefined,
    warmup,
    count,
    points,
    msPerSnapshot: count > 0 ? timed / count : Number.NaN,
    processesPerSnapshot: processes,
    collectorErrors: [...errors],
    execArgv: process.execArgv,
    nodeOptions: process.env['NODE_OPTIONS'] ?? '',
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();
