import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startInGroup } from '../host/command.js';
import { printable } from '../model/text.js';
import type { AdvisorRequest } from './context.js';

/**
 * The one call to Claude. The SDK (@anthropic-ai/sdk, ~22 MB resident once loaded) is imported here,
 * dynamically, only when a call is actually made: a daemon with the advisor off or idle never loads it.
 * Retries are vigil's (cooldown, retry-after, backoff), so the SDK's own are turned off.
 */

export interface CallSettings {
  readonly apiKey: string;
  /** Empty: the SDK's default (which honours ANTHROPIC_BASE_URL). */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Replies larger than this are dropped (default {@link MAX_REPLY_BYTES}). */
  readonly maxReplyBytes?: number;
}

/** How a call ended, sorted into what the advisor does next. */
export type CallResult =
  | { readonly kind: 'ok'; readonly text: string; readonly stopReason: string | null }
  /** 401/403: the key is refused; off until it changes. */
  | { readonly kind: 'auth'; readonly detail: string }
  /** 429 (and 529 overloaded): wait `retryAfterMs` when the server said so. */
  | { readonly kind: 'rate_limited'; readonly retryAfterMs: number | null; readonly detail: string }
  /** 5xx: back off. */
  | { readonly kind: 'server'; readonly detail: string }
  | { readonly kind: 'timeout'; readonly detail: string }
  /** No connection (refused, DNS…): back off. */
  | { readonly kind: 'network'; readonly detail: string }
  /** Aborted by vigil (shutdown). */
  | { readonly kind: 'aborted'; readonly detail: string }
  /** Any other 4xx: the request itself is wrong (a bad model id…). */
  | { readonly kind: 'rejected'; readonly status: number; readonly detail: string }
  /** The reply was larger than {@link MAX_REPLY_BYTES}: dropped unread past that point, never parsed. */
  | { readonly kind: 'too_large'; readonly detail: string };

/**
 * The largest reply read from the API. An answer the schema accepts is at most ~26,000 characters
 * (./answer.ts), about 160 KB even with every character JSON-escaped; past this size a reply is a broken
 * or hostile server, and is dropped where its bytes arrive instead of being parsed whole (a 60 MB reply
 * took the daemon to 270 MB resident and its child to 430 MB).
 */
export const MAX_REPLY_BYTES = 1024 * 1024;

/** Said of a reply cut at {@link MAX_REPLY_BYTES}. */
export function tooLargeDetail(bytes: number | null, limit = MAX_REPLY_BYTES): string {
  const mib = (n: number) => `${Math.round((n / 1048576) * 10) / 10} MiB`;
  return `the reply was larger than ${mib(limit)}${bytes !== null && bytes > limit ? ` (${mib(bytes)} announced)` : ''}; it was not read further`;
}

class ReplyTooLargeError extends Error {
  override readonly name = 'ReplyTooLargeError';
}

/**
 * The response with its body cut at `limit` bytes: the stream errors (and the connection is dropped) as
 * soon as more arrives, or at once when content-length announces more, so nothing larger is ever held.
 */
function capBody(response: Response, limit: number): Response {
  if (response.body === null || [204, 205, 304].includes(response.status)) return response;
  const announced = Number.parseInt(response.headers.get('content-length') ?? '', 10);
  const reader = response.body.getReader();
  let seen = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (announced > limit) {
        void reader.cancel().catch(() => {});
        controller.error(new ReplyTooLargeError(tooLargeDetail(announced, limit)));
      }
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      seen += value.byteLength;
      if (seen > limit) {
        void reader.cancel().catch(() => {});
        controller.error(new ReplyTooLargeError(tooLargeDetail(null, limit)));
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** `fetch` for the SDK: every response body capped at `limit` bytes. */
function cappedFetch(limit: number): typeof fetch {
  return async (input, init) => capBody(await fetch(input, init), limit);
}

/** The ReplyTooLargeError in an error's cause chain (the SDK may wrap it), or null. */
function tooLargeIn(error: unknown): ReplyTooLargeError | null {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if (e instanceof ReplyTooLargeError) return e;
  return null;
}

/** `retry-after-ms`, else `retry-after` as seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(
  headers: { get(name: string): string | null } | undefined,
  now = Date.now(),
): number | null {
  if (!headers) return null;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (value === null) return null;
  const secs = Number.parseFloat(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Makes the call; never throws. */
export async function callModel(request: AdvisorRequest, settings: CallSettings): Promise<CallResult> {
  let sdk: typeof import('@anthropic-ai/sdk');
  try {
    sdk = await import('@anthropic-ai/sdk');
  } catch (error) {
    return {
      kind: 'rejected',
      status: 0,
      detail: `cannot load @anthropic-ai/sdk: ${(error as Error).message}`,
    };
  }
  const Anthropic = sdk.default;
  try {
    const client = new Anthropic({
      apiKey: settings.apiKey,
      authToken: null,
      ...(settings.baseUrl ? { baseURL: settings.baseUrl } : {}),
      timeout: settings.timeoutMs,
      maxRetries: 0,
      openTelemetry: false,
      logLevel: 'off',
      fetch: cappedFetch(settings.maxReplyBytes ?? MAX_REPLY_BYTES),
    });
    const message = await client.messages.create(
      request as unknown as Parameters<typeof client.messages.create>[0] & { stream?: false },
      settings.signal ? { signal: settings.signal } : undefined,
    );
    const content = (message as { content?: Array<{ type: string; text?: string }> }).content ?? [];
    const text = content
      .filter((block) => block.type === 'text' && typeof block.text === 'string')
      .map((block) => block.text)
      .join('');
    return { kind: 'ok', text, stopReason: (message as { stop_reason?: string | null }).stop_reason ?? null };
  } catch (error) {
    return classifyError(error, sdk);
  }
}

function classifyError(error: unknown, sdk: typeof import('@anthropic-ai/sdk')): CallResult {
  const tooLarge = tooLargeIn(error);
  if (tooLarge) return { kind: 'too_large', detail: tooLarge.message };
  const message = error instanceof Error ? error.message : String(error);
  // An error body is the server's text: shown written out, like any text from outside.
  const detail = printable(message.slice(0, 300));
  if (error instanceof sdk.APIUserAbortError) return { kind: 'aborted', detail };
  if (error instanceof sdk.APIConnectionTimeoutError) return { kind: 'timeout', detail };
  if (error instanceof sdk.APIConnectionError) return { kind: 'network', detail };
  if (error instanceof sdk.APIError) {
    const status = error.status ?? 0;
    if (status === 401 || status === 403) return { kind: 'auth', detail };
    if (status === 429 || status === 529)
      return {
        kind: 'rate_limited',
        retryAfterMs: retryAfterMs(error.headers as Headers | undefined),
        detail,
      };
    if (status === 408) return { kind: 'timeout', detail };
    if (status >= 500) return { kind: 'server', detail };
    return { kind: 'rejected', status, detail };
  }
  if ((error as { name?: string } | null)?.name === 'AbortError') return { kind: 'aborted', detail };
  return { kind: 'network', detail };
}

/** The most the daemon reads from the child: its JSON result around a reply of at most MAX_REPLY_BYTES. */
const MAX_CHILD_OUTPUT_BYTES = 2 * MAX_REPLY_BYTES;

/** Extra time the child gets beyond the request timeout (starting Node, loading the SDK). */
const CHILD_GRACE_MS = 15_000;

/**
 * The same call made from a short-lived child process (./child.ts), so the SDK never adds to the
 * resident memory of the process that asks (the daemon). Never throws.
 */
export function callModelInChild(request: AdvisorRequest, settings: CallSettings): Promise<CallResult> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const script = join(dirname(here), fromSource ? 'child.ts' : 'child.js');
  return new Promise<CallResult>((resolve) => {
    let settled = false;
    const done = (result: CallResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settings.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    // In a process group of its own: the deadline kills whatever it started, and closes the pipes.
    const group = startInGroup(
      [process.execPath, '--max-semi-space-size=1', ...(fromSource ? ['--import', 'tsx'] : []), script],
      { stdin: 'pipe' },
    );
    const { child } = group;
    // The child's answer, as bytes: capped (the child itself refuses a larger reply, so more than this is
    // a broken child) and decoded once, whole, so no character is split between two chunks.
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_CHILD_OUTPUT_BYTES) {
        group.cut();
        done({ kind: 'too_large', detail: tooLargeDetail(null) });
        return;
      }
      out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      group.cut();
      done({ kind: 'timeout', detail: `no answer within ${Math.round(settings.timeoutMs / 1000)} s` });
    }, settings.timeoutMs + CHILD_GRACE_MS);
    const onAbort = () => {
      group.cut();
      done({ kind: 'aborted', detail: 'stopped' });
    };
    settings.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) =>
      done({ kind: 'network', detail: `cannot start the advisor child: ${error.message}` }),
    );
    child.on('close', (code) => {
      try {
        done(JSON.parse(Buffer.concat(out).toString('utf8')) as CallResult);
      } catch {
        const why = stderr.trim().split('\n').at(-1) ?? '';
        done({
          kind: 'network',
          detail: `the advisor child failed (exit ${code})${why ? `: ${printable(why.slice(0, 200))}` : ''}`,
        });
      }
    });
    child.stdin.on('error', () => {
      // the child died before reading: 'close' says so
    });
    child.stdin.end(
      JSON.stringify({
        request,
        apiKey: settings.apiKey,
        baseUrl: settings.baseUrl,
        timeoutMs: settings.timeoutMs,
      }),
    );
  });
}
