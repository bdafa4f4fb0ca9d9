/**
 * The part of better-sqlite3 12 that vigil uses, declared here because @types/better-sqlite3 is not a
 * dependency. Mirrors the library's documented API (docs/api.md); widen it when the store needs more.
 */
declare module 'better-sqlite3' {
  namespace Database {
    interface Options {
      /** Open with SQLITE_OPEN_READONLY. */
      readonly?: boolean;
      /** Fail instead of creating a missing file. */
      fileMustExist?: boolean;
      /** busy_timeout in ms (default 5000). */
      timeout?: number;
    }

    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    /** Positional parameters, or one object of named ones (`@name`). */
    type BindParameters = unknown[];

    interface Statement<P extends BindParameters = BindParameters, R = unknown> {
      readonly source: string;
      readonly reader: boolean;
      run(...params: P): RunResult;
      get(...params: P): R | undefined;
      all(...params: P): R[];
      /** The rows one at a time, without building the whole array. */
      iterate(...params: P): IterableIterator<R>;
      /** Rows as arrays of column values instead of objects (persistent on the statement). */
      raw(toggle?: boolean): this;
      /** Only the first column of each row (persistent on the statement). */
      pluck(toggle?: boolean): this;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }

    interface PragmaOptions {
      /** Only the first column of the first row. */
      simple?: boolean;
    }
  }

  class Database {
    /** A path, or a Buffer holding a whole database image (opened in memory via sqlite3_deserialize). */
    constructor(filename: string | Buffer, options?: Database.Options);
    readonly name: string;
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly readonly: boolean;
    readonly memory: boolean;
    prepare<P extends Database.BindParameters = Database.BindParameters, R = unknown>(
      source: string,
    ): Database.Statement<P, R>;
    exec(source: string): this;
    pragma(source: string, options?: Database.PragmaOptions): unknown;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F>;
    close(): this;
  }

  export = Database;
}
