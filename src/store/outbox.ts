import Database from 'better-sqlite3';
import { preparedOn } from './connection.js';
import { migrate } from './schema.js';

/**
 * The `outbox` table (migration 3): notifications waiting for a channel that can fail, one row each,
 *
 *     outbox (id, channel, created_at, payload, attempts, next_attempt_at, delivered_at, last_error)
 *
 * A delivered row has `delivered_at` set and `last_error` null; a row closed without delivery has both.
 * The order, retries and bounds are the queue's (src/notify/outbox.ts); this is its storage, on the
 * history database or on a private in-memory one with the same schema. Failures are SQLite's own
 * errors, thrown to the caller.
 */

/** The oldest row of a channel not yet done with. */
export interface OutboxHead {
  readonly id: number;
  readonly payload: string;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
}

/** A notification to queue. */
export interface OutboxEntry {
  readonly channel: string;
  readonly createdAt: number;
  readonly payload: string;
}

const SQL = {
  present: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'",
  insert:
    'INSERT INTO outbox (channel, created_at, payload, attempts, next_attempt_at) VALUES (?, ?, ?, 0, ?)',
  countPending: 'SELECT count(*) FROM outbox WHERE channel = ? AND delivered_at IS NULL',
  closeOldest: `UPDATE outbox SET delivered_at = ?, last_error = ? WHERE id IN (
    SELECT id FROM outbox WHERE channel = ? AND delivered_at IS NULL ORDER BY id LIMIT ?)`,
  head: `SELECT id, payload, attempts, next_attempt_at AS nextAttemptAt, last_error AS lastError FROM outbox
    WHERE channel = ? AND delivered_at IS NULL AND id > ? ORDER BY id LIMIT 1`,
  delivered: 'UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?',
  failed: 'UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?',
  givenUp: 'UPDATE outbox SET attempts = ?, delivered_at = ?, last_error = ? WHERE id = ?',
  pruneDelivered: `DELETE FROM outbox WHERE delivered_at IS NOT NULL AND id <= (
    SELECT id FROM outbox WHERE delivered_at IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET ?)`,
  pendingChannels:
    'SELECT channel, count(*) AS pending FROM outbox WHERE delivered_at IS NULL GROUP BY channel',
} as const;

export class OutboxTable {
  private readonly statement: ReturnType<typeof preparedOn>;

  /** `ownsDb`: the database is the table's own (in memory), closed with it. */
  constructor(
    private readonly db: Database,
    private readonly ownsDb = false,
  ) {
    this.statement = preparedOn(db);
  }

  /** The table on a private in-memory database (the store's own schema, migrations and all). */
  static inMemory(): OutboxTable {
    const db = new Database(':memory:');
    migrate(db);
    return new OutboxTable(db, true);
  }

  /** Whether the database has the table (one written by a vigil before it, opened read-only, has not). */
  present(): boolean {
    return this.statement(SQL.present).get() !== undefined;
  }

  /**
   * Adds rows in one IMMEDIATE transaction (a savepoint inside another). Before each, when its channel
   * already holds `maxPending` undelivered rows, the oldest are closed as "dropped: queue full" and
   * `dropped` hears how many. Throws when the database cannot be written; then nothing was added.
   */
  add(
    rows: readonly OutboxEntry[],
    maxPending: number,
    dropped: (channel: string, count: number) => void,
  ): void {
    this.db
      .transaction(() => {
        for (const row of rows) {
          const excess = this.pending(row.channel) - maxPending + 1;
          if (excess > 0) {
            this.statement(SQL.closeOldest).run(row.createdAt, 'dropped: queue full', row.channel, excess);
            dropped(row.channel, excess);
          }
          this.statement(SQL.insert).run(row.channel, row.createdAt, row.payload, row.createdAt);
        }
      })
      .immediate();
  }

  /** Undelivered rows of a channel. */
  pending(channel: string): number {
    return Number(this.statement(SQL.countPending).pluck().get(channel));
  }

  /** The channel's oldest undelivered row after `afterId`. */
  head(channel: string, afterId: number): OutboxHead | undefined {
    return this.statement<[string, number], OutboxHead>(SQL.head).get(channel, afterId);
  }

  markDelivered(id: number, at: number): void {
    this.statement(SQL.delivered).run(at, id);
  }

  /** A failed attempt: `attempts` so far, the next at `nextAttemptAt`, and why (cut to 500 characters). */
  markFailed(id: number, attempts: number, nextAttemptAt: number, error: string): void {
    this.statement(SQL.failed).run(attempts, nextAttemptAt, error.slice(0, 500), id);
  }

  /** Closes a row without delivering it. */
  markGivenUp(id: number, attempts: number, at: number, error: string): void {
    this.statement(SQL.givenUp).run(attempts, at, error, id);
  }

  /** Deletes delivered rows beyond the newest `keep`. */
  pruneDelivered(keep: number): void {
    this.statement(SQL.pruneDelivered).run(keep);
  }

  /** Undelivered rows by channel. */
  pendingByChannel(): Array<{ channel: string; pending: number }> {
    return this.statement<[], { channel: string; pending: number }>(SQL.pendingChannels).all();
  }

  /** Closes the table's own in-memory database; never the store's. */
  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
