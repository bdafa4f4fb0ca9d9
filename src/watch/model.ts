/**
 * The dashboard's view-model: what `vigil watch` shows, as plain data computed from a frame (a snapshot,
 * what the rules know of each process, the firing alerts). No terminal here: the ink components only paint
 * what these functions return, so every row, sort, filter, group and tree is tested without one.
 */
import { shortCommand, shortCommandLine } from '../model/command.js';
import { SEVERITIES, SEVERITY_RANK, type Severity } from '../model/severity.js';
import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import type { HistorySpan } from '../store/timeline.js';

export { formatMoment } from '../store/timeline.js';

import type { ProcessRecord, SnapshotRecord } from '../store/types.js';
import type { ProcessInfo } from '../understand/facts.js';

/** What vigil knows of a process beyond /proc (see FactBuilder.processInfo). */
export type ProcInfo = ProcessInfo;

/** A firing finding as the dashboard lists it: from the daemon's database or evaluated here. */
export interface AlertView {
  /** The daemon's alert id (`vigil fix <id>`), null when evaluated here. */
  readonly id: number | null;
  readonly fingerprint: string;
  readonly rule: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly pids: readonly number[];
  /** ms since the epoch. */
  readonly since: number;
  /** The advisor's stored answer for this fingerprint, as text, or null. */
  readonly advice: string | null;
  /** In replay, for an alert that had ended by the moment shown: when (an event: when it was raised). */
  readonly endedAt?: number | null;
}

/**
 * The dashboard's line of an alert: the daemon's open one, the history's (with `since` its first seen), or
 * a finding evaluated here (no id).
 */
export function alertView(
  a: Pick<AlertView, 'fingerprint' | 'rule' | 'severity' | 'summary' | 'pids' | 'since'> & {
    readonly id?: number;
  },
  advice: string | null,
): AlertView {
  return {
    id: a.id ?? null,
    fingerprint: a.fingerprint,
    rule: a.rule,
    severity: a.severity,
    summary: a.summary,
    pids: a.pids,
    since: a.since,
    advice,
  };
}

/**
 * What a frame from the history is: the moment shown and what is known of it. The stored snapshot holds
 * system metrics and the top processes (see store/records.ts), so the screen shows those and says what
 * is not stored instead of showing anything live.
 */
export interface ReplayView {
  /** The moment asked for, ms since the epoch. */
  readonly askedAt: number;
  /** The stored snapshot shown: the latest taken at or before `askedAt`. */
  readonly record: SnapshotRecord;
  /** The history's first and last snapshot when this frame was read. */
  readonly span: HistorySpan;
  /** Alerts that ended in the ten minutes up to `askedAt`, latest first. */
  readonly ended: readonly AlertView[];
  /**
   * The snapshot is much older than the moment asked (the daemon was off, or not storing): the frame's
   * `daemon` then says how it was at `askedAt`, not when the snapshot was taken.
   */
  readonly gap: boolean;
}

export interface DaemonState {
  readonly running: boolean;
  readonly pid: number | null;
  /** The mode the daemon reports in its heartbeat, null when unknown. */
  readonly mode: string | null;
  /** Its heartbeat is recent (within three intervals). */
  readonly fresh: boolean;
}

/** One refresh of the dashboard. */
export interface WatchFrame {
  readonly snapshot: Snapshot;
  readonly info: ReadonlyMap<number, ProcInfo>;
  /** Most severe first. */
  readonly alerts: readonly AlertView[];
  readonly alertsFrom: 'daemon' | 'local' | 'history';
  readonly daemon: DaemonState;
  /** The action mode in force: the daemon's when it runs, the configured one otherwise. */
  readonly mode: string;
  /** Problems worth a line (a rule file that did not load, an unreadable database). */
  readonly notes: readonly string[];
  /** Set when the frame is the history's, not the machine's now: `vigil watch --at`, or `[` in watch. */
  readonly replay?: ReplayView | null;
}

/** Most severe first. */
export const SEVERITY_ORDER: readonly Severity[] = [...SEVERITIES].reverse();

export function moreSevere(a: Severity | null, b: Severity | null): Severity | null {
  if (a === null) return b;
  if (b === null) return a;
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

/** The identity a kill is bound to: pid, start time and cmdline as the row showed them. */
export interface Member {
  readonly pid: number;
  readonly startTicks: number;
  readonly cmdline: string;
}

/** One line of the process table: a process, or a group of identical ones. */
export interface ProcRow {
  /** Stable across refreshes: `p<pid>:<startTicks>`, or `g<group>` for a group. */
  readonly key: string;
  readonly pid: number;
  readonly ppid: number;
  readonly user: string;
  /** The kind label (`mcp-server`, `language-server`…), `orphan` appended; '' when unknown. */
  readonly kind: string;
  /** Percent of one core; null on the first sample. */
  readonly cpuPercent: number | null;
  readonly rssBytes: number;
  readonly state: string;
  /** null when unknown (history does not store when a process started). */
  readonly ageSecs: number | null;
  /**
   * What the COMMAND column shows: the program's base name and its script (`python3 …/mcp_server.py
   * --port 41000`, see model/command.ts), `[comm]` when there is no cmdline; for a group, its normalised
   * cmdline so shortened.
   */
  readonly command: string;
  /** The whole cmdline (for a group its normalised cmdline): what the filter searches. */
  readonly cmdline: string;
  /** The short name sorted on (`comm`). */
  readonly name: string;
  readonly group: string;
  /** The most severe finding the row is part of, or null. */
  readonly severity: Severity | null;
  /** Processes in the row: 1, or the size of the group. */
  readonly count: number;
  readonly members: readonly Member[];
  /** Tree view: the drawing before the command (`│ ├─`), '' otherwise. */
  readonly prefix: string;
}

export type SortKey = 'cpu' | 'mem' | 'pid' | 'age' | 'name';
export const SORT_KEYS: readonly SortKey[] = ['cpu', 'mem', 'pid', 'age', 'name'];

/** The severity of the most severe alert naming each pid. */
export function flaggedPids(alerts: readonly AlertView[]): Map<number, Severity> {
  const flagged = new Map<number, Severity>();
  for (const alert of alerts) {
    for (const pid of alert.pids) flagged.set(pid, moreSevere(flagged.get(pid) ?? null, alert.severity)!);
  }
  return flagged;
}

/**
 * One row per user-space process of the frame (kernel threads are left out, as in `vigil status`); in
 * replay, one per process the stored snapshot kept.
 */
export function processRows(frame: WatchFrame): ProcRow[] {
  const flagged = flaggedPids(frame.alerts);
  if (frame.replay)
    return frame.replay.record.processes.map((p) => storedRowOf(p, flagged.get(p.pid) ?? null));
  const now = frame.snapshot.takenAt;
  const rows: ProcRow[] = [];
  for (const p of frame.snapshot.processes ?? []) {
    if (p.kernelThread) continue;
    rows.push(rowOf(p, frame.info.get(p.pid), flagged.get(p.pid) ?? null, now));
  }
  return rows;
}

function rowOf(
  p: ProcessSample,
  info: ProcInfo | undefined,
  severity: Severity | null,
  now: number,
): ProcRow {
  const kind = info?.kind ?? '';
  return {
    key: `p${p.pid}:${p.startTicks}`,
    pid: p.pid,
    ppid: p.ppid,
    user: p.user ?? String(p.uid),
    kind: info?.orphan ? (kind ? `${kind}·orphan` : 'orphan') : kind,
    cpuPercent: p.cpuPercent,
    rssBytes: p.rssBytes,
    state: p.state,
    ageSecs: Math.max(0, (now - p.startTime) / 1000),
    command: shortCommand(p.argv, p.comm),
    cmdline: p.cmdline || `[${p.comm}]`,
    name: p.comm,
    group: info?.group || (p.cmdline ? p.cmdline : `[${p.comm}]`),
    severity,
    count: 1,
    members: [{ pid: p.pid, startTicks: p.startTicks, cmdline: p.cmdline }],
    prefix: '',
  };
}

/**
 * A process as the history kept it: no parent (ppid -1, so the tree is not drawn), no start time (age
 * unknown), its cmdline as stored (redacted, cut to 512 characters).
 */
function storedRowOf(p: ProcessRecord, severity: Severity | null): ProcRow {
  const cmdline = p.cmdline || `[${p.comm}]`;
  const kind = p.kind ?? '';
  return {
    key: `p${p.pid}:${p.startTicks}`,
    pid: p.pid,
    ppid: -1,
    user: p.user,
    kind: p.orphan ? (kind ? `${kind}·orphan` : 'orphan') : kind,
    cpuPercent: p.cpuPercent,
    rssBytes: p.rssBytes,
    state: p.state,
    ageSecs: null,
    command: p.cmdline ? shortCommandLine(p.cmdline, p.comm) : `[${p.comm}]`,
    cmdline,
    name: p.comm,
    group: p.group || cmdline,
    severity,
    count: 1,
    members: [{ pid: p.pid, startTicks: p.startTicks, cmdline: p.cmdline }],
    prefix: '',
  };
}

/** Natural order of each column: the biggest first for cpu, mem and age (oldest), ascending for pid, name. */
export function compareRows(key: SortKey): (a: ProcRow, b: ProcRow) => number {
  switch (key) {
    case 'cpu':
      return (a, b) =>
        (b.cpuPercent ?? -1) - (a.cpuPercent ?? -1) || b.rssBytes - a.rssBytes || a.pid - b.pid;
    case 'mem':
      return (a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid;
    case 'pid':
      return (a, b) => a.pid - b.pid;
    case 'age':
      return (a, b) => (b.ageSecs ?? -1) - (a.ageSecs ?? -1) || a.pid - b.pid;
    case 'name':
      return (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.pid - b.pid);
  }
}

export function sortRows(rows: readonly ProcRow[], key: SortKey, reverse = false): ProcRow[] {
  const compare = compareRows(key);
  return [...rows].sort(reverse ? (a, b) => compare(b, a) : compare);
}

/**
 * Rows whose cmdline (or name, user, kind, or pid) contains `text`, ignoring case. An empty filter keeps
 * everything.
 */
export function filterRows(rows: readonly ProcRow[], text: string): ProcRow[] {
  const needle = text.trim().toLowerCase();
  if (needle === '') return [...rows];
  return rows.filter(
    (r) =>
      r.cmdline.toLowerCase().includes(needle) ||
      r.name.toLowerCase().includes(needle) ||
      r.user.toLowerCase().includes(needle) ||
      r.kind.toLowerCase().includes(needle) ||
      String(r.pid) === needle,
  );
}

/**
 * One row per normalised cmdline: CPU and memory summed, the oldest member's pid and age, the most severe
 * finding of any member. A ghost storm of eight identical servers becomes one line counted ×8.
 */
export function groupRows(rows: readonly ProcRow[]): ProcRow[] {
  const groups = new Map<string, ProcRow[]>();
  for (const r of rows) {
    const list = groups.get(r.group);
    if (list) list.push(r);
    else groups.set(r.group, [r]);
  }
  const out: ProcRow[] = [];
  for (const [group, members] of groups) {
    if (members.length === 1) {
      out.push(members[0]!);
      continue;
    }
    const oldest = members.reduce((a, b) => ((b.ageSecs ?? -1) > (a.ageSecs ?? -1) ? b : a));
    const cpus = members.map((m) => m.cpuPercent).filter((c): c is number => c !== null);
    const users = new Set(members.map((m) => m.user));
    const kinds = new Set(members.map((m) => m.kind));
    out.push({
      key: `g${group}`,
      pid: oldest.pid,
      ppid: oldest.ppid,
      user: users.size === 1 ? oldest.user : '*',
      kind: kinds.size === 1 ? oldest.kind : '*',
      cpuPercent: cpus.length === 0 ? null : cpus.reduce((a, b) => a + b, 0),
      rssBytes: members.reduce((sum, m) => sum + m.rssBytes, 0),
      state: oldest.state,
      ageSecs: oldest.ageSecs,
      command: shortCommandLine(group),
      cmdline: group,
      name: oldest.name,
      group,
      severity: members.reduce<Severity | null>((s, m) => moreSevere(s, m.severity), null),
      count: members.length,
      members: members.flatMap((m) => m.members),
      prefix: '',
    });
  }
  return out;
}

/**
 * The rows as a forest by parent pid, siblings in the order of `compare`: a row whose parent is not shown
 * (filtered out, or pid 1's own parent) is a root. Each row gets the tree drawing before its command.
 */
export function treeRows(rows: readonly ProcRow[], compare: (a: ProcRow, b: ProcRow) => number): ProcRow[] {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const children = new Map<number, ProcRow[]>();
  const roots: ProcRow[] = [];
  for (const r of rows) {
    if (r.ppid !== r.pid && byPid.has(r.ppid)) {
      const list = children.get(r.ppid);
      if (list) list.push(r);
      else children.set(r.ppid, [r]);
    } else roots.push(r);
  }
  const out: ProcRow[] = [];
  const seen = new Set<number>();
  const visit = (r: ProcRow, lead: string, branch: string) => {
    if (seen.has(r.pid)) return;
    seen.add(r.pid);
    out.push({ ...r, prefix: `${lead}${branch}` });
    const kids = (children.get(r.pid) ?? []).sort(compare);
    const nextLead = branch === '' ? lead : `${lead}${branch === '└─ ' ? '   ' : '│  '}`;
    kids.forEach((kid, i) => {
      visit(kid, nextLead, i === kids.length - 1 ? '└─ ' : '├─ ');
    });
  };
  for (const root of roots.sort(compare)) visit(root, '', '');
  return out;
}

export type ViewMode = 'list' | 'tree' | 'group';

/** The table as shown: filtered, then grouped or arranged as a tree, then sorted. */
export function visibleRows(
  rows: readonly ProcRow[],
  view: { sort: SortKey; reverse: boolean; filter: string; mode: ViewMode },
): ProcRow[] {
  const filtered = filterRows(rows, view.filter);
  const compare = compareRows(view.sort);
  const ordered = view.reverse ? (a: ProcRow, b: ProcRow) => compare(b, a) : compare;
  if (view.mode === 'tree') return treeRows(filtered, ordered);
  if (view.mode === 'group') return groupRows(filtered).sort(ordered);
  return filtered.sort(ordered);
}

/** A column of the process table. */
export interface Column {
  readonly id: 'mark' | 'pid' | 'user' | 'kind' | 'cpu' | 'mem' | 'state' | 'age' | 'command';
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
}

const FIXED_COLUMNS: readonly Column[] = [
  { id: 'mark', title: '', width: 1, align: 'left' },
  { id: 'pid', title: 'PID', width: 7, align: 'right' },
  { id: 'user', title: 'USER', width: 9, align: 'left' },
  { id: 'kind', title: 'KIND', width: 18, align: 'left' },
  { id: 'cpu', title: 'CPU%', width: 6, align: 'right' },
  { id: 'mem', title: 'MEM', width: 9, align: 'right' },
  { id: 'state', title: 'S', width: 1, align: 'left' },
  { id: 'age', title: 'AGE', width: 7, align: 'right' },
];
/** Dropped in this order when the terminal is too narrow for the command to keep MIN_COMMAND cells. */
const DROP_ORDER: readonly Column['id'][] = ['state', 'age', 'user', 'kind', 'mem'];
const MIN_COMMAND = 30;

/**
 * The columns that fit `width` cells: a narrow terminal loses columns before anything wraps. Given the
 * rows, KIND is only as wide as its longest value, and goes first when no row has one (an empty KIND
 * before the USER).
 */
export function tableColumns(width: number, rows?: readonly ProcRow[]): Column[] {
  let columns = [...FIXED_COLUMNS];
  if (rows) {
    const longest = (value: (row: ProcRow) => string) =>
      rows.reduce((most, row) => Math.max(most, [...value(row)].length), 0);
    const kind = longest((r) => r.kind);
    columns = columns
      .filter((c) => !(c.id === 'kind' && kind === 0))
      .map((c) => (c.id === 'kind' ? { ...c, width: Math.min(c.width, Math.max(c.title.length, kind)) } : c));
  }
  const used = () => columns.reduce((sum, c) => sum + c.width + 1, 0);
  for (const id of DROP_ORDER) {
    if (width - used() >= MIN_COMMAND) break;
    columns = columns.filter((c) => c.id !== id);
  }
  return [...columns, { id: 'command', title: 'COMMAND', width: Math.max(8, width - used()), align: 'left' }];
}

/** The dashboard's whole state apart from the data: what the keys change. */
export interface UiState {
  readonly sort: SortKey;
  readonly reverse: boolean;
  readonly filter: string;
  readonly editingFilter: boolean;
  readonly mode: ViewMode;
  /** The selected row's key, so the selection follows a process as the order changes. */
  readonly selectedKey: string | null;
  readonly selectedIndex: number;
  readonly focus: 'processes' | 'alerts';
  readonly alertIndex: number;
  readonly panels: Readonly<Record<PanelId, boolean>>;
  readonly paused: boolean;
  readonly dialog: Dialog | null;
  /** One line for the status bar (a kill's outcome), cleared by the next key. */
  readonly message: string | null;
}

export type PanelId = 'cpu' | 'memory' | 'gpu' | 'io' | 'alerts';
/** Keys 1–5 toggle these, in this order. */
export const PANEL_KEYS: readonly PanelId[] = ['cpu', 'memory', 'gpu', 'io', 'alerts'];

export type Dialog =
  | { readonly type: 'help' }
  | {
      readonly type: 'kill';
      readonly row: ProcRow;
      readonly stage: 'ask' | 'running' | 'done';
      readonly result: string | null;
    }
  | {
      readonly type: 'explain';
      readonly pid: number;
      readonly lines: readonly string[];
      readonly advisor: 'none' | 'waiting' | 'done' | 'failed';
      readonly advice: string | null;
    };

export function initialUiState(): UiState {
  return {
    sort: 'cpu',
    reverse: false,
    filter: '',
    editingFilter: false,
    mode: 'list',
    selectedKey: null,
    selectedIndex: 0,
    focus: 'processes',
    alertIndex: 0,
    panels: { cpu: true, memory: true, gpu: true, io: true, alerts: true },
    paused: false,
    dialog: null,
    message: null,
  };
}

/** Where the selection is in `rows`: the selected key's row, else the last index clamped. */
export function selectionIndex(state: UiState, rows: readonly ProcRow[]): number {
  if (rows.length === 0) return -1;
  if (state.selectedKey !== null) {
    const i = rows.findIndex((r) => r.key === state.selectedKey);
    if (i >= 0) return i;
  }
  return Math.min(Math.max(0, state.selectedIndex), rows.length - 1);
}

/** The first row shown so that the selection is visible, moving as little as possible from `previous`. */
export function scrollFor(selected: number, previous: number, visible: number, total: number): number {
  if (visible <= 0 || total <= visible) return 0;
  let top = Math.min(previous, total - visible);
  if (selected < top) top = selected;
  if (selected >= top + visible) top = selected - visible + 1;
  return Math.max(0, top);
}

/** The subset of ink's key flags the dashboard reads. */
export interface KeyPress {
  readonly upArrow?: boolean;
  readonly downArrow?: boolean;
  readonly leftArrow?: boolean;
  readonly rightArrow?: boolean;
  readonly pageUp?: boolean;
  readonly pageDown?: boolean;
  readonly home?: boolean;
  readonly end?: boolean;
  readonly return?: boolean;
  readonly escape?: boolean;
  readonly ctrl?: boolean;
  readonly backspace?: boolean;
  readonly delete?: boolean;
}

/** Text a person typed (no control characters). */
function printable(text: string): boolean {
  return [...text].every((ch) => ch.charCodeAt(0) >= 0x20 && ch.charCodeAt(0) !== 0x7f);
}

/**
 * A move through the history: a snapshot back or forward (`[` `]`, ← →), minutes back or forward (`{`
 * `}`, ten), or back to the live machine (`l`).
 */
export type TravelStep =
  | { readonly by: 'snapshot'; readonly direction: -1 | 1 }
  | { readonly by: 'minutes'; readonly minutes: number }
  | { readonly by: 'live' };

/** The minutes `{` and `}` move by. */
export const TRAVEL_MINUTES = 10;

/** What a key asks of the world outside the state: quit, kill the dialog's row, explain a pid, travel. */
export type Effect =
  | { readonly type: 'quit' }
  | { readonly type: 'kill'; readonly row: ProcRow }
  | { readonly type: 'explain'; readonly row: ProcRow }
  | { readonly type: 'travel'; readonly step: TravelStep };

function travelStep(input: string, key: KeyPress): TravelStep | null {
  if (input === '[' || key.leftArrow) return { by: 'snapshot', direction: -1 };
  if (input === ']' || key.rightArrow) return { by: 'snapshot', direction: 1 };
  if (input === '{') return { by: 'minutes', minutes: -TRAVEL_MINUTES };
  if (input === '}') return { by: 'minutes', minutes: TRAVEL_MINUTES };
  if (input === 'l') return { by: 'live' };
  return null;
}

/** Said when a key that acts on the processes running now is pressed on a frame from the history. */
export const REPLAY_KILL_REFUSED =
  'kill is off in replay: the rows are the past, not what runs now (l goes live)';

/**
 * The keys, as a pure function: the next state and what to do. `rows` is the table as shown, `page` how
 * many rows fit on screen, `alerts` how many alerts are listed, `replay` whether the frame shown is from
 * the history.
 */
export function handleKey(
  state: UiState,
  input: string,
  key: KeyPress,
  rows: readonly ProcRow[],
  page: number,
  alerts: number,
  replay = false,
): { state: UiState; effect?: Effect } {
  if (key.ctrl && input === 'c') return { state, effect: { type: 'quit' } };
  const s = state.message === null ? state : { ...state, message: null };

  if (s.editingFilter) {
    if (key.return) return { state: { ...s, editingFilter: false } };
    if (key.escape) return { state: { ...s, editingFilter: false, filter: '' } };
    if (key.backspace || key.delete) return { state: { ...s, filter: [...s.filter].slice(0, -1).join('') } };
    if (input && !key.ctrl && !key.upArrow && !key.downArrow && printable(input))
      return { state: { ...s, filter: s.filter + input, selectedKey: null, selectedIndex: 0 } };
    return { state: s };
  }

  const dialog = s.dialog;
  if (dialog) {
    if (dialog.type === 'kill') {
      if (dialog.stage === 'ask') {
        if (input === 'y' || input === 'Y')
          return {
            state: { ...s, dialog: { ...dialog, stage: 'running' } },
            effect: { type: 'kill', row: dialog.row },
          };
        if (input === 'n' || input === 'N' || input === 'q' || key.escape)
          return { state: { ...s, dialog: null, message: 'kill cancelled' } };
        return { state: s };
      }
      if (dialog.stage === 'running') return { state: s };
      return { state: { ...s, dialog: null, message: dialog.result } };
    }
    if (input === 'q' || key.escape || key.return || input === '?' || input === 'e')
      return { state: { ...s, dialog: null } };
    return { state: s };
  }

  if (input === 'q') return { state: s, effect: { type: 'quit' } };
  if (key.escape)
    return { state: s.focus === 'alerts' ? { ...s, focus: 'processes' } : { ...s, filter: '' } };

  const step = travelStep(input, key);
  if (step) {
    if (step.by === 'live')
      return replay
        ? { state: { ...s, paused: false }, effect: { type: 'travel', step } }
        : { state: { ...s, message: 'already live' } };
    const forward = step.by === 'snapshot' ? step.direction > 0 : step.minutes > 0;
    if (!replay && forward) return { state: { ...s, message: 'live: nothing after now ([ goes back)' } };
    // History keeps no parents, so the tree is not drawn from it.
    return {
      state: { ...s, paused: false, mode: s.mode === 'tree' ? 'list' : s.mode },
      effect: { type: 'travel', step },
    };
  }

  if (s.focus === 'alerts') {
    const move = (to: number) => ({ state: { ...s, alertIndex: Math.max(0, Math.min(alerts - 1, to)) } });
    if (key.upArrow) return move(s.alertIndex - 1);
    if (key.downArrow) return move(s.alertIndex + 1);
    if (key.home) return move(0);
    if (key.end) return move(alerts - 1);
    if (input === 'a' || key.return) return { state: { ...s, focus: 'processes' } };
  } else {
    const at = selectionIndex(s, rows);
    const move = (to: number) => {
      if (rows.length === 0) return { state: s };
      const i = Math.max(0, Math.min(rows.length - 1, to));
      return { state: { ...s, selectedIndex: i, selectedKey: rows[i]!.key } };
    };
    if (key.upArrow) return move(at - 1);
    if (key.downArrow) return move(at + 1);
    if (key.pageUp) return move(at - Math.max(1, page));
    if (key.pageDown) return move(at + Math.max(1, page));
    if (key.home) return move(0);
    if (key.end) return move(rows.length - 1);
    const row = at >= 0 ? rows[at] : undefined;
    if (input === 'k' && replay) return { state: { ...s, message: REPLAY_KILL_REFUSED } };
    if (input === 'k' && row)
      return { state: { ...s, dialog: { type: 'kill', row, stage: 'ask', result: null } } };
    if (input === 'e' && row) return { state: s, effect: { type: 'explain', row } };
    if (input === 'a' && alerts > 0)
      return { state: { ...s, focus: 'alerts', alertIndex: Math.min(s.alertIndex, alerts - 1) } };
  }

  switch (input) {
    case 's': {
      const next = SORT_KEYS[(SORT_KEYS.indexOf(s.sort) + 1) % SORT_KEYS.length]!;
      return { state: { ...s, sort: next, reverse: false } };
    }
    case 'r':
      return { state: { ...s, reverse: !s.reverse } };
    case '/':
    case 'f':
      return { state: { ...s, editingFilter: true, focus: 'processes' } };
    case 't':
      if (replay)
        return { state: { ...s, message: 'no tree in replay: the history does not store parent pids' } };
      return { state: { ...s, mode: s.mode === 'tree' ? 'list' : 'tree' } };
    case 'g':
      return { state: { ...s, mode: s.mode === 'group' ? 'list' : 'group' } };
    case 'p':
      if (replay)
        return { state: { ...s, message: 'the history stands still: nothing to pause (l goes live)' } };
      return { state: { ...s, paused: !s.paused } };
    case '?':
    case 'h':
      return { state: { ...s, dialog: { type: 'help' } } };
    case 'a':
      return { state: s.focus === 'alerts' ? { ...s, focus: 'processes' } : s };
    default: {
      const n = Number(input);
      if (Number.isInteger(n) && n >= 1 && n <= PANEL_KEYS.length) {
        const id = PANEL_KEYS[n - 1]!;
        return { state: { ...s, panels: { ...s.panels, [id]: !s.panels[id] } } };
      }
      return { state: s };
    }
  }
}
