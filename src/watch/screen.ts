/**
 * Lays the dashboard out as lines of styled segments for a terminal of a given size: which panels fit,
 * which columns the process table keeps, where it scrolls. Pure: the ink component only paints the lines.
 * Colour is never the only carrier of meaning (NO_COLOR): severities are spelled, findings are marked with
 * a character, the selection is shown in reverse video.
 */

import type { Severity } from '../config/schema.js';
import { bar, fit, formatBytes, formatDuration, formatPercent, formatRate } from '../model/format.js';
import type { Pressure } from '../model/snapshot.js';
import { sensorKind } from '../understand/facts.js';
import {
  type Column,
  formatMoment,
  type PanelId,
  type ProcRow,
  SEVERITY_ORDER,
  scrollFor,
  selectionIndex,
  TRAVEL_MINUTES,
  tableColumns,
  type UiState,
  type WatchFrame,
} from './model.js';

export interface Seg {
  readonly text: string;
  readonly color?: string;
  readonly bold?: boolean;
  readonly dim?: boolean;
  readonly inverse?: boolean;
}
export type Line = readonly Seg[];

export interface ScreenSize {
  readonly columns: number;
  readonly rows: number;
}

export interface Screen {
  readonly lines: Line[];
  /** Process rows visible at once (PgUp/PgDn move by this). */
  readonly page: number;
  /** First process row shown. */
  readonly scroll: number;
}

const SEVERITY_LABEL: Record<Severity, string> = {
  critical: 'CRIT',
  high: 'HIGH',
  medium: 'MED ',
  low: 'LOW ',
  info: 'INFO',
};
const SEVERITY_COLOR: Record<Severity, string> = {
  critical: 'red',
  high: 'red',
  medium: 'yellow',
  low: 'cyan',
  info: 'gray',
};
/** The mark before a process row in a finding: a character, so it reads without colour. */
const SEVERITY_MARK: Record<Severity, string> = {
  critical: '!',
  high: '!',
  medium: '*',
  low: '*',
  info: '·',
};

export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;
/** The process table keeps at least this many lines (its header and rows) before panels are shown. */
const MIN_TABLE_LINES = 6;

const width = (text: string) => [...text].length;

/** Cuts a line to `columns` cells. */
export function clipLine(line: Line, columns: number): Line {
  const out: Seg[] = [];
  let left = columns;
  for (const seg of line) {
    if (left <= 0) break;
    const w = width(seg.text);
    if (w <= left) {
      out.push(seg);
      left -= w;
    } else {
      out.push({ ...seg, text: [...seg.text].slice(0, left).join('') });
      left = 0;
    }
  }
  return out;
}

/**
 * A line of whole items: `head`, then each item that still fits in `columns` cells (with `sep` between
 * items), in order; an item that does not fit is left out whole rather than cut mid-word.
 */
export function fitItems(columns: number, head: readonly Seg[], items: readonly Seg[][], sep = ''): Seg[] {
  const size = (segs: readonly Seg[]) => segs.reduce((sum, seg) => sum + width(seg.text), 0);
  const out: Seg[] = [...head];
  let used = size(head);
  let placed = 0;
  for (const item of items) {
    const joint = placed > 0 && sep ? [{ text: sep, ...(item[0]?.dim ? { dim: true } : {}) }] : [];
    const w = size(joint) + size(item);
    if (used + w > columns) continue;
    out.push(...joint, ...item);
    used += w;
    placed++;
  }
  return out;
}

export function lineText(line: Line): string {
  return line.map((s) => s.text).join('');
}

function level(p: number | null | undefined, warn: number, crit: number): string {
  if (p === null || p === undefined) return 'gray';
  return p >= crit ? 'red' : p >= warn ? 'yellow' : 'green';
}

/** A bar meter: the filled part coloured by level, the rest dim. */
export function meter(percent: number | null | undefined, cells: number, warn = 80, crit = 90): Seg[] {
  const text = bar(percent, cells);
  const filled = text.indexOf('░') < 0 ? text.length : text.indexOf('░');
  return [
    { text: text.slice(0, filled), color: level(percent, warn, crit) },
    { text: text.slice(filled), dim: true },
  ];
}

function psiText(label: string, p: Pressure | null | undefined): string {
  if (!p) return '';
  const some = p.some ? `some ${formatPercent(p.some.avg10, 1)}` : '';
  const full = p.full ? ` full ${formatPercent(p.full.avg10, 1)}` : '';
  return `${label} ${some}${full}`.trim();
}

/**
 * The top line: host, uptime, mode, the daemon, alert counts by severity, the time. On a narrow terminal
 * the least useful parts go first (time, uptime, mode), never the alert counts.
 */
function header(frame: WatchFrame | null, ui: UiState, columns: number): Line {
  const title: Seg[] = [{ text: 'vigil watch', bold: true }];
  if (!frame) return [...title, { text: ' · collecting the first sample…', dim: true }];
  const s = frame.snapshot;
  const d = frame.daemon;
  const counts: Seg[] = [{ text: ' · alerts' }];
  for (const severity of SEVERITY_ORDER.slice(0, 4)) {
    const n = frame.alerts.filter((a) => a.severity === severity).length;
    counts.push({
      text: ` ${SEVERITY_LABEL[severity].trim().toLowerCase()} ${n}`,
      ...(n > 0 ? { color: SEVERITY_COLOR[severity], bold: true } : { dim: true }),
    });
  }
  // [priority (lower goes first when space is short), segments], in display order.
  const parts: Array<[number, Seg[]]> = frame.replay
    ? [
        // The past says so first and in reverse video, whatever the width: it is not the machine now.
        [
          10,
          [
            { text: 'vigil', bold: true },
            { text: ' · ' },
            { text: `REPLAY ${formatMoment(s.takenAt)}`, inverse: true, bold: true },
          ],
        ],
        [
          7,
          [
            { text: ' · ' },
            frame.replay.gap
              ? {
                  text: `at ${formatMoment(frame.replay.askedAt).slice(11)} the daemon was ${d.running ? 'not storing' : 'off'}`,
                  color: 'yellow',
                }
              : d.running
                ? { text: `daemon was running${d.pid ? ` (pid ${d.pid})` : ''}`, color: 'green' }
                : { text: 'daemon was not running', color: 'yellow' },
          ],
        ],
        [8, counts],
      ]
    : [
        [
          9,
          [
            { text: 'vigil', bold: true },
            { text: ' · ' },
            { text: s.host.hostname, color: 'cyan', bold: true },
          ],
        ],
        [2, [{ text: ` · up ${formatDuration(s.host.uptimeSecs)}` }]],
        [3, [{ text: ` · mode ${frame.mode}` }]],
        [
          7,
          [
            { text: ' · ' },
            d.running
              ? {
                  text: `daemon running${d.pid ? ` (pid ${d.pid})` : ''}${d.fresh ? '' : ', no recent heartbeat'}`,
                  color: d.fresh ? 'green' : 'yellow',
                }
              : { text: 'daemon off', color: 'yellow' },
          ],
        ],
        [8, counts],
        [1, [{ text: ` · ${new Date(s.takenAt).toTimeString().slice(0, 8)}`, dim: true }]],
        [10, ui.paused ? [{ text: ' PAUSED', inverse: true, bold: true }] : []],
      ];
  const size = (segs: Seg[]) => segs.reduce((sum, seg) => sum + width(seg.text), 0);
  let total = parts.reduce((sum, [, segs]) => sum + size(segs), 0);
  const dropped = new Set<number>();
  for (const [priority, segs] of [...parts].sort((a, b) => a[0] - b[0])) {
    if (total <= columns) break;
    dropped.add(priority);
    total -= size(segs);
  }
  return parts.filter(([priority]) => !dropped.has(priority)).flatMap(([, segs]) => segs);
}

interface Panel {
  readonly id: PanelId;
  readonly full: Line[];
  /** A one-line form for a short terminal. */
  readonly compact: Line[];
}

function cpuPanel(frame: WatchFrame, columns: number): Panel | null {
  const cpu = frame.snapshot.cpu;
  if (!cpu) return null;
  const temps = (frame.snapshot.temperatures ?? []).filter((t) => sensorKind(t.chip) === 'cpu');
  const temp = temps.length > 0 ? Math.max(...temps.map((t) => t.tempCelsius)) : null;
  const summary = fitItems(
    columns,
    [
      { text: 'CPU  ', bold: true },
      ...meter(cpu.usagePercent, 20, 80, 95),
      { text: ` ${formatPercent(cpu.usagePercent).padStart(4)}` },
    ],
    [
      [{ text: `  load ${cpu.load.map((l) => l.toFixed(2)).join(' ')}` }],
      [{ text: `  ${cpu.cores} cores` }],
      temp === null ? [] : [{ text: `  ${temp.toFixed(0)}°C`, color: level(temp, 80, 90) }],
      cpu.pressure ? [{ text: `  ${psiText('PSI', cpu.pressure)}`, dim: true }] : [],
    ],
  );
  const cores = cpu.perCore;
  const maxLines = 4;
  const perLine = Math.max(1, Math.ceil(cores.length / maxLines));
  const cell = Math.floor((columns - 1) / Math.max(1, Math.min(perLine, cores.length)));
  const cellsPerLine = Math.max(1, Math.min(perLine, Math.floor((columns - 1) / Math.max(cell, 12))));
  const barCells = Math.max(0, Math.min(12, cell - 13));
  const lines: Line[] = [summary];
  for (let i = 0; i < cores.length && lines.length <= maxLines; i += cellsPerLine) {
    const line: Seg[] = [];
    for (const core of cores.slice(i, i + cellsPerLine)) {
      line.push({ text: ` ${core.name.replace(/^cpu/, '').padStart(3)} `, dim: true });
      if (barCells > 0) line.push(...meter(core.usagePercent, barCells, 80, 95));
      line.push({ text: ` ${formatPercent(core.usagePercent).padStart(4)}  ` });
    }
    lines.push(line);
  }
  return { id: 'cpu', full: lines, compact: [summary] };
}

function memoryPanel(frame: WatchFrame, columns: number): Panel | null {
  const m = frame.snapshot.memory;
  if (!m) return null;
  const mem = fitItems(
    columns,
    [
      { text: 'Mem  ', bold: true },
      ...meter(m.usedPercent, 20),
      { text: ` ${formatPercent(m.usedPercent).padStart(4)}` },
    ],
    [
      [
        {
          text: `  ${formatBytes(m.totalBytes - m.availableBytes)} / ${formatBytes(m.totalBytes)}, ${formatBytes(m.availableBytes)} available`,
        },
      ],
      [
        { text: '   ' },
        { text: 'Swap ', bold: true },
        ...(m.swapTotalBytes > 0
          ? [
              ...meter(m.swapUsedPercent, 10, 40, 50),
              {
                text: ` ${formatPercent(m.swapUsedPercent)} ${formatBytes(m.swapUsedBytes)} / ${formatBytes(m.swapTotalBytes)}`,
              },
            ]
          : [{ text: 'none', dim: true }]),
      ],
    ],
  );
  const pressure = [
    psiText('memory', m.pressure),
    psiText('cpu', frame.snapshot.cpu?.pressure),
    psiText('io', frame.snapshot.ioPressure),
  ].filter(Boolean);
  const psi = psiLine(columns, pressure, 'not available here');
  return { id: 'memory', full: [mem, psi], compact: [mem] };
}

function gpuPanel(frame: WatchFrame, columns: number): Panel | null {
  const gpus = frame.snapshot.gpus ?? [];
  if (gpus.length === 0) return null;
  const lines: Line[] = [];
  for (const g of gpus) {
    const vram = g.memoryTotalBytes ? ((g.memoryUsedBytes ?? 0) / g.memoryTotalBytes) * 100 : null;
    lines.push(
      fitItems(
        columns,
        [
          { text: `GPU${g.index} `, bold: true },
          { text: `${fit(g.name, 26, true)} util ` },
          ...meter(g.utilizationPercent, 10, 90, 101),
          { text: ` ${formatPercent(g.utilizationPercent).padStart(4)}` },
        ],
        [
          [
            { text: '  VRAM ' },
            ...meter(vram, 10, 85, 95),
            { text: ` ${formatBytes(g.memoryUsedBytes)} / ${formatBytes(g.memoryTotalBytes)}` },
          ],
          g.temperatureCelsius === null
            ? []
            : [{ text: `  ${g.temperatureCelsius}°C`, color: level(g.temperatureCelsius, 80, 90) }],
          g.powerWatts === null ? [] : [{ text: `  ${g.powerWatts.toFixed(0)} W` }],
        ],
      ),
    );
    const users = (frame.snapshot.gpuProcesses ?? [])
      .filter((p) => p.gpuUuid === null || p.gpuUuid === g.uuid)
      .sort((a, b) => (b.usedMemoryBytes ?? 0) - (a.usedMemoryBytes ?? 0))
      .slice(0, 4)
      .map((p) => `${p.name.split('/').pop()} (${p.pid}) ${formatBytes(p.usedMemoryBytes)}`);
    if (users.length > 0)
      lines.push(
        fitItems(
          columns,
          [{ text: '     ' }],
          users.map((u) => [{ text: u, dim: true }]),
          ' · ',
        ),
      );
  }
  return { id: 'gpu', full: lines, compact: lines.slice(0, 1) };
}

function ioPanel(frame: WatchFrame, columns: number): Panel | null {
  const disks = frame.snapshot.disks ?? [];
  const nets = (frame.snapshot.network ?? []).filter((n) => n.name !== 'lo');
  if (disks.length === 0 && nets.length === 0) return null;
  const cells: Seg[][] = disks.map((d) => [
    { text: `${fit(d.mount, 14)} ` },
    ...meter(d.usedPercent, 8, 85, 90),
    {
      text: ` ${formatPercent(d.usedPercent).padStart(4)} ${formatBytes(d.availableBytes)} free${d.io ? ` r ${formatRate(d.io.readBytesPerSec)} w ${formatRate(d.io.writeBytesPerSec)}` : ''}`,
    },
  ]);
  const diskLines = wrapCells('Disk ', cells, columns, 2);
  // Each interface and the TCP count is an item, left out whole when the line is full.
  const net = fitItems(
    columns,
    [{ text: 'Net  ', bold: true }],
    [
      ...nets
        .slice(0, 6)
        .map((n) => [{ text: `${n.name} ↓${formatRate(n.rxBytesPerSec)} ↑${formatRate(n.txBytesPerSec)}` }]),
      frame.snapshot.tcp
        ? [{ text: `TCP ${frame.snapshot.tcp['ESTABLISHED'] ?? 0} established`, dim: true }]
        : [],
    ],
    '   ',
  );
  const lines = [...diskLines, ...(nets.length > 0 ? [net] : [])];
  return { id: 'io', full: lines, compact: lines.slice(0, 1) };
}

/** A dim line saying what the history does not keep, so an empty place is not read as "nothing". */
function notStored(text: string): Line {
  return [{ text: `     ${text} not stored in history`, dim: true }];
}

/**
 * The panels of a frame from the history: what the stored snapshot holds (records.ts), and a line for
 * what it does not. Nothing here is read from the machine now.
 */
function replayPanels(
  frame: WatchFrame,
  columns: number,
): Record<'cpu' | 'memory' | 'gpu' | 'io', Panel | null> {
  const r = frame.replay!.record;
  const load = [r.load1, r.load5, r.load15].every((l) => l !== null)
    ? `  load ${[r.load1, r.load5, r.load15].map((l) => l!.toFixed(2)).join(' ')}`
    : '';
  const cpu = fitItems(
    columns,
    [
      { text: 'CPU  ', bold: true },
      ...meter(r.cpuPercent, 20, 80, 95),
      { text: ` ${formatPercent(r.cpuPercent).padStart(4)}` },
    ],
    [
      [{ text: load }],
      r.cpuTempCelsius === null
        ? []
        : [{ text: `  ${r.cpuTempCelsius.toFixed(0)}°C`, color: level(r.cpuTempCelsius, 80, 90) }],
      r.psiCpuSomeAvg10 === null
        ? []
        : [{ text: `  PSI some ${formatPercent(r.psiCpuSomeAvg10, 1)}`, dim: true }],
    ],
  );
  const mem = fitItems(
    columns,
    [
      { text: 'Mem  ', bold: true },
      ...meter(r.memUsedPercent, 20),
      { text: ` ${formatPercent(r.memUsedPercent).padStart(4)}` },
    ],
    [
      r.memAvailableBytes === null ? [] : [{ text: `  ${formatBytes(r.memAvailableBytes)} available` }],
      [
        { text: '   ' },
        { text: 'Swap ', bold: true },
        ...meter(r.swapUsedPercent, 10, 40, 50),
        { text: ` ${formatPercent(r.swapUsedPercent)}` },
      ],
    ],
  );
  const pressure = [
    r.psiMemSomeAvg10 === null && r.psiMemFullAvg10 === null
      ? ''
      : `memory${r.psiMemSomeAvg10 === null ? '' : ` some ${formatPercent(r.psiMemSomeAvg10, 1)}`}${r.psiMemFullAvg10 === null ? '' : ` full ${formatPercent(r.psiMemFullAvg10, 1)}`}`,
    r.psiCpuSomeAvg10 === null ? '' : `cpu some ${formatPercent(r.psiCpuSomeAvg10, 1)}`,
    r.psiIoFullAvg10 === null ? '' : `io full ${formatPercent(r.psiIoFullAvg10, 1)}`,
  ].filter(Boolean);
  const psi = psiLine(columns, pressure, 'not stored in this snapshot');
  const disks: Seg[][] = Object.entries(r.disks).map(([mount, used]) => [
    { text: `${fit(mount, 14)} ` },
    ...meter(used, 8, 85, 90),
    { text: ` ${formatPercent(used).padStart(4)}` },
  ]);
  const io = [
    ...(disks.length > 0 ? wrapCells('Disk ', disks, columns, 2) : []),
    notStored('free space, disk I/O, network rates and TCP are'),
  ];
  return {
    cpu: {
      id: 'cpu',
      full: [cpu, notStored('per-core use, frequency and the core count are')],
      compact: [cpu],
    },
    memory: { id: 'memory', full: [mem, psi], compact: [mem] },
    gpu:
      r.gpuTempCelsius === null
        ? null
        : {
            id: 'gpu',
            full: [
              [
                { text: 'GPU  ', bold: true },
                { text: `hottest ${r.gpuTempCelsius.toFixed(0)}°C`, color: level(r.gpuTempCelsius, 80, 90) },
                { text: '   use, VRAM and GPU processes are not stored in history', dim: true },
              ],
            ],
            compact: [],
          },
    io: { id: 'io', full: io, compact: io.slice(0, 1) },
  };
}

/** Cells laid out left to right under a label, at most `maxLines` lines; the rest counted. */
function wrapCells(label: string, cells: Seg[][], columns: number, maxLines: number): Line[] {
  const lines: Seg[][] = [];
  let line: Seg[] = [{ text: label, bold: true }];
  let used = width(label);
  let placed = 0;
  for (const cell of cells) {
    const w = cell.reduce((sum, s) => sum + width(s.text), 0) + 3;
    if (used + w > columns && used > width(label)) {
      lines.push(line);
      if (lines.length === maxLines) break;
      line = [{ text: ' '.repeat(width(label)) }];
      used = width(label);
    }
    line.push(...cell, { text: '   ' });
    used += w;
    placed++;
  }
  if (lines.length < maxLines) lines.push(line);
  if (placed < cells.length && lines.length > 0) {
    lines[lines.length - 1]!.push({ text: `+${cells.length - placed} more`, dim: true });
  }
  return lines;
}

function alertsPanel(frame: WatchFrame, ui: UiState, columns: number): Panel {
  const alerts = frame.alerts;
  const from =
    frame.alertsFrom === 'daemon'
      ? 'from the daemon'
      : frame.alertsFrom === 'history'
        ? 'from the history'
        : 'evaluated here';
  // In replay: open at the moment shown, as the history says (raised by then, not yet resolved).
  const firing = frame.replay ? `open at ${formatMoment(frame.replay.record.takenAt).slice(11)}` : 'firing';
  const title: Seg[] = [
    { text: 'Alerts ', bold: true },
    {
      text:
        alerts.length === 0
          ? `none ${firing} (${from})`
          : `${alerts.length} ${firing} (${from})${ui.focus === 'alerts' ? '' : ' · a to browse'}`,
      dim: alerts.length === 0,
    },
  ];
  const focused = ui.focus === 'alerts';
  const shown = focused ? 8 : 3;
  const start = focused ? Math.max(0, Math.min(ui.alertIndex - shown + 1, alerts.length - shown)) : 0;
  const lines: Line[] = [title];
  alerts.slice(start, start + shown).forEach((a, i) => {
    const selected = focused && start + i === ui.alertIndex;
    const head = ` ${a.id === null ? '' : `#${a.id} `}${a.rule}: `;
    // A summary longer than the line goes on over up to two more: who left a storm, and how long ago, is
    // said at its end (`… left by claude (in ~/src/foo, 40 min ago)`) and must not be cut off.
    const summary = a.summary.replace(/\s+/g, ' ');
    const [first = ''] = wrapText(
      summary,
      Math.max(20, columns - 1 - width(SEVERITY_LABEL[a.severity]) - width(head)),
    );
    const rest = wrapText(summary.slice(first.length).trim(), Math.max(20, columns - 6)).filter(Boolean);
    lines.push([
      { text: ' ' },
      { text: SEVERITY_LABEL[a.severity], color: SEVERITY_COLOR[a.severity], bold: true, inverse: selected },
      { text: head, bold: true, inverse: selected },
      { text: first, inverse: selected },
      { text: a.advice ? '  [advice]' : '', dim: true },
    ]);
    for (const more of rest.slice(0, 2)) lines.push([{ text: `      ${more}`, inverse: selected }]);
  });
  if (alerts.length > start + shown)
    lines.push([{ text: `  … ${alerts.length - start - shown} more`, dim: true }]);
  for (const a of (frame.replay?.ended ?? []).slice(0, 3)) {
    const when = a.endedAt ? formatMoment(a.endedAt).slice(11) : '';
    lines.push([
      {
        text: fit(
          ` ended ${when} ${SEVERITY_LABEL[a.severity].trim()} ${a.id === null ? '' : `#${a.id} `}${a.rule}: ${a.summary.replace(/\s+/g, ' ')}`,
          columns - 1,
        ),
        dim: true,
      },
    ]);
  }
  const selected = focused ? alerts[ui.alertIndex] : undefined;
  if (selected) {
    const text = selected.advice
      ? wrapText(selected.advice, columns - 4).slice(0, 5)
      : ['no advice stored for this alert (the advisor answers when it is enabled)'];
    for (const t of text)
      lines.push([
        { text: `  ${selected.advice ? '│ ' : ''}${t}`, color: selected.advice ? 'magenta' : 'gray' },
      ]);
  }
  return { id: 'alerts', full: lines, compact: [title] };
}

/** Words wrapped to `columns` cells, keeping explicit line breaks. */
export function wrapText(text: string, columns: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line !== '' && width(line) + 1 + width(word) > columns) {
        out.push(line);
        line = '';
      }
      line = line === '' ? fit(word, columns) : `${line} ${word}`;
    }
    out.push(line);
  }
  return out;
}

function cell(text: string, column: Column): string {
  const cut = fit(text, column.width);
  return column.align === 'right' ? cut.padStart(column.width) : cut.padEnd(column.width);
}

/** One process row's text for the given columns. */
export function rowText(row: ProcRow, columns: readonly Column[]): string {
  const values: Record<Column['id'], string> = {
    mark: row.severity ? SEVERITY_MARK[row.severity] : ' ',
    pid: String(row.pid),
    user: row.user,
    kind: row.kind,
    cpu: formatPercent(row.cpuPercent, 1),
    mem: formatBytes(row.rssBytes),
    state: row.state,
    age: row.ageSecs === null ? '-' : formatDuration(row.ageSecs),
    command: `${row.prefix}${row.count > 1 ? `×${row.count} ` : ''}${row.command}`,
  };
  return columns.map((c) => cell(values[c.id], c)).join(' ');
}

function tableHeader(columns: readonly Column[], ui: UiState): Line {
  const sortColumn: Record<string, Column['id']> = {
    cpu: 'cpu',
    mem: 'mem',
    pid: 'pid',
    age: 'age',
    name: 'command',
  };
  const arrow = ui.reverse ? '▲' : '▼';
  const text = columns
    .map((c) => {
      const title = c.id === sortColumn[ui.sort] ? `${c.title}${arrow}` : c.title;
      return c.align === 'right' ? title.padStart(c.width) : fit(title, c.width).padEnd(c.width);
    })
    .join(' ');
  return [{ text, bold: true, inverse: true }];
}

function footer(ui: UiState, shown: number, total: number, replay = false): Line {
  if (ui.editingFilter) {
    return [
      { text: 'filter: ', bold: true },
      { text: `${ui.filter}█` },
      { text: '   Enter keep · Esc clear', dim: true },
    ];
  }
  const segs: Seg[] = [
    { text: `sort ${ui.sort}${ui.reverse ? ' ▲' : ' ▼'}`, bold: true },
    { text: ` · ${ui.mode === 'group' ? 'grouped' : ui.mode === 'tree' ? 'tree' : 'list'}` },
    {
      text: ` · ${shown === total ? `${total} processes` : `${shown} of ${total} processes`}${replay ? ' stored' : ''}`,
    },
  ];
  // In replay a refusal (kill, tree, pause) is said first: the count and the sort can wait a key.
  if (replay && ui.message) segs.splice(0, segs.length);
  if (ui.filter) segs.push({ text: ` · filter "${ui.filter}"`, color: 'cyan' });
  if (ui.paused) segs.push({ text: ' · PAUSED', bold: true });
  if (ui.message) segs.push({ text: `  ${ui.message}`, color: 'yellow', bold: true });
  segs.push({
    text: replay
      ? `   [ ] snapshot · { } ${TRAVEL_MINUTES} min · l live · ? help · q quit`
      : '   ? help · q quit',
    dim: true,
  });
  return segs;
}

export const HELP_LINES: readonly string[] = [
  '↑/↓ PgUp/PgDn Home/End   move the selection',
  's   sort by the next column (cpu, mem, pid, age, name)    r   reverse the order',
  '/ f filter by cmdline (Enter keeps it, Esc clears it)',
  't   tree view (by parent)    g   group identical processes (a ghost storm is one line ×N)',
  'k   kill the selection (asks first; vigil kill’s policy, recorded in the history)',
  'e   explain the selection (the advisor’s answer follows when it is enabled)',
  'a   browse the alerts and their advice    Esc back to the processes',
  '1 CPU  2 memory  3 GPUs  4 disks and network  5 alerts: show or hide a panel',
  'p   pause (the screen keeps the last sample)    ?   this help    q or Ctrl-C quit',
  `[ ] or ← →  one snapshot back or forward · { } ${TRAVEL_MINUTES} minutes · l live again`,
  '    from live, [ opens the latest snapshot stored; no kill or tree there',
];

function dialogLines(ui: UiState, columns: number): Line[] | null {
  const dialog = ui.dialog;
  if (!dialog) return null;
  if (dialog.type === 'help') {
    return [
      [{ text: 'Keys', bold: true, inverse: true }],
      ...HELP_LINES.map((l) => [{ text: `  ${l}` }]),
      [{ text: '  any of q, Esc, Enter or ? closes this', dim: true }],
    ];
  }
  if (dialog.type === 'kill') {
    const row = dialog.row;
    const who =
      row.count > 1
        ? `${row.count} processes (${row.members
            .map((m) => m.pid)
            .slice(0, 10)
            .join(' ')}${row.count > 10 ? ' …' : ''})`
        : `pid ${row.pid}`;
    const lines: Line[] = [
      [{ text: `Kill ${who}?`, bold: true, inverse: true }],
      [{ text: `  ${fit(row.cmdline, columns - 4)}` }],
      [
        {
          text: `  user ${row.user} · ${formatBytes(row.rssBytes)} resident${row.ageSecs === null ? '' : ` · up ${formatDuration(row.ageSecs)}`}`,
          dim: true,
        },
      ],
    ];
    if (dialog.stage === 'ask')
      lines.push([
        { text: '  SIGTERM, then SIGKILL after the grace period; the same policy as vigil kill.  ' },
        { text: 'y', bold: true },
        { text: ' yes · ' },
        { text: 'n', bold: true },
        { text: '/Esc cancel' },
      ]);
    else if (dialog.stage === 'running') lines.push([{ text: '  killing…', color: 'yellow' }]);
    else
      lines.push(
        [
          {
            text: `  ${dialog.result ?? ''}`,
            color: dialog.result?.startsWith('success') ? 'green' : 'red',
            bold: true,
          },
        ],
        [{ text: '  any key closes this', dim: true }],
      );
    return lines;
  }
  const lines: Line[] = [[{ text: `Explain pid ${dialog.pid}`, bold: true, inverse: true }]];
  for (const l of dialog.lines) for (const w of wrapText(l, columns - 2)) lines.push([{ text: `  ${w}` }]);
  if (dialog.advisor === 'waiting') lines.push([{ text: '  advisor: asking…', dim: true }]);
  if (dialog.advisor === 'failed')
    lines.push([{ text: `  advisor: ${dialog.advice ?? 'no answer'}`, color: 'yellow' }]);
  if (dialog.advisor === 'done' && dialog.advice) {
    lines.push([{ text: '  advisor:', bold: true, color: 'magenta' }]);
    for (const w of wrapText(dialog.advice, columns - 4))
      lines.push([{ text: `    ${w}`, color: 'magenta' }]);
  }
  lines.push([{ text: '  Esc, Enter or e closes this', dim: true }]);
  return lines;
}

/**
 * The whole screen: header, the panels that fit (most useful first: CPU, memory, alerts, GPUs, disks and
 * network), the process table in the rest, a status line. At most `rows - 1` lines, none wider than
 * `columns`, so the terminal never scrolls or wraps.
 */
export function buildScreen(
  frame: WatchFrame | null,
  ui: UiState,
  rows: readonly ProcRow[],
  size: ScreenSize,
  previousScroll = 0,
  totalProcesses = rows.length,
): Screen {
  const columns = Math.max(40, size.columns);
  const height = Math.max(10, size.rows - 1);
  const top: Line[] = [header(frame, ui, columns)];
  if (size.columns < MIN_COLUMNS || size.rows < MIN_ROWS) {
    top.push([
      {
        text: `(the dashboard wants at least ${MIN_COLUMNS}×${MIN_ROWS}; this is ${size.columns}×${size.rows})`,
        color: 'yellow',
      },
    ]);
  }
  const chosen = new Map<PanelId, Line[]>();
  if (frame) {
    const past = frame.replay ? replayPanels(frame, columns) : null;
    const candidates: Array<Panel | null> = [
      ui.panels.cpu ? (past ? past.cpu : cpuPanel(frame, columns)) : null,
      ui.panels.memory ? (past ? past.memory : memoryPanel(frame, columns)) : null,
      ui.panels.alerts ? alertsPanel(frame, ui, columns) : null,
      ui.panels.gpu ? (past ? past.gpu : gpuPanel(frame, columns)) : null,
      ui.panels.io ? (past ? past.io : ioPanel(frame, columns)) : null,
    ];
    // Short of rows, panels shrink to their one-line form and then go, the alerts last: each panel that
    // fits gets its compact form (alerts first, then CPU, memory, GPUs, disks and network), then grows
    // to its full form in the same order while rows are left. Alerts that do not all fit keep as many
    // lines as there is room for.
    let budget = height - top.length - 1 - MIN_TABLE_LINES;
    const order = ['alerts', 'cpu', 'memory', 'gpu', 'io'] as const;
    const byId = new Map(candidates.filter((p): p is Panel => p !== null).map((p) => [p.id, p]));
    for (const id of order) {
      const panel = byId.get(id);
      if (!panel || panel.compact.length === 0 || panel.compact.length > budget) continue;
      chosen.set(id, panel.compact);
      budget -= panel.compact.length;
    }
    for (const id of order) {
      const panel = byId.get(id);
      const now = chosen.get(id);
      if (!panel || (now === undefined && panel.compact.length > 0)) continue;
      const room = budget + (now?.length ?? 0);
      const pick =
        panel.full.length <= room
          ? panel.full
          : id === 'alerts' && room > (now?.length ?? 0)
            ? panel.full.slice(0, room)
            : null;
      if (!pick) continue;
      chosen.set(id, pick);
      budget = room - pick.length;
    }
  }
  const body: Line[] = [...top];
  for (const id of ['cpu', 'memory', 'gpu', 'io', 'alerts'] as const) body.push(...(chosen.get(id) ?? []));

  const notes = frame?.notes ?? [];
  const noteLine: Line | null =
    notes.length > 0
      ? [{ text: `${notes[0]}${notes.length > 1 ? ` (+${notes.length - 1} more)` : ''}`, color: 'yellow' }]
      : null;
  const tableLines = height - body.length - 1 - (noteLine ? 1 : 0);
  const dialog = dialogLines(ui, columns);
  let page = Math.max(1, tableLines - 1);
  let scroll = 0;
  if (dialog) {
    body.push(...dialog.slice(0, tableLines));
    for (let i = dialog.length; i < tableLines; i++) body.push([]);
  } else if (frame) {
    const cols = tableColumns(columns, rows);
    body.push(tableHeader(cols, ui));
    const selected = ui.focus === 'processes' ? selectionIndex(ui, rows) : -1;
    page = Math.max(1, tableLines - 1);
    scroll = scrollFor(Math.max(0, selectionIndex(ui, rows)), previousScroll, page, rows.length);
    const visible = rows.slice(scroll, scroll + page);
    visible.forEach((row, i) => {
      const isSelected = scroll + i === selected;
      const color = row.severity ? SEVERITY_COLOR[row.severity] : undefined;
      const text = rowText(row, cols);
      // Only the selection is painted to the edge; trailing blanks elsewhere are work for nothing.
      body.push([
        { text: isSelected ? text : text.trimEnd(), ...(color ? { color } : {}), inverse: isSelected },
      ]);
    });
    if (rows.length === 0)
      body.push([{ text: ui.filter ? `  no process matches "${ui.filter}"` : '  no processes', dim: true }]);
    if (frame.replay) {
      const kept = wrapText(
        'the history keeps only the top processes by CPU and by memory, and those in findings; not the others, nor parents and ages',
        columns - 2,
      );
      if (visible.length + kept.length <= page)
        for (const line of kept) body.push([{ text: `  ${line}`, dim: true }]);
    }
  }
  while (body.length < height - 1 - (noteLine ? 1 : 0)) body.push([]);
  if (noteLine) body.push(noteLine);
  body.push(footer(ui, rows.length, totalProcesses, frame?.replay != null));
  return { lines: body.slice(0, height).map((l) => clipLine(l, columns)), page, scroll };
}

/** The PSI line: as many whole pressures as fit, or why there are none. */
function psiLine(columns: number, pressure: readonly string[], none: string): Seg[] {
  const label: Seg = { text: 'PSI  ', bold: true };
  if (pressure.length === 0) return [label, { text: none, dim: true }];
  return fitItems(
    columns,
    [label],
    pressure.map((text) => [{ text }]),
    ' · ',
  );
}
