import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { isSecretName, MASK, redact } from './redact.js';

/**
 * Secrets out of structured data and configuration, for what vigil keeps (the audit chain) and what it
 * hands to someone else (support and evidence bundles). Free text goes through `redact` (cmdlines, journal
 * messages); on top of that, a string under a key-like name (`token`, `api_key`, `password`…) is masked
 * whatever it looks like, and a URL keeps only its scheme, host and port and the plain words of its path:
 * a webhook's credential is often its path (Slack `/services/T…/B…/<secret>`, Discord
 * `/api/webhooks/<id>/<token>`), its query (`?token=…`) or its user info.
 */

/** A key whose value is a secret whatever the value looks like (`webhook_token`, `apiKey`, `db_password`). */
export function isSecretKey(name: string): boolean {
  return isSecretName(name, 'key');
}

/** A path segment kept in a masked URL: a short plain word (`api`, `webhooks`, `services`, `v2`). */
const PLAIN_SEGMENT = /^[A-Za-z][A-Za-z._-]{0,15}\d?$/;

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/**
 * `https://user:pass@hooks.example.com/services/T01/B02/abcdef?token=x#frag` →
 * `https://‹redacted›@hooks.example.com/services/‹redacted›/‹redacted›/‹redacted›?token=‹redacted›`.
 * Text that does not parse as a URL is returned through `redact` only.
 */
export function maskUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return redact(text);
  }
  if (!url.host) return redact(text);
  const userInfo = url.username || url.password ? `${MASK}@` : '';
  const path = url.pathname
    .split('/')
    .map((segment) => (segment === '' || PLAIN_SEGMENT.test(segment) ? segment : MASK))
    .join('/');
  const query = [...url.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=${MASK}`).join('&');
  return `${url.protocol}//${userInfo}${url.host}${path}${query ? `?${query}` : ''}${url.hash ? `#${MASK}` : ''}`;
}

/** `redact`, then every URL in the text masked as {@link maskUrl} does. */
export function redactText(text: string): string {
  return redact(text).replace(URL_IN_TEXT, (url) => maskUrl(url));
}

/**
 * A deep copy of a JSON-like value with secrets masked: every string through `redact` (`redactText` when
 * `urls` is set, so URLs lose their credentials too), and a string under a key-like name replaced by the
 * mask. Numbers, booleans and null are kept (so `max_tokens = 1024` stays), as are key names.
 */
export function redactData(value: unknown, options: { urls?: boolean } = {}): unknown {
  const text = options.urls ? redactText : redact;
  const walk = (v: unknown, key: string | null): unknown => {
    if (typeof v === 'string') return key !== null && isSecretKey(key) && v !== '' ? MASK : text(v);
    if (Array.isArray(v)) return v.map((item) => walk(item, key));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, k);
      return out;
    }
    return v;
  };
  return walk(value, null);
}

/**
 * The configuration file as it can be shown to someone else: every key kept, secret values masked
 * (`redactData` with URLs). Parsed and written back with smol-toml, so comments — which may hold an old
 * webhook URL — are dropped. A file that does not parse is masked line by line instead: a `key = value`
 * line under a key-like name loses its value, comments go, and every URL and token shape is masked.
 */
export function sanitizeConfigToml(text: string): string {
  try {
    const data = parseToml(text);
    return stringifyToml(redactData(data, { urls: true }) as Record<string, unknown>);
  } catch {
    return text
      .split('\n')
      .map((line) => {
        const trimmed = line.trim();
        if (trimmed.startsWith('#')) return '';
        const assignment = /^(\s*["']?([A-Za-z0-9_.-]+)["']?\s*=\s*)(.*)$/.exec(line);
        if (assignment && isSecretKey(assignment[2]!)) return `${assignment[1]}"${MASK}"`;
        return redactText(line.replace(/\s#.*$/, ''));
      })
      .join('\n');
  }
}
