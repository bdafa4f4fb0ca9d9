/**
 * What `vigil status` does once it runs (./status.ts only defines the command): take the two-sample
 * snapshot, and render it as text or as the `--json` document.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Chalk, type ChalkInstance } from 'chalk';
import {
  assembleSnapshot,
  COLLECTOR_NAMES,
  COMMAND_COLLECTORS,
  CollectorSet,
  makeContext,
  mergeResults,
  RATE_COLLECTORS,
  type SampleOptions,
} from '../collectors/index.js';
import type { Severity } from '../config/schema.js';
import {
  type CollectorStatus,
  collectorNotes,
  type ProcessSample,
  type Snapshot,
} from '../model/snapshot.js';
import type { Finding } from '../rules/types.js';
import { bar, fit, formatBytes, formatDuration, formatPercent, formatRate } from './format.js';
import type { StatusJudgement } from './status-judge.js';

/**
 * Takes the snapshot `vigil status` shows: rate collectors sample twice, `windowMs` apart (CPU % needs a
 * delta); the command collectors (nvidia-smi, journalctl) start at once and overlap the window.
 */
export async function takeStatusSnapshot<T = undefined>(
  options: SampleOptions,
  windowMs: number,
  meanwhile?: (first: Snapshot) => Promise<T>,
): Promise<{ first: Snapshot; snapshot: Snapshot; prepared: T | undefined }> {
  const set = new CollectorSet();
  const firstContext = makeContext(options);
  const commands = set.run(COMMAND_COLLECTORS, firstContext);
  const first = assembleSnapshot(await set.run(RATE_COLLECTORS, firstContext), firstContext);
  // The window is idle time: load and compile the rules, judge the first sample's lineage meanwhile.
  const windowEnd = performance.now() + windowMs;
  const prepared = meanwhile ? await meanwhile(first) : undefined;
  await sleep(Math.max(0, windowEnd - performance.now()));
  const second = makeContext(options);
  const rest = COLLECTOR_NAMES.filter((name) => !COMMAND_COLLECTORS.includes(name));
  const results = mergeResults(await set.run(rest, second), await commands);
  return { first, snapshot: assembleSnapshot(results, second), prepared };
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
  readonly width: number;
}

/** The human view of a snapshot. Plain text when `color` is false (NO_COLOR, pipes). */
export function renderStatus(s: Snapshot, options: RenderOptions, judgement?: StatusJudgement): string {
  const c: ChalkInstance = new Chalk({ level: options.color ? 1 : 0 });
  const width = Math.max(60, Math.min(options.width, 160));
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
    for (const f of judgement.findings) {
      lines.push(`${paint[f.severity](f.severity.toUpperCase().padEnd(8))} ${c.bold(f.rule)}: ${f.summary}`);
    }
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
    lines.push(
      '',
      c.bold(`Top ${options.top} by CPU`),
      ...processTable(byCpu.slice(0, options.top), width, c),
    );
    lines.push(
      '',
      c.bold(`Top ${options.top} by memory`),
      ...processTable(byMem.slice(0, options.top), width, c),
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

function processTable(
  rows: ProcessSample[],
  width: number,
  c: ChalkInstance,
  known?: StatusJudgement['processes'],
): string[] {
  const header = `  ${'PID'.padStart(7)} ${'USER'.padEnd(10)} ${'CPU%'.padStart(6)} ${'RSS'.padStart(9)} S ${'AGE'.padStart(7)} ${'KIND'.padEnd(15)}  COMMAND`;
  const cmdWidth = Math.max(10, width - header.length + 7);
  return [
    c.dim(header),
    ...rows.map((p) => {
      const age = formatDuration((Date.now() - p.startTime) / 1000);
      const command = p.cmdline || `[${p.comm}]`;
      const info = known?.get(p.pid);
      const kind = `${info?.kind ?? ''}${info?.orphan ? (info.kind ? '·orphan' : 'orphan') : ''}`;
      return `  ${String(p.pid).padStart(7)} ${fit(p.user ?? String(p.uid), 10, true)} ${formatPercent(p.cpuPercent, 1).padStart(6)} ${formatBytes(p.rssBytes).padStart(9)} ${p.state} ${age.padStart(7)} ${fit(kind, 15, true)}  ${fit(command, cmdWidth)}`;
    }),
  ];
}

/** A collector's error (or none) followed by its timeouts, backoff and run in flight. */
function withNotes(error: string | null, x: CollectorStatus): string {
  return [...(error === null ? [] : [error]), ...collectorNotes(x)].join('; ');
}
