import type Database from 'better-sqlite3';
import { redact } from '../redact/redact.js';
import { type Advice, printableAdvice } from './answer.js';

/**
 * The `advice` table (migration 4): one row per model call, answered or not, and one per cached answer
 * reused for a new alert. It is what the cooldown, the cache and the daily budget count, and where
 * `vigil report` finds the advice given for each alert.
 */

/** Outcomes that were not a call to the model. */
const NOT_CALLS = ['cached'];

export type AdviceOutcome =
  | 'ok'
  | 'cached'
  | 'malformed'
  | 'auth'
  | 'rate_limited'
  | 'server'
  | 'timeout'
  | 'network'
  | 'rejected'
  | 'aborted'
  /** A reply larger than the advisor reads (see client.ts MAX_REPLY_BYTES). */
  | 'too_large';

export interface AdviceRow {
  readonly id: number;
  readonly at: number;
  readonly fingerprint: string | null;
  readonly alertId: number | null;
  readonly pid: number | null;
  readonly cacheKey: string;
  readonly model: string;
  readonly outcome: AdviceOutcome;
  readonly advice: Advice | null;
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

function toRow(row: Row): AdviceRow {
  let advice: Advice | null = null;
  try {
    advice = row.advice === null ? null : printableAdvice(JSON.parse(row.advice) as Advice);
  } catch {
    advice = null;
  }
  return {
    id: row.id,
    at: row.at,
    fingerprint: row.fingerprint,
    alertId: row.alert_id,
    pid: row.pid,
    cacheKey: row.cache_key,
    model: row.model,
    outcome: row.outcome as AdviceOutcome,
    advice,
  };
}

export class AdviceStore {
  constructor(private readonly db: Database) {}

  record(entry: Omit<AdviceRow, 'id'>): number {
    const result = this.db
      .prepare(
        'INSERT INTO advice (at, fingerprint, alert_id, pid, cache_key, model, outcome, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        Math.round(entry.at),
        entry.fingerprint,
        entry.alertId,
        entry.pid,
        entry.cacheKey,
        entry.model,
        entry.outcome,
        // Plans bind targets by cmdline; what is kept on disk has its secrets masked, as history does.
        entry.advice === null
          ? null
          : JSON.stringify(entry.advice, (key, value) =>
              key === 'cmdline' && typeof value === 'string' ? redact(value) : value,
            ),
      );
    return Number(result.lastInsertRowid);
  }

  /** When the model was last called (any outcome), or null. */
  lastCallAt(): number | null {
    const row = this.db
      .prepare(
        `SELECT max(at) AS at FROM advice WHERE outcome NOT IN (${NOT_CALLS.map(() => '?').join(',')})`,
      )
      .get(...NOT_CALLS) as { at: number | null } | undefined;
    return row?.at ?? null;
  }

  /** Calls made since `from` (the daily budget counts these). */
  callsSince(from: number): number {
    const row = this.db
      .prepare(
        `SELECT count(*) AS n FROM advice WHERE at >= ? AND outcome NOT IN (${NOT_CALLS.map(() => '?').join(',')})`,
      )
      .get(from, ...NOT_CALLS) as { n: number };
    return row.n;
  }

  /** The newest good answer for this cache key given at or after `since`. */
  cached(cacheKey: string, since: number): Advice | null {
    const row = this.db
      .prepare(
        "SELECT * FROM advice WHERE cache_key = ? AND at >= ? AND outcome IN ('ok', 'cached') AND advice IS NOT NULL ORDER BY at DESC, id DESC LIMIT 1",
      )
      .get(cacheKey, since) as Row | undefined;
    return row ? toRow(row).advice : null;
  }

  /** Whether an alert already has advice (a restart does not ask again). */
  hasAdviceFor(alertId: number): boolean {
    return (
      this.db
        .prepare("SELECT 1 FROM advice WHERE alert_id = ? AND outcome IN ('ok', 'cached') LIMIT 1")
        .get(alertId) !== undefined
    );
  }

  /** Retention: rows older than `before`, at most `limit` of them. */
  prune(before: number, limit: number): number {
    return this.db
      .prepare('DELETE FROM advice WHERE id IN (SELECT id FROM advice WHERE at < ? ORDER BY at LIMIT ?)')
      .run(before, limit).changes;
  }

  recent(limit: number): AdviceRow[] {
    return (
      this.db.prepare('SELECT * FROM advice ORDER BY at DESC, id DESC LIMIT ?').all(limit) as Row[]
    ).map(toRow);
  }
}

/**
 * The advice given for each of these alerts (the newest when there are several), for `vigil report` and
 * `vigil watch`. Alerts without advice are absent from the map. Never throws: a database without the
 * table (older schema) gives an empty map.
 */
export function adviceForAlerts(db: Database, alertIds: readonly number[]): Map<number, Advice> {
  const out = new Map<number, Advice>();
  if (alertIds.length === 0) return out;
  try {
    const statement = db.prepare(
      "SELECT * FROM advice WHERE alert_id = ? AND outcome IN ('ok', 'cached') AND advice IS NOT NULL ORDER BY at DESC, id DESC LIMIT 1",
    );
    for (const id of new Set(alertIds)) {
      const row = statement.get(id) as Row | undefined;
      const advice = row ? toRow(row).advice : null;
      if (advice) out.set(id, advice);
    }
  } catch {
    // no advice table: nothing to show
  }
  return out;
}
