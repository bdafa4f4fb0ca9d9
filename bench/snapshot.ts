/**
 * The snapshot section: how fast vigil reads the process table, how soon `vigil status` answers, and
 * whether repeated snapshots keep memory flat — beside `ps`, `top` and systeminformation measured in the
 * same run. The bench adds 500, then 2,000 extra sleeping processes of its own (see sleepers.ts) so the
 * table is the size of a busy workstation's, and kills them before it returns.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import si from 'systeminformation';
import { createProcessCollector, type ProcessCollector } from '../src/collectors/processes.js';
import type { CollectContext } from '../src/collectors/types.js';
import type { ProcessSample } from '../src/model/snapshot.js';
import { deriveProcesses } from '../src/pipeline/derive.js';
import {
  compileBenchScript,
  countProcesses,
  DIST,
  hasProgram,
  median,
  ROOT,
  type Row,
  row,
  type Section,
  type SectionResult,
  slope,
  timeFirstByte,
  timeProgram,
  VIGIL_BIN,
  withVerdict,
} from './lib.js';
import { Sleepers } from './sleepers.js';
import type { RssPoint, RssReport } from './snapshot-rss.js';

const SECTION = 'snapshot';
/** Extra sleeping processes, cumulative: the table is measured at each size. */
const LEVELS = [500, 2000] as const;
const SCAN_RUNS = 15;
const SI_RUNS = 3;
const STATUS_RUNS = 5;
const STATUS_WINDOW_MS = 500;
const RSS_SNAPSHOTS = 1000;
const RSS_WARMUP = 50;
const RSS_EVERY = 25;

const VIGIL_MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const COMPILED_PROCESSES = new URL('../dist/collectors/processes.js', import.meta.url);

const PS_ARGV = ['ps', '-eo', 'pid,ppid,stat,rss,args'] as const;
const PS_NAME = 'ps -eo pid,ppid,stat,rss,args';
const TOP_ARGV = ['top', '-b', '-n', '2', '-d', String(STATUS_WINDOW_MS / 1000)] as const;
const TOP_NAME = `top -b -n 2 -d ${STATUS_WINDOW_MS / 1000} (wall − ${STATUS_WINDOW_MS} ms)`;
const SI_NAME = 'systeminformation.processes()';
/** systeminformation.processes() serves a cached result for this long after a call. */
const SI_CACHE_MS = 500;

/** Targets from the issue. Ratios are vigil ÷ peer. */
const TARGET_PS_RATIO = 1.0;
const TARGET_SI_RATIO = 1 / 20;
const TARGET_STATUS_OVERHEAD_MS = 200;
/**
 * "Flat": RSS may grow at most this much per 100 snapshots (least-squares slope of the readings after
 * RSS_SETTLE). RSS readings scatter by a few MB even after gc(), which puts the standard error of that
 * slope near 0.2 MB; 0.5 MB (5 MB per 1,000 snapshots) is the smallest steady growth one run can tell
 * from noise. A slower leak needs a longer run (`snapshot-rss.ts --count 4000`).
 */
const TARGET_RSS_SLOPE_MB = 0.5;
/** Snapshots after the warm-up left out of the verdict while the allocator settles. */
const RSS_SETTLE = 200;

const MB = 1024 * 1024;

function liveContext(): CollectContext {
  return {
    paths: { procfs: '/proc', sysfs: '/sys', etc: '/etc', rootfs: '/' },
    nowMs: Date.now(),
    monoMs: performance.now(),
    nvidiaSmi: 'nvidia-smi',
    journal: { kind: 'system' },
    journalSince: '-1h',
    commandTimeoutMs: 5000,
  };
}

const noReport = { skip() {} };

/** One scan by a new collector: reads stat, status, cmdline and cgroup of every process. */
async function coldScan(): Promise<{ ms: number; count: number }> {
  const started = performance.now();
  const samples = await createProcessCollector().collect(liveContext(), noReport);
  return { ms: performance.now() - started, count: samples.length };
}

/** A scan by a collector that has seen the table before: only stat for known processes (the daemon). */
/** The warm scan as the daemon pays for it: the collector's counters, then CPU % from the previous scan's. */
let previousScan: { samples: ProcessSample[]; at: number } | null = null;
async function warmScan(collector: ProcessCollector): Promise<number> {
  const started = performance.now();
  let samples = await collector.collect(liveContext(), noReport);
  const at = performance.now();
  if (previousScan) samples = deriveProcesses(previousScan.samples, samples, at - previousScan.at);
  previousScan = { samples, at };
  return performance.now() - started;
}

/**
 * vigil's scan as a whole program, like `ps`: node starts, loads the compiled collector from dist/, scans
 * and prints one line per process (pid ppid state rss-KiB cmdline) to a pipe.
 */
const FRESH_SCAN_CODE = `
const { createProcessCollector } = await import(process.argv[1]);
const ctx = { paths: { procfs: '/proc', sysfs: '/sys', etc: '/etc', rootfs: '/' }, nowMs: Date.now(),
  monoMs: performance.now(), nvidiaSmi: 'nvidia-smi', journal: { kind: 'system' }, journalSince: '-1h',
  commandTimeoutMs: 5000 };
const samples = await createProcessCollector().collect(ctx, { skip() {} });
let out = '';
for (const p of samples) out += p.pid + ' ' + p.ppid + ' ' + p.state + ' ' + p.rssBytes / 1024 + ' ' + (p.cmdline || '[' + p.comm + ']') + '\\n';
process.stdout.write(out);
`;

function freshScanArgv(): string[] | null {
  if (!existsSync(fileURLToPath(COMPILED_PROCESSES))) return null;
  return [process.execPath, '--input-type=module', '-e', FRESH_SCAN_CODE, COMPILED_PROCESSES.href];
}

function runPs(): { ms: number; rows: number } {
  const result = timeProgram(PS_ARGV);
  if (result.status !== 0)
    throw new Error(`${PS_NAME} exited with ${result.status}: ${result.stderr.trim()}`);
  const lines = result.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0).length;
  return { ms: result.wallMs, rows: lines - 1 };
}

/** Scan timings at the current table size: vigil cold, warm and in a fresh node; ps; systeminformation. */
async function measureScans(label: string, log: (line: string) => void, notes: string[]): Promise<Row[]> {
  const fresh = freshScanArgv();
  log(`  ${SCAN_RUNS} × vigil scan cold / warm${fresh ? ' / fresh node' : ''} and ${PS_NAME}, interleaved`);
  const warm = createProcessCollector();
  // Warm-up: JIT for vigil; page cache and dentries for everyone.
  await coldScan();
  await warm.collect(liveContext(), noReport);
  runPs();
  if (fresh) timeProgram(fresh);

  const cold: number[] = [];
  const warmMs: number[] = [];
  const ps: number[] = [];
  const freshMs: number[] = [];
  let vigilCount = 0;
  let psCount = 0;
  for (let i = 0; i < SCAN_RUNS; i++) {
    // Back to the event loop between rounds, so a Ctrl-C is handled (and the sleepers killed) promptly.
    await sleep(0);
    // Interleaved, so background noise falls on every contender alike.
    const c = await coldScan();
    cold.push(c.ms);
    vigilCount = c.count;
    warmMs.push(await warmScan(warm));
    const p = runPs();
    ps.push(p.ms);
    psCount = p.rows;
    if (fresh) {
      const result = timeProgram(fresh);
      if (result.status !== 0) throw new Error(`fresh-node scan failed: ${result.stderr.trim()}`);
      freshMs.push(result.wallMs);
    }
  }
  // ps also lists itself; anything beyond a handful means the two did not scan the same table.
  if (Math.abs(psCount - vigilCount) > 5) {
    notes.push(`anomaly at ${label}: vigil listed ${vigilCount} processes, ps ${psCount}`);
  }

  log(`  ${SI_RUNS} × ${SI_NAME}`);
  const siMs: number[] = [];
  let siCount = 0;
  for (let i = 0; i < SI_RUNS; i++) {
    // systeminformation returns its previous result when called again within 500 ms of the last call
    // ending; waiting past that makes every timed call a full scan.
    await sleep(SI_CACHE_MS + 100);
    const started = performance.now();
    const data = await si.processes();
    siMs.push(performance.now() - started);
    siCount = data.list.length;
  }
  if (Math.min(...siMs) < 1) {
    notes.push(`anomaly at ${label}: ${SI_NAME} answered in under 1 ms (a cached list?)`);
  }
  if (Math.abs(siCount - vigilCount) > 10) {
    notes.push(`anomaly at ${label}: vigil listed ${vigilCount} processes, systeminformation ${siCount}`);
  }

  const psMedian = median(ps);
  const coldMedian = median(cold);
  const psTarget = `≤ ${TARGET_PS_RATIO.toFixed(2)}×`;
  const coldVsPs = row({
    section: SECTION,
    metric: `scan cold, ${label}`,
    vigil: coldMedian,
    peer: psMedian,
    peerName: PS_NAME,
    target: psTarget,
    unit: 'ms',
  });
  const warmVsPs = row({
    section: SECTION,
    metric: `scan warm, ${label}`,
    vigil: median(warmMs),
    peer: psMedian,
    peerName: PS_NAME,
    target: psTarget,
    unit: 'ms',
  });
  const freshVsPs = row({
    section: SECTION,
    metric: `scan, fresh node, ${label}`,
    vigil: fresh ? median(freshMs) : null,
    peer: psMedian,
    peerName: PS_NAME,
    target: '—',
    unit: 'ms',
    ...(fresh
      ? {}
      : { verdict: 'skipped', note: 'dist/collectors/processes.js is missing (did the build fail?)' }),
  });
  const coldVsSi = row({
    section: SECTION,
    metric: `scan cold, ${label}`,
    vigil: coldMedian,
    peer: median(siMs),
    peerName: SI_NAME,
    target: `≤ ${TARGET_SI_RATIO.toFixed(2)}× (20× faster)`,
    unit: 'ms',
  });
  return [
    withVerdict(coldVsPs, coldVsPs.ratio, TARGET_PS_RATIO),
    withVerdict(warmVsPs, warmVsPs.ratio, TARGET_PS_RATIO),
    freshVsPs,
    withVerdict(coldVsSi, coldVsSi.ratio, TARGET_SI_RATIO),
  ];
}

/** The telling line of a failed program's stderr: a node stack's `Error...` line, not its first frame. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim());
  const line = lines.find((l) => /^(\w*Error\b|vigil:)/.test(l)) ?? lines.find((l) => l !== '') ?? '';
  return line.replaceAll(ROOT, '');
}

/** Why `vigil status` cannot be measured here, or null when it runs and prints a sane snapshot. */
async function statusProblem(): Promise<string | null> {
  if (!existsSync(VIGIL_MAIN)) return 'dist/cli/main.js is missing (did `npm run build` fail?)';
  const argv = [process.execPath, VIGIL_BIN, 'status', '--json', '--sample', String(STATUS_WINDOW_MS)];
  const probe = await timeFirstByte(argv, { cwd: ROOT, timeoutMs: 30_000 });
  if (probe.status !== 0) {
    const why = errorLine(probe.stderr);
    return `\`vigil status --json\` exited with ${probe.status ?? probe.signal}${why ? `: ${why}` : ''}`;
  }
  try {
    const doc = JSON.parse(probe.stdout) as { processes?: unknown[] };
    if (!Array.isArray(doc.processes) || doc.processes.length === 0) {
      return '`vigil status --json` printed no processes';
    }
  } catch (error) {
    return `\`vigil status --json\` printed invalid JSON: ${(error as Error).message}`;
  }
  return null;
}

/** `vigil status` time to first output beyond its sampling window, text and JSON, beside `top`. */
async function measureStatus(label: string, log: (line: string) => void): Promise<Row[]> {
  const metrics = [
    `status first output − ${STATUS_WINDOW_MS} ms window, ${label}`,
    `status --json first output − window, ${label}`,
  ] as const;
  const target = `≤ ${TARGET_STATUS_OVERHEAD_MS} ms`;
  const skipped = (problem: string): Row[] => {
    log(`  status skipped: ${problem}`);
    return metrics.map((metric) =>
      row({
        section: SECTION,
        metric,
        vigil: null,
        peer: null,
        peerName: TOP_NAME,
        target,
        unit: 'ms',
        verdict: 'skipped',
        note: problem,
      }),
    );
  };
  const problem = await statusProblem();
  if (problem !== null) return skipped(problem);

  const haveTop = hasProgram('top', ['-v']);
  log(`  ${STATUS_RUNS} × vigil status, vigil status --json${haveTop ? `, ${TOP_ARGV.join(' ')}` : ''}`);
  const base = [process.execPath, VIGIL_BIN, 'status', '--sample', String(STATUS_WINDOW_MS)];
  const argvs = [base, [...base, '--json']];
  const vigil: number[][] = [[], []];
  const top: number[] = [];
  for (let i = 0; i < STATUS_RUNS; i++) {
    for (const [k, argv] of argvs.entries()) {
      const t = await timeFirstByte(argv, { cwd: ROOT, timeoutMs: 30_000 });
      if (t.status !== 0 || t.firstByteMs === null) {
        // It passed the probe, so this is a flaky failure: report it rather than crash the bench.
        return skipped(
          `run ${i + 1} of \`${argv.slice(1).join(' ')}\` failed (${t.status ?? t.signal}): ${errorLine(t.stderr)}`,
        );
      }
      vigil[k]!.push(t.firstByteMs - STATUS_WINDOW_MS);
    }
    if (haveTop) top.push(timeProgram(TOP_ARGV).wallMs - STATUS_WINDOW_MS);
  }
  const peer = haveTop ? median(top) : null;
  return metrics.map((metric, k) => {
    const value = median(vigil[k]!);
    const r = row({
      section: SECTION,
      metric,
      vigil: value,
      peer,
      peerName: haveTop ? TOP_NAME : 'top (not installed)',
      target,
      unit: 'ms',
    });
    return withVerdict(r, value, TARGET_STATUS_OVERHEAD_MS);
  });
}

/**
 * Runs snapshot-rss.ts in a plain `node --expose-gc` child on the compiled code (no tsx, whose ~45 MB
 * would be counted as vigil's) and returns its report.
 */
async function runRssChild(): Promise<RssReport> {
  const script = await compileBenchScript(new URL('./snapshot-rss.ts', import.meta.url));
  try {
    return await spawnRssChild([
      '--expose-gc',
      script.path,
      '--dist',
      DIST.href,
      '--count',
      String(RSS_SNAPSHOTS),
      '--warmup',
      String(RSS_WARMUP),
      '--every',
      String(RSS_EVERY),
    ]);
  } finally {
    script.dispose();
  }
}

function spawnRssChild(args: readonly string[]): Promise<RssReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      if (status !== 0) {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        reject(
          new Error(
            `snapshot-rss.ts exited with ${status ?? signal}: ${stderr.split('\n').slice(-5).join(' | ')}`,
          ),
        );
        return;
      }
      try {
        resolve(JSON.parse(stdout.split('\n').pop() ?? '') as RssReport);
      } catch (error) {
        reject(new Error(`snapshot-rss.ts printed no report: ${stdout.slice(0, 200)}`, { cause: error }));
      }
    });
  });
}

/** RSS across 1,000 snapshots taken in one process, after a warm-up. */
async function measureRss(label: string, log: (line: string) => void, notes: string[]): Promise<Row[]> {
  log(`  ${RSS_SNAPSHOTS} snapshots in one process (after ${RSS_WARMUP} warm-up), RSS every ${RSS_EVERY}`);
  const report = await runRssChild();
  const first = report.points[0]!;
  const last = report.points[report.points.length - 1]!;
  const mb = (points: readonly RssPoint[]) => points.map((p) => p.rssBytes / MB);
  const hundreds = (points: readonly RssPoint[]) => points.map((p) => p.n / 100);
  const rssSlope = slope(hundreds(report.points), mb(report.points));
  // The verdict leaves out the first readings: RSS moves by several MB while the allocator and the JIT
  // settle after the warm-up (down at 2,000 processes, up at 70), which would hide or fake a slow leak.
  const settled = report.points.filter((p) => p.n >= RSS_SETTLE);
  const settledSlope = slope(hundreds(settled), mb(settled));
  const settledSpread = Math.max(...mb(settled)) - Math.min(...mb(settled));
  const heapSlope = slope(
    hundreds(report.points),
    report.points.map((p) => p.heapUsedBytes / MB),
  );
  const what = report.mode === 'collector-set' ? 'CollectorSet.sample()' : 'process collector only';
  if (report.mode !== 'collector-set') {
    notes.push(
      `RSS rows loop the process collector alone: src/collectors/index.ts did not load (${report.fallbackReason})`,
    );
  }
  if (!report.gcForced)
    notes.push('RSS rows: global.gc was not exposed, figures include uncollected garbage');
  for (const error of report.collectorErrors) notes.push(`RSS run, collector error: ${error}`);
  const flags = [...report.execArgv, report.nodeOptions].join(' ');
  if (/tsx|--(experimental-)?loader|--import/.test(flags))
    notes.push(`anomaly: the RSS child ran with a loader (${flags}): its RSS is not vigil's alone`);
  const curve = report.points
    .filter((p) => p.n % 200 === 0 || p === last)
    .map((p) => `${p.n}: ${(p.rssBytes / MB).toFixed(1)}`)
    .join(', ');
  notes.push(
    `RSS (MB) by snapshots after warm-up, ${what} from dist/ in a plain \`node --expose-gc\` child (no ` +
      `tsx), gc() before each reading: ${curve}. The figures are node itself, vigil's compiled code and ` +
      `the ${label} identity cache.`,
  );
  const base = { section: SECTION, peer: null, peerName: '—', target: '—' };
  const suffix = `${what}, ${label}`;
  return [
    row({ ...base, metric: `RSS after warm-up, ${suffix}`, vigil: first.rssBytes / MB, unit: 'MB' }),
    row({ ...base, metric: `RSS after ${last.n} snapshots`, vigil: last.rssBytes / MB, unit: 'MB' }),
    row({
      ...base,
      metric: `RSS growth over ${last.n} snapshots`,
      vigil: (last.rssBytes - first.rssBytes) / MB,
      unit: 'MB',
    }),
    row({ ...base, metric: 'RSS slope per 100 snapshots, whole run', vigil: rssSlope, unit: 'MB' }),
    row({ ...base, metric: `RSS spread (max − min) after ${RSS_SETTLE}`, vigil: settledSpread, unit: 'MB' }),
    withVerdict(
      row({
        ...base,
        metric: `RSS slope per 100 snapshots after ${RSS_SETTLE}`,
        vigil: settledSlope,
        target: `≤ ${TARGET_RSS_SLOPE_MB} MB`,
        unit: 'MB',
      }),
      settledSlope,
      TARGET_RSS_SLOPE_MB,
    ),
    row({ ...base, metric: 'heap-used slope per 100 snapshots', vigil: heapSlope, unit: 'MB' }),
    row({
      ...base,
      metric: `time per snapshot (${report.processesPerSnapshot} procs)`,
      vigil: report.msPerSnapshot,
      unit: 'ms',
    }),
  ];
}

async function run(log: (line: string) => void): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const nodeStart = median(Array.from({ length: 5 }, () => timeProgram([process.execPath, '-e', '']).wallMs));
  const sleepers = new Sleepers();
  try {
    for (const level of LEVELS) {
      const started = performance.now();
      await sleepers.grow(level);
      const procs = countProcesses();
      log(
        `${procs} processes in /proc (${level} extra sleepers, ready in ${Math.round(performance.now() - started)} ms)`,
      );
      const label = `${procs} procs`;
      rows.push(...(await measureScans(label, log, notes)));
      rows.push(...(await measureStatus(label, log)));
      if (level === LEVELS[LEVELS.length - 1]) rows.push(...(await measureRss(label, log, notes)));
    }
  } finally {
    await sleepers.stopAndReap();
  }
  notes.push(
    `scan cold/warm: createProcessCollector().collect() timed inside this node process, median of ${SCAN_RUNS}; ` +
      'cold = a new collector (stat, status, cmdline, cgroup of every process), warm = the same collector ' +
      'again (stat only for known processes: the daemon’s steady state).',
    `${PS_NAME}: a whole program (fork + exec + scan + print to a pipe), spawnSync wall time from this ` +
      `process, median of ${SCAN_RUNS}. The headline ratio is in-process scan ÷ ps wall time.`,
    `scan, fresh node: the same scan as a whole program like ps (node start + load dist/ + scan + print); ` +
      `bare \`node -e ''\` takes ${nodeStart.toFixed(0)} ms here.`,
    `${SI_NAME}: in this process, median of ${SI_RUNS}, each call ${SI_CACHE_MS + 100} ms after the previous ` +
      `one (it serves a cached list for ${SI_CACHE_MS} ms).`,
    `status: spawn of \`node bin/vigil.js status --sample ${STATUS_WINDOW_MS}\` to its first stdout byte, ` +
      `minus the ${STATUS_WINDOW_MS} ms window, median of ${STATUS_RUNS}; top: wall time of ` +
      `\`${TOP_ARGV.join(' ')}\` minus its ${STATUS_WINDOW_MS} ms delay (it also needs two samples).`,
  );
  return { rows, notes };
}

export const snapshotSection: Section = {
  name: SECTION,
  description: 'process scan vs ps and systeminformation, vigil status latency, RSS over repeated snapshots',
  run,
};
