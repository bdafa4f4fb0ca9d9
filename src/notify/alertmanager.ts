import type { Severity } from '../config/schema.js';
import type { Finding } from '../rules/types.js';
import { DeliveryError, type Notice, type QueuedChannel } from './channel.js';
import { type HttpPost, httpPost, WEBHOOK_TIMEOUT_MS } from './webhook.js';

/**
 * The Alertmanager channel (`[notifications] alertmanager_url`): findings become Alertmanager alerts,
 * POSTed as a JSON array to the v2 API (`<alertmanager_url>/api/v2/alerts`), through the persistent outbox
 * like the webhooks, so an outage loses nothing and delivery resumes in order.
 *
 * One alert per finding:
 * - labels: `alertname` = the rule id, `severity`, `instance` = the host name, `job` = "vigil", `scope`,
 *   and `subject` (what the finding is about: a mount point, a process group…) so that two findings of one
 *   rule stay two alerts;
 * - annotations: `summary` (the finding's text), `title`, and `pids` when the finding names processes;
 * - `startsAt` = when the condition started to hold; a resolved finding carries `endsAt` = when vigil
 *   told it resolved, which is how Alertmanager learns it is over.
 * A digest notice (many findings at once) is one POST carrying all of them, firing and resolved.
 *
 * Alertmanager ends an alert it has not heard of for `resolve_timeout` (5 min by default), as it expects
 * a Prometheus to repeat its alerts. The outbox carries each change once, so {@link refresh} repeats the
 * alerts still firing every {@link REFRESH_MS} directly (best effort, outside the queue: a refresh lost
 * is replaced by the next one). A journal event (an OOM kill) is sent once with no end; Alertmanager
 * ends it after `resolve_timeout`. A finding whose severity changes while it fires changes its
 * `severity` label, so Alertmanager sees a new alert; the old one, no longer repeated, ends by itself.
 *
 * Texts are redacted before they get here (the Notifier's fan-out). 2xx is delivered; 400 and 422 (a
 * payload Alertmanager refuses) are given up after a few tries; anything else is retried with backoff.
 */

/** How often the alerts still firing are sent again. Far under Alertmanager's default resolve_timeout. */
export const REFRESH_MS = 60_000;
const PERMANENT_STATUSES = new Set([400, 413, 422]);

/** One alert as the Alertmanager v2 API takes it (postableAlert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

/**
 * `<base>/api/v2/alerts` for an Alertmanager base URL (a path prefix, as `--web.route-prefix` sets, is
 * kept). A URL that already ends with the API path is taken as is. Throws when it is not http(s).
 */
export function alertsEndpoint(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`alertmanager_url must be http:// or https://, not ${parsed.protocol}//`);
  if (/\/api\/v2\/alerts\/?$/.test(parsed.pathname)) return parsed.toString();
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  return parsed.toString();
}

/** Why `url` cannot be posted to, or null. */
export function alertmanagerUnsupported(url: string): string | null {
  try {
    alertsEndpoint(url);
    return null;
  } catch (error) {
    return error instanceof TypeError ? 'alertmanager_url is not a URL' : (error as Error).message;
  }
}

/** The alert for one finding; `endsAt` (ms) for a resolved one. */
export function findingAlert(finding: Finding, host: string, endsAt?: number): PostableAlert {
  const labels: Record<string, string> = {
    alertname: finding.rule,
    severity: finding.severity,
    instance: host,
    job: 'vigil',
    scope: finding.scope,
  };
  if (finding.subject) labels['subject'] = finding.subject;
  const annotations: Record<string, string> = {
    summary: finding.summary || finding.title,
    title: finding.title,
  };
  if (finding.pids.length > 0) annotations['pids'] = finding.pids.join(' ');
  // `since` is 0 for a finding rebuilt from a fingerprint: let Alertmanager date it instead.
  const alert: PostableAlert = {
    labels,
    annotations,
    startsAt: new Date(finding.since > 0 ? finding.since : (endsAt ?? Date.now())).toISOString(),
  };
  if (endsAt !== undefined) alert.endsAt = new Date(Math.max(endsAt, finding.since)).toISOString();
  return alert;
}

/** The alerts a notice carries: raised findings firing, resolved ones with their end. */
export function noticeAlerts(notice: Notice): PostableAlert[] {
  if (notice.kind === 'resolved') return notice.findings.map((f) => findingAlert(f, notice.host, notice.at));
  return [
    ...notice.findings.map((f) => findingAlert(f, notice.host)),
    ...notice.resolved.map((f) => findingAlert(f, notice.host, notice.at)),
  ];
}

export interface AlertmanagerChannel extends QueuedChannel {
  /**
   * Sends the findings still firing again (at most every {@link REFRESH_MS}) so Alertmanager keeps
   * them open. `firing` must be redacted already. Never throws.
   */
  refresh(firing: readonly Finding[], host: string, now: number): Promise<void>;
}

export function createAlertmanagerChannel(options: {
  url: string;
  minSeverity: Severity;
  /** Default: node:http(s) (see webhook.ts). */
  post?: HttpPost;
  timeoutMs?: number;
  refreshMs?: number;
}): AlertmanagerChannel {
  const post = options.post ?? httpPost;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const refreshMs = options.refreshMs ?? REFRESH_MS;
  const unsupported = alertmanagerUnsupported(options.url);
  const endpoint = unsupported === null ? alertsEndpoint(options.url) : '';
  const target = unsupported === null ? new URL(endpoint).origin : 'alertmanager';
  let lastRefresh = Number.NEGATIVE_INFINITY;

  async function send(payload: string): Promise<void> {
    let status: number;
    try {
      status = await post(endpoint, payload, timeoutMs);
    } catch (error) {
      const code = (error as { code?: unknown; name?: unknown })?.code;
      const name = (error as { name?: unknown })?.name;
      const why =
        name === 'TimeoutError'
          ? `${target} did not answer within ${timeoutMs / 1000} s`
          : `cannot reach ${target}: ${typeof code === 'string' ? code : (error as Error)?.message}`;
      throw new DeliveryError(why, false, { cause: error });
    }
    if (status >= 200 && status < 300) return;
    throw new DeliveryError(`${target} answered HTTP ${status}`, PERMANENT_STATUSES.has(status));
  }

  return {
    name: 'alertmanager',
    queued: true,
    minSeverity: options.minSeverity,
    unsupported,
    encode: (notice) => JSON.stringify(noticeAlerts(notice)),
    send,
    async refresh(firing, host, now) {
      if (unsupported !== null || now - lastRefresh < refreshMs) return;
      lastRefresh = now;
      const alerts = firing.filter((f) => !f.event).map((f) => findingAlert(f, host));
      if (alerts.length === 0) return;
      try {
        await send(JSON.stringify(alerts));
      } catch {
        // the queue reports failures; the next refresh tries again
      }
    },
  };
}

/** True for a channel that wants the findings still firing repeated (Alertmanager). */
export function isRefreshing(channel: { name: string }): channel is AlertmanagerChannel {
  return typeof (channel as Partial<AlertmanagerChannel>).refresh === 'function';
}
