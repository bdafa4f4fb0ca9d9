import type Database from 'better-sqlite3';
import type { Mode } from '../config/schema.js';
import type { AuditKind, AuditLog } from './audit-chain.js';
import { preparedOn } from './connection.js';

/**
 * The `actions` and `snoozes` tables (migration 3): every action vigil proposed or took, with its plan
 * (targets bound to pid + start time + cmdline + executable), its state and its outcome; and the rules a
 * person snoozed. Shared by the daemon and the CLI (`vigil fix`, `veto`, `kill`), which open the same
 * database. Every change of an action is also appended to the audit chain, in the same database.
 *
 * The store keeps a plan and a result as JSON and reads of them only what it records in the audit chain
 * (see {@link PlanShape}, {@link ResultShape}); src/respond/log.ts names the table with respond's own
 * `ActionPlan` and `ActionResult`. Failures are SQLite's own errors, thrown to the caller.
 */

/** Where an action stands: proposed (suggest mode), scheduled (auto, after its veto window), … */
export type ActionState = 'proposed' | 'scheduled' | 'vetoed' | 'refused' | 'started' | 'finished';

/** Who asked for it: the daemon in the mode in force, or a person (`vigil kill`, `vigil fix`, the dashboard). */
export type ActionMode = Mode | 'manual';

/** What the store reads of a plan: its catalog action and whom it reaches. */
export interface PlanShape {
  readonly action: string;
  readonly targets: ReadonlyArray<{ readonly pid: number }>;
  readonly unit: string | null;
}

/** What the store reads of a result: how it ended and what became of the targets. */
export interface ResultShape {
  readonly outcome: string;
  readonly refused: ReadonlyArray<{ readonly pid: number; readonly reason: string }>;
  readonly gone: readonly number[];
  readonly survived: readonly number[];
  readonly freedBytes: number;
}

export interface StoredAction<P extends PlanShape = PlanShape, R extends ResultShape = ResultShape> {
  readonly id: number;
  readonly alertId: number | null;
  readonly fingerprint: string | null;
  readonly action: string;
  readonly plan: P;
  readonly mode: ActionMode;
  readonly state: ActionState;
  readonly reason: string | null;
  readonly outcome: string | null;
  readonly result: R | null;
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

const SQL = {
  add: `INSERT INTO actions (alert_id, fingerprint, action, target, mode, state, reason, not_before, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  get: 'SELECT * FROM actions WHERE id = ?',
  latestForAlert: 'SELECT * FROM actions WHERE alert_id = ? ORDER BY id DESC LIMIT 1',
  setState: 'UPDATE actions SET state = ?, reason = coalesce(?, reason), updated_at = ? WHERE id = ?',
  finish: "UPDATE actions SET state = 'finished', outcome = ?, after = ?, updated_at = ? WHERE id = ?",
  setAfter: 'UPDATE actions SET after = ?, updated_at = ? WHERE id = ?',
  pendingOfAlert: "SELECT id FROM actions WHERE alert_id = ? AND state IN ('scheduled', 'proposed')",
  due: "SELECT * FROM actions WHERE state = 'scheduled' AND coalesce(not_before, 0) <= ? ORDER BY id",
  scheduled: "SELECT * FROM actions WHERE state = 'scheduled' ORDER BY id",
  autoFinishedSince:
    "SELECT after FROM actions WHERE mode = 'auto' AND state = 'finished' AND updated_at >= ?",
  failuresFor: `SELECT count(*) AS n FROM actions WHERE fingerprint = ? AND mode = 'auto' AND state = 'finished'
    AND (outcome <> 'success' OR after LIKE '%"cleared":false%')`,
  createdBetween: 'SELECT * FROM actions WHERE created_at BETWEEN ? AND ? ORDER BY id',
  touchedBetween: 'SELECT * FROM actions WHERE updated_at >= ? AND created_at <= ? ORDER BY id',
  snooze:
    'INSERT INTO snoozes (rule, until) VALUES (?, ?) ON CONFLICT(rule) DO UPDATE SET until = excluded.until',
  snoozed: 'SELECT rule FROM snoozes WHERE until > ?',
} as const;

export class ActionsTable<P extends PlanShape = PlanShape, R extends ResultShape = ResultShape> {
  private readonly statement: ReturnType<typeof preparedOn>;

  /** `audit`: the audit chain of the same database, asked for at the first change recorded. */
  constructor(
    db: Database,
    private readonly audit: () => AuditLog,
  ) {
    this.statement = preparedOn(db);
  }

  private fromRow = (r: Row): StoredAction<P, R> => ({
    id: r.id,
    alertId: r.alert_id,
    fingerprint: r.fingerprint,
    action: r.action,
    plan: JSON.parse(r.target) as P,
    mode: r.mode as ActionMode,
    state: r.state as ActionState,
    reason: r.reason,
    outcome: r.outcome,
    result: r.after ? (JSON.parse(r.after) as R) : null,
    notBefore: r.not_before,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });

  private record(
    kind: AuditKind,
    action: { id: number; alertId?: number | null; plan?: PlanShape },
    extra: Record<string, unknown>,
    at: number,
  ): void {
    this.audit().append(
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
    plan: P;
    mode: ActionMode;
    state: ActionState;
    notBefore?: number | null;
    reason?: string | null;
    now: number;
  }): StoredAction<P, R> {
    const info = this.statement(SQL.add).run(
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

  get(id: number): StoredAction<P, R> | null {
    const row = this.statement<[number], Row>(SQL.get).get(id);
    return row ? this.fromRow(row) : null;
  }

  /** The newest action for an alert. */
  latestForAlert(alertId: number): StoredAction<P, R> | null {
    const row = this.statement<[number], Row>(SQL.latestForAlert).get(alertId);
    return row ? this.fromRow(row) : null;
  }

  setState(id: number, state: ActionState, now: number, reason?: string | null): void {
    this.statement(SQL.setState).run(state, reason ?? null, now, id);
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

  finish(id: number, result: R, now: number): void {
    this.statement(SQL.finish).run(result.outcome, JSON.stringify(result), now, id);
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
    this.statement(SQL.setAfter).run(JSON.stringify(after), now, id);
    this.record('action_finished', action, { verified: true, cleared }, now);
  }

  /** Vetoes the pending (scheduled or proposed) actions of an alert; returns how many. */
  veto(alertId: number, now: number): number {
    const pending = this.statement<[number], { id: number }>(SQL.pendingOfAlert)
      .all(alertId)
      .map((r) => r.id);
    for (const id of pending) this.setState(id, 'vetoed', now, 'vetoed by the user');
    return pending.length;
  }

  /** Scheduled actions whose veto window has passed. */
  due(now: number): StoredAction<P, R>[] {
    return this.statement<[number], Row>(SQL.due).all(now).map(this.fromRow);
  }

  /** Every scheduled action, due or not: what must be cancelled when vigil leaves auto mode. */
  scheduled(): StoredAction<P, R>[] {
    return this.statement<[], Row>(SQL.scheduled).all().map(this.fromRow);
  }

  /** Processes stopped by automatic actions since `since` (the hourly limit). */
  autoKillsSince(since: number): number {
    const rows = this.statement<[number], { after: string | null }>(SQL.autoFinishedSince).all(since);
    return rows.reduce(
      (n, r) => n + ((r.after ? (JSON.parse(r.after) as ResultShape).gone.length : 0) || 0),
      0,
    );
  }

  /** Finished automatic actions for a finding that did not clear it (the daemon gives up after two). */
  failuresFor(fingerprint: string): number {
    return this.statement<[string], { n: number }>(SQL.failuresFor).get(fingerprint)!.n;
  }

  /** Actions created in [from, to], oldest first. */
  between(from: number, to: number): StoredAction<P, R>[] {
    return this.statement<[number, number], Row>(SQL.createdBetween).all(from, to).map(this.fromRow);
  }

  /**
   * The rows of actions alive at some time in [from, to] (created before its end, changed after its
   * start), column by column as stored: what a support bundle shows.
   */
  rowsTouchedBetween(from: number, to: number): Array<Record<string, unknown>> {
    return this.statement<[number, number], Record<string, unknown>>(SQL.touchedBetween).all(from, to);
  }

  /** vigil snooze: no notification and no action for `rule` until `until`. */
  snooze(rule: string, until: number): void {
    this.statement(SQL.snooze).run(rule, until);
  }

  /** The rules snoozed at `now`. */
  snoozed(now: number): Set<string> {
    const rows = this.statement<[number], { rule: string }>(SQL.snoozed).all(now);
    return new Set(rows.map((r) => r.rule));
  }
}
