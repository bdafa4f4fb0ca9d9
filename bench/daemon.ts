/**
 * The daemon section: what `vigil run --interval 2` costs over minutes with ~600 processes, beside
 * `glances -q -t 2` started at the same moment and sampled the same way. The first vigil runs as installed
 * (bin/vigil.js executed, so its shebang's `--max-semi-space-size=1` applies); a second one adds
 * `--lite-mode`, which trades CPU for memory, to decide whether to ship it too. Each vigil has its own temporary config, state and runtime directories, so nothing clashes
 * with a vigil already running here; all three read the same process table.
 *
 * Every 5 s the bench reads, for each of them, /proc/[pid]/stat (CPU, including its children's: reaped
 * ones from cutime/cstime, live ones such as `journalctl -f` from their own stat) and /proc/[pid]/status
 * (VmRSS). At the end vigil gets SIGTERM and must exit 0; glances gets SIGTERM; the sleepers are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Heartbeat } from '../src/store/types.js';
import {
  type BenchOptions,
  countProcesses,
  hasProgram,
  median,
  ROOT,
  type Row,
  row,
  type Section,
  type SectionResult,
  slopeWithError,
  VIGIL_BIN,
  vigilEnv,
  withVerdict,
} from './lib.js';
import { CLOCK_TICKS, residentParts, rssBytes, treeTicks } from './proc.js';
import { Sleepers } from './sleepers.js';

const SECTION = 'daemon';
export const DEFAULT_DAEMON_SECS = 300;
/** Processes alive while they run: the machine's own plus sleepers. */
const TARGET_PROCESSES = 600;
const INTERVAL_SECS = 2;
const SAMPLE_EVERY_MS = 5_000;
/** CPU after this is the steady state (start-up, module loading and the first full scan left out). */
const STEADY_AFTER_MS = 30_000;
/** From the issue: vigil's CPU at most half of glances', its RSS at most 50 MB steady, no upward trend. */
const TARGET_CPU_RATIO = 0.5;
const TARGET_RSS_MB = 50;
/**
 * The smallest RSS slope called a trend, MB per minute (3 MB an hour), whatever the scatter: below it a
 * slope is not an upward trend even when a very quiet run measures it precisely.
 */
const TREND_FLOOR_MB_PER_MIN = 0.05;
/** The shebang's flag, which running node directly would lose, plus the one on trial. */
const V8_FLAGS = ['--max-semi-space-size=1', '--lite-mode'] as const;
const GLANCES_ARGS = ['-q', '-t', String(INTERVAL_SECS)] as const;
const STOP_WAIT_MS = 5_000;
const MB = 1024 * 1024;

interface Sample {
  /** ms since the contenders were spawned. */
  readonly atMs: number;
  /** CPU ticks so far (process and children), null when it is gone. */
  readonly ticks: number | null;
  readonly rssBytes: number | null;
}

interface Contender {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly samples: Sample[];
  /** Temporary home of a vigil (config, state, runtime directories); null for glances. */
  readonly home: string | null;
  readonly output: { lines: number; tail: string[] };
  exit: { code: number | null; signal: NodeJS.Signals | null; atMs: number } | null;
}

function start(
  label: string,
  argv: readonly string[],
  options: { home: string | null; env?: NodeJS.ProcessEnv; cwd: string; capture: boolean },
  startedAt: number,
): Contender {
  const [program, ...args] = argv;
  const child = spawn(program!, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'ignore',
  });
  if (child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
  const contender: Contender = {
    label,
    child,
    pid: child.pid,
    samples: [],
    home: options.home,
    output: { lines: 0, tail: [] },
    exit: null,
  };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      contender.output.lines++;
      contender.output.tail.push(line);
      if (contender.output.tail.length > 20) contender.output.tail.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => keep(Buffer.from(`spawn error: ${error.message}`)));
  child.on('exit', (code, signal) => {
    contender.exit = { code, signal, atMs: performance.now() - startedAt };
  });
  return contender;
}

function waitExit(c: Contender, timeoutMs: number): Promise<boolean> {
  if (c.exit !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((resolve) => c.child.once('exit', () => resolve(true))),
    sleep(timeoutMs).then(() => false),
  ]);
}

function databaseBytes(home: string): number | null {
  let total = 0;
  let found = false;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(join(home, 'state', 'vigil', `vigil.db${suffix}`)).size;
      found = true;
    } catch {
      // absent
    }
  }
  return found ? total : null;
}

function readHeartbeat(home: string): Heartbeat | null {
  try {
    return JSON.parse(readFileSync(join(home, 'run', 'heartbeat.json'), 'utf8')) as Heartbeat;
  } catch {
    return null;
  }
}

interface Figures {
  readonly cpuPercent: number | null;
  readonly steadyCpuPercent: number | null;
  readonly rssStartMb: number | null;
  readonly rssEndMb: number | null;
  readonly rssMaxMb: number | null;
  readonly secondHalfMaxMb: number | null;
  readonly slopeMbPerMin: number;
  readonly slopeStdError: number;
  /** 5-s intervals in which it used CPU, of all. */
  readonly busyIntervals: number;
  readonly intervals: number;
}

function figures(c: Contender, durationMs: number): Figures {
  const live = c.samples.filter((s) => s.ticks !== null && s.rssBytes !== null);
  const last = live[live.length - 1];
  const cpu = (from: Sample | undefined, to: Sample | undefined) =>
    from === undefined || to === undefined || to.atMs <= from.atMs
      ? null
      : (((to.ticks! - from.ticks!) / CLOCK_TICKS) * 100_000) / (to.atMs - from.atMs);
  // A new process starts at zero ticks: the whole run is measured from the spawn.
  const spawnPoint: Sample = { atMs: 0, ticks: 0, rssBytes: 0 };
  const steadyFrom = live.find((s) => s.atMs >= STEADY_AFTER_MS);
  const mb = (s: Sample) => s.rssBytes! / MB;
  const secondHalf = live.filter((s) => s.atMs >= durationMs / 2);
  const trend = slopeWithError(
    secondHalf.map((s) => s.atMs / 60_000),
    secondHalf.map(mb),
  );
  let busy = 0;
  for (let i = 1; i < live.length; i++) if (live[i]!.ticks! > live[i - 1]!.ticks!) busy++;
  return {
    cpuPercent: cpu(spawnPoint, last),
    steadyCpuPercent: cpu(steadyFrom, last),
    rssStartMb: live[0] ? mb(live[0]) : null,
    rssEndMb: last ? mb(last) : null,
    rssMaxMb: live.length > 0 ? Math.max(...live.map(mb)) : null,
    secondHalfMaxMb: secondHalf.length > 0 ? Math.max(...secondHalf.map(mb)) : null,
    slopeMbPerMin: trend.slope,
    slopeStdError: trend.stdError,
    busyIntervals: busy,
    intervals: Math.max(0, live.length - 1),
  };
}

/** Rows for one vigil beside glances. */
function vigilRows(
  label: string,
  v: Figures,
  g: Figures | null,
  dbBytes: number | null,
  procs: string,
): Row[] {
  const peerName = g ? `glances ${GLANCES_ARGS.join(' ')}` : 'glances (not installed)';
  const against = { section: SECTION, peerName } as const;
  const alone = { section: SECTION, peer: null, peerName: '—' } as const;
  const cpu = row({
    ...against,
    metric: `CPU over the run, ${label}, ${procs}`,
    vigil: v.cpuPercent,
    peer: g?.cpuPercent ?? null,
    target: `≤ ${TARGET_CPU_RATIO.toFixed(2)}×`,
    unit: '%',
  });
  const trendLimit = Math.max(2 * v.slopeStdError, TREND_FLOOR_MB_PER_MIN);
  return [
    withVerdict(cpu, cpu.ratio, TARGET_CPU_RATIO),
    row({
      ...against,
      metric: `CPU after ${STEADY_AFTER_MS / 1000} s, ${label}`,
      vigil: v.steadyCpuPercent,
      peer: g?.steadyCpuPercent ?? null,
      target: '—',
      unit: '%',
    }),
    row({
      ...against,
      metric: `RSS at 5 s, ${label}`,
      vigil: v.rssStartMb,
      peer: g?.rssStartMb ?? null,
      target: '—',
      unit: 'MB',
    }),
    row({
      ...against,
      metric: `RSS at the end, ${label}`,
      vigil: v.rssEndMb,
      peer: g?.rssEndMb ?? null,
      target: '—',
      unit: 'MB',
    }),
    row({
      ...against,
      metric: `RSS max, ${label}`,
      vigil: v.rssMaxMb,
      peer: g?.rssMaxMb ?? null,
      target: '—',
      unit: 'MB',
    }),
    withVerdict(
      row({
        ...against,
        metric: `RSS max over the 2nd half, ${label}`,
        vigil: v.secondHalfMaxMb,
        peer: g?.secondHalfMaxMb ?? null,
        target: `≤ ${TARGET_RSS_MB} MB`,
        unit: 'MB',
      }),
      v.secondHalfMaxMb,
      TARGET_RSS_MB,
    ),
    withVerdict(
      row({
        ...alone,
        metric: `RSS slope over the 2nd half, ${label}`,
        vigil: v.slopeMbPerMin,
        target: `≤ ${trendLimit.toFixed(2)} (no trend)`,
        unit: 'MB/min',
        note: `standard error ${v.slopeStdError.toFixed(3)} MB/min`,
      }),
      v.slopeMbPerMin,
      trendLimit,
    ),
    row({
      ...alone,
      metric: `database at the end (db + -wal), ${label}`,
      vigil: dbBytes === null ? null : dbBytes / MB,
      target: '—',
      unit: 'MB',
    }),
  ];
}

async function run(log: (line: string) => void, options: BenchOptions): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const durationMs = options.daemonSecs * 1000;
  const haveGlances = hasProgram('glances', ['-V']);
  if (!haveGlances) {
    notes.push('glances is not installed (apt-get install glances): vigil is measured without its peer');
  }
  const homes = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'vigil-bench-daemon-')));
  for (const home of homes) mkdirSync(join(home, 'run'), { recursive: true });
  const sleepers = new Sleepers();
  const contenders: Contender[] = [];
  // Whatever way the bench leaves (an error, a signal handled by sleepers.ts), nothing it started stays.
  const killAll = () => {
    for (const c of contenders) if (c.exit === null) c.child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  try {
    const extra = Math.max(0, TARGET_PROCESSES - countProcesses() - (haveGlances ? 3 : 2));
    await sleepers.grow(extra);
    log(
      `${countProcesses()} processes in /proc (${extra} extra sleepers); running for ${options.daemonSecs} s`,
    );

    // A bound in case the bench itself is SIGKILLed: neither outlives it by more than two minutes.
    const bound = options.daemonSecs + 120;
    const vigilArgs = ['run', '--interval', String(INTERVAL_SECS), '--exit-after', String(bound)];
    const startedAt = performance.now();
    contenders.push(
      start(
        'vigil',
        [VIGIL_BIN, ...vigilArgs],
        { home: homes[0]!, env: vigilEnv(homes[0]!), cwd: ROOT, capture: true },
        startedAt,
      ),
      start(
        'vigil + --lite-mode',
        [process.execPath, ...V8_FLAGS, VIGIL_BIN, ...vigilArgs],
        { home: homes[1]!, env: vigilEnv(homes[1]!), cwd: ROOT, capture: true },
        startedAt,
      ),
    );
    if (haveGlances) {
      const iterations = Math.ceil(bound / INTERVAL_SECS);
      contenders.push(
        start(
          'glances',
          ['glances', ...GLANCES_ARGS, '--stop-after', String(iterations)],
          { home: null, cwd: homes[0]!, capture: false },
          startedAt,
        ),
      );
    }

    const processCounts: number[] = [];
    let nextLog = 60_000;
    for (let k = 1; k * SAMPLE_EVERY_MS <= durationMs; k++) {
      const wait = startedAt + k * SAMPLE_EVERY_MS - performance.now();
      if (wait > 0) await sleep(wait);
      const atMs = performance.now() - startedAt;
      for (const c of contenders) {
        if (c.exit !== null) continue;
        c.samples.push({ atMs, ticks: treeTicks(c.pid), rssBytes: rssBytes(c.pid) });
      }
      processCounts.push(countProcesses());
      if (atMs >= nextLog) {
        nextLog += 60_000;
        const state = contenders.map((c) => {
          const s = c.samples[c.samples.length - 1];
          if (c.exit !== null || s === undefined || s.ticks === null) return `${c.label} exited`;
          const cpu = ((s.ticks / CLOCK_TICKS) * 100_000) / s.atMs;
          return `${c.label} ${((s.rssBytes ?? 0) / MB).toFixed(1)} MB ${cpu.toFixed(2)}%`;
        });
        log(`  ${Math.round(atMs / 1000)} s: ${state.join(', ')}`);
      }
    }

    // Read before stopping: the database as a running daemon keeps it, and its last heartbeat.
    const vigils = contenders.filter((c) => c.home !== null);
    const dbBytes = new Map(vigils.map((c) => [c, databaseBytes(c.home!)]));
    const heartbeats = new Map(vigils.map((c) => [c, readHeartbeat(c.home!)]));
    const parts = new Map(contenders.map((c) => [c.label, c.exit === null ? residentParts(c.pid) : null]));
    for (const c of contenders) {
      if (c.exit === null) c.child.kill('SIGTERM');
    }
    for (const c of contenders) {
      if (!(await waitExit(c, STOP_WAIT_MS))) {
        notes.push(`anomaly: ${c.label} did not exit within ${STOP_WAIT_MS / 1000} s of SIGTERM; killed`);
        c.child.kill('SIGKILL');
        await waitExit(c, STOP_WAIT_MS);
      }
    }

    const procs = `${Math.round(median(processCounts))} procs`;
    const glances = contenders.find((c) => c.home === null);
    const g = glances ? figures(glances, durationMs) : null;
    const byLabel = new Map(vigils.map((c) => [c.label, figures(c, durationMs)]));
    const plain = byLabel.get('vigil')!;
    const flagged = byLabel.get('vigil + --lite-mode')!;
    rows.push(...vigilRows('vigil', plain, g, dbBytes.get(vigils[0]!) ?? null, procs));
    rows.push(...vigilRows('vigil + --lite-mode', flagged, g, dbBytes.get(vigils[1]!) ?? null, procs));
    // RSS counts the pages of the executable too: node's own binary is ~40 MB of them, shared through the
    // page cache with every Node process on the machine. What each one allocated itself is apart.
    const glancesParts = glances ? (parts.get(glances.label) ?? null) : null;
    for (const c of vigils) {
      const own = parts.get(c.label);
      if (!own) continue;
      const against = { section: SECTION, peerName: glances ? glances.label : '—', target: '—' } as const;
      rows.push(
        row({
          ...against,
          metric: `anonymous memory at the end, ${c.label}`,
          vigil: own.anonBytes / MB,
          peer: glancesParts ? glancesParts.anonBytes / MB : null,
          unit: 'MB',
        }),
        row({
          ...against,
          metric: `file pages (executable, libraries) at the end, ${c.label}`,
          vigil: own.fileBytes / MB,
          peer: glancesParts ? glancesParts.fileBytes / MB : null,
          unit: 'MB',
        }),
      );
    }
    const flagsVsPlain = { section: SECTION, peerName: 'vigil as installed', target: '—' } as const;
    rows.push(
      row({
        ...flagsVsPlain,
        metric: '--lite-mode: CPU over the run',
        vigil: flagged.cpuPercent,
        peer: plain.cpuPercent,
        unit: '%',
      }),
      row({
        ...flagsVsPlain,
        metric: '--lite-mode: RSS max over the 2nd half',
        vigil: flagged.secondHalfMaxMb,
        peer: plain.secondHalfMaxMb,
        unit: 'MB',
      }),
    );

    // How each one ended, and whether each really worked throughout.
    for (const c of contenders) {
      const exit = c.exit;
      const early = exit !== null && exit.atMs < durationMs;
      if (c.home !== null) {
        const clean = exit !== null && exit.code === 0;
        if (!clean || early) {
          notes.push(
            `anomaly: ${c.label} ${early ? `exited early at ${Math.round(exit!.atMs / 1000)} s` : 'ended'} ` +
              `with ${exit?.code ?? exit?.signal ?? 'no exit'} (exit 0 expected after SIGTERM); last output: ` +
              c.output.tail.slice(-3).join(' | '),
          );
        }
        const heartbeat = heartbeats.get(c);
        if (heartbeat === null || heartbeat === undefined) {
          notes.push(`anomaly: ${c.label} wrote no heartbeat (no full cycle completed?)`);
        } else {
          const failing = heartbeat.collectors
            .filter((s) => s.error !== null)
            .map((s) => `${s.name}: ${s.error}`);
          if (failing.length > 0)
            notes.push(`${c.label}: collectors failing at the end: ${failing.join('; ')}`);
          if (!heartbeat.store.ok)
            notes.push(`anomaly: ${c.label}: history store failing: ${heartbeat.store.error}`);
          const journal = `${heartbeat.journal.state}${heartbeat.journal.detail ? ` (${heartbeat.journal.detail})` : ''}`;
          notes.push(
            `${c.label}: last heartbeat: ${heartbeat.rules.count} rules, ${heartbeat.firing} firing, journal ` +
              `${journal}, its own figures ${(heartbeat.rssBytes / MB).toFixed(1)} MB and ` +
              `${heartbeat.cpuSeconds.toFixed(2)} CPU s; ${c.output.lines} lines of output`,
          );
        }
      } else if (early) {
        notes.push(
          `anomaly: glances exited by itself at ${Math.round(exit!.atMs / 1000)} s (${exit!.code ?? exit!.signal})`,
        );
      }
    }
    const exits = vigils.map((c) => `${c.label} exited ${c.exit?.code ?? c.exit?.signal ?? '?'}`).join(', ');
    notes.push(
      `${options.daemonSecs} s with ${procs} (median of the samples), all started at the same moment and ` +
        `sampled every ${SAMPLE_EVERY_MS / 1000} s from /proc/[pid]/stat (utime + stime of the process, its ` +
        'reaped children and its live ones) and /proc/[pid]/status (VmRSS). CPU: 100% = one core; "over the ' +
        `run" counts from the spawn (start-up included). After SIGTERM: ${exits}.`,
      `vigil: \`bin/vigil.js ${vigilArgs.join(' ')}\` run as a program, so with its shebang's flags (--exit-after only bounds it if the bench is ` +
        'killed), temporary XDG_CONFIG_HOME (no config: the defaults and shipped rules), XDG_STATE_HOME and ' +
        `VIGIL_RUNTIME_DIR; the second vigil is \`node ${V8_FLAGS.join(' ')} bin/vigil.js\` and ran at the ` +
        'same time as the first, against the same glances, with directories of its own.',
    );
    if (glances && g) {
      notes.push(
        `glances: \`glances ${GLANCES_ARGS.join(' ')} --stop-after N\` (--stop-after only bounds it), stdio ` +
          `ignored, no terminal: in quiet mode it still updates every plugin, the process list included, ` +
          `each refresh (glances/standalone.py __serve_once) and needs no tty. It used CPU in ${g.busyIntervals} ` +
          `of ${g.intervals} ${SAMPLE_EVERY_MS / 1000}-s intervals, so it was collecting throughout.`,
      );
    }
    const curve = (c: Contender) =>
      c.samples
        .filter((x, i) => x.rssBytes !== null && (i % 6 === 5 || i === c.samples.length - 1))
        .map((x) => `${Math.round(x.atMs / 1000)} s ${(x.rssBytes! / MB).toFixed(0)}`)
        .join(', ');
    notes.push(`RSS (MB) every 30 s: ${contenders.map((c) => `${c.label}: ${curve(c)}`).join('; ')}`);
    notes.push(
      `--lite-mode: RSS max over the 2nd half ${fmt(flagged.secondHalfMaxMb)} MB vs ${fmt(plain.secondHalfMaxMb)} MB ` +
        `without (${fmt(diff(plain.secondHalfMaxMb, flagged.secondHalfMaxMb))} MB saved); CPU over the run ` +
        `${fmt(flagged.cpuPercent)}% vs ${fmt(plain.cpuPercent)}% (×${fmt(ratioOf(flagged.cpuPercent, plain.cpuPercent))}).`,
    );
  } finally {
    process.off('exit', killAll);
    killAll();
    await sleepers.stopAndReap();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  }
  return { rows, notes };
}

const fmt = (x: number | null) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(2));
const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
const ratioOf = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

export const daemonSection: Section = {
  name: SECTION,
  description: `vigil run --interval ${INTERVAL_SECS} vs glances -q -t ${INTERVAL_SECS} for minutes at ~${TARGET_PROCESSES} processes: CPU, RSS, database`,
  run,
};
