import type Database from 'better-sqlite3';
import type { Mode } from '../config/schema.js';
import { type AuditKind, AuditLog } from '../store/audit-chain.js';
import type { ActionResult } from './execute.js';
import type { ActionPlan } from './plan.js';

/** Where an action stands: proposed (suggest mode), scheduled (auto, after its veto window), … */
export type ActionState = 'proposed' | 'scheduled' | 'vetoed' | 'refused' | 'started' | 'finished';

export interface ActionRecord {
  readonly id: number;
  readonly alertId: number | null;
  readonly fingerprint: string | null;
  readonly action: string;
  readonly plan: ActionPlan;
  readonly mode: Mode | 'manual';
  readonly state: ActionState;
  readonly reason: string | null;
  readonly outcome: string | null;
  readonly result: ActionResult | null;
  readonly notBefore: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface Row {
  id: number;
  alert_id: number | null;
  fingerprint: string | null;
  action: string;
  target: string;
  mode: string;
  state: string;
  reason: string | null;
  outcome: string | null;
  after: string | null;
  not_before: number | null;
  created_at: number;
  updated_at: number;
}

const fromRow = (r: Row): ActionRecord => ({
  id: r.id,
  alertId: r.alert_id,
  fingerprint: r.fingerprint,
  action: r.action,
  plan: JSON.parse(r.target) as ActionPlan,
  mode: r.mode as ActionRecord['mode'],
  state: r.state as ActionState,
  reason: r.reason,
  outcome: r.outcome,
  result: r.after ? (JSON.parse(r.after) as ActionResult) : null,
  notBefore: r.not_before,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * The actions table (store migration 3): every action vigil proposed or took, with its plan (targets
 * bound to pid + start time + cmdline + executable), its state and its outcome. Shared by the daemon
 * and the CLI (`vigil fix`, `veto`, `kill`), which open the same database.
 */
export class ActionLog {
  private readonly audit: AuditLog;

  /** Every change of an action is also appended to the audit chain, in the same database. */
  constructor(private readonly db: Database) {
    this.audit = new AuditLog(db);
  }

  private record(
    kind: AuditKind,
    action: { id: number; alertId?: number | null; plan?: ActionPlan },
    extra: Record<string, unknown>,
    at: number,
  ): void {
    this.audit.append(
      kind,
      {
        action: action.id,
        alert: action.alertId ?? null,
        ...(action.plan
          ? {
              type: action.plan.action,
              targets: action.plan.targets.map((t) => t.pid),
              unit: action.plan.unit,
            }
          : {}),
        ...extra,
      },
      at,
    );
  }

  add(entry: {
    alertId: number | null;
    fingerprint: string | null;
    plan: ActionPlan;
    mode: ActionRecord['mode'];
    state: ActionState;
    notBefore?: number | null;
    reason?: string | null;
    now: number;
  }): ActionRecord {
    const info = this.db
      .prepare(
        `INSERT INTO actions (alert_id, fingerprint, action, target, mode, state, reason, not_before, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        entry.alertId,
        entry.fingerprint,
        entry.plan.action,
        JSON.stringify(entry.plan),
        entry.mode,
        entry.state,
        entry.reason ?? null,
        entry.notBefore ?? null,
        entry.now,
        entry.now,
      );
    const added = this.get(Number(info.lastInsertRowid))!;
    this.record(
      entry.state === 'refused' ? 'policy_refusal' : 'action_proposed',
      added,
      { mode: entry.mode, state: entry.state, reason: entry.reason ?? null },
      entry.now,
    );
    return added;
  }

  get(id: number): ActionRecord | null {
    const row = this.db.prepare('SELECT * FROM actions WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** The newest action for an alert. */
  latestForAlert(alertId: number): ActionRecord | null {
    const row = this.db
      .prepare('SELECT * FROM actions WHERE alert_id = ? ORDER BY id DESC LIMIT 1')
      .get(alertId) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  setState(id: number, state: ActionState, now: number, reason?: string | null): void {
    this.db
      .prepare('UPDATE actions SET state = ?, reason = coalesce(?, reason), updated_at = ? WHERE id = ?')
      .run(state, reason ?? null, now, id);
    const kind: AuditKind | null =
      state === 'vetoed'
        ? 'action_vetoed'
        : state === 'started'
          ? 'action_started'
          : state === 'refused'
            ? 'policy_refusal'
            : null;
    const action = this.get(id);
    if (kind && action) this.record(kind, action, { reason: reason ?? null }, now);
  }

  finish(id: number, result: ActionResult, now: number): void {
    this.db
      .prepare("UPDATE actions SET state = 'finished', outcome = ?, after = ?, updated_at = ? WHERE id = ?")
      .run(result.outcome, JSON.stringify(result), now, id);
    const action = this.get(id);
    if (!action) return;
    for (const refusal of result.refused)
      this.record('policy_refusal', action, { pid: refusal.pid, reason: refusal.reason }, now);
    this.record(
      'action_finished',
      action,
      {
        outcome: result.outcome,
        gone: [...result.gone],
        survived: [...result.survived],
        freedBytes: result.freedBytes,
      },
      now,
    );
  }

  /**
   * Records whether the finding an action was taken for cleared afterwards (checked on the next full
   * cycle). An action that did not clear its finding counts as a failure for the 'two then notify' rule.
   */
  verified(id: number, cleared: boolean, now: number): void {
    const action = this.get(id);
    if (!action?.result) return;
    const after = { ...action.result, cleared };
    this.db
      .prepare('UPDATE actions SET after = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(after), now, id);
    this.record('action_finished', action, { verified: true, cleared }, now);
  }

  /** Vetoes the pending (scheduled or proposed) actions of an alert; returns how many. */
  veto(alertId: number, now: number): number {
    const pending = (
      this.db
        .prepare("SELECT id FROM actions WHERE alert_id = ? AND state IN ('scheduled', 'proposed')")
        .all(alertId) as Array<{ id: number }>
    ).map((r) => r.id);
    for (const id of pending) this.setState(id, 'vetoed', now, 'vetoed by the user');
    return pending.length;
  }

  /** Scheduled actions whose veto window has passed. */
  due(now: number): ActionRecord[] {
    return (
      this.db
        .prepare(
          "SELECT * FROM actions WHERE state = 'scheduled' AND coalesce(not_before, 0) <= ? ORDER BY id",
        )
        .all(now) as Row[]
    ).map(fromRow);
  }

  /** Every scheduled action, due or not: what must be cancelled when vigil leaves auto mode. */
  scheduled(): ActionRecord[] {
    return (
      this.db.prepare("SELECT * FROM actions WHERE state = 'scheduled' ORDER BY id").all() as Row[]
    ).map(fromRow);
  }

  /** Processes stopped by automatic actions since `since` (the hourly limit). */
  autoKillsSince(since: number): number {
    const rows = this.db
      .prepare("SELECT after FROM actions WHERE mode = 'auto' AND state = 'finished' AND updated_at >= ?")
      .all(since) as Array<{ after: string | null }>;
    return rows.reduce(
      (n, r) => n + ((r.after ? (JSON.parse(r.after) as ActionResult).gone.length : 0) || 0),
      0,
    );
  }

  /** Finished automatic actions for a finding that did not clear it (the daemon gives up after two). */
  failuresFor(fingerprint: string): number {
    return (
      this.db
        .prepare(
          "SELECT count(*) AS n FROM actions WHERE fingerprint = ? AND mode = 'auto' AND state = 'finished' AND (outcome <> 'success' OR after LIKE '%\"cleared\":false%')",
        )
        .get(fingerprint) as { n: number }
    ).n;
  }

  between(from: number, to: number): ActionRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM actions WHERE created_at BETWEEN ? AND ? ORDER BY id')
        .all(from, to) as Row[]
    ).map(fromRow);
  }

  /** vigil snooze: no notification and no action for `rule` until `until`. */
  snooze(rule: string, until: number): void {
    this.db
      .prepare(
        'INSERT INTO snoozes (rule, until) VALUES (?, ?) ON CONFLICT(rule) DO UPDATE SET until = excluded.until',
      )
      .run(rule, until);
  }

  snoozed(now: number): Set<string> {
    const rows = this.db.prepare('SELECT rule FROM snoozes WHERE until > ?').all(now) as Array<{
      rule: string;
    }>;
    return new Set(rows.map((r) => r.rule));
  }
}
