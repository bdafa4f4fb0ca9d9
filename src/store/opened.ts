import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { BaselineRow } from '../understand/baseline.js';
import { ActionsTable } from './actions.js';
import { AdviceTable } from './advice.js';
import { AlertsTable } from './alerts.js';
import { AuditLog } from './audit-chain.js';
import { Connection } from './connection.js';
import type { StoreError } from './errors.js';
import { type HeartbeatSample, HeartbeatTable } from './heartbeat.js';
import { HistoryTable, type PackedHistory } from './history.js';
import { OutboxTable } from './outbox.js';
import { schemaVersion } from './schema.js';
import { StateTables } from './state.js';
import { Timeline } from './timeline.js';
import type {
  AlertRecord,
  FiringFinding,
  Heartbeat,
  HistoryStore,
  RuleStateRecord,
  RunRecord,
  SnapshotRecord,
} from './types.js';

/** What `openStore` returns: the {@link HistoryStore} contract, its health, and a repository per table. */
export interface OpenedStore extends HistoryStore {
  /**
   * Why the store is failing, or null while it works: set at open (see store.ts) and by a write that
   * failed; cleared by the next write that succeeds.
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
  /*
   * The tables of acting and telling, each null when no database could be opened (or it was closed).
   * They run on the bare connection: a failure is SQLite's own error, thrown to the caller and not kept
   * in `problem`, and on a read-only store every write fails. Writes inside `batch` join its transaction.
   */
  /** Actions and snoozes (src/store/actions.ts); every change is appended to `audit` too. */
  readonly actions: ActionsTable | null;
  /**
   * The audit hash chain (src/store/audit-chain.ts). Throws, naming the file, when the database has no
   * audit table (one written by an older vigil, opened read-only).
   */
  readonly audit: AuditLog | null;
  /** The advisor's calls and answers (src/store/advice.ts). */
  readonly advice: AdviceTable | null;
  /** The notification queue's rows (src/store/outbox.ts). */
  readonly outbox: OutboxTable | null;
  /** The history read as a timeline, moment by moment, for `vigil watch --at` (src/store/timeline.ts). */
  readonly timeline: Timeline | null;
  /**
   * The open database (null when none could be opened), for tests that check or damage the file from the
   * inside; nothing in src/ calls it (test/unit/store-boundary.test.ts fails on a use outside src/store/).
   */
  raw(): Database | null;
}

/** The store on a {@link Connection}: each call goes to the repository of its table. */
export class SqliteStore implements OpenedStore {
  private readonly conn: Connection;
  private readonly history: HistoryTable;
  private readonly alerts: AlertsTable;
  private readonly heartbeats: HeartbeatTable;
  private readonly state: StateTables;
  private auditLog: AuditLog | null = null;
  private actionsTable: ActionsTable | null = null;
  private adviceTable: AdviceTable | null = null;
  private outboxTable: OutboxTable | null = null;
  private timelineReader: Timeline | null = null;
  /** Retention, oldest data first; process identities last, once no snapshot left refers to them. */
  private readonly pruneSteps: ReadonlyArray<(before: number, limit: number) => number>;

  constructor(
    readonly path: string,
    /** The connection reads go to; null when nothing could be opened. */
    private readonly db: Database | null,
    readonly writable: boolean,
    /** Why writes (and, without `db`, reads) are refused; null when the store opened cleanly. */
    private readonly openProblem: StoreError | null,
  ) {
    this.conn = new Connection(path, db, writable, openProblem);
    this.history = new HistoryTable(this.conn);
    this.alerts = new AlertsTable(this.conn);
    this.heartbeats = new HeartbeatTable(this.conn);
    this.state = new StateTables(this.conn);
    this.pruneSteps = [
      (b, l) => this.history.pruneSnapshots(b, l),
      (b, l) => this.heartbeats.pruneHistory(b, l),
      (b, l) => this.heartbeats.pruneCollectorProblems(b, l),
      (b, l) => this.alerts.prune(b, l),
      (b, l) => this.history.pruneRuns(b, l),
      (b, l) => this.history.pruneProcs(b, l),
    ];
  }

  get problem(): StoreError | null {
    return this.conn.problem;
  }

  get schemaVersion(): number {
    return this.db?.open ? schemaVersion(this.db) : 0;
  }

  /** The open database, or null when none was opened or it was closed. */
  private get openDb(): Database | null {
    return this.db?.open ? this.db : null;
  }

  get audit(): AuditLog | null {
    const db = this.openDb;
    if (db === null) return null;
    this.auditLog ??= new AuditLog(db);
    return this.auditLog;
  }

  get actions(): ActionsTable | null {
    const db = this.openDb;
    if (db === null) return null;
    this.actionsTable ??= new ActionsTable(db, () => this.audit ?? new AuditLog(db));
    return this.actionsTable;
  }

  get advice(): AdviceTable | null {
    const db = this.openDb;
    if (db === null) return null;
    this.adviceTable ??= new AdviceTable(db);
    return this.adviceTable;
  }

  get outbox(): OutboxTable | null {
    const db = this.openDb;
    if (db === null) return null;
    this.outboxTable ??= new OutboxTable(db);
    return this.outboxTable;
  }

  batch<T>(fn: () => T): T {
    return this.conn.write('a batch', fn);
  }

  // -- history ------------------------------------------------------------------------------------------

  beginRun(pid: number, startedAt: number): number {
    return this.history.beginRun(pid, startedAt);
  }

  touchRun(runId: number, now: number): void {
    this.history.touchRun(runId, now);
  }

  endRun(runId: number, now: number): void {
    this.history.endRun(runId, now);
  }

  runsBetween(from: number, to: number): RunRecord[] {
    return this.history.runsBetween(from, to);
  }

  insertSnapshot(snapshot: SnapshotRecord): void {
    this.history.insertSnapshot(snapshot);
  }

  snapshotsBetween(from: number, to: number): SnapshotRecord[] {
    return this.history.snapshotsBetween(from, to);
  }

  historyBetween(from: number, to: number): PackedHistory {
    return this.history.historyBetween(from, to);
  }

  // -- alerts -------------------------------------------------------------------------------------------

  recordFiring(finding: FiringFinding, now: number): { alert: AlertRecord; isNew: boolean } {
    return this.alerts.recordFiring(finding, now);
  }

  resolveAlert(fingerprint: string, now: number): AlertRecord | null {
    return this.alerts.resolveAlert(fingerprint, now);
  }

  openAlerts(): AlertRecord[] {
    return this.alerts.openAlerts();
  }

  alertById(id: number): AlertRecord | null {
    return this.alerts.alertById(id);
  }

  alertsBetween(from: number, to: number): AlertRecord[] {
    return this.alerts.alertsBetween(from, to);
  }

  // -- baselines, journal cursor, rule states ------------------------------------------------------------

  loadBaselines(): BaselineRow[] {
    return this.state.loadBaselines();
  }

  saveBaselines(rows: readonly BaselineRow[]): void {
    this.state.saveBaselines(rows);
  }

  getJournalCursor(): string | null {
    return this.state.getJournalCursor();
  }

  setJournalCursor(cursor: string): void {
    this.state.setJournalCursor(cursor);
  }

  saveRuleStates(states: readonly RuleStateRecord[]): void {
    this.state.saveRuleStates(states);
  }

  loadRuleStates(): RuleStateRecord[] {
    return this.state.loadRuleStates();
  }

  // -- heartbeat ----------------------------------------------------------------------------------------

  writeHeartbeat(heartbeat: Heartbeat): void {
    this.heartbeats.writeHeartbeat(heartbeat);
  }

  collectorProblemsBetween(
    from: number,
    to: number,
  ): Array<{ collector: string; error: string; count: number; lastAt: number }> {
    return this.heartbeats.collectorProblemsBetween(from, to);
  }

  latestHeartbeat(): Heartbeat | null {
    return this.heartbeats.latestHeartbeat();
  }

  heartbeatsBetween(from: number, to: number): HeartbeatSample[] {
    return this.heartbeats.heartbeatsBetween(from, to);
  }

  // -- upkeep -------------------------------------------------------------------------------------------

  prune(before: number, maxRows: number): number {
    if (!(maxRows >= 1)) return 0;
    return this.conn.write('retention', () => {
      let deleted = 0;
      for (const step of this.pruneSteps) {
        const limit = Math.floor(maxRows) - deleted;
        if (limit <= 0) break;
        deleted += step(before, limit);
      }
      return deleted;
    });
  }

  quickCheck(): string {
    if (this.db === null) return this.openProblem!.message;
    return this.conn.read('the integrity check', () => {
      const result = this.conn.statement<[], string>('PRAGMA quick_check').pluck().get();
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

  get timeline(): Timeline | null {
    if (!this.openDb) return null;
    this.timelineReader ??= new Timeline(this.conn);
    return this.timelineReader;
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
