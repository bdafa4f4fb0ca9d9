import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Severity } from '../config/schema.js';
import { ensurePrivateDir, preparePrivateFile, UnsafePath } from '../host/private-files.js';
import type { BaselineRow } from '../understand/baseline.js';
import { type PackedSample, type ProcessIdentity, packSamples, unpackSamples } from './codec.js';
import { migrate, SCHEMA_VERSION, schemaVersion } from './schema.js';
import type {
  AlertRecord,
  FiringFinding,
  Heartbeat,
  HistoryStore,
  ProcessRecord,
  RuleStateRecord,
  RunRecord,
  SnapshotRecord,
} from './types.js';

/**
 * The history database on better-sqlite3: WAL, `synchronous = NORMAL` (a commit survives a crash of
 * vigil; only a power cut can lose the last moments), versioned migrations (./schema.ts), retention in
 * small steps.
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

/** A point of the daemon's own cost over time (one a minute, from `writeHeartbeat`). */
export interface HeartbeatSample {
  readonly at: number;
  readonly pid: number;
  readonly rssBytes: number;
  /** CPU since the heartbeat before it (100 = one core); average over a longer span from `cpuSeconds`. */
  readonly cpuPercent: number;
  readonly cpuSeconds: number;
  readonly firing: number;
  readonly storeOk: boolean;
}

/** What `openStore` returns: the {@link HistoryStore} contract plus its health and a few extras. */
export interface OpenedStore extends HistoryStore {
  /**
   * Why the store is failing, or null while it works: set at open (see the module comment) and by a
   * write that failed; cleared by the next write that succeeds.
   */
  readonly problem: StoreError | null;
  /** False when the store was opened read-only or not at all: every write throws `problem`. */
  readonly writable: boolean;
  /** Schema version of the open database (0 when none could be opened). */
  readonly schemaVersion: number;
  /**
   * Runs `fn` in one transaction, so the writes of one cycle commit together (calls inside nest as
   * savepoints). A StoreError thrown inside rolls the whole batch back.
   */
  batch<T>(fn: () => T): T;
  /** The kept heartbeat history in [from, to], oldest first. */
  heartbeatsBetween(from: number, to: number): HeartbeatSample[];
  /**
   * The snapshots in [from, to] without decoding their processes (`processes` is empty): `packed[i]`
   * holds snapshot i's, for {@link forEachSample}. What `vigil report` reads: a week is 250,000 samples,
   * and aggregating them straight from the bytes skips building an object for each.
   */
  historyBetween(from: number, to: number): PackedHistory;
  /**
   * The open database, for the modules that own their tables (audit chain, outbox, actions: migration 3),
   * or null when none could be opened. Writes through it should go inside `batch` or their own
   * transaction, and fail like any other when the store is read-only.
   */
  raw(): Database | null;
}

export interface PackedHistory {
  readonly snapshots: SnapshotRecord[];
  /** The `procs` rows the samples refer to, by id. */
  readonly identities: ReadonlyMap<number, ProcessIdentity>;
  readonly packed: readonly Uint8Array[];
}

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
}

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 3000;
/** The heartbeat history keeps at most one row per this interval. */
export const HEARTBEAT_HISTORY_EVERY_MS = 60_000;
/**
 * A backstop for a daemon that never prunes: heartbeat history older than this goes as new rows come
 * (at one row a minute, at most 44,640 rows).
 */
export const HEARTBEAT_HISTORY_MAX_AGE_MS = 31 * 24 * 3_600_000;
/** Collector errors are counted per bucket of this length (the `bucket` column of collector_problems). */
export const COLLECTOR_PROBLEM_BUCKET_MS = 600_000;
/** A collector error longer than this is cut (its start names the problem). */
const MAX_ERROR_CHARS = 500;
/** The -wal file is truncated back to this after a checkpoint (SQLite lets it grow while readers lag). */
const JOURNAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024;

const JOURNAL_CURSOR_KEY = 'journal.cursor';

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
  log(`history store failing: ${problem.message}`);
  if (problem.code === 'too-new' || problem.code === 'corrupt')
    return new SqliteStore(path, null, false, problem);
  const reader = openForReading(path);
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

function errorCode(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

function detailOf(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === null ? message : `${code}: ${message}`;
}

/** SQLite's and the file system's error codes, sorted into what a person can act on. */
function classify(error: unknown): StoreProblemCode | null {
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
function toStoreError(error: unknown, path: string, what: string): StoreError | null {
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

function ioError(error: unknown, path: string): StoreError {
  return new StoreError('io', path, `cannot open ${path}: ${detailOf(error)}`, { cause: error });
}

// ---------------------------------------------------------------------------------------------------------

interface AlertRow {
  id: number;
  fingerprint: string;
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  pids: string;
  suggest: string;
  event: number;
  first_seen: number;
  last_seen: number;
  resolved_at: number | null;
  count: number;
}

type SnapshotRow = [
  takenAt: number,
  memUsedPercent: number | null,
  memAvailableBytes: number | null,
  swapUsedPercent: number | null,
  load1: number | null,
  load5: number | null,
  load15: number | null,
  cpuPercent: number | null,
  psiMemSomeAvg10: number | null,
  psiMemFullAvg10: number | null,
  psiCpuSomeAvg10: number | null,
  psiIoFullAvg10: number | null,
  cpuTempCelsius: number | null,
  gpuTempCelsius: number | null,
  disks: string,
  procs: Uint8Array,
];

/** Two decimals: what a percentage or a CPU-seconds figure (clock ticks are 1/100 s) is worth keeping. */
const hundredths = (x: number) => Math.round(x * 100) / 100;

const SQL = {
  beginRun: 'INSERT INTO runs (pid, started_at, last_seen_at) VALUES (?, ?, ?)',
  touchRun: 'UPDATE runs SET last_seen_at = max(last_seen_at, ?) WHERE id = ?',
  endRun: 'UPDATE runs SET last_seen_at = max(last_seen_at, @now), ended_at = @now WHERE id = @id',
  runsBetween: `SELECT pid, started_at AS startedAt, last_seen_at AS lastSeenAt, ended_at AS endedAt FROM runs
    WHERE started_at <= @to AND coalesce(ended_at, last_seen_at) >= @from ORDER BY started_at, id`,

  procsOf:
    'SELECT id, comm, name, cmdline, user, kind, grp AS "group" FROM procs WHERE pid = ? AND start_ticks = ?',
  seeProc:
    'UPDATE procs SET first_seen = min(first_seen, @at), last_seen = max(last_seen, @at) WHERE id = @id',
  insertProc: `INSERT INTO procs (pid, start_ticks, comm, name, cmdline, user, kind, grp, first_seen, last_seen)
    VALUES (@pid, @startTicks, @comm, @name, @cmdline, @user, @kind, @group, @at, @at)`,
  procsBetween: `SELECT id, pid, start_ticks, comm, name, cmdline, user, kind, grp FROM procs
    WHERE last_seen >= @from AND first_seen <= @to`,
  insertSnapshot: 'INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  snapshotsBetween: 'SELECT * FROM snapshots WHERE taken_at BETWEEN ? AND ? ORDER BY taken_at',

  openAlertOf: 'SELECT * FROM alerts WHERE fingerprint = ? AND resolved_at IS NULL',
  updateAlert: `UPDATE alerts SET last_seen = max(last_seen, @now), count = count + 1, severity = @severity,
    summary = @summary, pids = @pids, suggest = @suggest WHERE id = @id RETURNING *`,
  insertAlert: `INSERT INTO alerts
    (fingerprint, rule, subject, severity, summary, pids, suggest, event, first_seen, last_seen, resolved_at, count)
    VALUES (@fingerprint, @rule, @subject, @severity, @summary, @pids, @suggest, @event, @since, @now, @resolvedAt, 1)
    RETURNING *`,
  resolveAlert: 'UPDATE alerts SET resolved_at = ? WHERE fingerprint = ? AND resolved_at IS NULL RETURNING *',
  openAlerts: 'SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id',
  alertById: 'SELECT * FROM alerts WHERE id = ?',
  alertsBetween: `SELECT * FROM alerts WHERE resolved_at IS NULL AND first_seen <= @to
    UNION ALL SELECT * FROM alerts WHERE resolved_at >= @from AND first_seen <= @to
    ORDER BY first_seen, id`,

  loadBaselines: 'SELECT metric, hour, count, mean, m2 FROM baselines ORDER BY metric, hour',
  saveBaseline: `INSERT INTO baselines (metric, hour, count, mean, m2) VALUES (@metric, @hour, @count, @mean, @m2)
    ON CONFLICT (metric, hour) DO UPDATE SET count = excluded.count, mean = excluded.mean, m2 = excluded.m2`,

  getValue: 'SELECT value FROM kv WHERE key = ?',
  setValue:
    'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',

  clearRuleStates: 'DELETE FROM rule_states',
  insertRuleState: `INSERT OR REPLACE INTO rule_states (fingerprint, pending_since, firing, clearing_since)
    VALUES (@fingerprint, @pendingSince, @firing, @clearingSince)`,
  loadRuleStates: `SELECT fingerprint, pending_since AS pendingSince, firing, clearing_since AS clearingSince
    FROM rule_states ORDER BY fingerprint`,

  writeHeartbeat: `INSERT INTO heartbeat (id, at, body) VALUES (1, ?, ?)
    ON CONFLICT (id) DO UPDATE SET at = excluded.at, body = excluded.body`,
  latestHeartbeat: 'SELECT body FROM heartbeat WHERE id = 1',
  lastHistoryAt: 'SELECT max(at) FROM heartbeat_history',
  insertHistory: `INSERT OR REPLACE INTO heartbeat_history (at, pid, rss_bytes, cpu_percent, cpu_seconds, firing, store_ok)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  capHistory: 'DELETE FROM heartbeat_history WHERE at < ?',
  recordCollectorProblem: `INSERT INTO collector_problems (bucket, collector, error, count, first_at, last_at)
    VALUES (@bucket, @collector, @error, 1, @at, @at)
    ON CONFLICT (bucket, collector, error) DO UPDATE SET count = count + 1,
      first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`,
  // One row per collector: how many heartbeats reported an error, and the error it reported last (SQLite
  // takes a bare column from the row where the single max() is found).
  collectorProblemsBetween: `SELECT collector, error, sum(count) AS count, max(last_at) AS lastAt
    FROM collector_problems
    WHERE bucket BETWEEN @fromBucket AND @toBucket AND last_at >= @from AND first_at <= @to
    GROUP BY collector ORDER BY count DESC, collector`,
  heartbeatsBetween: `SELECT at, pid, rss_bytes AS rssBytes, cpu_percent AS cpuPercent, cpu_seconds AS cpuSeconds,
    firing, store_ok AS storeOk FROM heartbeat_history WHERE at BETWEEN ? AND ? ORDER BY at`,

  pruneSnapshots: `DELETE FROM snapshots WHERE taken_at IN
    (SELECT taken_at FROM snapshots WHERE taken_at < @before ORDER BY taken_at LIMIT @limit)`,
  pruneHeartbeats: `DELETE FROM heartbeat_history WHERE at IN
    (SELECT at FROM heartbeat_history WHERE at < @before ORDER BY at LIMIT @limit)`,
  pruneCollectorProblems: `DELETE FROM collector_problems WHERE (bucket, collector, error) IN
    (SELECT bucket, collector, error FROM collector_problems WHERE last_at < @before ORDER BY last_at LIMIT @limit)`,
  pruneAlerts: `DELETE FROM alerts WHERE id IN
    (SELECT id FROM alerts WHERE resolved_at < @before ORDER BY resolved_at LIMIT @limit)`,
  pruneRuns: `DELETE FROM runs WHERE id IN
    (SELECT id FROM runs WHERE coalesce(ended_at, last_seen_at) < @before ORDER BY id LIMIT @limit)`,
  // A process row goes once no snapshot left can refer to it: seen last before the cut-off and before the
  // oldest snapshot kept (snapshots are pruned in steps, so some older than the cut-off may remain).
  pruneProcs: `DELETE FROM procs WHERE id IN
    (SELECT id FROM procs
      WHERE last_seen < min(@before, coalesce((SELECT min(taken_at) FROM snapshots), @before))
      ORDER BY last_seen LIMIT @limit)`,

  quickCheck: 'PRAGMA quick_check',
} as const;

class SqliteStore implements OpenedStore {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly inTransaction: Database.Transaction<(fn: () => unknown) => unknown> | null;
  private current: StoreError | null;

  constructor(
    readonly path: string,
    /** The connection reads go to; null when nothing could be opened. */
    private readonly db: Database | null,
    readonly writable: boolean,
    /** Why writes (and, without `db`, reads) are refused; null when the store opened cleanly. */
    private readonly openProblem: StoreError | null,
  ) {
    this.current = openProblem;
    this.inTransaction = db && writable ? db.transaction((fn: () => unknown) => fn()) : null;
  }

  get problem(): StoreError | null {
    return this.current;
  }

  get schemaVersion(): number {
    return this.db?.open ? schemaVersion(this.db) : 0;
  }

  /** Each statement is prepared once, on first use (so a read-only older schema still serves the rest). */
  private statement<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
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

  private read<T>(what: string, fn: () => T): T {
    if (this.db === null) throw this.openProblem!;
    try {
      return fn();
    } catch (error) {
      throw this.failed(error, `cannot read ${what}`);
    }
  }

  private write<T>(what: string, fn: () => T): T {
    if (this.inTransaction === null) throw this.openProblem!;
    try {
      const result = this.inTransaction.immediate(fn) as T;
      if (!this.db!.inTransaction) this.current = null;
      return result;
    } catch (error) {
      throw this.failed(error, `cannot write ${what}`);
    }
  }

  batch<T>(fn: () => T): T {
    return this.write('a batch', fn);
  }

  // -- runs ---------------------------------------------------------------------------------------------

  beginRun(pid: number, startedAt: number): number {
    return this.write('a run', () =>
      Number(this.statement(SQL.beginRun).run(pid, startedAt, startedAt).lastInsertRowid),
    );
  }

  touchRun(runId: number, now: number): void {
    this.write('a run', () => this.statement(SQL.touchRun).run(now, runId));
  }

  endRun(runId: number, now: number): void {
    this.write('a run', () => this.statement(SQL.endRun).run({ now, id: runId }));
  }

  runsBetween(from: number, to: number): RunRecord[] {
    return this.read('runs', () => this.statement<[object], RunRecord>(SQL.runsBetween).all({ from, to }));
  }

  // -- snapshots ----------------------------------------------------------------------------------------

  insertSnapshot(snapshot: SnapshotRecord): void {
    const takenAt = Math.round(snapshot.takenAt);
    this.write('a snapshot', () => {
      const samples: PackedSample[] = snapshot.processes.map((p) => ({
        ...p,
        id: this.processId(p, takenAt),
      }));
      const disks: Record<string, number> = {};
      for (const [mount, usedPercent] of Object.entries(snapshot.disks))
        disks[mount] = hundredths(usedPercent);
      this.statement(SQL.insertSnapshot).run(
        takenAt,
        snapshot.memUsedPercent,
        snapshot.memAvailableBytes === null ? null : Math.round(snapshot.memAvailableBytes),
        snapshot.swapUsedPercent,
        snapshot.load1,
        snapshot.load5,
        snapshot.load15,
        snapshot.cpuPercent,
        snapshot.psiMemSomeAvg10,
        snapshot.psiMemFullAvg10,
        snapshot.psiCpuSomeAvg10,
        snapshot.psiIoFullAvg10,
        snapshot.cpuTempCelsius,
        snapshot.gpuTempCelsius,
        JSON.stringify(disks),
        packSamples(samples),
      );
    });
  }

  /** The `procs` row of a process with exactly this identity and text, created when new. */
  private processId(p: ProcessRecord, takenAt: number): number {
    type Row = Pick<ProcessRecord, 'comm' | 'name' | 'cmdline' | 'user' | 'kind' | 'group'> & { id: number };
    const rows = this.statement<[number, number], Row>(SQL.procsOf).all(p.pid, p.startTicks);
    const known = rows.find(
      (r) =>
        r.comm === p.comm &&
        r.name === p.name &&
        r.cmdline === p.cmdline &&
        r.user === p.user &&
        r.kind === p.kind &&
        r.group === p.group,
    );
    if (known !== undefined) {
      this.statement(SQL.seeProc).run({ at: takenAt, id: known.id });
      return known.id;
    }
    const result = this.statement<[object]>(SQL.insertProc).run({
      pid: p.pid,
      startTicks: p.startTicks,
      comm: p.comm,
      name: p.name,
      cmdline: p.cmdline,
      user: p.user,
      kind: p.kind,
      group: p.group,
      at: takenAt,
    });
    return Number(result.lastInsertRowid);
  }

  snapshotsBetween(from: number, to: number): SnapshotRecord[] {
    return this.read('snapshots', () => {
      const { snapshots, identities, packed } = this.readHistory(from, to);
      return snapshots.map((s, i) => ({ ...s, processes: unpackSamples(packed[i]!, identities) }));
    });
  }

  historyBetween(from: number, to: number): PackedHistory {
    return this.read('snapshots', () => this.readHistory(from, to));
  }

  /** The window's snapshots with their processes still packed, and the identities they refer to. */
  private readHistory(from: number, to: number): PackedHistory {
    const identities = new Map<number, ProcessIdentity>();
    type ProcRow = [number, number, number, string, string, string, string, string | null, string];
    const procRows = this.statement<[object], ProcRow>(SQL.procsBetween).raw();
    for (const [id, pid, startTicks, comm, name, cmdline, user, kind, group] of procRows.all({ from, to })) {
      identities.set(id, { pid, startTicks, comm, name, cmdline, user, kind, group });
    }
    // Row by row: each raw row is garbage once mapped, so a week's rows never all survive a scavenge.
    const rows = this.statement<[number, number], SnapshotRow>(SQL.snapshotsBetween).raw().iterate(from, to);
    const packed: Uint8Array[] = [];
    const snapshots: SnapshotRecord[] = [];
    for (const row of rows) {
      packed.push(row[15]);
      snapshots.push({
        takenAt: row[0],
        memUsedPercent: row[1],
        memAvailableBytes: row[2],
        swapUsedPercent: row[3],
        load1: row[4],
        load5: row[5],
        load15: row[6],
        cpuPercent: row[7],
        psiMemSomeAvg10: row[8],
        psiMemFullAvg10: row[9],
        psiCpuSomeAvg10: row[10],
        psiIoFullAvg10: row[11],
        cpuTempCelsius: row[12],
        gpuTempCelsius: row[13],
        disks: JSON.parse(row[14]) as Record<string, number>,
        processes: [],
      });
    }
    return { snapshots, identities, packed };
  }

  // -- alerts -------------------------------------------------------------------------------------------

  recordFiring(finding: FiringFinding, now: number): { alert: AlertRecord; isNew: boolean } {
    return this.write('an alert', () => {
      const pids = JSON.stringify(finding.pids);
      const suggest = JSON.stringify(finding.suggest);
      // An event is raised and resolved at once, so it never holds the fingerprint open.
      const open = finding.event
        ? undefined
        : this.statement<[string], AlertRow>(SQL.openAlertOf).get(finding.fingerprint);
      if (open !== undefined) {
        const row = this.statement<[object], AlertRow>(SQL.updateAlert).get({
          id: open.id,
          now,
          severity: finding.severity,
          summary: finding.summary,
          pids,
          suggest,
        })!;
        return { alert: toAlert(row), isNew: false };
      }
      const row = this.statement<[object], AlertRow>(SQL.insertAlert).get({
        fingerprint: finding.fingerprint,
        rule: finding.rule,
        subject: finding.subject,
        severity: finding.severity,
        summary: finding.summary,
        pids,
        suggest,
        event: finding.event ? 1 : 0,
        since: Math.min(finding.since, now),
        now,
        resolvedAt: finding.event ? now : null,
      })!;
      return { alert: toAlert(row), isNew: true };
    });
  }

  resolveAlert(fingerprint: string, now: number): AlertRecord | null {
    return this.write('an alert', () => {
      const row = this.statement<[number, string], AlertRow>(SQL.resolveAlert).get(now, fingerprint);
      return row === undefined ? null : toAlert(row);
    });
  }

  openAlerts(): AlertRecord[] {
    return this.read('alerts', () => this.statement<[], AlertRow>(SQL.openAlerts).all().map(toAlert));
  }

  alertById(id: number): AlertRecord | null {
    return this.read('an alert', () => {
      const row = this.statement<[number], AlertRow>(SQL.alertById).get(id);
      return row === undefined ? null : toAlert(row);
    });
  }

  alertsBetween(from: number, to: number): AlertRecord[] {
    return this.read('alerts', () =>
      this.statement<[object], AlertRow>(SQL.alertsBetween).all({ from, to }).map(toAlert),
    );
  }

  // -- baselines, journal cursor, rule states ------------------------------------------------------------

  loadBaselines(): BaselineRow[] {
    return this.read('baselines', () => this.statement<[], BaselineRow>(SQL.loadBaselines).all());
  }

  saveBaselines(rows: readonly BaselineRow[]): void {
    this.write('baselines', () => {
      const save = this.statement<[BaselineRow]>(SQL.saveBaseline);
      for (const row of rows) {
        save.run({ metric: row.metric, hour: row.hour, count: row.count, mean: row.mean, m2: row.m2 });
      }
    });
  }

  getJournalCursor(): string | null {
    return this.read('the journal cursor', () => {
      const row = this.statement<[string], { value: string }>(SQL.getValue).get(JOURNAL_CURSOR_KEY);
      return row?.value ?? null;
    });
  }

  setJournalCursor(cursor: string): void {
    this.write('the journal cursor', () => this.statement(SQL.setValue).run(JOURNAL_CURSOR_KEY, cursor));
  }

  saveRuleStates(states: readonly RuleStateRecord[]): void {
    this.write('rule states', () => {
      this.statement(SQL.clearRuleStates).run();
      const insert = this.statement<[object]>(SQL.insertRuleState);
      for (const s of states) {
        insert.run({
          fingerprint: s.fingerprint,
          pendingSince: s.pendingSince,
          firing: s.firing ? 1 : 0,
          clearingSince: s.clearingSince,
        });
      }
    });
  }

  loadRuleStates(): RuleStateRecord[] {
    return this.read('rule states', () =>
      this.statement<
        [],
        { fingerprint: string; pendingSince: number; firing: number; clearingSince: number | null }
      >(SQL.loadRuleStates)
        .all()
        .map((s) => ({ ...s, firing: s.firing === 1 })),
    );
  }

  // -- heartbeat ----------------------------------------------------------------------------------------

  writeHeartbeat(heartbeat: Heartbeat): void {
    this.write('the heartbeat', () => {
      const at = Math.round(heartbeat.lastCycleAt);
      this.statement(SQL.writeHeartbeat).run(at, JSON.stringify(heartbeat));
      const problem = this.statement<[object]>(SQL.recordCollectorProblem);
      for (const c of heartbeat.collectors) {
        if (c.error === null) continue;
        const error =
          c.error.length > MAX_ERROR_CHARS ? `${c.error.slice(0, MAX_ERROR_CHARS - 1)}…` : c.error;
        problem.run({ bucket: Math.floor(at / COLLECTOR_PROBLEM_BUCKET_MS), collector: c.name, error, at });
      }
      const last = this.statement<[], number | null>(SQL.lastHistoryAt).pluck().get() ?? null;
      // One history row a minute; a clock set back starts the rhythm again.
      if (last !== null && at - last < HEARTBEAT_HISTORY_EVERY_MS && at >= last) return;
      this.statement(SQL.insertHistory).run(
        at,
        heartbeat.pid,
        Math.round(heartbeat.rssBytes),
        hundredths(heartbeat.cpuPercent),
        hundredths(heartbeat.cpuSeconds),
        heartbeat.firing,
        heartbeat.store.ok ? 1 : 0,
      );
      this.statement(SQL.capHistory).run(at - HEARTBEAT_HISTORY_MAX_AGE_MS);
    });
  }

  collectorProblemsBetween(
    from: number,
    to: number,
  ): Array<{ collector: string; error: string; count: number; lastAt: number }> {
    return this.read('collector problems', () =>
      this.statement<[object], { collector: string; error: string; count: number; lastAt: number }>(
        SQL.collectorProblemsBetween,
      ).all({
        from,
        to,
        fromBucket: Math.floor(from / COLLECTOR_PROBLEM_BUCKET_MS),
        toBucket: Math.floor(to / COLLECTOR_PROBLEM_BUCKET_MS),
      }),
    );
  }

  latestHeartbeat(): Heartbeat | null {
    return this.read('the heartbeat', () => {
      const body = this.statement<[], string>(SQL.latestHeartbeat).pluck().get();
      return body === undefined ? null : (JSON.parse(body) as Heartbeat);
    });
  }

  heartbeatsBetween(from: number, to: number): HeartbeatSample[] {
    return this.read('the heartbeat history', () =>
      this.statement<[number, number], Omit<HeartbeatSample, 'storeOk'> & { storeOk: number }>(
        SQL.heartbeatsBetween,
      )
        .all(from, to)
        .map((h) => ({ ...h, storeOk: h.storeOk === 1 })),
    );
  }

  // -- upkeep -------------------------------------------------------------------------------------------

  prune(before: number, maxRows: number): number {
    if (!(maxRows >= 1)) return 0;
    return this.write('retention', () => {
      let deleted = 0;
      for (const sql of [
        SQL.pruneSnapshots,
        SQL.pruneHeartbeats,
        SQL.pruneCollectorProblems,
        SQL.pruneAlerts,
        SQL.pruneRuns,
        SQL.pruneProcs,
      ]) {
        const limit = Math.floor(maxRows) - deleted;
        if (limit <= 0) break;
        deleted += this.statement<[object]>(sql).run({ before, limit }).changes;
      }
      return deleted;
    });
  }

  quickCheck(): string {
    if (this.db === null) return this.openProblem!.message;
    return this.read('the integrity check', () => {
      const result = this.statement<[], string>(SQL.quickCheck).pluck().get();
      return result ?? 'quick_check returned nothing';
    });
  }

  sizeBytes(): number {
    let total = 0;
    for (const file of [this.path, `${this.path}-wal`]) {
      try {
        total += statSync(file).size;
      } catch {
        // absent: nothing on disk
      }
    }
    return total;
  }

  raw(): Database | null {
    return this.db;
  }

  close(): void {
    if (!this.db?.open) return;
    if (this.writable) {
      try {
        this.db.pragma('optimize');
      } catch {
        // best effort
      }
    }
    this.db.close();
  }
}

function toAlert(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    rule: row.rule,
    subject: row.subject,
    severity: row.severity as Severity,
    summary: row.summary,
    pids: JSON.parse(row.pids) as number[],
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    resolvedAt: row.resolved_at,
    count: row.count,
    event: row.event === 1,
    suggest: JSON.parse(row.suggest) as string[],
  };
}
