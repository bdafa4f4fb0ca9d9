import { redact } from '../redact/redact.js';
import type { ActionNote } from '../respond/scheduler.js';
import type { Evaluation } from '../rules/engine.js';
import type { Finding } from '../rules/types.js';
import type { StoreGuard } from '../store/guard.js';
import type { Notifier } from './notifier.js';

export interface AnnouncerOptions {
  /** Hygiene (dedupe, reminders, digests) and the channels (terminal, desktop, log, webhooks). */
  readonly notifier: Notifier;
  /** Where snoozes are read and what was told is audited; a failing store tells all and audits nothing. */
  readonly guard: StoreGuard;
  /** The daemon's log (stderr): rules that failed to evaluate. */
  readonly log: (line: string) => void;
  /** The terminal channel's output (stdout), one line per call. */
  readonly write: (line: string) => void;
  /** Wall clock, ms (default Date.now): snoozes end by it, terminal lines are stamped with it. */
  readonly now?: () => number;
}

/**
 * Tells what the rules decided, whether or not the store could record it: findings raised (except those
 * of a snoozed rule) and resolved go to the notifier, which decides what to tell; what it told is appended
 * to the audit chain (reminders and escalations included, with why). Action steps and advice become lines
 * on the terminal channel, and action steps notices on the channels that take them.
 */
export class Announcer {
  private readonly now: () => number;

  constructor(private readonly options: AnnouncerOptions) {
    this.now = options.now ?? Date.now;
  }

  get notifier(): Notifier {
    return this.options.notifier;
  }

  /**
   * One evaluation. `restored`: findings that resolved without a summary, with the stored one (see
   * HistoryRecorder.record); one still without a summary is not told.
   */
  announce(evaluation: Evaluation, restored: ReadonlyMap<string, Finding> = new Map()): void {
    const { guard, notifier, log } = this.options;
    for (const error of evaluation.errors)
      log(`rule ${error.rule} failed on ${error.subject}: ${error.message}`);
    const resolved = evaluation.resolved
      .map((finding) => restored.get(finding.fingerprint) ?? finding)
      .filter((finding) => finding.summary !== '');
    // Only when something was raised: the fast path comes here every second.
    const snoozed =
      evaluation.raised.length > 0 ? guard.run((store) => store.actions?.snoozed(this.now())) : undefined;
    const raised = snoozed ? evaluation.raised.filter((f) => !snoozed.has(f.rule)) : evaluation.raised;
    const told = notifier.announce(raised, resolved, evaluation.firing);
    for (const { finding, reason } of told.tell) {
      const { rule, subject, severity } = finding;
      guard.audit('notification', { what: reason, rule, subject, severity });
    }
    for (const { finding } of told.cleared)
      guard.audit('notification', { what: 'resolved', rule: finding.rule, subject: finding.subject });
  }

  /**
   * A step of an action: a line on the terminal (`SUGGEST  rule: text`) and a notice to the channels
   * that take action notices (desktop, log, webhooks), at the finding's severity.
   */
  action(note: ActionNote): void {
    this.line(`${note.step.toUpperCase().padEnd(8)} ${note.rule}: ${note.text}`);
    this.options.notifier.announceAction(note);
  }

  /** A line on the terminal channel, stamped with the time (UTC), secrets masked. */
  line(text: string): void {
    const when = new Date(this.now()).toISOString().replace('T', ' ').slice(0, 19);
    this.options.write(`${when} ${redact(text)}`);
  }
}
