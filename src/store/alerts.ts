import type { Severity } from '../config/schema.js';
import type { Connection } from './connection.js';
import type { AlertRecord, FiringFinding } from './types.js';

/**
 * The `alerts` table: one row per stretch of time a finding fired (rule + subject = fingerprint), open
 * while `resolved_at` is null. A journal event is raised and resolved at once. `summary` follows the
 * finding while it fires; `raised_summary` keeps what it said when raised (what `vigil report` shows).
 */

/** An `alerts` row. */
export interface AlertRow {
  id: number;
  fingerprint: string;
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  /** Absent from a database read before migration 5; null for an old alert whose raise was not audited. */
  raised_summary?: string | null;
  pids: string;
  suggest: string;
  event: number;
  first_seen: number;
  last_seen: number;
  resolved_at: number | null;
  count: number;
}

const SQL = {
  openAlertOf: 'SELECT * FROM alerts WHERE fingerprint = ? AND resolved_at IS NULL',
  updateAlert: `UPDATE alerts SET last_seen = max(last_seen, @now), count = count + 1, severity = @severity,
    summary = @summary, pids = @pids, suggest = @suggest WHERE id = @id RETURNING *`,
  insertAlert: `INSERT INTO alerts
    (fingerprint, rule, subject, severity, summary, raised_summary, pids, suggest, event, first_seen, last_seen,
     resolved_at, count)
    VALUES (@fingerprint, @rule, @subject, @severity, @summary, @summary, @pids, @suggest, @event, @since, @now,
     @resolvedAt, 1)
    RETURNING *`,
  resolveAlert: 'UPDATE alerts SET resolved_at = ? WHERE fingerprint = ? AND resolved_at IS NULL RETURNING *',
  openAlerts: 'SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id',
  alertById: 'SELECT * FROM alerts WHERE id = ?',
  alertsBetween: `SELECT * FROM alerts WHERE resolved_at IS NULL AND first_seen <= @to
    UNION ALL SELECT * FROM alerts WHERE resolved_at >= @from AND first_seen <= @to
    ORDER BY first_seen, id`,
  prune: `DELETE FROM alerts WHERE id IN
    (SELECT id FROM alerts WHERE resolved_at < @before ORDER BY resolved_at LIMIT @limit)`,
} as const;

export class AlertsTable {
  constructor(private readonly conn: Connection) {}

  recordFiring(finding: FiringFinding, now: number): { alert: AlertRecord; isNew: boolean } {
    return this.conn.write('an alert', () => {
      const pids = JSON.stringify(finding.pids);
      const suggest = JSON.stringify(finding.suggest);
      // An event is raised and resolved at once, so it never holds the fingerprint open.
      const open = finding.event
        ? undefined
        : this.conn.statement<[string], AlertRow>(SQL.openAlertOf).get(finding.fingerprint);
      if (open !== undefined) {
        const row = this.conn.statement<[object], AlertRow>(SQL.updateAlert).get({
          id: open.id,
          now,
          severity: finding.severity,
          summary: finding.summary,
          pids,
          suggest,
        })!;
        return { alert: toAlert(row), isNew: false };
      }
      const row = this.conn.statement<[object], AlertRow>(SQL.insertAlert).get({
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
    return this.conn.write('an alert', () => {
      const row = this.conn.statement<[number, string], AlertRow>(SQL.resolveAlert).get(now, fingerprint);
      return row === undefined ? null : toAlert(row);
    });
  }

  openAlerts(): AlertRecord[] {
    return this.conn.read('alerts', () =>
      this.conn.statement<[], AlertRow>(SQL.openAlerts).all().map(toAlert),
    );
  }

  alertById(id: number): AlertRecord | null {
    return this.conn.read('an alert', () => {
      const row = this.conn.statement<[number], AlertRow>(SQL.alertById).get(id);
      return row === undefined ? null : toAlert(row);
    });
  }

  alertsBetween(from: number, to: number): AlertRecord[] {
    return this.conn.read('alerts', () =>
      this.conn.statement<[object], AlertRow>(SQL.alertsBetween).all({ from, to }).map(toAlert),
    );
  }

  /** Retention step: resolved alerts older than `before` (the caller holds the transaction). */
  prune(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.prune).run({ before, limit }).changes;
  }
}

/** A stored alert as a record; a damaged `pids` or `suggest` column reads as empty. */
export function toAlert(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    rule: row.rule,
    subject: row.subject,
    severity: row.severity as Severity,
    summary: row.summary,
    raisedSummary: row.raised_summary ?? row.summary,
    pids: jsonArray(row.pids).filter((n): n is number => typeof n === 'number'),
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    resolvedAt: row.resolved_at,
    count: row.count,
    event: row.event === 1,
    suggest: jsonArray(row.suggest).filter((x): x is string => typeof x === 'string'),
  };
}

function jsonArray(text: string): unknown[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}
