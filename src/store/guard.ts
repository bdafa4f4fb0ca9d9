import { join } from 'node:path';
import { ensurePrivateDir } from '../host/private-files.js';
import type { AuditKind } from './audit-chain.js';
import { type OpenedStore, openStore } from './store.js';
import type { Heartbeat } from './types.js';

/** The store's state as the heartbeat reports it. */
export type StoreState = Heartbeat['store'];

/**
 * The daemon's hold on its history store. Every call goes through {@link run}: a failure is noted, never
 * thrown, so collection and rules go on without the history. Whether the store is failing is judged by
 * {@link judge}, once per full cycle over the calls since the previous judgement, not per call: on a full
 * disk reads succeed while writes fail, and judging each call said "writable again" and "failing" every
 * cycle. The log says "failing" and "writable again" once per change of state.
 */
export class StoreGuard {
  /** The store, or null when none could be opened (or before {@link open}). */
  private opened: OpenedStore | null = null;
  /** The store's state as last judged (and said): why it is failing, or null while it works. */
  private error: string | null = null;
  /** The first failure since the last judgement. */
  private failure: string | null = null;
  /** Where the database is (or would be). */
  readonly path: string;

  /** `dir`: the state directory, where `vigil.db` lives; `log`: the daemon's log. */
  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
  ) {
    this.path = join(dir, 'vigil.db');
  }

  get store(): OpenedStore | null {
    return this.opened;
  }

  /**
   * Opens the database in the state directory, which must be the user's own, 0700 (made so if it can be,
   * refused otherwise: see ensurePrivateDir). Without one the daemon runs without history, and says why.
   */
  open(): OpenedStore | null {
    // The database, log and key live here: the user's own directory, 0700, or none at all.
    const checked = ensurePrivateDir(this.dir, { symlink: 'own' });
    if (!checked.ok) return this.unavailable(checked.reason);
    if (checked.note) this.log(checked.note);
    try {
      this.opened = openStore(this.path, { log: this.log, reading: true });
    } catch (error) {
      return this.unavailable((error as Error).message);
    }
    // Opened for reading only (a directory or file this user cannot write): said here, once; the failing
    // writes of each cycle then keep it failing without another line.
    const problem = this.opened.problem;
    if (problem && !this.opened.writable) {
      this.error = problem.message;
      this.log(`history store failing (collection and rules go on): ${problem.message}`);
    }
    return this.opened;
  }

  private unavailable(reason: string): null {
    this.error = reason;
    this.log(`history unavailable, running without it: ${reason}`);
    return null;
  }

  /** Runs one store call; a failure is noted for the next judgement and `undefined` returned. */
  run<T>(action: (store: OpenedStore) => T): T | undefined {
    const store = this.opened;
    if (!store) return undefined;
    try {
      return action(store);
    } catch (error) {
      this.noteFailure((error as Error).message);
      return undefined;
    }
  }

  /** A store failure seen elsewhere (the scheduler's own writes), counted as if it came through run. */
  noteFailure(message: string): void {
    this.failure ??= message;
  }

  /** Appends to the tamper-evident audit chain (in the caller's transaction when there is one). */
  audit(kind: AuditKind, data: Record<string, unknown>, at?: number): void {
    this.run((store) => store.audit?.append(kind, data, at));
  }

  /**
   * The store's state, judged over the calls since the last judgement (each full cycle writes at least
   * its heartbeat, so a cycle without a failure wrote): failing when any of them failed, writable when
   * none did.
   */
  judge(): StoreState {
    if (!this.opened) return { ok: false, error: this.error ?? 'no history store', path: this.path };
    const failure = this.failure;
    this.failure = null;
    if (failure !== null && this.error === null)
      this.log(`history store failing (collection and rules go on): ${failure}`);
    else if (failure === null && this.error !== null) this.log('history store writable again');
    this.error = failure;
    return { ok: failure === null, error: failure, path: this.path };
  }

  close(): void {
    this.opened?.close();
  }
}
