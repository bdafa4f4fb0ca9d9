/**
 * The history as a timeline, for `vigil watch --at` and its keys that step through time: the stored
 * snapshot nearest at or before a moment, its neighbours, and the alerts that were open then. Reads only:
 * every statement here is a SELECT on the connection the store opened (see {@link openTimeline}).
 *
 * What a moment can show is what the daemon stored (records.ts): system metrics (memory and swap used,
 * available memory, load, CPU busy share, a few pressure averages, the hottest CPU and GPU sensors, the used
 * share of each mount) and the top processes by CPU and by memory plus those in a finding — not per-core
 * use, network, disk I/O, GPU use or the full process table. An alert's severity and summary are the last
 * ones recorded for it: the alerts table keeps one row per alert, not its history.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { runtimeDir, stateDir } from '../config/load.js';
import type { Severity } from '../config/schema.js';
import { forEachSample, type ProcessIdentity, unpackSamples } from './codec.js';
import { sightDaemon } from './lock.js';
import { openStore } from './store.js';
import type { AlertRecord, SnapshotRecord } from './types.js';

/** How far back a moment looks for alerts that ended (resolved, or an event raised and resolved at once). */
export const RECENTLY_ENDED_MS = 10 * 60_000;
/**
 * A run whose last sign of life is this much before a moment still counts as running then (the daemon
 * touches its run once a full cycle; a crash leaves no end time).
 */
const RUN_SLACK_MS = 2 * 60_000;

/** A moment in local time, as `vigil watch --at` shows it: `2026-12-07 03:10:05`. */
export function formatMoment(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The stored history's extent. */
export interface HistorySpan {
  /** The first and last snapshot's time, ms since the epoch. */
  readonly firstAt: number;
  readonly lastAt: number;
  readonly count: number;
}

/** What the history holds of one moment. */
export interface StoredMoment {
  /** The moment asked for. */
  readonly askedAt: number;
  /** The latest snapshot taken at or before `askedAt`, its processes decoded. */
  readonly snapshot: SnapshotRecord;
  /** Alerts open at `askedAt` (raised at or before it, not resolved by then), events left out; oldest first. */
  readonly open: readonly AlertRecord[];
  /**
   * Alerts that ended in the {@link RECENTLY_ENDED_MS} up to `askedAt` (resolved then, or events raised
   * then), latest first, at most 10.
   */
  readonly ended: readonly AlertRecord[];
  /** The daemon run that covered `askedAt` (its pid), or null when none did. */
  readonly daemonPid: number | null;
  /** The advisor's latest stored answer at or before `askedAt`, by fingerprint of the open alerts. */
  readonly advice: ReadonlyMap<string, string>;
}

interface AlertRow {
  id: number;
  fingerprint: string;
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  pids: string;
  suggest: string;
  event: number;
  first_seen: number;
  last_seen: number;
  resolved_at: number | null;
  count: number;
}

type SnapshotRow = [
  takenAt: number,
  memUsedPercent: number | null,
  memAvailableBytes: number | null,
  swapUsedPercent: number | null,
  load1: number | null,
  load5: number | null,
  load15: number | null,
  cpuPercent: number | null,
  psiMemSomeAvg10: number | null,
  psiMemFullAvg10: number | null,
  psiCpuSomeAvg10: number | null,
  psiIoFullAvg10: number | null,
  cpuTempCelsius: number | null,
  gpuTempCelsius: number | null,
  disks: string,
  procs: Uint8Array,
];

const SQL = {
  span: 'SELECT min(taken_at), max(taken_at), count(*) FROM snapshots',
  // taken_at is the rowid: each of these is one step down the table's b-tree.
  atOrBefore: 'SELECT taken_at FROM snapshots WHERE taken_at <= ? ORDER BY taken_at DESC LIMIT 1',
  before: 'SELECT taken_at FROM snapshots WHERE taken_at < ? ORDER BY taken_at DESC LIMIT 1',
  after: 'SELECT taken_at FROM snapshots WHERE taken_at > ? ORDER BY taken_at LIMIT 1',
  snapshot: 'SELECT * FROM snapshots WHERE taken_at = ?',
  identities: `SELECT id, pid, start_ticks, comm, name, cmdline, user, kind, grp FROM procs
    WHERE id IN (SELECT value FROM json_each(?))`,
  open: `SELECT * FROM alerts WHERE event = 0 AND first_seen <= @t AND (resolved_at IS NULL OR resolved_at > @t)
    ORDER BY first_seen, id`,
  ended: `SELECT * FROM alerts WHERE resolved_at > @from AND resolved_at <= @t AND first_seen <= @t
    ORDER BY resolved_at DESC, id DESC LIMIT 10`,
  run: `SELECT pid FROM runs WHERE started_at <= @t
    AND (ended_at >= @t OR (ended_at IS NULL AND last_seen_at >= @t - @slack))
    ORDER BY started_at DESC LIMIT 1`,
  advice: `SELECT advice FROM advice WHERE fingerprint = ? AND advice IS NOT NULL AND at <= ?
    ORDER BY at DESC LIMIT 1`,
} as const;

/** Queries of the history by time, on an open database handle (never written through). */
export class Timeline {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database) {}

  private statement<P extends unknown[], R>(sql: string): Database.Statement<P, R> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  private takenAt(sql: string, t: number): number | null {
    return this.statement<[number], number>(sql).pluck().get(Math.floor(t)) ?? null;
  }

  /** The first and last snapshot stored, or null when there is none. */
  span(): HistorySpan | null {
    const row = this.statement<[], [number | null, number | null, number]>(SQL.span).raw().get();
    if (!row || row[0] === null || row[1] === null) return null;
    return { firstAt: row[0], lastAt: row[1], count: row[2] };
  }

  /** The time of the latest snapshot taken at or before `t`, or null when `t` is before the first. */
  atOrBefore(t: number): number | null {
    return this.takenAt(SQL.atOrBefore, t);
  }

  /** The time of the snapshot just before `t`, or null. */
  before(t: number): number | null {
    return this.takenAt(SQL.before, t);
  }

  /** The time of the snapshot just after `t`, or null. */
  after(t: number): number | null {
    return this.takenAt(SQL.after, t);
  }

  /** The history at `askedAt`, or null when no snapshot was taken at or before it. */
  moment(askedAt: number): StoredMoment | null {
    const takenAt = this.atOrBefore(askedAt);
    if (takenAt === null) return null;
    const row = this.statement<[number], SnapshotRow>(SQL.snapshot).raw().get(takenAt);
    if (!row) return null;
    const t = Math.floor(askedAt);
    const open = this.statement<[object], AlertRow>(SQL.open).all({ t }).map(toAlert);
    const ended = this.statement<[object], AlertRow>(SQL.ended)
      .all({ t, from: t - RECENTLY_ENDED_MS })
      .map(toAlert);
    const daemonPid =
      this.statement<[object], number>(SQL.run).pluck().get({ t, slack: RUN_SLACK_MS }) ?? null;
    const advice = new Map<string, string>();
    const adviceOf = this.adviceStatement();
    if (adviceOf) {
      for (const alert of open) {
        const text = adviceOf.get(alert.fingerprint, t);
        if (text !== undefined) advice.set(alert.fingerprint, text);
      }
    }
    return { askedAt, snapshot: this.snapshotOf(row), open, ended, daemonPid, advice };
  }

  /** The advice query, or null on a database from before the advisor (schema < 4). */
  private adviceStatement(): Database.Statement<[string, number], string> | null {
    try {
      return this.statement<[string, number], string>(SQL.advice).pluck();
    } catch {
      return null;
    }
  }

  /** A stored row as a record, its processes joined with their identities (looked up by id). */
  private snapshotOf(row: SnapshotRow): SnapshotRecord {
    const packed = row[15];
    const ids: number[] = [];
    forEachSample(packed, (id) => ids.push(id));
    const identities = new Map<number, ProcessIdentity>();
    type IdentityRow = [number, number, number, string, string, string, string, string | null, string];
    const rows = this.statement<[string], IdentityRow>(SQL.identities).raw().all(JSON.stringify(ids));
    for (const [id, pid, startTicks, comm, name, cmdline, user, kind, group] of rows)
      identities.set(id, { pid, startTicks, comm, name, cmdline, user, kind, group });
    return {
      takenAt: row[0],
      memUsedPercent: row[1],
      memAvailableBytes: row[2],
      swapUsedPercent: row[3],
      load1: row[4],
      load5: row[5],
      load15: row[6],
      cpuPercent: row[7],
      psiMemSomeAvg10: row[8],
      psiMemFullAvg10: row[9],
      psiCpuSomeAvg10: row[10],
      psiIoFullAvg10: row[11],
      cpuTempCelsius: row[12],
      gpuTempCelsius: row[13],
      disks: parseDisks(row[14]),
      processes: unpackSamples(packed, identities),
    };
  }
}

function parseDisks(text: string): Record<string, number> {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(
      Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
    );
  } catch {
    return {};
  }
}

function jsonArray(text: string): unknown[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

function toAlert(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    rule: row.rule,
    subject: row.subject,
    severity: row.severity as Severity,
    summary: row.summary,
    pids: jsonArray(row.pids).filter((n): n is number => typeof n === 'number'),
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    resolvedAt: row.resolved_at,
    count: row.count,
    event: row.event === 1,
    suggest: jsonArray(row.suggest).filter((s): s is string => typeof s === 'string'),
  };
}

/**
 * Where the history is: the running daemon's database (its heartbeat names it), else the one in the state
 * directory.
 */
export function historyPath(env: NodeJS.ProcessEnv = process.env): string {
  const { running, heartbeat } = sightDaemon(runtimeDir(env));
  return (running ? heartbeat?.store?.path : null) ?? join(stateDir(env), 'vigil.db');
}

/** An open timeline and how to close it, or why there is none. */
export type OpenedTimeline =
  | { readonly timeline: Timeline; readonly path: string; close(): void }
  | { readonly problem: string; readonly path: string };

/**
 * Opens the history at `path` through the store (which recovers, migrates, and falls back to reading a
 * file it cannot write) and gives its connection to a {@link Timeline}. A missing file is not created:
 * there is no history to show. `log` gets the store's warnings (by default they are dropped: a reader of
 * history has nothing to do about a file it cannot write).
 */
export function openTimeline(path: string, log: (message: string) => void = () => {}): OpenedTimeline {
  if (!existsSync(path))
    return { path, problem: `no history yet: ${path} does not exist (the daemon, vigil run, writes it)` };
  const store = openStore(path, { log, quickCheck: false });
  const db = store.raw();
  if (db === null) {
    store.close();
    return { path, problem: `cannot read the history: ${store.problem?.message ?? path}` };
  }
  return { path, timeline: new Timeline(db), close: () => store.close() };
}
