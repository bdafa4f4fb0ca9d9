import type { AdviceTable, StoredAdvice } from '../store/advice.js';
import type { OpenedStore } from '../store/store.js';
import { type Advice, printableAdvice } from './answer.js';

/**
 * The advisor's record of its calls, over the store's `advice` table (src/store/advice.ts, which holds
 * the SQL): one row per model call, answered or not, and one per cached answer reused for a new alert.
 * It is what the cooldown, the cache and the daily budget count, and where `vigil report` finds the
 * advice given for each alert. An answer read back is checked again as printable advice; one that no
 * longer parses counts as none.
 */

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

/** A stored row with its outcome named and its answer read back (null when none, or it no longer parses). */
export interface AdviceRow extends Omit<StoredAdvice, 'outcome' | 'advice'> {
  readonly outcome: AdviceOutcome;
  readonly advice: Advice | null;
}

/** Stored JSON as advice, or null when there is none or it no longer parses. */
function adviceFrom(text: string | null): Advice | null {
  if (text === null) return null;
  try {
    return printableAdvice(JSON.parse(text) as Advice);
  } catch {
    return null;
  }
}

function toRow(row: StoredAdvice): AdviceRow {
  return { ...row, outcome: row.outcome as AdviceOutcome, advice: adviceFrom(row.advice) };
}

export class AdviceStore {
  constructor(private readonly table: AdviceTable) {}

  record(entry: Omit<AdviceRow, 'id'>): number {
    return this.table.record(entry);
  }

  /** When the model was last called (any outcome), or null. */
  lastCallAt(): number | null {
    return this.table.lastCallAt();
  }

  /** Calls made since `from` (the daily budget counts these). */
  callsSince(from: number): number {
    return this.table.callsSince(from);
  }

  /** The newest good answer for this cache key given at or after `since`. */
  cached(cacheKey: string, since: number): Advice | null {
    return adviceFrom(this.table.cached(cacheKey, since));
  }

  /** Whether an alert already has advice (a restart does not ask again). */
  hasAdviceFor(alertId: number): boolean {
    return this.table.hasAdviceFor(alertId);
  }

  /** Retention: rows older than `before`, at most `limit` of them. */
  prune(before: number, limit: number): number {
    return this.table.prune(before, limit);
  }

  recent(limit: number): AdviceRow[] {
    return this.table.recent(limit).map(toRow);
  }
}

/**
 * The advisor's record on a store that can be written, or null: without one, the advisor counts its
 * calls in memory and keeps no answers.
 */
export function adviceStoreOf(store: OpenedStore | null | undefined): AdviceStore | null {
  const table = store?.writable ? store.advice : null;
  return table ? new AdviceStore(table) : null;
}

/**
 * The advice given for each of these alerts (the newest when there are several), for `vigil report` and
 * `vigil watch`. Alerts without advice are absent from the map. Never throws: a database without the
 * table (older schema), or none at all, gives an empty map.
 */
export function adviceForAlerts(store: OpenedStore, alertIds: readonly number[]): Map<number, Advice> {
  const out = new Map<number, Advice>();
  if (alertIds.length === 0) return out;
  try {
    for (const [id, text] of store.advice?.latestForAlerts(alertIds) ?? []) {
      const advice = adviceFrom(text);
      if (advice) out.set(id, advice);
    }
  } catch {
    // no advice table: nothing to show
  }
  return out;
}
