import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/**
 * One line of the bench table: vigil's figure beside a peer's, measured in the same run on the same
 * machine. `ratio` is always vigil ÷ peer, so below 1 means vigil is faster or smaller. Figures are
 * informative: a missed target is reported, never turned into a failing exit status.
 */
export interface Row {
  readonly section: string;
  readonly metric: string;
  /** vigil's figure, null when it could not be measured (see `note`). */
  readonly vigil: number | null;
  /** The peer's figure, null when there is no peer for this metric or it could not run. */
  readonly peer: number | null;
  /** What the peer is (`ps -eo …`, `systeminformation.processes()`), `—` when none. */
  readonly peerName: string;
  readonly ratio: number | null;
  /** The goal in words (`≤ 1.00×`, `≤ 200 ms`), `—` when the row is context only. */
  readonly target: string;
  readonly unit: string;
  /** Whether the target was met; absent for context rows. */
  readonly verdict?: 'met' | 'not met' | 'skipped';
  /** Why a row was skipped, or what it measures when the metric name is not enough. */
  readonly note?: string;
}

export interface SectionResult {
  readonly rows: Row[];
  /** Lines printed under the table: what is compared with what, anomalies seen. */
  readonly notes: string[];
}

/** Command-line settings a section may use (`bench/run.ts` parses them). */
export interface BenchOptions {
  /** How long the daemon section runs vigil and its peer side by side, in seconds. */
  readonly daemonSecs: number;
}

/** A bench section: one module that measures one concern and returns rows. */
export interface Section {
  readonly name: string;
  readonly description: string;
  run(log: (line: string) => void, options: BenchOptions): Promise<SectionResult>;
}

/** Builds a row, computing the ratio vigil ÷ peer when both are known. */
export function row(fields: Omit<Row, 'ratio'> & { ratio?: number | null }): Row {
  const ratio =
    fields.ratio !== undefined
      ? fields.ratio
      : fields.vigil !== null && fields.peer !== null && fields.peer > 0
        ? fields.vigil / fields.peer
        : null;
  return { ...fields, ratio };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0–100) by nearest rank: an observed value, never an interpolated one. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** 'met' when `value` is at most `limit`; 'skipped' when there is no value. */
export function verdict(value: number | null, limit: number): 'met' | 'not met' | 'skipped' {
  if (value === null || Number.isNaN(value)) return 'skipped';
  return value <= limit ? 'met' : 'not met';
}

export function withVerdict(r: Row, value: number | null, limit: number): Row {
  return { ...r, verdict: verdict(value, limit) };
}

/** Least-squares fit of y over x: slope, the means, and the spread of x around its mean. */
function fit(
  xs: readonly number[],
  ys: readonly number[],
): { n: number; slope: number; mx: number; my: number; spread: number } {
  const n = Math.min(xs.length, ys.length);
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let spread = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    spread += (xs[i]! - mx) ** 2;
  }
  return { n, slope: n < 2 || spread === 0 ? Number.NaN : num / spread, mx, my, spread };
}

/** Least-squares slope of y over x (units of y per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  return fit(xs, ys).slope;
}

/**
 * Least-squares slope of y over x with its standard error (the scatter of the points around the line
 * over the spread of x): a slope within about two standard errors of 0 is not a trend this run can show.
 */
export function slopeWithError(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; stdError: number } {
  const { n, slope: b, mx, my, spread } = fit(xs, ys);
  if (n < 3 || Number.isNaN(b)) return { slope: b, stdError: Number.NaN };
  let residuals = 0;
  for (let i = 0; i < n; i++) residuals += (ys[i]! - (my + b * (xs[i]! - mx))) ** 2;
  return { slope: b, stdError: Math.sqrt(residuals / (n - 2) / spread) };
}

export interface SpawnTiming {
  readonly wallMs: number;
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs a whole program to completion with its stdout on a pipe (as a script would read it) and returns
 * the wall time from just before the fork to its exit, as seen from this process.
 */
export function timeProgram(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SpawnTiming {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error('timeProgram: empty argv');
  const started = performance.now();
  const result = spawnSync(program, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    cwd: options.cwd,
    env: options.env,
  });
  const wallMs = performance.now() - started;
  if (result.error)
    throw new Error(`cannot run ${program}: ${result.error.message}`, { cause: result.error });
  return {
    wallMs,
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr.toString('utf8'),
  };
}

export interface FirstByteTiming {
  /** From spawn to the first byte on stdout; null when the program printed nothing. */
  readonly firstByteMs: number | null;
  /** From spawn to exit. */
  readonly wallMs: number;
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns a program and times its first stdout byte and its exit. Killed after `timeoutMs`. */
export function timeFirstByte(
  argv: readonly string[],
  options: { cwd?: string; timeoutMs: number },
): Promise<FirstByteTiming> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(new Error('timeFirstByte: empty argv'));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs: number | null = null;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      firstByteMs ??= performance.now() - started;
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${program}: ${error.message}`, { cause: error }));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        firstByteMs,
        wallMs: performance.now() - started,
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** True when `program` can be run (found on PATH and executable). */
export function hasProgram(program: string, versionArgs: readonly string[] = ['--version']): boolean {
  const result = spawnSync(program, versionArgs, { stdio: 'ignore' });
  return result.error === undefined;
}

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly processes: number;
}

/** The machine the figures were measured on, printed at the top so runs can be compared honestly. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux or no procfs: keep "unknown"
  }
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel,
    processes: countProcesses(),
  };
}

/** Number of processes /proc lists right now. */
export function countProcesses(procfs = '/proc'): number {
  try {
    return readdirSync(procfs).filter((name) => /^\d+$/.test(name)).length;
  } catch {
    return 0;
  }
}

/** Formats a figure with a precision that suits its size. */
export function formatNumber(value: number | null): string {
  if (value === null || Number.isNaN(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 0.1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

export function formatRatio(ratio: number | null): string {
  if (ratio === null || Number.isNaN(ratio)) return '—';
  return `${ratio < 0.1 ? ratio.toFixed(3) : ratio.toFixed(2)}×`;
}

/** Renders rows as one aligned plain-text table (numbers right-aligned). */
export function renderTable(rows: readonly Row[]): string {
  const header = ['section', 'metric', 'vigil', 'peer', 'unit', 'ratio', 'target', 'verdict', 'peer is'];
  const right = new Set([2, 3, 5]);
  const cells = rows.map((r) => [
    r.section,
    r.metric,
    formatNumber(r.vigil),
    formatNumber(r.peer),
    r.unit,
    formatRatio(r.ratio),
    r.target,
    r.verdict ?? '',
    r.peerName,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(header), rule, ...cells.map(line)].join('\n');
}

/** The compiled code (`npm run build`), which every figure about vigil's own cost is measured on. */
export const DIST = new URL('../dist/', import.meta.url);
/** The checkout the bench runs from, and the `vigil` program in it. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const VIGIL_BIN = fileURLToPath(new URL('../bin/vigil.js', import.meta.url));

/**
 * The environment of a vigil the bench starts: config, state and runtime directories under `home` (so it
 * never meets a vigil or a config of this machine), no colour, and none of the user's vigil overrides.
 */
export function vigilEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'VIGIL_STATE_DIR',
    'VIGIL_CONFIG',
    'VIGIL_RUNTIME_DIR',
    'XDG_RUNTIME_DIR',
    'FORCE_COLOR',
  ])
    delete env[name];
  return {
    ...env,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_STATE_HOME: join(home, 'state'),
    VIGIL_RUNTIME_DIR: join(home, 'run'),
    NO_COLOR: '1',
  };
}

/**
 * Imports a compiled module from dist/ (`rules/runtime.js`). dist/ has no declaration files, so the
 * caller names the type of the module with the source it was built from:
 * `await importDist<typeof import('../src/rules/runtime.js')>('rules/runtime.js')` (a type only: nothing
 * under src/ is loaded).
 */
export async function importDist<T>(path: string): Promise<T> {
  const url = new URL(path, DIST);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` first (npm run bench does)`);
  }
  return (await import(url.href)) as T;
}

/**
 * A bench script made runnable by plain `node`, so what it measures is not inflated by tsx (~45 MB
 * resident). The script must load vigil from dist/ (see `importDist`, with the dist URL passed on its
 * command line, as the compiled copy lives in a temporary directory) and import only types from src/:
 * TypeScript's transpiler drops type-only imports and emits plain ESM. `dispose()` removes the copy.
 */
export async function compileBenchScript(script: URL): Promise<{ path: string; dispose(): void }> {
  const { default: ts } = await import('typescript');
  const source = readFileSync(script, 'utf8');
  const output = ts.transpileModule(source, {
    fileName: fileURLToPath(script),
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: false,
      sourceMap: false,
    },
  });
  const errors = (output.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const text = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ');
    throw new Error(`cannot transpile ${fileURLToPath(script)}: ${text}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const path = join(dir, basename(fileURLToPath(script)).replace(/\.ts$/, '.mjs'));
  writeFileSync(path, output.outputText);
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
