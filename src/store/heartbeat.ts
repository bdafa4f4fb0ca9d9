import { type Connection, hundredths } from './connection.js';
import type { Heartbeat } from './types.js';

/**
 * The daemon's report of itself: the latest heartbeat (`heartbeat`, one row), its cost over time
 * (`heartbeat_history`, one row a minute) and the collectors' errors counted per ten minutes
 * (`collector_problems`), for `vigil health` and `vigil report`.
 */

/** A point of the daemon's own cost over time (one a minute, from `writeHeartbeat`). */
export interface HeartbeatSample {
  readonly at: number;
  readonly pid: number;
  readonly rssBytes: number;
  /** CPU since the heartbeat before it (100 = one core); average over a longer span from `cpuSeconds`. */
  readonly cpuPercent: number;
  readonly cpuSeconds: number;
  readonly firing: number;
  readonly storeOk: boolean;
}

/** The heartbeat history keeps at most one row per this interval. */
export const HEARTBEAT_HISTORY_EVERY_MS = 60_000;
/**
 * A backstop for a daemon that never prunes: heartbeat history older than this goes as new rows come
 * (at one row a minute, at most 44,640 rows).
 */
export const HEARTBEAT_HISTORY_MAX_AGE_MS = 31 * 24 * 3_600_000;
/** Collector errors are counted per bucket of this length (the `bucket` column of collector_problems). */
export const COLLECTOR_PROBLEM_BUCKET_MS = 600_000;
/** A collector error longer than this is cut (its start names the problem). */
const MAX_ERROR_CHARS = 500;

const SQL = {
  writeHeartbeat: `INSERT INTO heartbeat (id, at, body) VALUES (1, ?, ?)
    ON CONFLICT (id) DO UPDATE SET at = excluded.at, body = excluded.body`,
  latestHeartbeat: 'SELECT body FROM heartbeat WHERE id = 1',
  lastHistoryAt: 'SELECT max(at) FROM heartbeat_history',
  insertHistory: `INSERT OR REPLACE INTO heartbeat_history (at, pid, rss_bytes, cpu_percent, cpu_seconds, firing, store_ok)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  capHistory: 'DELETE FROM heartbeat_history WHERE at < ?',
  recordCollectorProblem: `INSERT INTO collector_problems (bucket, collector, error, count, first_at, last_at)
    VALUES (@bucket, @collector, @error, 1, @at, @at)
    ON CONFLICT (bucket, collector, error) DO UPDATE SET count = count + 1,
      first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`,
  // One row per collector: how many heartbeats reported an error, and the error it reported last (SQLite
  // takes a bare column from the row where the single max() is found).
  collectorProblemsBetween: `SELECT collector, error, sum(count) AS count, max(last_at) AS lastAt
    FROM collector_problems
    WHERE bucket BETWEEN @fromBucket AND @toBucket AND last_at >= @from AND first_at <= @to
    GROUP BY collector ORDER BY count DESC, collector`,
  heartbeatsBetween: `SELECT at, pid, rss_bytes AS rssBytes, cpu_percent AS cpuPercent, cpu_seconds AS cpuSeconds,
    firing, store_ok AS storeOk FROM heartbeat_history WHERE at BETWEEN ? AND ? ORDER BY at`,

  pruneHeartbeats: `DELETE FROM heartbeat_history WHERE at IN
    (SELECT at FROM heartbeat_history WHERE at < @before ORDER BY at LIMIT @limit)`,
  pruneCollectorProblems: `DELETE FROM collector_problems WHERE (bucket, collector, error) IN
    (SELECT bucket, collector, error FROM collector_problems WHERE last_at < @before ORDER BY last_at LIMIT @limit)`,
} as const;

export class HeartbeatTable {
  constructor(private readonly conn: Connection) {}

  writeHeartbeat(heartbeat: Heartbeat): void {
    this.conn.write('the heartbeat', () => {
      const at = Math.round(heartbeat.lastCycleAt);
      this.conn.statement(SQL.writeHeartbeat).run(at, JSON.stringify(heartbeat));
      const problem = this.conn.statement<[object]>(SQL.recordCollectorProblem);
      for (const c of heartbeat.collectors) {
        if (c.error === null) continue;
        const error =
          c.error.length > MAX_ERROR_CHARS ? `${c.error.slice(0, MAX_ERROR_CHARS - 1)}…` : c.error;
        problem.run({ bucket: Math.floor(at / COLLECTOR_PROBLEM_BUCKET_MS), collector: c.name, error, at });
      }
      const last = this.conn.statement<[], number | null>(SQL.lastHistoryAt).pluck().get() ?? null;
      // One history row a minute; a clock set back starts the rhythm again.
      if (last !== null && at - last < HEARTBEAT_HISTORY_EVERY_MS && at >= last) return;
      this.conn
        .statement(SQL.insertHistory)
        .run(
          at,
          heartbeat.pid,
          Math.round(heartbeat.rssBytes),
          hundredths(heartbeat.cpuPercent),
          hundredths(heartbeat.cpuSeconds),
          heartbeat.firing,
          heartbeat.store.ok ? 1 : 0,
        );
      this.conn.statement(SQL.capHistory).run(at - HEARTBEAT_HISTORY_MAX_AGE_MS);
    });
  }

  collectorProblemsBetween(
    from: number,
    to: number,
  ): Array<{ collector: string; error: string; count: number; lastAt: number }> {
    return this.conn.read('collector problems', () =>
      this.conn
        .statement<[object], { collector: string; error: string; count: number; lastAt: number }>(
          SQL.collectorProblemsBetween,
        )
        .all({
          from,
          to,
          fromBucket: Math.floor(from / COLLECTOR_PROBLEM_BUCKET_MS),
          toBucket: Math.floor(to / COLLECTOR_PROBLEM_BUCKET_MS),
        }),
    );
  }

  latestHeartbeat(): Heartbeat | null {
    return this.conn.read('the heartbeat', () => {
      const body = this.conn.statement<[], string>(SQL.latestHeartbeat).pluck().get();
      return body === undefined ? null : (JSON.parse(body) as Heartbeat);
    });
  }

  heartbeatsBetween(from: number, to: number): HeartbeatSample[] {
    return this.conn.read('the heartbeat history', () =>
      this.conn
        .statement<[number, number], Omit<HeartbeatSample, 'storeOk'> & { storeOk: number }>(
          SQL.heartbeatsBetween,
        )
        .all(from, to)
        .map((h) => ({ ...h, storeOk: h.storeOk === 1 })),
    );
  }

  // -- retention steps (the caller holds the transaction) ------------------------------------------------

  pruneHistory(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.pruneHeartbeats).run({ before, limit }).changes;
  }

  pruneCollectorProblems(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.pruneCollectorProblems).run({ before, limit }).changes;
  }
}
