import { SEVERITY_RANK, type Severity } from '../model/severity.js';
import type { Language } from '../model/text.js';
import type { ActionNote } from '../respond/scheduler.js';
import type { Finding } from '../rules/types.js';
import {
  actionTitle,
  andMore,
  digestResolved,
  digestTitle,
  eased,
  escalated,
  lasted,
  raisedTitle,
  resolvedTitle,
  severityName,
  stillFiring,
} from './messages.js';

/**
 * What a channel is told, and what a channel is. The {@link Notifier} decides what deserves a notice
 * (alert hygiene); channels only word it and carry it.
 */

/**
 * A finding that fired, one that cleared, many at once (more than the digest threshold), or a step of an
 * action vigil proposes or takes about a finding.
 */
export type NoticeKind = 'raised' | 'resolved' | 'digest' | 'action';

/**
 * Why a finding is told as raised: it just fired; it still fires `renotify_after_secs` after it was last
 * told (a reminder); its severity rose above what was told (escalated) or fell below it (eased).
 */
export type RaiseReason = 'new' | 'reminder' | 'escalated' | 'eased';

export interface Notice {
  /** Unique per notice and channel: a receiver can drop a repeat (a crash between send and mark). */
  readonly id: string;
  readonly kind: NoticeKind;
  /** Only for `raised`; null otherwise. */
  readonly reason: RaiseReason | null;
  /**
   * `raised`: the one finding; `resolved`: the one finding as last told; `digest`: the findings raised,
   * most severe first. Texts are already redacted.
   */
  readonly findings: readonly Finding[];
  /** Only for `digest`: the findings that cleared in the same batch. */
  readonly resolved: readonly Finding[];
  /** Only for `action` (whose `findings` is empty): a step of an action, from the scheduler. */
  readonly action?: ActionNote;
  /** The machine's host name. */
  readonly host: string;
  /** When it was decided (ms since the epoch). */
  readonly at: number;
  readonly language: Language;
}

interface ChannelBase {
  /** `terminal`, `desktop`, `log`, `webhook`…: names the channel in logs, `vigil health` and the outbox. */
  readonly name: string;
  /** Findings below this severity are not sent here. */
  readonly minSeverity: Severity;
  /**
   * Why this channel cannot work on this machine (no display, a library not installed, a bad URL), or
   * null. An unsupported channel is skipped silently: it is a state, not an error.
   */
  readonly unsupported: string | null;
}

/** A channel that is told at once and cannot usefully retry (terminal, desktop, log file). */
export interface DirectChannel extends ChannelBase {
  readonly queued: false;
  /** Shows or records the notice. Rejects with the reason when it could not. */
  deliver(notice: Notice): Promise<void>;
}

/**
 * A channel that can fail for a while (webhooks; Alertmanager next): each notice is encoded once, kept
 * in the persistent outbox (./outbox.ts) and sent, in order, until the far end takes it.
 */
export interface QueuedChannel extends ChannelBase {
  readonly queued: true;
  /** The text kept in the outbox and sent as is (for HTTP channels, the request body). */
  encode(notice: Notice): string;
  /** Sends one encoded notice; resolves when it was accepted, rejects with a {@link DeliveryError}. */
  send(payload: string): Promise<void>;
}

export type Channel = DirectChannel | QueuedChannel;

/**
 * A send that failed. `permanent` means the far end refused this very payload (HTTP 400, 413, 422):
 * retrying it a few times is worth it, forever is not, since it would hold back every notice behind it.
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';

  constructor(
    message: string,
    readonly permanent = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when a finding of `severity` is sent to a channel whose minimum is `min`. */
export function atLeast(severity: Severity, min: Severity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[min];
}

// -- wording shared by the channels that show a title and a body (desktop, Slack, Discord, JSON) ----------

/** One line: "High: Ghost process storm", "Resolved: …", "7 findings at once, 2 resolved". */
export function noticeTitle(notice: Notice): string {
  const { language } = notice;
  const first = notice.findings[0];
  if (notice.kind === 'action' && notice.action) return actionTitle(notice.action, language);
  if (notice.kind === 'digest') {
    const raised = notice.findings.length;
    const cleared = notice.resolved.length;
    if (raised === 0) {
      const text = digestResolved(cleared, language);
      return text.charAt(0).toUpperCase() + text.slice(1);
    }
    return cleared > 0
      ? `${digestTitle(raised, language)}, ${digestResolved(cleared, language)}`
      : digestTitle(raised, language);
  }
  if (first === undefined) return '';
  if (notice.kind === 'resolved') return resolvedTitle(first.title, language);
  const note = raiseNote(notice, first);
  return `${raisedTitle(first.severity, first.title, language)}${note ? ` (${note})` : ''}`;
}

/**
 * "still firing after 2h" for a reminder, "escalated" for a rise in severity, "eased" for a fall, null for
 * a new finding.
 */
export function raiseNote(notice: Notice, finding: Finding): string | null {
  if (notice.reason === 'reminder') return stillFiring(notice.at - finding.since, notice.language);
  if (notice.reason === 'escalated') return escalated(notice.language);
  if (notice.reason === 'eased') return eased(notice.language);
  return null;
}

/** A resolved finding's summary with how long it lasted: "… (lasted 12m)". */
export function resolvedText(notice: Notice, finding: Finding): string {
  return `${finding.summary} (${lasted(notice.at - finding.since, notice.language)})`;
}

/**
 * The body, one line per finding, at most `maxLines` lines (the last one then says how many more).
 * A single finding gives its summary; a digest gives "High: rule: summary" and "Resolved: rule: summary".
 */
export function noticeLines(notice: Notice, maxLines = 12): string[] {
  const { language } = notice;
  const first = notice.findings[0];
  if (notice.kind === 'action') return notice.action ? [notice.action.text] : [];
  if (notice.kind === 'raised') return first ? [first.summary] : [];
  if (notice.kind === 'resolved') return first ? [resolvedText(notice, first)] : [];
  const lines = [
    ...notice.findings.map((f) => `${raisedTitle(f.severity, f.rule, language)}: ${f.summary}`),
    ...notice.resolved.map((f) => `${resolvedTitle(f.rule, language)}: ${f.summary}`),
  ];
  if (lines.length <= maxLines) return lines;
  const kept = Math.max(0, maxLines - 1);
  return [...lines.slice(0, kept), andMore(lines.length - kept, language)];
}

/** The most severe finding of a notice (what decides urgency and colour). */
export function topSeverity(notice: Notice): Severity {
  let top: Severity = notice.action?.severity ?? 'info';
  for (const f of [...notice.findings, ...notice.resolved])
    if (SEVERITY_RANK[f.severity] > SEVERITY_RANK[top]) top = f.severity;
  return top;
}

// -- the stable JSON shape (webhook_format = "json" and the notifications log) --------------------------

/** A finding as the JSON shape carries it: the fields of `vigil status --json` findings[], plus a few. */
export interface FindingRecord {
  fingerprint: string;
  rule: string;
  title: string;
  severity: Severity;
  /** The severity's name in the notice's language. */
  severityName: string;
  scope: string;
  subject: string;
  summary: string;
  pids: number[];
  /** When the condition started to hold (ms since the epoch). */
  since: number;
  suggest: string[];
  /** A journal event (an OOM kill): told once, never resolved. */
  event: boolean;
}

/**
 * One notice as JSON. This is a public contract (webhook receivers, log readers): fields are only ever
 * added, `version` changes if one ever changes meaning.
 *
 * | field | meaning |
 * |---|---|
 * | `version` | 1 |
 * | `id` | unique per notice: drop a repeat you already saw |
 * | `kind` | `raised`, `resolved` or `digest` |
 * | `reason` | for `raised`: `new`, `reminder` (still firing after `renotify_after_secs`), `escalated` (its severity rose) or `eased` (it fell); else null |
 * | `host` | the machine's host name |
 * | `at` | when vigil decided to tell (ms since the epoch) |
 * | `language` | `en` or `fr`: the language of `title`, `text` and `severityName` |
 * | `title`, `text` | ready to show: one line, and the body (lines joined by `\n`) |
 * | `findings[]` | raised / resolved: the one finding; digest: the findings raised, most severe first |
 * | `resolved[]` | digest: the findings that cleared in the same batch; else empty |
 * | `action` | only for kind `action`: `step` (suggest, notice, cancelled, acted, verified, escalate, limit), `rule`, `severity`, `text`, `alertId` |
 */
export interface NoticeRecord {
  version: 1;
  id: string;
  kind: NoticeKind;
  reason: RaiseReason | null;
  host: string;
  at: number;
  language: Language;
  title: string;
  text: string;
  findings: FindingRecord[];
  resolved: FindingRecord[];
  action?: ActionNote;
}

export function findingRecord(finding: Finding, language: Language): FindingRecord {
  return {
    fingerprint: finding.fingerprint,
    rule: finding.rule,
    title: finding.title,
    severity: finding.severity,
    severityName: severityName(finding.severity, language),
    scope: finding.scope,
    subject: finding.subject,
    summary: finding.summary,
    pids: [...finding.pids],
    since: finding.since,
    suggest: [...finding.suggest],
    event: finding.event,
  };
}

export function noticeRecord(notice: Notice): NoticeRecord {
  return {
    version: 1,
    id: notice.id,
    kind: notice.kind,
    reason: notice.reason,
    host: notice.host,
    at: notice.at,
    language: notice.language,
    title: noticeTitle(notice),
    text: noticeLines(notice, Number.POSITIVE_INFINITY).join('\n'),
    findings: notice.findings.map((f) => findingRecord(f, notice.language)),
    resolved: notice.resolved.map((f) => findingRecord(f, notice.language)),
    ...(notice.action ? { action: notice.action } : {}),
  };
}
