/**
 * The history as a timeline, for `vigil watch --at` and its keys that step through time: the stored
 * snapshot nearest at or before a moment, its neighbours, and the alerts that were open then. Reads only:
 * every statement here is a SELECT on the store's connection (`store.timeline`, see {@link openTimeline}).
 *
 * What a moment can show is what the daemon stored (records.ts): system metrics (memory and swap used,
 * available memory, load, CPU busy share, a few pressure averages, the hottest CPU and GPU sensors, the used
 * share of each mount) and the top processes by CPU and by memory plus those in a finding — not per-core
 * use, network, disk I/O, GPU use or the full process table. An alert's severity and summary are the last
 * ones recorded for it: the alerts table keeps one row per alert, not its history.
 */
import type Database from 'better-sqlite3';
import { type AlertRow, toAlert } from './alerts.js';
import { forEachSample, type ProcessIdentity, unpackSamples } from './codec.js';
import type { Connection } from './connection.js';
import { addIdentities, type IdentityRow, type SnapshotRow, snapshotOfRow } from './history.js';
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
  constructor(private readonly conn: Connection) {}

  private statement<P extends unknown[], R>(sql: string): Database.Statement<P, R> {
    return this.conn.statement<P, R>(sql);
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
    addIdentities(
      identities,
      this.statement<[string], IdentityRow>(SQL.identities).raw().all(JSON.stringify(ids)),
    );
    return { ...snapshotOfRow(row), processes: unpackSamples(packed, identities) };
  }
}
