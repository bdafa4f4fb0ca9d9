import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  | { readonly kind: 'rejected'; readonly status: number; readonly detail: string };

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
  const message = error instanceof Error ? error.message : String(error);
  const detail = message.slice(0, 300);
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
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=1', ...(fromSource ? ['--import', 'tsx'] : []), script],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ kind: 'timeout', detail: `no answer within ${Math.round(settings.timeoutMs / 1000)} s` });
    }, settings.timeoutMs + CHILD_GRACE_MS);
    const onAbort = () => {
      child.kill('SIGKILL');
      done({ kind: 'aborted', detail: 'stopped' });
    };
    settings.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) =>
      done({ kind: 'network', detail: `cannot start the advisor child: ${error.message}` }),
    );
    child.on('close', (code) => {
      try {
        done(JSON.parse(stdout) as CallResult);
      } catch {
        const why = stderr.trim().split('\n').at(-1) ?? '';
        done({
          kind: 'network',
          detail: `the advisor child failed (exit ${code})${why ? `: ${why.slice(0, 200)}` : ''}`,
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
