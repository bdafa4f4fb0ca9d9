/**
 * The running daemon's open alerts, read from its history database opened read-only — what `vigil
 * status` and `vigil watch` show instead of judging again by themselves (the daemon's alerts include the
 * rules that hold for a duration or read history, which one look cannot judge). Never writes, never
 * migrates, never creates the file: a database it cannot read is said in `problem`.
 */
import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { Severity } from '../config/schema.js';
import { type AlertRow, toAlert } from './alerts.js';

/** An open alert as the daemon stored it (`alerts` table, resolved_at IS NULL, not an event). */
export interface OpenAlert {
  /** `vigil fix <id>`. */
  readonly id: number;
  readonly fingerprint: string;
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly pids: readonly number[];
  readonly suggest: readonly string[];
  /** When it started to hold, ms since the epoch. */
  readonly since: number;
  /** When the daemon last saw it firing, ms since the epoch. */
  readonly lastSeen: number;
}

const OPEN_ALERTS = 'SELECT * FROM alerts WHERE resolved_at IS NULL AND event = 0 ORDER BY id';
const LATEST_ADVICE =
  'SELECT advice FROM advice WHERE fingerprint = ? AND advice IS NOT NULL ORDER BY at DESC LIMIT 1';

/** Opens the database lazily and keeps it open across reads (the dashboard reads every second). */
export class OpenAlertsReader {
  private db: Database | null = null;
  private adviceQuery: Database.Statement<[string], { advice: string }> | null = null;
  /** Why the last read failed, null after one that worked. */
  problem: string | null = null;

  constructor(readonly path: string) {}

  /** Whether the database file exists at all (a daemon that never wrote has none). */
  exists(): boolean {
    return existsSync(this.path);
  }

  private async open(): Promise<Database | null> {
    if (this.db) return this.db;
    if (!this.exists()) return null;
    try {
      const { default: Sqlite } = await import('better-sqlite3');
      this.db = new Sqlite(this.path, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 1000');
      try {
        this.adviceQuery = this.db.prepare(LATEST_ADVICE);
      } catch {
        this.adviceQuery = null; // a database from before the advisor (schema < 4)
      }
      this.problem = null;
      return this.db;
    } catch (error) {
      this.problem = `cannot read ${this.path}: ${(error as Error).message}`;
      this.close();
      return null;
    }
  }

  /** The open alerts, oldest first; null when the database is missing or unreadable (see `problem`). */
  async openAlerts(): Promise<OpenAlert[] | null> {
    const db = await this.open();
    if (!db) return null;
    try {
      const rows = db.prepare<[], AlertRow>(OPEN_ALERTS).all();
      this.problem = null;
      return rows.map((row) => {
        const { id, fingerprint, rule, subject, severity, summary, pids, suggest, firstSeen, lastSeen } =
          toAlert(row);
        return {
          id,
          fingerprint,
          rule,
          subject,
          severity,
          summary,
          pids,
          suggest,
          since: firstSeen,
          lastSeen,
        };
      });
    } catch (error) {
      this.problem = `cannot read the daemon's alerts: ${(error as Error).message}`;
      this.close();
      return null;
    }
  }

  /** The advisor's latest stored answer for a fingerprint, as stored (JSON or text), or null. */
  async advice(fingerprint: string): Promise<string | null> {
    await this.open();
    if (!this.adviceQuery) return null;
    try {
      return this.adviceQuery.get(fingerprint)?.advice ?? null;
    } catch {
      return null;
    }
  }

  close(): void {
    try {
      this.db?.close();
    } catch {
      // already closed
    }
    this.db = null;
    this.adviceQuery = null;
  }
}
