/**
 * Masks secrets in free text — cmdlines, journal messages — before it is stored, logged or sent anywhere.
 * What counts: the value of secret-looking options (`--token=…`, `--password …`, `--api-key …`),
 * `KEY=value` (and `key: value`, `"key": "value"`) for key-like names, `Authorization: Bearer …`,
 * well-known token shapes (Anthropic `sk-ant-…`, OpenAI `sk-…`, GitHub `ghp_…`/`github_pat_…`, Slack
 * `xox…`, AWS access key ids, Google API keys, JWTs, PEM private keys) and the password in a URL
 * (`https://user:pass@host`). The mask keeps the name so a person still sees what was there.
 *
 * `makeRedactor` adds what leaves the machine (the advisor): home directories written as `~`, and
 * optionally user and host names replaced by placeholders, in paths and in free text.
 */

const MASK = '‹redacted›';

const SECRET_NAME =
  '[A-Za-z0-9_.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key|apikey|auth|credential|private[-_]?key|access[-_]?key|session[-_]?key|client[-_]?secret)[A-Za-z0-9_.-]*';

const PATTERNS: ReadonlyArray<[RegExp, string | ((...m: string[]) => string)]> = [
  // PEM private keys, whole (a log line may carry one)
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, MASK],
  // --token=abc, --api-key abc, -password abc
  [
    new RegExp(String.raw`(--?${SECRET_NAME})(=|\s+)(?!-)("[^"]*"|'[^']*'|\S+)`, 'gi'),
    (_m, name, sep) => `${name}${sep}${MASK}`,
  ],
  // API_KEY=abc, db_password=abc (environment-style assignments)
  [new RegExp(String.raw`\b(${SECRET_NAME})=("[^"]*"|'[^']*'|\S+)`, 'gi'), (_m, name) => `${name}=${MASK}`],
  // "password": "abc", token: abc (JSON and YAML in log lines); Authorization is left to the next one
  [
    new RegExp(
      String.raw`(["']?)\b((?!authorization\b)${SECRET_NAME})\1(\s*:\s*)(?!\s*(?:Bearer|Basic)\s)("[^"]*"|'[^']*'|[^\s,;}]+)`,
      'gi',
    ),
    (_m, quote, name, sep) => `${quote}${name}${quote}${sep}${MASK}`,
  ],
  // Authorization: Bearer abc / Basic abc
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, (_m, kind) => `${kind} ${MASK}`],
  // token shapes
  [/\bsk-ant-[A-Za-z0-9_-]{8,}/g, MASK],
  [/\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}/g, MASK],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/g, MASK],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, MASK],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, MASK],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, MASK],
  // scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi, (_m, head) => `${head}:${MASK}@`],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) {
    out = out.replace(pattern, replacement as never);
  }
  return out;
}

export interface RedactorOptions {
  /** The home directory of the user vigil runs as, written `~` (null: none). */
  readonly home?: string | null;
  /** Also write other users' `/home/NAME` as `~NAME` (default true). */
  readonly otherHomes?: boolean;
  /**
   * Replace these user names by `user1`, `user2`… and these host names by `host`, `host2`…, wherever
   * they appear (paths, `user@host`, free text). Null or absent: no anonymisation.
   */
  readonly anonymize?: { readonly users: readonly string[]; readonly hostnames: readonly string[] } | null;
}

/**
 * Names that are also ordinary words or path parts (`/dev/null`, `make test`): as a user name they are
 * replaced only where they clearly are one (`/home/dev`, `dev@`, `user=dev`), never in free text.
 */
const COMMON_WORDS = new Set([
  'dev',
  'test',
  'user',
  'admin',
  'data',
  'build',
  'src',
  'app',
  'www',
  'home',
  'tmp',
  'run',
  'lib',
  'bin',
  'share',
  'local',
  'guest',
  'work',
  'node',
  'python',
  'docker',
  'git',
  'nobody',
  'root',
  'daemon',
  'sys',
  'sync',
  'games',
  'mail',
  'news',
  'proxy',
  'backup',
  'list',
  'systemd',
  'messagebus',
]);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A redactor for text that leaves the machine: secrets masked (as `redact`), home directories as `~`,
 * and with `anonymize` the given user and host names replaced consistently (the same name always gets
 * the same placeholder within one redactor).
 */
export function makeRedactor(options: RedactorOptions = {}): (text: string) => string {
  const steps: Array<(text: string) => string> = [redact];
  const home = options.home && options.home !== '/' ? options.home.replace(/\/+$/, '') : null;
  const users = [...new Set(options.anonymize?.users ?? [])].filter((u) => u.length > 0);
  const hosts = [...new Set(options.anonymize?.hostnames ?? [])].filter(
    (h) => h.length > 0 && h !== 'localhost',
  );
  const userAlias = new Map(users.map((u, i) => [u, `user${i + 1}`]));
  const hostAlias = new Map(hosts.map((h, i) => [h, i === 0 ? 'host' : `host${i + 1}`]));
  if (home) {
    const pattern = new RegExp(`${escapeRegExp(home)}(?=/|$|[\\s"'=:,;)\\]])`, 'g');
    steps.push((text) => text.replace(pattern, '~'));
  }
  if (options.otherHomes !== false) {
    steps.push((text) =>
      text.replace(/(^|[\s"'=:,;(])\/home\/([A-Za-z0-9_.-]+)(?=\/|$|[\s"'=:,;)\]])/g, (_m, lead, name) => {
        return `${lead}~${userAlias.get(name) ?? name}`;
      }),
    );
  }
  if (users.length > 0) {
    const sorted = [...users].sort((a, b) => b.length - a.length);
    // Where a user name clearly is one: ~name, name@host, user=name, uid(name), owner name.
    const strong = new RegExp(
      `(~|\\buser(?:name)?[=: ]\\s*|\\bowner[=: ]\\s*|\\()(${sorted.map(escapeRegExp).join('|')})(?![A-Za-z0-9_-])|(?<![A-Za-z0-9_.-])(${sorted.map(escapeRegExp).join('|')})(?=@)`,
      'gi',
    );
    steps.push((text) =>
      text.replace(strong, (m, lead: string | undefined, a: string | undefined, b: string | undefined) => {
        const name = a ?? b ?? '';
        const alias = userAlias.get(name) ?? userAlias.get(name.toLowerCase());
        if (!alias) return m;
        return `${lead ?? ''}${alias}`;
      }),
    );
    const free = sorted.filter((u) => !COMMON_WORDS.has(u.toLowerCase()) && u.length >= 3);
    if (free.length > 0) {
      const word = new RegExp(
        `(?<![A-Za-z0-9_-])(${free.map(escapeRegExp).join('|')})(?![A-Za-z0-9_-])`,
        'g',
      );
      steps.push((text) => text.replace(word, (name) => userAlias.get(name) ?? name));
    }
  }
  if (hosts.length > 0) {
    const names = [...hosts].sort((a, b) => b.length - a.length);
    const word = new RegExp(
      `(?<![A-Za-z0-9_-])(${names.map(escapeRegExp).join('|')})(?![A-Za-z0-9_-])`,
      'gi',
    );
    steps.push((text) =>
      text.replace(word, (name) => hostAlias.get(name) ?? hostAlias.get(name.toLowerCase()) ?? name),
    );
  }
  return (text: string) => {
    // A field that is exactly a user or host name (a process's user) is replaced whatever the name.
    const whole = userAlias.get(text) ?? hostAlias.get(text);
    if (whole !== undefined) return whole;
    let out = text;
    for (const step of steps) out = step(out);
    return out;
  };
}
