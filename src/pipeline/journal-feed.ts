import { JournalFollower, type JournalFollowerOptions } from '../collectors/journal-follower.js';
import type { JournalSource } from '../collectors/types.js';
import type { JournalEntry } from '../model/snapshot.js';
import type { StoreGuard } from '../store/guard.js';
import type { Heartbeat } from '../store/types.js';

/** Entries kept between two full cycles at most; the oldest go first (a storm must not grow memory). */
export const MAX_PENDING_ENTRIES = 5000;

export interface JournalFeedOptions {
  readonly source: JournalSource;
  /** Where the cursor is kept, so a restart neither misses nor repeats an entry. */
  readonly guard: StoreGuard;
  /** The daemon's log: each change of the follower's state, once. */
  readonly log: (line: string) => void;
  /** The journalctl program (tests point this elsewhere). */
  readonly journalctl?: JournalFollowerOptions['journalctl'];
  readonly maxPending?: number;
}

/**
 * The journal, followed continuously between full cycles (a `journalctl -f` child, see
 * collectors/journal-follower.ts) and handed to the next full cycle whole: entries wait here, at most
 * {@link MAX_PENDING_ENTRIES}; the cursor of what was received is stored as it comes, and the follower's
 * state is kept for the heartbeat.
 */
export class JournalFeed {
  private follower: JournalFollower | null = null;
  private pending: JournalEntry[] = [];
  private current: Heartbeat['journal'] = { state: 'off', detail: null };

  constructor(private readonly options: JournalFeedOptions) {}

  /** Starts following after the stored cursor (from the end of the journal without one). */
  start(): void {
    const { guard, log, source } = this.options;
    const max = this.options.maxPending ?? MAX_PENDING_ENTRIES;
    this.follower = new JournalFollower({
      source,
      cursor: guard.run((store) => store.getJournalCursor()) ?? null,
      ...(this.options.journalctl ? { journalctl: this.options.journalctl } : {}),
      onEntries: (entries) => {
        this.pending.push(...entries);
        if (this.pending.length > max) this.pending.splice(0, this.pending.length - max);
      },
      onCursor: (cursor) => guard.run((store) => store.setJournalCursor(cursor)),
      onState: (state, detail) => {
        if (state !== this.current.state) log(`journal: ${state}${detail ? ` (${detail})` : ''}`);
        this.current = { state, detail };
      },
    });
    this.follower.start();
  }

  /** The follower's state and why, for the heartbeat. */
  get state(): Heartbeat['journal'] {
    return this.current;
  }

  /** The entries received since the last call, oldest first; undefined before `start`. */
  take(): JournalEntry[] | undefined {
    if (!this.follower) return undefined;
    const entries = this.pending;
    this.pending = [];
    return entries;
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
  }
}
