import type Database from 'better-sqlite3';
import { type StoreError, toStoreError } from './errors.js';

/**
 * The history database's connection as the repositories of history, alerts, heartbeats and resumed state
 * share it: statements prepared once, reads and writes that turn SQLite's failures into a
 * {@link StoreError} and remember it as the store's `problem` (a write that succeeds clears it), and
 * writes that commit in one IMMEDIATE transaction (a savepoint inside a `batch`). Internal to src/store/.
 */
export class Connection {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly inTransaction: Database.Transaction<(fn: () => unknown) => unknown> | null;
  private current: StoreError | null;

  constructor(
    readonly path: string,
    /** The connection reads go to; null when nothing could be opened. */
    readonly db: Database | null,
    readonly writable: boolean,
    /** Why writes (and, without `db`, reads) are refused; null when the store opened cleanly. */
    readonly openProblem: StoreError | null,
  ) {
    this.current = openProblem;
    this.inTransaction = db && writable ? db.transaction((fn: () => unknown) => fn()) : null;
  }

  /** The open problem, or the last write's failure until a write succeeds. */
  get problem(): StoreError | null {
    return this.current;
  }

  /** Each statement is prepared once, on first use (so a read-only older schema still serves the rest). */
  statement<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db!.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  private failed(error: unknown, what: string): unknown {
    const storeError = toStoreError(error, this.path, `${what} in ${this.path}`);
    if (storeError === null) return error;
    this.current = storeError;
    return storeError;
  }

  read<T>(what: string, fn: () => T): T {
    if (this.db === null) throw this.openProblem!;
    try {
      return fn();
    } catch (error) {
      throw this.failed(error, `cannot read ${what}`);
    }
  }

  write<T>(what: string, fn: () => T): T {
    if (this.inTransaction === null) throw this.openProblem!;
    try {
      const result = this.inTransaction.immediate(fn) as T;
      if (!this.db!.inTransaction) this.current = null;
      return result;
    } catch (error) {
      throw this.failed(error, `cannot write ${what}`);
    }
  }
}

/** Two decimals: what a percentage or a CPU-seconds figure (clock ticks are 1/100 s) is worth keeping. */
export const hundredths = (x: number) => Math.round(x * 100) / 100;

/**
 * A statement cache for a repository that runs on the bare database (actions, advice, outbox): each
 * statement prepared on first use. Their failures are SQLite's own errors, as their callers expect.
 */
export function preparedOn(
  db: Database,
): <P extends unknown[] = unknown[], R = unknown>(sql: string) => Database.Statement<P, R> {
  const statements = new Map<string, Database.Statement>();
  return <P extends unknown[] = unknown[], R = unknown>(sql: string) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  };
}
