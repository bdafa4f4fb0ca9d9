import { type OutboxHead, OutboxTable } from '../store/outbox.js';
import type { OpenedStore } from '../store/store.js';
import { DeliveryError } from './channel.js';

/**
 * The persistent queue of the channels that can fail for a while (webhooks; Alertmanager next), over the
 * `outbox` table of the history database (store migration 3; its SQL is src/store/outbox.ts):
 *
 *     outbox (id, channel, created_at, payload, attempts, next_attempt_at, delivered_at, last_error)
 *
 * - **In order, head of line.** Per channel, rows go strictly by id; the oldest undelivered row is the
 *   only one tried, so a newer notice never overtakes an older one.
 * - **Once each.** A row is sent, and marked delivered when the far end accepted it; it is never sent
 *   again in this process, even if marking fails. The one window left is a crash between the far end's
 *   answer and the mark (at-least-once there): payloads carry an `id` so a receiver can drop the repeat.
 * - **Backoff per row.** A failure sets `next_attempt_at` to now + 2 s, doubling per attempt up to 5 min.
 *   A payload the far end rejects as such (DeliveryError.permanent) is given up after 5 attempts: the
 *   row is closed with `delivered_at` set and `last_error` = "given up: …", and logged.
 * - **Survives restarts.** Rows live in SQLite; a new process resumes at the oldest undelivered row.
 * - **Bounded.** At most 10,000 undelivered rows per channel (beyond, the oldest are closed as
 *   "dropped: queue full", with a log line); delivered rows beyond the newest 500 are deleted.
 *
 * A delivered row has `delivered_at` set and `last_error` null; a row closed without delivery has both.
 *
 * When the store is missing or read-only, the same queue runs on a private in-memory database (order,
 * backoff and bounds hold; restarts lose it). When a write fails later (a full disk), new rows wait in
 * memory, in order, and go to the table at the next `deliverDue`.
 */

export interface Sender {
  /** Resolves when the far end accepted the payload; rejects (ideally with a DeliveryError) otherwise. */
  send(payload: string): Promise<void>;
}

/** What one channel's turn in {@link Outbox.deliverDue} did, and where it stands. */
export interface ChannelOutcome {
  delivered: number;
  /** Why the head is waiting (the last failure), or null when nothing failed. */
  error: string | null;
  /** Rows still waiting. */
  pending: number;
  /** When the head will be tried again, or null when nothing waits. */
  nextAttemptAt: number | null;
}

export interface OutboxOptions {
  log: (line: string) => void;
  now?: () => number;
  /** Undelivered rows kept per channel (default 10,000). */
  maxPending?: number;
  /** Delivered rows kept, for a look at what went out (default 500). */
  keepDelivered?: number;
  /** First retry delay (default 2 s), doubled per attempt up to `maxRetryMs` (default 5 min). */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Rows sent per channel per `deliverDue` at most (default 100): a backlog drains over a few cycles. */
  batchSize?: number;
  /** Attempts before a payload the far end rejects is given up (default 5). */
  giveUpAfter?: number;
}

/**
 * Opens the queue on the store's database when it can be written, else in memory. `persistent` says
 * which (for `vigil health`).
 */
export function openOutbox(
  store: OpenedStore | null,
  options: OutboxOptions,
): { outbox: Outbox; persistent: boolean } {
  const table = store?.writable ? store.outbox : null;
  let why =
    store === null ? 'no history store' : (store.problem?.message ?? 'the history store is read-only');
  if (table) {
    try {
      if (table.present()) return { outbox: new Outbox(table, options), persistent: true };
      why = 'the history database has no outbox table';
    } catch (error) {
      why = (error as Error).message;
    }
  }
  options.log(`notification queue kept in memory only (a restart loses what waits): ${why}`);
  return { outbox: Outbox.inMemory(options), persistent: false };
}

export class Outbox {
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly keepDelivered: number;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly batchSize: number;
  private readonly giveUpAfter: number;
  /** Per channel: rows up to this id are done in this process (delivered, even if the mark failed). */
  private readonly doneUpTo = new Map<string, number>();
  /** Per channel: the last failure, kept in memory too in case it could not be written. */
  private readonly lastFailure = new Map<string, { id: number; attempts: number; nextAt: number }>();
  /** Rows that could not be inserted yet (a failing store), oldest first. */
  private spill: Array<{ channel: string; createdAt: number; payload: string }> = [];
  private spillLogged = false;
  private readonly droppedSince = new Map<string, number>();
  private running: Promise<Map<string, ChannelOutcome>> | null = null;

  constructor(
    private readonly table: OutboxTable,
    private readonly options: OutboxOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPending ?? 10_000;
    this.keepDelivered = options.keepDelivered ?? 500;
    this.firstRetryMs = options.firstRetryMs ?? 2000;
    this.maxRetryMs = options.maxRetryMs ?? 300_000;
    this.batchSize = options.batchSize ?? 100;
    this.giveUpAfter = options.giveUpAfter ?? 5;
  }

  /** The same queue on a private in-memory database (the store's own schema, migrations and all). */
  static inMemory(options: OutboxOptions): Outbox {
    return new Outbox(OutboxTable.inMemory(), options);
  }

  /** The delay before attempt `attempts + 1`, after `attempts` failures (≥ 1). */
  retryDelayMs(attempts: number): number {
    return Math.min(this.maxRetryMs, this.firstRetryMs * 2 ** Math.max(0, attempts - 1));
  }

  /** Queues a payload for a channel. Never throws: a failing database keeps it in memory meanwhile. */
  enqueue(channel: string, payload: string, now = this.now()): void {
    const row = { channel, createdAt: now, payload };
    if (this.spill.length > 0 || !this.insert([row])) this.hold(row);
  }

  /** Inserts rows in one transaction, closing the oldest when a channel is full. False if it failed. */
  private insert(rows: ReadonlyArray<{ channel: string; createdAt: number; payload: string }>): boolean {
    try {
      this.table.add(rows, this.maxPending, (channel, count) => this.noteDropped(channel, count));
      return true;
    } catch (error) {
      if (!this.spillLogged)
        this.options.log(
          `notification queue cannot be written (${(error as Error).message}); notices wait in memory`,
        );
      this.spillLogged = true;
      return false;
    }
  }

  private hold(row: { channel: string; createdAt: number; payload: string }): void {
    this.spill.push(row);
    const excess = this.spill.length - this.maxPending;
    if (excess > 0) {
      const gone = this.spill.splice(0, excess);
      for (const g of gone) this.noteDropped(g.channel, 1);
    }
  }

  private noteDropped(channel: string, count: number): void {
    const before = this.droppedSince.get(channel) ?? 0;
    this.droppedSince.set(channel, before + count);
    if (before === 0)
      this.options.log(
        `notification queue for ${channel} is full (${this.maxPending} waiting): dropping the oldest`,
      );
  }

  /**
   * Sends what is due, channel by channel (channels in parallel, each strictly in order), with the
   * sender of each channel; channels without a sender keep their rows. A call made while another runs
   * waits for that one instead of sending twice. Never throws.
   */
  deliverDue(senders: ReadonlyMap<string, Sender>, now = this.now()): Promise<Map<string, ChannelOutcome>> {
    this.running ??= this.deliverAll(senders, now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async deliverAll(
    senders: ReadonlyMap<string, Sender>,
    now: number,
  ): Promise<Map<string, ChannelOutcome>> {
    if (this.spill.length > 0 && this.insert(this.spill)) {
      this.spill = [];
      this.spillLogged = false;
      this.options.log('notification queue writable again');
    }
    const names = [...senders.keys()];
    const outcomes = await Promise.all(names.map((name) => this.drain(name, senders.get(name)!, now)));
    if (outcomes.some((o) => o.delivered > 0)) {
      try {
        this.table.pruneDelivered(this.keepDelivered);
      } catch {
        // pruning waits for a writable database
      }
    }
    return new Map(names.map((name, i) => [name, outcomes[i]!]));
  }

  private async drain(channel: string, sender: Sender, now: number): Promise<ChannelOutcome> {
    let delivered = 0;
    let error: string | null = null;
    try {
      for (let sent = 0; sent < this.batchSize; sent++) {
        const head = this.head(channel);
        if (head === undefined) break;
        const memory = this.lastFailure.get(channel);
        const attempts = Math.max(head.attempts, memory?.id === head.id ? memory.attempts : 0);
        const nextAt = Math.max(head.nextAttemptAt, memory?.id === head.id ? memory.nextAt : 0);
        if (nextAt > now) {
          error = head.lastError ?? 'waiting to retry';
          break;
        }
        try {
          await sender.send(head.payload);
        } catch (failure) {
          const message = (failure as Error)?.message ?? String(failure);
          if (this.failed(channel, head.id, attempts + 1, failure, message)) continue;
          error = message;
          break;
        }
        this.delivered(channel, head.id);
        delivered++;
      }
    } catch (failure) {
      error = `cannot read the notification queue: ${(failure as Error).message}`;
    }
    return { delivered, error, ...this.waiting(channel) };
  }

  private head(channel: string): OutboxHead | undefined {
    return this.table.head(channel, this.doneUpTo.get(channel) ?? 0);
  }

  private delivered(channel: string, id: number): void {
    this.doneUpTo.set(channel, id);
    this.lastFailure.delete(channel);
    const dropped = this.droppedSince.get(channel);
    if (dropped) {
      this.options.log(
        `${channel}: delivering again; ${dropped} older notices were dropped while it was full`,
      );
      this.droppedSince.delete(channel);
    }
    try {
      this.table.markDelivered(id, this.now());
    } catch {
      // doneUpTo keeps it from being sent again in this process; the next successful write catches up
    }
  }

  /** Records a failed attempt; true when the row was given up (the next one may go now). */
  private failed(channel: string, id: number, attempts: number, failure: unknown, message: string): boolean {
    const at = this.now();
    if (failure instanceof DeliveryError && failure.permanent && attempts >= this.giveUpAfter) {
      this.options.log(`${channel}: gave up a notice after ${attempts} attempts: ${message}`);
      this.doneUpTo.set(channel, id);
      this.lastFailure.delete(channel);
      try {
        this.table.markGivenUp(id, attempts, at, `given up: ${message}`);
      } catch {
        // doneUpTo keeps it out of this process
      }
      return true;
    }
    const nextAt = at + this.retryDelayMs(attempts);
    this.lastFailure.set(channel, { id, attempts, nextAt });
    try {
      this.table.markFailed(id, attempts, nextAt, message);
    } catch {
      // kept in lastFailure
    }
    return false;
  }

  private waiting(channel: string): { pending: number; nextAttemptAt: number | null } {
    try {
      const held = this.spill.filter((row) => row.channel === channel).length;
      const head = this.head(channel);
      const pending = this.table.pending(channel) + held;
      if (head === undefined) return { pending, nextAttemptAt: null };
      const memory = this.lastFailure.get(channel);
      const nextAt = Math.max(head.nextAttemptAt, memory?.id === head.id ? memory.nextAt : 0);
      return { pending, nextAttemptAt: nextAt };
    } catch {
      return { pending: this.spill.length, nextAttemptAt: null };
    }
  }

  /** Undelivered rows by channel (those of channels no longer configured too). */
  pendingByChannel(): Map<string, number> {
    const counts = new Map<string, number>();
    try {
      for (const row of this.table.pendingByChannel()) counts.set(row.channel, row.pending);
    } catch {
      // unreadable: say nothing rather than something wrong
    }
    for (const row of this.spill) counts.set(row.channel, (counts.get(row.channel) ?? 0) + 1);
    return counts;
  }

  /** Waits for a delivery under way; closes the in-memory database (never the store's). */
  async close(): Promise<void> {
    await this.running?.catch(() => {});
    this.table.close();
  }
}
