import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, preparePrivateFile, UnsafePath } from '../host/private-files.js';
import { classify, detailOf, ioError, StoreError, toStoreError } from './errors.js';
import { type OpenedStore, SqliteStore } from './opened.js';
import { migrate, SCHEMA_VERSION, schemaVersion } from './schema.js';

// What callers of openStore use with it; each table's own types are imported from its file.
export { StoreError } from './errors.js';
export { COLLECTOR_PROBLEM_BUCKET_MS, HEARTBEAT_HISTORY_MAX_AGE_MS } from './heartbeat.js';
export type { PackedHistory } from './history.js';
export type { OpenedStore } from './opened.js';

/**
 * The history database on better-sqlite3: WAL, `synchronous = NORMAL` (a commit survives a crash of
 * vigil; only a power cut can lose the last moments), versioned migrations (./schema.ts), retention in
 * small steps. This file opens it and recovers; ./opened.ts is the open store, and each table has its
 * repository (./history.ts, ./alerts.ts, ./heartbeat.ts, ./state.ts, ./actions.ts, ./audit-chain.ts,
 * ./outbox.ts, ./advice.ts). No SQL lives outside src/store/.
 *
 * Failure, by design, is a state and not an exception out of `openStore`:
 *
 * - A file that is not SQLite, or fails `PRAGMA quick_check`, is moved aside as
 *   `<path>.corrupt-<ISO time>` (with its -wal and -shm), a new database is created, and `log` says so.
 * - A database that cannot be written (read-only directory or file, full disk, another user's file):
 *   `openStore` returns a store whose writes throw a {@link StoreError} naming the cause and what to do;
 *   reads still work — on the file opened read-only, or, when SQLite cannot even open it read-only (a
 *   WAL database in a directory where it cannot create the -shm file), on a private in-memory copy of
 *   the file (which lacks whatever sat uncheckpointed in a -wal). `problem` says why.
 * - A database written by a newer vigil (schema version above {@link SCHEMA_VERSION}) is refused: every
 *   read and write throws a StoreError that says so, and the file is left untouched.
 * - A write that fails later (the disk fills up) throws a StoreError and sets `problem`; the next write
 *   that succeeds clears it. Programming errors (a bad argument) are not wrapped.
 *
 * So the daemon wraps each store call, keeps collecting, and reports `problem` (or the caught error) in
 * its heartbeat.
 */

export interface StoreOptions {
  /** Where warnings go (a moved-aside corrupt file, a failing store, a migration). Default: stderr. */
  log?: (message: string) => void;
  /** The clock for names of moved-aside files (default Date.now). */
  now?: () => number;
  /**
   * Run `PRAGMA quick_check` on open (default true), which reads every page: the daemon and `vigil health`
   * do, to find a damaged file; readers such as `vigil report` skip it to start fast, and a damaged page
   * they touch still fails its query with SQLite's own message.
   */
  quickCheck?: boolean;
  /**
   * The caller only reads (`report`, `health`, `audit`, `bundle`), or says a read-only store itself (the
   * daemon's guard, once): a database that cannot be written but can be read is not logged here
   * (`problem` still says why); one that cannot be read at all still is.
   */
  reading?: boolean;
}

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 3000;
/** The -wal file is truncated back to this after a checkpoint (SQLite lets it grow while readers lag). */
const JOURNAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024;

/** Opens (creating, migrating or replacing as needed) the history database at `path`. Never throws. */
export function openStore(path: string, options: StoreOptions = {}): OpenedStore {
  const log = options.log ?? ((message: string) => process.stderr.write(`vigil: ${message}\n`));
  const now = options.now ?? Date.now;

  // The history holds command lines and alerts: its directory is the user's own (0700, created so,
  // tightened, or refused when another user's), and the files are 0600 whatever the umask. SQLite would
  // create the database 0644 under umask 000 and gives its -wal and -shm the database's mode, so the
  // database is created (empty) here first. A directory tightened here is not worth a line of every
  // command's output (the daemon, which checks it first, says so in its log).
  const dir = ensurePrivateDir(dirname(path), { symlink: 'own' });
  if (!dir.ok) {
    const problem = new StoreError('unwritable', path, dir.reason);
    log(`history store failing: ${problem.message}`);
    return new SqliteStore(path, null, false, problem);
  }
  try {
    preparePrivateFile(path, { create: true });
    preparePrivateFile(`${path}-wal`);
    preparePrivateFile(`${path}-shm`);
  } catch (error) {
    if (!(error instanceof UnsafePath)) throw error;
    const problem = new StoreError('unwritable', path, error.message, { cause: error });
    log(`history store failing: ${problem.message}`);
    return new SqliteStore(path, null, false, problem);
  }

  const quickCheck = options.quickCheck ?? true;
  let attempt = openReadWrite(path, log, quickCheck);
  if (attempt.kind === 'corrupt') {
    const aside = `${path}.corrupt-${new Date(now()).toISOString()}`;
    try {
      moveAside(path, aside);
    } catch (error) {
      const problem = new StoreError(
        'corrupt',
        path,
        `${path} is not a usable SQLite database (${attempt.detail}) and could not be moved aside ` +
          `(${(error as Error).message}); move or delete it by hand to start a new history`,
        { cause: error },
      );
      log(`WARNING: ${problem.message}`);
      return new SqliteStore(path, null, false, problem);
    }
    log(
      `WARNING: ${path} was not a usable SQLite database (${attempt.detail}); moved it aside to ${aside} ` +
        '(with its -wal and -shm) and started a new, empty history',
    );
    attempt = openReadWrite(path, log, quickCheck);
  }

  if (attempt.kind === 'ok') return new SqliteStore(path, attempt.db, true, null);
  const problem =
    attempt.kind === 'failed'
      ? attempt.problem
      : new StoreError('corrupt', path, `${path} is still not usable after a fresh start: ${attempt.detail}`);
  const readable = problem.code !== 'too-new' && problem.code !== 'corrupt';
  const reader = readable ? openForReading(path) : null;
  if (!options.reading || !reader || reader instanceof StoreError)
    log(`history store failing: ${problem.message}`);
  if (!reader) return new SqliteStore(path, null, false, problem);
  if (reader instanceof StoreError) return new SqliteStore(path, null, false, reader);
  return new SqliteStore(path, reader, false, problem);
}

type Attempt =
  | { kind: 'ok'; db: Database }
  | { kind: 'corrupt'; detail: string }
  | { kind: 'failed'; problem: StoreError };

/** Opens read-write, checks, migrates and makes sure a write lock can be taken. */
function openReadWrite(path: string, log: (message: string) => void, quickCheck: boolean): Attempt {
  // Garbage is recognised before SQLite opens it: closing a connection to it would delete its -wal.
  const header = fileHeader(path);
  if (header !== null && header.length > 0 && !header.equals(SQLITE_HEADER)) {
    const why =
      header.length < SQLITE_HEADER.length
        ? `only ${header.length} bytes long`
        : 'it does not start with "SQLite format 3"';
    return { kind: 'corrupt', detail: `not an SQLite database: ${why}` };
  }
  let db: Database;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    return failedOpen(error, path);
  }
  try {
    const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
    if (mode !== 'wal')
      log(`${path}: WAL is not available here (journal mode ${mode}); continuing without it`);
    db.pragma('synchronous = NORMAL');
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
    const check = quickCheck ? String(db.pragma('quick_check', { simple: true })) : 'ok';
    if (check !== 'ok') {
      db.close();
      const lines = check.split('\n').filter((line) => !line.startsWith('***'));
      return {
        kind: 'corrupt',
        detail: `quick_check: ${lines.slice(0, 3).join('; ')}${lines.length > 3 ? '; …' : ''}`,
      };
    }
    const version = schemaVersion(db);
    if (version > SCHEMA_VERSION) {
      db.close();
      return { kind: 'failed', problem: tooNew(path, version) };
    }
    const { from, to } = migrate(db);
    if (from > 0 && from !== to) log(`${path}: migrated the history schema from version ${from} to ${to}`);
    // Can it be written? SQLite opens a read-only file read-only without a word and, in WAL mode, even
    // grants it the write lock; only a statement that writes fails. This one changes nothing.
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec('DELETE FROM kv WHERE 0');
    } finally {
      db.exec('ROLLBACK');
    }
    return { kind: 'ok', db };
  } catch (error) {
    db.close();
    if (classify(error) === 'corrupt') return { kind: 'corrupt', detail: detailOf(error) };
    return failedOpen(error, path);
  }
}

/** The magic string every SQLite database file starts with (https://sqlite.org/fileformat.html). */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** The first 16 bytes of `path` (fewer when it is shorter), or null when it cannot be read. */
function fileHeader(path: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const buffer = Buffer.alloc(SQLITE_HEADER.length);
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function failedOpen(error: unknown, path: string): Attempt {
  return {
    kind: 'failed',
    problem: toStoreError(error, path, `cannot open ${path} for writing`) ?? ioError(error, path),
  };
}

/**
 * A connection for reads when writing is impossible: the file read-only, else a private in-memory copy
 * of it (SQLite cannot open a WAL database read-only where it cannot create the -shm file). Returns the
 * problem instead when there is nothing to read.
 */
function openForReading(path: string): Database | StoreError {
  if (!existsSync(path)) {
    return new StoreError(
      'unwritable',
      path,
      `${path} does not exist and cannot be created: no history to read`,
    );
  }
  const usable = (db: Database): Database | StoreError => {
    const version = schemaVersion(db);
    if (version > SCHEMA_VERSION) {
      db.close();
      return tooNew(path, version);
    }
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  };
  try {
    return usable(new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS }));
  } catch {
    // try a copy
  }
  try {
    const image = readFileSync(path);
    // Header bytes 18 and 19 are the file format read/write versions: 2 = WAL, 1 = rollback journal.
    // An in-memory image cannot use WAL, so present it as a rollback-journal database.
    if (image.length >= 100 && image[18] === 2) image.fill(1, 18, 20);
    return usable(new Database(image, { readonly: true }));
  } catch (error) {
    return toStoreError(error, path, `cannot read ${path}`) ?? ioError(error, path);
  }
}

function moveAside(path: string, aside: string): void {
  renameSync(path, aside);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  }
}

function tooNew(path: string, version: number): StoreError {
  return new StoreError(
    'too-new',
    path,
    `${path} has history schema version ${version}, newer than this vigil knows (${SCHEMA_VERSION}): ` +
      'it was written by a newer vigil; upgrade vigil, or move the file aside to start a new history',
  );
}
