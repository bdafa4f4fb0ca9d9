/**
 * What `vigil status` does once it runs (./status.ts only defines the command): take the two-sample look
 * through the pipeline's Watcher, and render it as text or as the `--json` document.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { stripVTControlCharacters } from 'node:util';
import { Chalk, type ChalkInstance } from 'chalk';
import type { SampleOptions } from '../collectors/index.js';
import type { Severity } from '../config/schema.js';
import { shortCommand } from '../model/command.js';
import { bar, fit, formatBytes, formatDuration, formatPercent, formatRate } from '../model/format.js';
import {
  type CollectorStatus,
  collectorNotes,
  type ProcessSample,
  type Snapshot,
} from '../model/snapshot.js';
import { Watcher } from '../pipeline/watcher.js';
import { loadRulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import { judgeStatus, prepareJudge, type StatusJudgement } from './status-judge.js';

/**
 * Takes the look `vigil status` shows, through a Watcher of its own on the given sampling options: a
 * first sample (rate collectors: CPU % needs a delta; the command collectors — nvidia-smi, journalctl —
 * started at once to overlap the window), then the judged one `windowMs` later, point rules only. The
 * window is idle time: the running daemon's open alerts are read meanwhile.
 */
export async function takeStatusLook(
  sampling: SampleOptions,
  windowMs: number,
  configPath: string | undefined,
): Promise<{ snapshot: Snapshot; judgement: StatusJudgement }> {
  const runtime = loadRulesRuntime({ configPath });
  const watcher = new Watcher(runtime, sampling, { trackLeaks: false, learnBaselines: false });
  try {
    await watcher.prime();
    const windowEnd = performance.now() + windowMs;
    const prepared = await prepareJudge(runtime, sampling.paths);
    await sleep(Math.max(0, windowEnd - performance.now()));
    const look = await watcher.cycle({ pointOnly: true });
    return { snapshot: look.snapshot, judgement: judgeStatus(prepared, watcher, look) };
  } finally {
    watcher.close();
  }
}

/** The `status --json` document: the snapshot and its findings. */
export function statusJson(snapshot: Snapshot, judgement?: StatusJudgement): unknown {
  return {
    ...snapshot,
    processes: snapshot.processes?.map(({ argv: _argv, ...p }) => {
      const known = judgement?.processes.get(p.pid);
      return known ? { ...p, ...known } : p;
    }),
    ...(judgement
      ? {
          findings: judgement.findings.map((f) => ({
            rule: f.rule,
            severity: f.severity,
            summary: f.summary,
            pids: f.pids,
            subject: f.subject,
            since: f.since,
            suggest: f.suggest,
          })),
          findingsFrom: judgement.from,
          ...(judgement.daemonPid === null ? {} : { daemonPid: judgement.daemonPid }),
          rulesNeedingHistory: judgement.needHistory,
          ruleProblems: judgement.problems,
        }
      : {}),
  };
}

/** `--check`: 0 nothing worth a look, 1 warning-level findings (low to high), 2 a critical one. */
export function checkStatus(findings: readonly Finding[]): 0 | 1 | 2 {
  if (findings.some((f) => f.severity === 'critical')) return 2;
  if (findings.some((f) => f.severity !== 'info')) return 1;
  return 0;
}

export interface RenderOptions {
  readonly color: boolean;
  readonly top: number;
  /** Cells a line may take: see {@link statusWidth}. */
  readonly width: number;
  /** `--wide`: the COMMAND column is the whole command line, never cut (as `ps ww`). */
  readonly wide?: boolean;
  /**
   * The terminal's height: the view is made to fit it (the per-core lines go first, then the process
   * tables shrink to 3 rows each), so the findings at its top are still on screen once it is printed.
   * Undefined (a pipe) prints everything.
   */
  readonly rows?: number;
}

/**
 * How wide `vigil status` draws, as `ps` decides: `COLUMNS` when it is a positive whole number (so
 * `COLUMNS=200 vigil status | less` shows long commands), else the terminal's width, else (a pipe) 100.
 */
export function statusWidth(columnsEnv: string | undefined, terminalColumns: number | undefined): number {
  const columns = columnsEnv === undefined ? Number.NaN : Number(columnsEnv.trim());
  if (columnsEnv?.trim() && Number.isInteger(columns) && columns > 0) return columns;
  return terminalColumns ?? 100;
}

/** How much of each part a rendering shows. */
interface Layout {
  readonly top: number;
  readonly perCore: boolean;
  readonly findings: number;
}

/** Fewest rows each process table keeps when the view is fitted to a terminal. */
const MIN_TOP = 3;

/**
 * The human view of a snapshot. Plain text when `color` is false (NO_COLOR, pipes). Findings come first;
 * with `rows`, the view is fitted to the terminal so they stay on screen.
 */
export function renderStatus(s: Snapshot, options: RenderOptions, judgement?: StatusJudgement): string {
  const rows = options.rows;
  // Rows on the terminal: a line wider than it wraps; the shell's prompt takes the last row.
  const used = (text: string) =>
    text
      .split('\n')
      .slice(0, -1)
      .reduce(
        (sum, line) =>
          sum +
          Math.max(1, Math.ceil([...stripVTControlCharacters(line)].length / Math.max(1, options.width))),
        0,
      );
  const fits = (text: string) => rows === undefined || used(text) <= rows - 1;
  const findings = judgement?.findings.length ?? 0;
  // However many findings there are, a third of the screen is theirs at most (the rest are counted).
  const maxFindings = rows === undefined ? findings : Math.max(3, Math.floor(rows / 3));
  let layout: Layout = { top: options.top, perCore: true, findings: Math.min(findings, maxFindings) };
  let text = renderLayout(s, options, layout, judgement);
  if (fits(text)) return text;
  layout = { ...layout, perCore: false };
  text = renderLayout(s, options, layout, judgement);
  while (!fits(text) && layout.top > MIN_TOP) {
    layout = { ...layout, top: layout.top - 1 };
    text = renderLayout(s, options, layout, judgement);
  }
  return text;
}

function renderLayout(
  s: Snapshot,
  options: RenderOptions,
  layout: Layout,
  judgement?: StatusJudgement,
): string {
  const c: ChalkInstance = new Chalk({ level: options.color ? 1 : 0 });
  const width = Math.max(60, Math.min(options.width, 160));
  // The process tables take the whole width (COLUMNS=250 gives the command 185 cells); --wide, no limit.
  const tableWidth = options.wide ? Number.POSITIVE_INFINITY : Math.max(60, options.width);
  const barWidth = 20;
  const level = (p: number | null | undefined, warn: number, crit: number) =>
    p === null || p === undefined ? c.dim : p >= crit ? c.red : p >= warn ? c.yellow : c.green;
  const meter = (label: string, p: number | null | undefined, warn = 80, crit = 90) =>
    `${c.bold(label.padEnd(6))}${level(p, warn, crit)(bar(p, barWidth))} ${formatPercent(p).padStart(4)}`;
  const psi = (
    pressure: { some: { avg10: number } | null; full: { avg10: number } | null } | null | undefined,
  ) =>
    pressure
      ? `PSI some ${formatPercent(pressure.some?.avg10, 1)}${pressure.full ? ` full ${formatPercent(pressure.full.avg10, 1)}` : ''}`
      : '';
  const lines: string[] = [];
  const stamp = new Date(s.takenAt).toISOString().replace('T', ' ').slice(0, 19);
  lines.push(
    `${c.bold('vigil')} · ${c.cyan(s.host.hostname)} · kernel ${s.host.kernel} · up ${formatDuration(s.host.uptimeSecs)} · ${stamp} UTC`,
  );
  lines.push('');
  if (judgement) {
    const paint: Record<Severity, ChalkInstance> = {
      critical: c.bgRed.white.bold,
      high: c.red.bold,
      medium: c.yellow,
      low: c.cyan,
      info: c.dim,
    };
    if (judgement.findings.length === 0) lines.push(c.green('No findings.'));
    for (const f of judgement.findings.slice(0, layout.findings)) {
      lines.push(`${paint[f.severity](f.severity.toUpperCase().padEnd(8))} ${c.bold(f.rule)}: ${f.summary}`);
    }
    const hidden = judgement.findings.length - layout.findings;
    if (hidden > 0) lines.push(c.dim(`… and ${hidden} more (vigil status --json lists them all)`));
    if (judgement.from === 'daemon')
      lines.push(c.dim(`Open alerts of the running daemon (pid ${judgement.daemonPid ?? '?'}).`));
    else if (judgement.daemonProblem)
      lines.push(
        c.yellow(
          `The daemon runs, but its alerts could not be read (${judgement.daemonProblem}): judged here.`,
        ),
      );
    for (const problem of judgement.problems) lines.push(c.red(`Rule problem: ${problem}`));
    lines.push('');
  }
  if (s.cpu) {
    const load = s.cpu.load.map((l) => l.toFixed(2)).join(' ');
    const loadColor = level((s.cpu.load[0] / Math.max(1, s.cpu.cores)) * 50, 80, 100);
    lines.push(
      `${meter('CPU', s.cpu.usagePercent)}  load ${loadColor(load)} (${s.cpu.cores} cores)  ${psi(s.cpu.pressure)}`,
    );
    const cores = s.cpu.perCore.map(
      (core) =>
        `${core.name.padStart(6)} ${level(core.usagePercent, 80, 95)(bar(core.usagePercent, 10))} ${formatPercent(core.usagePercent).padStart(4)}${core.frequencyMhz ? ` ${Math.round(core.frequencyMhz)} MHz` : ''}`,
    );
    const perLine = Math.max(1, Math.floor(width / 32));
    if (layout.perCore)
      for (let i = 0; i < cores.length; i += perLine) lines.push(cores.slice(i, i + perLine).join('  '));
  }
  if (s.memory) {
    const m = s.memory;
    lines.push(
      `${meter('Mem', m.usedPercent)}  ${formatBytes(m.totalBytes - m.availableBytes)} used of ${formatBytes(m.totalBytes)}, ${formatBytes(m.availableBytes)} available${m.availableEstimated ? ' (estimated)' : ''}  ${psi(m.pressure)}`,
    );
    lines.push(
      m.swapTotalBytes > 0
        ? `${meter('Swap', m.swapUsedPercent, 40, 50)}  ${formatBytes(m.swapUsedBytes)} used of ${formatBytes(m.swapTotalBytes)}`
        : `${c.bold('Swap'.padEnd(6))}${c.dim('none')}`,
    );
  }
  if (s.ioPressure) lines.push(`${c.bold('IO'.padEnd(6))}${psi(s.ioPressure)}`);
  if (s.temperatures && s.temperatures.length > 0) {
    lines.push('', c.bold('Temperatures'));
    const cells = s.temperatures.map((t) => {
      const hot = t.critCelsius ?? t.maxCelsius ?? 85;
      const paint = t.tempCelsius >= hot ? c.red : t.tempCelsius >= hot - 10 ? c.yellow : (x: string) => x;
      return `${t.chip} ${t.label}: ${paint(`${t.tempCelsius.toFixed(0)}°C`)}`;
    });
    lines.push(...wrapCells(cells, width));
  }
  if (s.gpus && s.gpus.length > 0) {
    lines.push('', c.bold('GPUs'));
    for (const g of s.gpus) {
      const mem = g.memoryTotalBytes ? ((g.memoryUsedBytes ?? 0) / g.memoryTotalBytes) * 100 : null;
      lines.push(
        `  ${g.index} ${fit(g.name, 28, true)} ${g.temperatureCelsius ?? '-'}°C  util ${formatPercent(g.utilizationPercent)}  mem ${formatBytes(g.memoryUsedBytes)} / ${formatBytes(g.memoryTotalBytes)} ${level(mem, 80, 95)(bar(mem, 10))}  ${g.powerWatts === null ? '' : `${g.powerWatts.toFixed(0)} W`}`,
      );
    }
  }
  if (s.disks && s.disks.length > 0) {
    lines.push('', c.bold('Disks'));
    for (const d of s.disks) {
      const io = d.io
        ? `  r ${formatRate(d.io.readBytesPerSec)} w ${formatRate(d.io.writeBytesPerSec)} busy ${formatPercent(d.io.utilizationPercent)}`
        : '';
      lines.push(
        `  ${fit(d.mount, 18, true)} ${fit(d.fsType, 6, true)} ${level(d.usedPercent, 85, 90)(bar(d.usedPercent, 10))} ${formatPercent(d.usedPercent).padStart(4)}  ${formatBytes(d.availableBytes)} free of ${formatBytes(d.totalBytes)}${d.inodesUsedPercent !== null && d.inodesUsedPercent >= 50 ? `  inodes ${formatPercent(d.inodesUsedPercent)}` : ''}${io}`,
      );
    }
  }
  if (s.network && s.network.length > 0) {
    lines.push('', c.bold('Network'));
    const cells = s.network
      .filter((n) => n.name !== 'lo')
      .map(
        (n) =>
          `${n.name} ↓${formatRate(n.rxBytesPerSec)} ↑${formatRate(n.txBytesPerSec)}${n.rxErrors + n.txErrors > 0 ? c.yellow(` err ${n.rxErrors + n.txErrors}`) : ''}`,
      );
    lines.push(...wrapCells(cells, width));
    if (s.tcp) {
      const t = s.tcp;
      lines.push(
        `  TCP: ${t['ESTABLISHED'] ?? 0} established, ${t['LISTEN'] ?? 0} listening, ${t['TIME_WAIT'] ?? 0} time-wait, ${t['CLOSE_WAIT'] ?? 0} close-wait`,
      );
    }
  }
  if (s.processes) {
    const byCpu = [...s.processes].sort(
      (a, b) => (b.cpuPercent ?? 0) - (a.cpuPercent ?? 0) || b.cpuSeconds - a.cpuSeconds,
    );
    const byMem = [...s.processes].sort((a, b) => b.rssBytes - a.rssBytes);
    const known = judgement?.processes;
    lines.push(
      '',
      c.bold(`Top ${layout.top} by CPU`),
      ...processTable(byCpu.slice(0, layout.top), tableWidth, c, known),
    );
    lines.push(
      '',
      c.bold(`Top ${layout.top} by memory`),
      ...processTable(byMem.slice(0, layout.top), tableWidth, c, known),
    );
    const zombies = s.processes.filter((p) => p.state === 'Z').length;
    lines.push(
      c.dim(
        `  ${s.processes.length} processes${zombies > 0 ? `, ${zombies} zombie${zombies > 1 ? 's' : ''}` : ''}`,
      ),
    );
  }
  if (s.journal && s.journal.length > 0) {
    lines.push('', c.bold(`Journal: ${s.journal.length} warnings or worse`));
    for (const e of s.journal.slice(-5)) {
      const when = new Date(e.time).toISOString().slice(11, 19);
      const paint = e.priority <= 3 ? c.red : c.yellow;
      lines.push(
        fit(
          `  ${when} ${paint(e.identifier ?? e.unit ?? '?')}: ${e.message.replace(/\s+/g, ' ')}`,
          width + 10,
        ),
      );
    }
  }
  lines.push('');
  const failed = s.collectors.filter((x) => !x.ok);
  const unsupported = s.collectors.filter((x) => x.unsupported);
  if (failed.length > 0) {
    lines.push(
      c.red(`Collectors failing: ${failed.map((x) => `${x.name} (${withNotes(x.error, x)})`).join('; ')}`),
    );
  }
  const waiting = s.collectors.filter((x) => x.ok && x.inFlightMs !== undefined);
  if (waiting.length > 0) {
    lines.push(
      c.dim(
        `Collectors still answering: ${waiting.map((x) => `${x.name} (${withNotes(null, x)})`).join('; ')}`,
      ),
    );
  }
  if (unsupported.length > 0) {
    lines.push(
      c.dim(`Not on this machine: ${unsupported.map((x) => `${x.name} (${x.unsupported})`).join('; ')}`),
    );
  }
  if (judgement && judgement.needHistory.length > 0) {
    lines.push(c.dim(`Need the daemon's history (vigil run): ${judgement.needHistory.join(', ')}`));
  }
  const skipped = s.collectors.flatMap((x) => (x.skipped ?? []).map((reason) => `${x.name}: ${reason}`));
  if (skipped.length > 0) {
    lines.push(
      c.dim(`Skipped ${skipped.length} unreadable item(s): ${fit(skipped.slice(0, 3).join('; '), width)}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

function wrapCells(cells: string[], width: number): string[] {
  const lines: string[] = [];
  let line = ' ';
  for (const cell of cells) {
    if (line.length + cell.length + 3 > width && line.trim() !== '') {
      lines.push(line);
      line = ' ';
    }
    line += ` ${cell}  `;
  }
  if (line.trim() !== '') lines.push(line.trimEnd());
  return lines;
}

/** A column of the process tables. */
interface TableColumn {
  readonly id: 'pid' | 'user' | 'cpu' | 'rss' | 'state' | 'age' | 'kind';
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
}

const TABLE_COLUMNS: readonly TableColumn[] = [
  { id: 'pid', title: 'PID', width: 7, align: 'right' },
  { id: 'user', title: 'USER', width: 8, align: 'left' },
  { id: 'cpu', title: 'CPU%', width: 5, align: 'right' },
  { id: 'rss', title: 'RSS', width: 8, align: 'right' },
  { id: 'state', title: 'S', width: 1, align: 'left' },
  { id: 'age', title: 'AGE', width: 7, align: 'right' },
  { id: 'kind', title: 'KIND', width: 17, align: 'left' },
];
/** Dropped in this order when the width would leave the command fewer than MIN_COMMAND cells. */
const DROP_ORDER: readonly TableColumn['id'][] = ['state', 'age', 'user'];
const MIN_COMMAND = 36;

/** The columns that fit `width` cells beside a command of at least MIN_COMMAND cells (where they can). */
export function statusColumns(width: number): { columns: TableColumn[]; commandWidth: number } {
  let columns = [...TABLE_COLUMNS];
  const used = () => 2 + columns.reduce((sum, col) => sum + col.width + 1, 0);
  for (const id of DROP_ORDER) {
    if (width - used() >= MIN_COMMAND) break;
    columns = columns.filter((col) => col.id !== id);
  }
  return { columns, commandWidth: Math.max(10, width - used()) };
}

/**
 * Rows of a process table: KIND says what vigil knows a process to be (`mcp-server`, `·orphan` when its
 * parent died), COMMAND its program and script (see model/command.ts), so processes that differ only by
 * where they live or their arguments can be told apart at 80 to 120 columns. An infinite `width`
 * (`--wide`) prints each whole command line, uncut and unshortened, as `ps ww` does.
 */
function processTable(
  rows: ProcessSample[],
  width: number,
  c: ChalkInstance,
  known?: StatusJudgement['processes'],
): string[] {
  const { columns, commandWidth } = statusColumns(width);
  const wide = width === Number.POSITIVE_INFINITY;
  const cell = (col: TableColumn, text: string) =>
    col.align === 'right' ? fit(text, col.width).padStart(col.width) : fit(text, col.width, true);
  const header = `  ${columns.map((col) => cell(col, col.title)).join(' ')} COMMAND`;
  return [
    c.dim(header),
    ...rows.map((p) => {
      const info = known?.get(p.pid);
      const values: Record<TableColumn['id'], string> = {
        pid: String(p.pid),
        user: p.user ?? String(p.uid),
        // One decimal below 100 % ("12.3%"), none above ("102%"): five cells either way.
        cpu: formatPercent(p.cpuPercent, (p.cpuPercent ?? 0) >= 99.95 ? 0 : 1),
        rss: formatBytes(p.rssBytes),
        state: p.state,
        age: formatDuration((Date.now() - p.startTime) / 1000),
        kind: `${info?.kind ?? ''}${info?.orphan ? (info.kind ? '·orphan' : 'orphan') : ''}`,
      };
      const row = columns.map((col) => cell(col, values[col.id])).join(' ');
      if (wide)
        return `  ${row} ${p.argv.some((a) => a !== '') ? p.argv.join(' ').trimEnd() : `[${p.comm}]`}`;
      return `  ${row} ${fit(shortCommand(p.argv, p.comm), commandWidth)}`;
    }),
  ];
}

/** A collector's error (or none) followed by its timeouts, backoff and run in flight. */
function withNotes(error: string | null, x: CollectorStatus): string {
  return [...(error === null ? [] : [error]), ...collectorNotes(x)].join('; ');
}
