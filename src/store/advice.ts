import type Database from 'better-sqlite3';
import { redact } from '../redact/redact.js';
import { preparedOn } from './connection.js';

/**
 * The `advice` table (migration 4): one row per model call, answered or not, and one per cached answer
 * reused for a new alert. It is what the advisor's cooldown, cache and daily budget count, and where
 * `vigil report` finds the advice given for each alert.
 *
 * The store keeps an answer as JSON text, its command lines masked (plans bind targets by cmdline, and
 * what is kept on disk has its secrets masked, as history does); reading it back as advice, and checking
 * it, is the advisor's (src/advisor/store.ts). Failures are SQLite's own errors, thrown to the caller.
 */

/** Outcomes that were not a call to the model. */
const NOT_CALLS = ['cached'];
const NOT_A_CALL = `outcome NOT IN (${NOT_CALLS.map(() => '?').join(',')})`;

/** A row as stored; `advice` is the answer's JSON text (null unless the outcome is ok or cached). */
export interface StoredAdvice {
  readonly id: number;
  readonly at: number;
  readonly fingerprint: string | null;
  readonly alertId: number | null;
  readonly pid: number | null;
  readonly cacheKey: string;
  readonly model: string;
  readonly outcome: string;
  readonly advice: string | null;
}

interface Row {
  id: number;
  at: number;
  fingerprint: string | null;
  alert_id: number | null;
  pid: number | null;
  cache_key: string;
  model: string;
  outcome: string;
  advice: string | null;
}

const fromRow = (row: Row): StoredAdvice => ({
  id: row.id,
  at: row.at,
  fingerprint: row.fingerprint,
  alertId: row.alert_id,
  pid: row.pid,
  cacheKey: row.cache_key,
  model: row.model,
  outcome: row.outcome,
  advice: row.advice,
});

const SQL = {
  record:
    'INSERT INTO advice (at, fingerprint, alert_id, pid, cache_key, model, outcome, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  lastCallAt: `SELECT max(at) AS at FROM advice WHERE ${NOT_A_CALL}`,
  callsSince: `SELECT count(*) AS n FROM advice WHERE at >= ? AND ${NOT_A_CALL}`,
  cached: `SELECT * FROM advice WHERE cache_key = ? AND at >= ? AND outcome IN ('ok', 'cached')
    AND advice IS NOT NULL ORDER BY at DESC, id DESC LIMIT 1`,
  hasAdviceFor: "SELECT 1 FROM advice WHERE alert_id = ? AND outcome IN ('ok', 'cached') LIMIT 1",
  prune: 'DELETE FROM advice WHERE id IN (SELECT id FROM advice WHERE at < ? ORDER BY at LIMIT ?)',
  recent: 'SELECT * FROM advice ORDER BY at DESC, id DESC LIMIT ?',
  latestForAlert: `SELECT * FROM advice WHERE alert_id = ? AND outcome IN ('ok', 'cached') AND advice IS NOT NULL
    ORDER BY at DESC, id DESC LIMIT 1`,
} as const;

export class AdviceTable {
  private readonly statement: ReturnType<typeof preparedOn>;

  constructor(db: Database) {
    this.statement = preparedOn(db);
  }

  /** Records a call (or a cached answer reused); `advice` is stored as JSON, its cmdlines masked. */
  record(entry: Omit<StoredAdvice, 'id' | 'advice'> & { readonly advice: unknown }): number {
    const result = this.statement(SQL.record).run(
      Math.round(entry.at),
      entry.fingerprint,
      entry.alertId,
      entry.pid,
      entry.cacheKey,
      entry.model,
      entry.outcome,
      entry.advice === null || entry.advice === undefined
        ? null
        : JSON.stringify(entry.advice, (key, value) =>
            key === 'cmdline' && typeof value === 'string' ? redact(value) : value,
          ),
    );
    return Number(result.lastInsertRowid);
  }

  /** When the model was last called (any outcome), or null. */
  lastCallAt(): number | null {
    const row = this.statement<string[], { at: number | null }>(SQL.lastCallAt).get(...NOT_CALLS);
    return row?.at ?? null;
  }

  /** Calls made since `from` (the daily budget counts these). */
  callsSince(from: number): number {
    return this.statement<unknown[], { n: number }>(SQL.callsSince).get(from, ...NOT_CALLS)!.n;
  }

  /** The newest good answer's JSON for this cache key given at or after `since`, or null. */
  cached(cacheKey: string, since: number): string | null {
    return this.statement<[string, number], Row>(SQL.cached).get(cacheKey, since)?.advice ?? null;
  }

  /** Whether an alert already has advice (a restart does not ask again). */
  hasAdviceFor(alertId: number): boolean {
    return this.statement<[number]>(SQL.hasAdviceFor).get(alertId) !== undefined;
  }

  /** Retention: rows older than `before`, at most `limit` of them. */
  prune(before: number, limit: number): number {
    return this.statement(SQL.prune).run(before, limit).changes;
  }

  /** The newest `limit` rows, newest first. */
  recent(limit: number): StoredAdvice[] {
    return this.statement<[number], Row>(SQL.recent).all(limit).map(fromRow);
  }

  /** The newest good answer's JSON for each of these alerts; alerts without one are absent. */
  latestForAlerts(alertIds: readonly number[]): Map<number, string> {
    const out = new Map<number, string>();
    if (alertIds.length === 0) return out;
    const latest = this.statement<[number], Row>(SQL.latestForAlert);
    for (const id of new Set(alertIds)) {
      const advice = latest.get(id)?.advice;
      if (advice) out.set(id, advice);
    }
    return out;
  }
}
