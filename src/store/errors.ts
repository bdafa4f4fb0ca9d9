/**
 * What can go wrong with the history database, sorted into what a person can act on. SQLite's and the
 * file system's error codes become a {@link StoreError} that names the file, the cause and what to do;
 * anything else (a programming error, a bad argument) is left as it is.
 */

/** What is wrong with a store. */
export type StoreProblemCode =
  /** The file or its directory cannot be written (permissions, read-only or immutable file system). */
  | 'unwritable'
  /** No space left on the file system. */
  | 'full'
  /** Not a usable SQLite database, and it could not be moved aside. */
  | 'corrupt'
  /** Written by a newer vigil: a schema this code does not know. */
  | 'too-new'
  /** Locked by another process for longer than the busy timeout. */
  | 'busy'
  /** Any other I/O or SQLite error. */
  | 'io';

export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly code: StoreProblemCode,
    /** The database file. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function errorCode(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

/** The error's message, after its code when it has one (`SQLITE_FULL: database or disk is full`). */
export function detailOf(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === null ? message : `${code}: ${message}`;
}

/** SQLite's and the file system's error codes, sorted into what a person can act on. */
export function classify(error: unknown): StoreProblemCode | null {
  const code = errorCode(error);
  if (code === null) return null;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'corrupt';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  if (
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_PERM') ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS'
  ) {
    return 'unwritable';
  }
  if (code.startsWith('SQLITE_') || code.startsWith('E')) return 'io';
  return null;
}

/** A StoreError for an SQLite or file-system error, or null for anything else (a programming error). */
export function toStoreError(error: unknown, path: string, what: string): StoreError | null {
  if (error instanceof StoreError) return error;
  const code = classify(error);
  if (code === null) return null;
  const detail = detailOf(error);
  const advice: Record<StoreProblemCode, string> = {
    unwritable: `${what}: ${detail}; make the file (with its -wal and -shm) and its directory writable by this user`,
    full: `${what}: the disk is full (${detail}); history is not recorded until space is freed`,
    corrupt: `${what}: the database is damaged (${detail}); restart vigil to move it aside`,
    'too-new': `${what}: ${detail}`,
    busy: `${what}: another process holds the database locked (${detail})`,
    io: `${what}: ${detail}`,
  };
  return new StoreError(code, path, advice[code], { cause: error });
}

export function ioError(error: unknown, path: string): StoreError {
  return new StoreError('io', path, `cannot open ${path}: ${detailOf(error)}`, { cause: error });
}
