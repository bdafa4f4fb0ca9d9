import type { Severity } from '../config/schema.js';
import {
  DeliveryError,
  type Notice,
  noticeLines,
  noticeRecord,
  noticeTitle,
  type QueuedChannel,
  topSeverity,
} from './channel.js';
import { onHost } from './messages.js';

/**
 * The webhook channel (`[notifications] webhook_url`, `webhook_format`): one HTTP POST of a JSON body per
 * notice, through the persistent outbox (./outbox.ts), so an outage loses nothing and delivery resumes in
 * order. node:http(s), no HTTP library (see {@link httpPost} for why not fetch).
 *
 * Bodies by `webhook_format`:
 * - `json`: the documented {@link noticeRecord} object (version, id, kind, reason, host, at, language,
 *   title, text, findings[], resolved[]).
 * - `slack` (incoming webhook): `{ text, blocks }` — `text` is the fallback shown in notifications; the
 *   blocks are a header (the title), a section (the findings) and a context line (host, time), all
 *   plain text with Slack's control characters escaped ({@link slackEscape}).
 * - `discord` (channel webhook): `{ content, embeds, allowed_mentions }` — one embed coloured by
 *   severity; text escaped ({@link discordEscape}) and mentions disabled, so a summary can never format,
 *   link or ping `@everyone`.
 *
 * A 2xx answer is delivered. Anything else — another status, a refused connection, no answer within
 * `timeoutMs` (5 s) — is retried by the outbox with backoff. 400, 413 and 422 say the far end refuses this
 * very body: the outbox gives such a notice up after a few tries rather than block the ones behind it.
 * Logs name the URL's origin only: Slack and Discord webhook paths are secrets.
 */

export type WebhookFormat = 'json' | 'slack' | 'discord';

export const WEBHOOK_TIMEOUT_MS = 5000;
/** Statuses that reject the payload itself. */
const PERMANENT_STATUSES = new Set([400, 413, 422]);

/** Discord embed colours (0xRRGGBB) by severity; green for a notice that only resolves. */
const DISCORD_COLORS: Record<Severity | 'resolved', number> = {
  info: 0x9e9e9e,
  low: 0x0288d1,
  medium: 0xfbc02d,
  high: 0xf57c00,
  critical: 0xd32f2f,
  resolved: 0x388e3c,
};

/** Why `url` cannot be posted to, or null. */
export function webhookUnsupported(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'webhook_url is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return `webhook_url must be http:// or https://, not ${parsed.protocol}//`;
  return null;
}

/** "https://hooks.slack.com": what logs and health show of a webhook URL. */
export function webhookTarget(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the webhook';
  }
}

/** Cuts to `max` characters (code points), ending with "…" when cut. */
function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Slack reads `&`, `<` and `>` as its control characters in every text (`<!channel>`, `<@U123>`,
 * `<http://evil|click>`), so they are written as entities. Text from the machine also goes in `plain_text`
 * objects, where `*bold*`, `_italic_`, `~strike~` and `` `code` `` mean nothing (Slack has no escape for them in
 * mrkdwn).
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Discord reads Markdown in messages and embeds (`**`, `_`, `~~`, `` ` ``, `||` spoilers, `[text](url)`
 * links, `# ` headings, `> ` quotes) and mentions (`<@id>`, `<@&role>`, `<#channel>`, `@everyone`,
 * `@here`). Text from the machine is shown literally: the Markdown characters are backslash-escaped and
 * an `@` before a name gets a zero-width space, so it neither formats nor pings — `allowed_mentions`
 * also forbids pings, but the text would still show as one.
 */
export function discordEscape(text: string): string {
  return text
    .replace(/[\\*_~`|[\]<]/g, '\\$&')
    .replace(/^(\s*)([#>-])/gm, '$1\\$2')
    .replace(/@(?=[\w-])/g, '@\u200b');
}

/** The request body for a notice, as an object (JSON.stringify gives the bytes sent). */
export function webhookBody(notice: Notice, format: WebhookFormat): object {
  if (format === 'json') return noticeRecord(notice);
  const title = noticeTitle(notice);
  const lines = noticeLines(notice, 20);
  const where = onHost(notice.host, notice.language);
  const time = new Date(notice.at).toISOString();
  if (format === 'slack') {
    const body = slackEscape(lines.map((line) => (lines.length > 1 ? `• ${line}` : line)).join('\n'));
    return {
      text: cut(`${slackEscape(title)} (${slackEscape(where)})\n${body}`, 3000),
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: cut(slackEscape(title), 150), emoji: true } },
        { type: 'section', text: { type: 'plain_text', text: cut(body || ' ', 3000), emoji: true } },
        {
          type: 'context',
          elements: [{ type: 'plain_text', text: slackEscape(`vigil ${where} · ${time}`), emoji: true }],
        },
      ],
    };
  }
  const color =
    notice.kind === 'resolved' || (notice.kind === 'digest' && notice.findings.length === 0)
      ? DISCORD_COLORS.resolved
      : DISCORD_COLORS[topSeverity(notice)];
  return {
    content: cut(`**${discordEscape(title)}** (${discordEscape(where)})`, 2000),
    embeds: [
      {
        title: cut(discordEscape(title), 256),
        description: cut(lines.map(discordEscape).join('\n'), 4096),
        color,
        timestamp: time,
        footer: { text: cut(`vigil ${where}`, 2048) },
      },
    ],
    allowed_mentions: { parse: [] },
  };
}

/**
 * POSTs a JSON body and resolves with the answer's status (its body is discarded). Rejects on a network
 * error, or with a TimeoutError when no answer came within `timeoutMs`.
 */
export type HttpPost = (url: string, body: string, timeoutMs: number) => Promise<number>;

/**
 * node:http / node:https, one connection per notice (no keep-alive: notices are rare, and a kept
 * connection the far end dropped fails the next post). Measured on Node 20: the first post costs about
 * 1.5 MiB resident (https adds ~4.5 MiB when first used), where the first `fetch` loads undici and costs
 * 15 to 40 MiB — most of the daemon's 50 MB budget.
 */
export const httpPost: HttpPost = async (url, body, timeoutMs) => {
  const target = new URL(url);
  const { request } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<number>((resolve, reject) => {
    const req = request(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'vigil',
      },
    });
    const timer = setTimeout(() => {
      const error = new Error(`no answer within ${timeoutMs} ms`);
      error.name = 'TimeoutError';
      req.destroy(error);
    }, timeoutMs);
    timer.unref();
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      res.on('error', () => {}); // the body is not read; a broken one changes nothing
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
};

/** The same through a fetch implementation (the Notifier's `fetchImpl` option). */
export function fetchPost(fetchImpl: typeof fetch): HttpPost {
  return async (url, body, timeoutMs) => {
    const response = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'vigil' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    try {
      await response.body?.cancel();
    } catch {
      // the answer's body is not read; a broken one changes nothing
    }
    return response.status;
  };
}

export function createWebhookChannel(options: {
  url: string;
  format: WebhookFormat;
  minSeverity: Severity;
  /** Default: {@link httpPost}. */
  post?: HttpPost;
  timeoutMs?: number;
  /** The outbox's name for this channel (default `webhook`). */
  name?: string;
}): QueuedChannel {
  const post = options.post ?? httpPost;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const target = webhookTarget(options.url);
  return {
    name: options.name ?? 'webhook',
    queued: true,
    minSeverity: options.minSeverity,
    unsupported: webhookUnsupported(options.url),
    encode: (notice) => JSON.stringify(webhookBody(notice, options.format)),
    async send(payload) {
      let status: number;
      try {
        status = await post(options.url, payload, timeoutMs);
      } catch (error) {
        throw new DeliveryError(networkFailure(error, target, timeoutMs), false, { cause: error });
      }
      if (status >= 200 && status < 300) return;
      throw new DeliveryError(`${target} answered HTTP ${status}`, PERMANENT_STATUSES.has(status));
    },
  };
}

/** "http://127.0.0.1:8080 did not answer within 5 s", "cannot reach https://x: ECONNREFUSED". */
function networkFailure(error: unknown, target: string, timeoutMs: number): string {
  const name = (error as { name?: unknown })?.name;
  if (name === 'TimeoutError' || name === 'AbortError')
    return `${target} did not answer within ${timeoutMs / 1000} s`;
  // node:http rejects with the system error (ECONNREFUSED, ENOTFOUND…); fetch wraps it, or undici's own
  // (UND_ERR_SOCKET, "other side closed"), whose message says more than its code, in `cause`.
  const direct = error as { code?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const errno = [direct?.code, direct?.cause?.code].find((c) => typeof c === 'string' && /^E[A-Z]+$/.test(c));
  const detail = errno ?? direct?.cause?.message ?? (error as Error)?.message ?? String(error);
  return `cannot reach ${target}: ${String(detail)}`;
}
