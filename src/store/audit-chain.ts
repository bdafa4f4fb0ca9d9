import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { redactData } from '../redact/data.js';

/**
 * The audit log: every alert raised or resolved, notification, action proposed, vetoed, started or
 * finished, policy refusal, config reload and AI call, appended to the `audit` table (store migration 3)
 * as a hash chain.
 *
 * Entry `seq` (1, 2, 3… with no gaps) stores `prev_hash`, the `hash` of entry `seq - 1` (64 zeros for
 * entry 1), and its own
 *
 *     hash = hex(SHA-256(prev_hash + canonicalJson({ at, data, kind, seq })))
 *
 * where canonical JSON has every object's keys sorted (recursively) and no whitespace, and `data` is
 * stored as its canonical JSON. So editing any column of a row breaks that row's hash; deleting a row
 * leaves a gap in `seq` (and a `prev_hash` that matches nothing); inserting or moving a row breaks the
 * `prev_hash` link of the row after it (a forged row can be self-consistent, but cannot also be the row
 * its successor was chained to) or the hash of a row whose seq was changed.
 *
 * What the chain cannot show by itself: that rows were cut off the end, or that someone with write access
 * rewrote the whole chain from some point on. An exported, signed chain (`vigil audit export --sign`)
 * fixes the head at that moment, so later rows can be checked against it.
 */

export type AuditKind =
  | 'alert_raised'
  | 'alert_resolved'
  | 'notification'
  | 'action_proposed'
  | 'action_vetoed'
  | 'action_started'
  | 'action_finished'
  | 'policy_refusal'
  | 'config_reload'
  | 'ai_call';

export const AUDIT_KINDS: readonly AuditKind[] = [
  'alert_raised',
  'alert_resolved',
  'notification',
  'action_proposed',
  'action_vetoed',
  'action_started',
  'action_finished',
  'policy_refusal',
  'config_reload',
  'ai_call',
];

export interface AuditEntry {
  readonly seq: number;
  /** ms since the epoch. */
  readonly at: number;
  /** An {@link AuditKind}; a string from a newer vigil is kept as it is. */
  readonly kind: string;
  readonly data: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

export type ChainVerdict =
  | { ok: true; entries: number; head: { seq: number; hash: string } | null }
  | { ok: false; seq: number; reason: string; entries: number };

/** The `prev_hash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with the keys of every object sorted and no whitespace: the same value always gives the same text,
 * whatever order its keys were built in. `undefined` members are left out and non-finite numbers become
 * null, as `JSON.stringify` does; a bigint, function or symbol is a programming error and throws.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'object': {
      const withToJson = value as { toJSON?: () => unknown };
      if (typeof withToJson.toJSON === 'function') return canonicalJson(withToJson.toJSON());
      if (Array.isArray(value))
        return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
      const members: string[] = [];
      for (const key of Object.keys(value).sort()) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        members.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot represent a ${typeof value}`);
  }
}

/** The hash of an entry whose `data` is given as its stored (canonical) JSON text. */
export function entryHash(entry: {
  seq: number;
  at: number;
  kind: string;
  dataJson: string;
  prevHash: string;
}): string {
  // canonicalJson({at, data, kind, seq}) with the already-canonical data text spliced in.
  const body = `{"at":${canonicalJson(entry.at)},"data":${entry.dataJson},"kind":${canonicalJson(entry.kind)},"seq":${canonicalJson(entry.seq)}}`;
  return createHash('sha256').update(entry.prevHash).update(body).digest('hex');
}

/** A row of the audit table as SQLite returns it. */
export interface AuditRow {
  seq: number;
  at: number;
  kind: string;
  data: string;
  prev_hash: string;
  hash: string;
}

/**
 * Checks rows one at a time, in seq order: each must follow the one before it (seq + 1, prev_hash equal
 * to its hash) and hash to its stored hash. A whole chain starts from the genesis (`fromGenesis`); a
 * slice (an export of a window) from its first row, whose place is taken as given.
 */
export class ChainChecker {
  private previous: { seq: number; hash: string } | null;
  private checked = 0;

  constructor(fromGenesis = true) {
    this.previous = fromGenesis ? { seq: 0, hash: GENESIS_HASH } : null;
  }

  /**
   * Null when the row is sound, else why it breaks the chain. `contentMasked`: the row's data was masked
   * after it was hashed (an export that found a secret the append missed), so only its place in the chain
   * (seq and prev_hash) can be checked, and its stored hash is taken as given.
   */
  push(row: AuditRow, options: { contentMasked?: boolean } = {}): string | null {
    const before = this.previous;
    if (before !== null && row.seq !== before.seq + 1) {
      if (row.seq <= before.seq)
        return before.seq === 0
          ? `seq ${row.seq} is before the first entry (seq 1): a row was inserted`
          : `seq ${row.seq} follows seq ${before.seq}: the rows are out of order`;
      const missing = row.seq - before.seq - 1;
      const which =
        missing === 1 ? `entry ${before.seq + 1} is` : `entries ${before.seq + 1}–${row.seq - 1} are`;
      return before.seq === 0
        ? `the chain starts at seq ${row.seq}: ${which} missing (deleted)`
        : `${which} missing (deleted): seq jumps from ${before.seq} to ${row.seq}`;
    }
    if (before !== null && row.prev_hash !== before.hash) {
      return before.seq === 0
        ? 'its prev_hash is not the genesis hash: the first entry was replaced'
        : `its prev_hash does not match the hash of entry ${before.seq}: a row was inserted, replaced or moved before it`;
    }
    if (options.contentMasked) {
      this.previous = { seq: row.seq, hash: row.hash };
      this.checked++;
      return null;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.data);
    } catch {
      return 'its data is not valid JSON: the row was edited';
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      return 'its data is not a JSON object: the row was edited';
    if (canonicalJson(parsed) !== row.data) return 'its data is not in canonical form: the row was edited';
    const expected = entryHash({
      seq: row.seq,
      at: row.at,
      kind: row.kind,
      dataJson: row.data,
      prevHash: row.prev_hash,
    });
    if (expected !== row.hash) return 'its hash does not match its contents: the row was edited';
    this.previous = { seq: row.seq, hash: row.hash };
    this.checked++;
    return null;
  }

  /** Entries checked and found sound so far. */
  get entries(): number {
    return this.checked;
  }

  get head(): { seq: number; hash: string } | null {
    return this.previous === null || this.previous.seq === 0 ? null : this.previous;
  }
}

/** Checks a list of entries (a whole chain, or with `fromGenesis: false` an exported slice of one). */
export function verifyEntries(
  entries: ReadonlyArray<
    Pick<AuditEntry, 'seq' | 'at' | 'kind' | 'data' | 'prevHash' | 'hash'> & { maskedInExport?: boolean }
  >,
  options: { fromGenesis?: boolean } = {},
): ChainVerdict {
  const checker = new ChainChecker(options.fromGenesis ?? true);
  for (const e of entries) {
    const reason = checker.push(
      {
        seq: e.seq,
        at: e.at,
        kind: e.kind,
        data: canonicalJson(e.data),
        prev_hash: e.prevHash,
        hash: e.hash,
      },
      { contentMasked: e.maskedInExport === true },
    );
    if (reason !== null) return { ok: false, seq: e.seq, reason, entries: checker.entries };
  }
  return { ok: true, entries: checker.entries, head: checker.head };
}

const VERIFY_PAGE_ROWS = 1000;

const SQL = {
  last: 'SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1',
  insert: 'INSERT INTO audit (seq, at, kind, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)',
  page: 'SELECT seq, at, kind, data, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?',
  between: `SELECT seq, at, kind, data, prev_hash, hash FROM audit WHERE at >= ? AND at <= ?
    ORDER BY seq DESC LIMIT ?`,
  slice: `SELECT seq, at, kind, data, prev_hash, hash FROM audit
    WHERE seq BETWEEN (SELECT min(seq) FROM audit WHERE at >= ?) AND (SELECT max(seq) FROM audit WHERE at <= ?)
    ORDER BY seq`,
} as const;

/** The audit table of an open history database (see the module comment for the chain). */
export class AuditLog {
  private readonly lastStatement: Database.Statement<[], { seq: number; hash: string }>;
  private readonly insertStatement: Database.Statement<[number, number, string, string, string, string]>;
  private readonly pageStatement: Database.Statement<[number, number], AuditRow>;
  private readonly betweenStatement: Database.Statement<[number, number, number], AuditRow>;
  private readonly sliceStatement: Database.Statement<[number, number], AuditRow>;
  private readonly appendTransaction: Database.Transaction<
    (kind: AuditKind, dataJson: string, at: number) => AuditEntry
  >;

  constructor(db: Database) {
    try {
      this.lastStatement = db.prepare(SQL.last);
      this.insertStatement = db.prepare(SQL.insert);
      this.pageStatement = db.prepare(SQL.page);
      this.betweenStatement = db.prepare(SQL.between);
      this.sliceStatement = db.prepare(SQL.slice);
    } catch (error) {
      const message = (error as Error).message;
      throw new Error(
        /no such table/.test(message)
          ? `${db.name} has no audit table: it was written by an older vigil; run the daemon once to upgrade it`
          : `cannot read the audit table of ${db.name}: ${message}`,
        { cause: error },
      );
    }
    this.appendTransaction = db.transaction((kind: AuditKind, dataJson: string, at: number) => {
      const last = this.lastStatement.get();
      const seq = (last?.seq ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS_HASH;
      const hash = entryHash({ seq, at, kind, dataJson, prevHash });
      this.insertStatement.run(seq, at, kind, dataJson, prevHash, hash);
      return { seq, at, kind, data: JSON.parse(dataJson) as Record<string, unknown>, prevHash, hash };
    });
  }

  /**
   * Appends an entry, its string values redacted first (`redactData`: secret shapes, values under
   * key-like names, URL credentials). Reading the last row and inserting happen in one transaction: an
   * IMMEDIATE one of its own, or a savepoint inside the caller's (the store's `batch`), so two writers can
   * never fork the chain (the second insert of a seq fails on the primary key instead).
   */
  append(kind: AuditKind, data: Record<string, unknown>, at: number = Date.now()): AuditEntry {
    if (!AUDIT_KINDS.includes(kind)) throw new TypeError(`unknown audit kind: ${String(kind)}`);
    if (!Number.isFinite(at)) throw new TypeError(`audit entry time is not a number: ${at}`);
    // Through JSON first, so what is hashed is exactly what a reader gets back (Dates become strings…).
    const plain = JSON.parse(JSON.stringify(data ?? {})) as unknown;
    const dataJson = canonicalJson(redactData(plain, { urls: true }));
    return this.appendTransaction.immediate(kind, dataJson, Math.round(at));
  }

  /**
   * Entries with `at` in [since, until], oldest first; with `limit`, the newest `limit` of them. Stored
   * data that no longer parses (an edited row) is shown as `{ "unparsable": <text> }`.
   */
  list(options: { since?: number; until?: number; limit?: number } = {}): AuditEntry[] {
    const rows = this.betweenStatement.all(
      options.since ?? Number.MIN_SAFE_INTEGER,
      options.until ?? Number.MAX_SAFE_INTEGER,
      options.limit === undefined ? -1 : Math.max(0, Math.floor(options.limit)),
    );
    return rows.reverse().map(toEntry);
  }

  /**
   * The unbroken run of entries from the first with `at` ≥ since to the last with `at` ≤ until, in seq
   * order: what an export holds, so its links can be re-checked even when clocks made `at` go backwards.
   */
  slice(options: { since?: number; until?: number } = {}): AuditEntry[] {
    return this.sliceStatement
      .all(options.since ?? Number.MIN_SAFE_INTEGER, options.until ?? Number.MAX_SAFE_INTEGER)
      .map(toEntry);
  }

  /** Walks the whole chain from the genesis, a page at a time, and names the first entry that breaks it. */
  verify(): ChainVerdict {
    const checker = new ChainChecker(true);
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = this.pageStatement.all(after, VERIFY_PAGE_ROWS);
      for (const row of rows) {
        const reason = checker.push(row);
        if (reason !== null) return { ok: false, seq: row.seq, reason, entries: checker.entries };
      }
      if (rows.length < VERIFY_PAGE_ROWS) break;
      after = rows[rows.length - 1]!.seq;
    }
    return { ok: true, entries: checker.entries, head: checker.head };
  }
}

function toEntry(row: AuditRow): AuditEntry {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(row.data) as Record<string, unknown>;
  } catch {
    data = { unparsable: row.data };
  }
  return { seq: row.seq, at: row.at, kind: row.kind, data, prevHash: row.prev_hash, hash: row.hash };
}
