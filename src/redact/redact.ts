/**
 * Masks secrets in free text — cmdlines, journal messages, GPU process names — where that text enters
 * vigil, so that every later sink (database, logs, notifications, reports, the advisor) only ever holds the
 * masked form. The mask keeps what names a secret (the option, the variable, the URL's user) so a person
 * still sees what was there.
 *
 * What counts as a secret:
 * - the value of an option, assignment, query parameter or JSON/YAML key whose name says secret
 *   (`--token=…`, `--password …`, `-Djavax.net.ssl.keyStorePassword=…`, `DB_PASSWORD=…`, `*_PWD=`,
 *   `*_KEY=`, `?sig=…`, `"api_key": …`; see {@link isSecretName});
 * - `Authorization:`/`Cookie:` header values, `Bearer …`;
 * - well-known token shapes: Anthropic, OpenAI, AWS access key ids, GitHub, GitLab, Slack (tokens and
 *   webhook URLs), Discord webhook URLs, Stripe, Google, SendGrid, npm, PyPI, Docker Hub, Hugging Face,
 *   Vault, Grafana, DigitalOcean, Shopify, age keys, JWTs, PEM blocks;
 * - the password in a URL of any scheme (`postgres://u:p@h`, `redis://:p@h`);
 * - program-specific options ({@link PROGRAM_RULES}): `curl -u user:pass`, `mysql -pSECRET`,
 *   `sshpass -p x`, `redis-cli -a x`, `docker login -p x`… `-p` means a port, a parent directory or a patch
 *   almost everywhere else (`ssh -p 22`, `mkdir -p`, `git log -p`, `psql -p 5432`), so it is masked only
 *   for the programs listed there;
 * - long random-looking blobs ({@link looksRandom}): base64 of 40 characters or more that has the shape of
 *   random bytes rather than words or paths (an AWS secret access key on its own), and bare hexadecimal of
 *   64 digits or more. A 40-digit git SHA, a UUID, a GPU UUID, a content digest (`sha256:…`) or a
 *   container id after `-id` is an identifier that tells processes apart, and is kept.
 *
 * `redactArgv` does the same for an argv, where an option and its value are separate arguments.
 *
 * `makeRedactor` adds what leaves the machine (the advisor): home directories written as `~`, and
 * optionally user and host names replaced by placeholders, in paths and in free text.
 */

export const MASK = '‹redacted›';

/** Parts that make a name secret in a `key: value` line too (log lines are full of `auth: ok`, `pass: 3`). */
const STRONG_PARTS = new Set([
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'apitoken',
  'authtoken',
  'accesstoken',
  'refreshtoken',
  'accesskey',
  'secretkey',
  'privatekey',
  'clientsecret',
  'credential',
  'credentials',
  'authorization',
  'cookie',
]);

/**
 * Name parts that make a name secret wherever they appear in it (`DB_PASSWORD`, `apiToken`, `x-auth-token`):
 * the strong ones, and words too common in log lines to be trusted there.
 */
const SECRET_PARTS = new Set([
  ...STRONG_PARTS,
  'pass',
  'passin',
  'passout',
  'pwd',
  'secrets',
  'tokens',
  'creds',
  'auth',
  'bearer',
  'jwt',
  'sig',
  'signature',
  'sas',
  'hmac',
  'otp',
  'pat',
  'dsn',
  'webhook',
]);

/** A first part that makes an option a switch (`--no-auth`), a last part that makes its value a place or a size. */
const NEGATING_FIRST = new Set(['no', 'disable', 'skip', 'without', 'ignore']);
const NOT_THE_SECRET_LAST = new Set([
  'file',
  'files',
  'path',
  'dir',
  'stdin',
  'fd',
  'env',
  'command',
  'cmd',
  'prompt',
  'type',
  'length',
  'size',
  'bits',
  'min',
  'max',
  'timeout',
  'ttl',
  'store',
  'id',
  'name',
]);

function nameParts(name: string): string[] {
  return name
    .split(/[-_.:/]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter((part) => part !== '')
    .map((part) => part.toLowerCase());
}

/**
 * Whether an option, variable or key name holds a secret: one of its parts (split at `-`, `_`, `.` and
 * camelCase humps) is a secret word (password, token, secret, auth, cookie, sig…), or it ends in `key`
 * (`API_KEY`, `--api-key`, `apiKey`; a bare `key` only as an option). `PWD` alone is the working directory,
 * not a password; `--no-auth` is a switch; `--password-file`, `--token-id`, `--password-store` name where
 * or which secret, not the secret.
 */
export function isSecretName(name: string, how: 'option' | 'assignment' | 'key' = 'option'): boolean {
  const parts = nameParts(name);
  if (parts.length === 0) return false;
  if (NEGATING_FIRST.has(parts[0]!)) return false;
  const last = parts[parts.length - 1]!;
  if (last === 'id' && parts[parts.length - 2] === 'secret') return true; // Vault AppRole secret_id
  if (NOT_THE_SECRET_LAST.has(last) && parts.length > 1) return false;
  const words = how === 'key' ? STRONG_PARTS : SECRET_PARTS;
  if (last === 'key' || last === 'keys') return parts.length > 1 || how === 'option';
  if (parts.length === 1 && parts[0] === 'pwd') return false;
  return parts.some((part) => words.has(part));
}

type Replacer = (match: string, ...groups: string[]) => string;

/**
 * Token shapes, each masked whole. A shape whose body may hold `-` starts only where no such character
 * precedes it, so that a long run like `sk-sk-sk-…` is scanned once, not once per `sk-`.
 */
const TOKEN_SHAPES: readonly RegExp[] = [
  // Anthropic (sk-ant-api03-…, sk-ant-admin01-…), before OpenAI's broader sk-
  /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{8,}/g,
  // OpenAI: sk-proj-…, sk-svcacct-…, legacy sk-<48>; mixed case and a digit, so `sk-learn-…` is left alone
  /(?<![A-Za-z0-9_-])sk-(?=[A-Za-z0-9_-]{0,200}\d)(?=[A-Za-z0-9_-]{0,200}[A-Z])[A-Za-z0-9_-]{20,}/g,
  // Stripe secret and restricted keys, webhook signing secrets
  /\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}/g,
  /\bwhsec_[A-Za-z0-9+/]{20,}/g,
  // AWS access key ids (long-term, temporary)
  /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g,
  // GitHub: personal, OAuth, user-to-server, server-to-server, refresh; fine-grained PATs
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{30,}/g,
  // GitLab: personal, deploy, runner, trigger, SCIM/OAuth, CI job, incoming mail, agent, feed tokens
  /(?<![A-Za-z0-9_-])gl(?:pat|dt|rt|ptt|soat|cbt|imt|agent|oas|ffct)-[A-Za-z0-9_-]{20,}/g,
  // Slack bot/user/app-level tokens
  /(?<![A-Za-z0-9_-])xox[abposer]-[A-Za-z0-9-]{10,}/g,
  /(?<![A-Za-z0-9_-])xapp-\d-[A-Za-z0-9-]{10,}/g,
  // Google API keys, OAuth access tokens and client secrets
  /\bAIza[0-9A-Za-z_-]{35}/g,
  /(?<![A-Za-z0-9_-])ya29\.[0-9A-Za-z_-]{20,}/g,
  /(?<![A-Za-z0-9_-])GOCSPX-[A-Za-z0-9_-]{20,}/g,
  // SendGrid
  /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/g,
  // npm (npm_ + 36: `npm_config_cache` and other npm_ variables have underscores), PyPI, Docker Hub
  /\bnpm_[A-Za-z0-9]{36}\b/g,
  /(?<![A-Za-z0-9_-])pypi-[A-Za-z0-9_-]{50,}/g,
  /(?<![A-Za-z0-9_-])dckr_pat_[A-Za-z0-9_-]{20,}/g,
  // Hugging Face
  /\bhf_[A-Za-z0-9]{30,}/g,
  // HashiCorp Vault service, batch and recovery tokens; Grafana service accounts; DigitalOcean; Shopify
  /(?<![A-Za-z0-9_-])hv[sbr]\.[A-Za-z0-9_-]{24,}/g,
  /\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}/g,
  /\bdo[por]_v1_[a-f0-9]{64}/g,
  /\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}/g,
  // age secret keys
  /\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/g,
  // JWTs (header.payload.signature, base64url)
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
];

/** The shapes as one expression: one pass over the text instead of one per shape. */
const ANY_TOKEN_SHAPE = new RegExp(TOKEN_SHAPES.map((shape) => shape.source).join('|'), 'g');

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?(?:-----END \1-----|$)/g;

/** scheme://user:password@ (user may be empty: redis://:password@host). */
const URL_PASSWORD = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}:\/\/[^\s:/@"'<>]*):[^\s/"'<>]*@/gi;

/** Webhook URLs whose path is the secret: each segment of it masked (the query is QUERY_PARAM's). */
const WEBHOOK_URL =
  /\b(https?:\/\/(?:hooks\.slack(?:-gov)?\.com\/(?:services|workflows|triggers)|(?:(?:ptb|canary)\.)?discord(?:app)?\.com\/api\/(?:v\d+\/)?webhooks)\/)([^\s"'<>?#]+)/gi;
const webhookReplacer: Replacer = (_match, head, path) =>
  `${head}${path!
    .split('/')
    .map((segment) => (segment === '' ? '' : MASK))
    .join('/')}`;

/** `Authorization: Bearer x`, `Proxy-Authorization: Basic x`, `Cookie: a=b; c=d`. */
const AUTH_HEADER =
  /\b((?:Proxy-)?Authorization|Cookie|Set-Cookie)(\s*:\s*)(?:(Bearer|Basic|Token|token|Bot|Digest|Negotiate|NTLM|AWS4-HMAC-SHA256|Splunk|GenieKey|SSWS|ApiKey|Key)(\s+))?("[^"]*"|'[^']*'|[^\s"']+)((?:[^"'\n\r]*)?)/gi;
const MULTI_PART_SCHEMES = /^(?:Digest|AWS4-HMAC-SHA256|Negotiate|NTLM)$/i;

/** `Bearer x` on its own; `Basic x` only when x looks like base64 (not "Basic configuration"). */
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g;
const BASIC = /\b(Basic)\s+(?=[A-Za-z0-9+/]*(?:[0-9+/=]|[a-z][A-Z]))[A-Za-z0-9+/]{8,}={0,2}/g;

/** `?sig=…&token=…`: a query parameter stops at `&` and `#`. */
const QUERY_PARAM = /([?&;])([A-Za-z_][A-Za-z0-9_.-]*)=([^&#\s"'<>]*)/g;

/** `--name=value`, `--name value`, `-name value`; the value of a separate one never starts with `-`. */
const OPTION =
  /(?<![A-Za-z0-9_])(--?)([A-Za-z][A-Za-z0-9_.-]*)(?:(=)("[^"]*"|'[^']*'|\S+)|([ \t]+)(?!-)("[^"]*"|'[^']*'|\S+))/g;

/**
 * `NAME=` (environment-style, or inside a config string, `--env=API_TOKEN=x`, `-Dkey.password=x`); the
 * value after it is found by {@link redactAssignments}. Query parameters are QUERY_PARAM's.
 */
const ASSIGNMENT_NAME = /(?<![A-Za-z0-9_.?&])([A-Za-z_][A-Za-z0-9_.-]*)=/g;
/** The value of an assignment: quoted, or up to the next space or quote. */
const ASSIGNMENT_VALUE = /"[^"]*"|'[^']*'|[^\s"']+/y;

/** `"password": "x"`, `token: x` (JSON and YAML in log lines). */
const KEY_VALUE =
  /(["']?)(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]*)\1(\s*:\s*)("[^"]*"|'[^']*'|[^\s,;}"']+)/g;

const QUOTED = /^(["'])[\s\S]*\1$/;
const masked = (value: string) => (QUOTED.test(value) ? `${value[0]}${MASK}${value[0]}` : MASK);

const optionReplacer: Replacer = (match, dashes, name, eq, eqValue, space, spaceValue) => {
  if (!isSecretName(name!, 'option')) return match;
  if (eq) return `${dashes}${name}=${masked(eqValue!)}`;
  return `${dashes}${name}${space}${masked(spaceValue!)}`;
};

/**
 * Masks the value of every `NAME=` whose name is secret. One scan from left to right: a name that is not
 * secret is stepped over, so a name inside its value (`--env=API_TOKEN=x`) is still seen, and no input
 * makes it go back (`a=a=a=…` is as cheap as any other text).
 */
function redactAssignments(text: string): string {
  let out = '';
  let copied = 0;
  ASSIGNMENT_NAME.lastIndex = 0;
  for (let match = ASSIGNMENT_NAME.exec(text); match !== null; match = ASSIGNMENT_NAME.exec(text)) {
    if (!isSecretName(match[1]!, 'assignment')) continue;
    const valueAt = match.index + match[0].length;
    ASSIGNMENT_VALUE.lastIndex = valueAt;
    const value = ASSIGNMENT_VALUE.exec(text);
    if (value === null) continue;
    out += `${text.slice(copied, valueAt)}${masked(value[0])}`;
    copied = valueAt + value[0].length;
    ASSIGNMENT_NAME.lastIndex = copied;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const keyValueReplacer: Replacer = (match, quote, name, sep, value) => {
  if (/^(?:proxy-)?authorization$|^(?:set-)?cookie$/i.test(name!)) return match;
  if (!isSecretName(name!, 'key')) return match;
  return `${quote}${name}${quote}${sep}${masked(value!)}`;
};

const headerReplacer: Replacer = (_match, header, sep, scheme, space, value, rest) => {
  const multi = scheme === undefined ? /cookie/i.test(header!) : MULTI_PART_SCHEMES.test(scheme);
  const kept = multi ? '' : (rest ?? '');
  return `${header}${sep}${scheme ? `${scheme}${space}` : ''}${masked(value!)}${kept}`;
};

const queryReplacer: Replacer = (match, lead, name, value) =>
  value !== '' && isSecretName(name!, 'assignment') ? `${lead}${name}=${MASK}` : match;

// -- program-specific options ----------------------------------------------------------------------------

/**
 * Options that carry a secret only for certain programs. `separate`: the next argument is the secret;
 * `attached`: the rest of the argument is (`-pSECRET`); `afterColon`/`afterPercent`/`afterComma`: the
 * value's part after the first `:`, `%` or `,` is (`curl -u user:pass`, `smbclient -U user%pass`,
 * `lftp -u user,pass`). `subcommand`: only when this word follows the program (`docker login -p`).
 * `wraps`: the program runs a command given after its own options (which take a value when listed), so
 * the rule stops there (`sshpass -p x ssh -p 22 host`: the second `-p` is ssh's port).
 */
interface ProgramRule {
  readonly program: RegExp;
  readonly subcommand?: string;
  readonly wraps?: readonly string[];
  readonly separate?: readonly string[];
  readonly attached?: readonly string[];
  readonly afterColon?: readonly string[];
  readonly afterPercent?: readonly string[];
  readonly afterComma?: readonly string[];
}

export const PROGRAM_RULES: readonly ProgramRule[] = [
  // MySQL and MariaDB clients: -pSECRET (for `-p word` the client asks for the password and `word` is the
  // database, but people write it either way, so it is masked too).
  { program: /^(?:mysql[a-z_]*|mariadb(?:-[a-z]+)?|mysqlsh)$/, separate: ['-p'], attached: ['-p'] },
  { program: /^sshpass$/, separate: ['-p'], attached: ['-p'], wraps: ['-f', '-d', '-P'] },
  {
    program:
      /^(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|mongostat|mongotop|mongofiles)$/,
    separate: ['-p'],
    attached: ['-p'],
  },
  { program: /^redis-cli$/, separate: ['-a'], attached: ['-a'] },
  {
    program: /^(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|az)$/,
    subcommand: 'login',
    separate: ['-p'],
  },
  { program: /^sqlcmd$/, separate: ['-P'], attached: ['-P'] },
  { program: /^ldap(?:search|add|modify|delete|whoami|passwd|compare|modrdn)$/, separate: ['-w'] },
  { program: /^openssl$/, separate: ['-k', '-K'] },
  {
    program: /^curl$/,
    afterColon: ['-u', '--user', '-U', '--proxy-user', '-E', '--cert'],
    separate: ['--oauth2-bearer'],
  },
  { program: /^(?:smbclient|rpcclient|smbget|smbcacls|smbmap)$/, afterPercent: ['-U', '--user'] },
  { program: /^lftp$/, afterComma: ['-u'] },
];

function basename(word: string): string {
  const unquoted = word.replace(/^["']+|["']+$/g, '');
  return unquoted.slice(unquoted.lastIndexOf('/') + 1);
}

function maskAfter(value: string, separator: string): string {
  const at = value.indexOf(separator);
  return at < 0 || at === value.length - 1 ? value : `${value.slice(0, at + 1)}${MASK}`;
}

/** A program rule at work on the words after its program. */
interface ActiveRule {
  readonly rule: ProgramRule;
  /** Waiting for its subcommand (`login`) before any option counts. */
  waiting: boolean;
  /** The next word is the value of an option already seen (masked or not). */
  skip: boolean;
  done: boolean;
}

const SPLITS: ReadonlyArray<['afterColon' | 'afterPercent' | 'afterComma', string]> = [
  ['afterColon', ':'],
  ['afterPercent', '%'],
  ['afterComma', ','],
];

/** What `active.rule` says about `words[i]` (and maybe the word after it), masked in place. */
function applyRule(active: ActiveRule, words: string[], i: number): void {
  const { rule } = active;
  const word = words[i]!;
  const next = words[i + 1];
  if (active.skip) {
    active.skip = false;
    return;
  }
  if (active.waiting) {
    active.waiting = word !== rule.subcommand;
    return;
  }
  if (word === '--' || (rule.wraps && !word.startsWith('-') && word !== MASK)) {
    active.done = true;
    return;
  }
  if (rule.wraps?.includes(word)) {
    active.skip = true;
    return;
  }
  if (rule.separate?.includes(word) && next !== undefined && !next.startsWith('-')) {
    words[i + 1] = MASK;
    active.skip = true;
    return;
  }
  for (const [key, separator] of SPLITS) {
    const options = rule[key];
    if (!options) continue;
    if (options.includes(word) && next !== undefined) {
      words[i + 1] = maskAfter(next, separator);
      active.skip = true;
      return;
    }
    const longEq = options.find((o) => o.startsWith('--') && word.startsWith(`${o}=`));
    if (longEq) {
      words[i] = `${longEq}=${maskAfter(word.slice(longEq.length + 1), separator)}`;
      return;
    }
    const short = options.find((o) => !o.startsWith('--') && word.startsWith(o) && word.length > o.length);
    if (short && !word.startsWith('--')) {
      words[i] = `${short}${maskAfter(word.slice(short.length), separator)}`;
      return;
    }
  }
  const attached = rule.attached?.find((o) => word.startsWith(o) && word.length > o.length);
  if (attached && !word.startsWith('--') && word !== MASK) words[i] = `${attached}${MASK}`;
}

/**
 * Masks, in place, what {@link PROGRAM_RULES} say is secret in `words` (an argv, or the words of a shell
 * command): each program's rules apply to the words after it. One pass, whatever the words.
 */
function redactProgramWords(words: string[]): void {
  let active: ActiveRule[] = [];
  for (let i = 0; i < words.length; i++) {
    for (const a of active) applyRule(a, words, i);
    if (active.some((a) => a.done)) active = active.filter((a) => !a.done);
    const rules = programRulesOf(words[i]!);
    if (rules.length > 0)
      active = [
        ...active.filter((a) => !rules.includes(a.rule)),
        ...rules.map((rule) => ({ rule, waiting: rule.subcommand !== undefined, skip: false, done: false })),
      ];
  }
}

function programRulesOf(word: string): ProgramRule[] {
  const name = basename(word);
  if (name === '') return [];
  return PROGRAM_RULES.filter((rule) => rule.program.test(name));
}

/** Quick test before the program pass: does the text name any program of {@link PROGRAM_RULES}? */
const PROGRAM_WORD =
  /(?:^|[\s/"'`;|&(])(?:mysql[a-z_]*|mariadb(?:-[a-z]+)?|mysqlsh|sshpass|mongo[a-z]*|redis-cli|docker|podman|nerdctl|buildah|skopeo|helm|oras|az|sqlcmd|ldap[a-z]+|openssl|curl|smbclient|rpcclient|smbget|smbcacls|smbmap|lftp)(?=\s)/;

/** The program pass over free text: each shell command (up to `;`, `|`, `&` or a line end) as words. */
function redactProgramOptions(text: string): string {
  if (!PROGRAM_WORD.test(text)) return text;
  return text.replace(/[^;|&\n]+/g, (segment) => {
    if (!PROGRAM_WORD.test(segment)) return segment;
    const pieces = segment.split(/(\s+)/);
    const words = pieces.filter((_, i) => i % 2 === 0);
    redactProgramWords(words);
    return pieces.map((piece, i) => (i % 2 === 0 ? words[i / 2]! : piece)).join('');
  });
}

// -- random-looking blobs --------------------------------------------------------------------------------

/** A run of base64/base64url characters long enough to be a key, with its padding. */
const BLOB = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/_=-])/g;
/** Bare hexadecimal of 64 digits or more, not part of a path, a file name or a longer word. */
const HEX_BLOB = /(?<![A-Za-z0-9_./:@-])(?:0x)?[0-9a-fA-F]{64,}(?![A-Za-z0-9_./-])/g;
/** A hex id after one of these options is a container or sandbox id, which tells processes apart. */
const ID_OPTION = '-{1,2}(?:id|cid|container-id|container|sandbox-id|sandbox|exit-command-arg|bundle)';
const HEX_ID_OPTION = new RegExp(`(?:^|\\s)${ID_OPTION}(?:=|\\s+)$`);
const ID_OPTION_WORD = new RegExp(`^${ID_OPTION}$`);
/** …or after one of these keys: a digest, the container a kernel OOM line names (`cpuset=<id>`). */
const HEX_ID_KEY =
  /(?:sha\d*|digest|cpuset|memcg|cgroup|container[_-]?id|sandbox[_-]?id|pod[_-]?id|id)[:=]$/i;
const DIGEST_PREFIX = /^(?:sha(?:1|224|256|384|512)|md5|blake2b)-/i;
const DIGEST_LABEL = /(?:sha(?:1|224|256|384|512)|md5|blake2b)[:=]$/i;
/** Hex with separators and an optional short prefix: UUIDs, GPU-<uuid>, MIG-<uuid>, build ids. */
const HEX_LIKE = /^(?:[A-Za-z]{1,8}[-_])?[0-9a-fA-F]+(?:[-_][0-9a-fA-F]+)*$/;

function charKind(code: number): number {
  if (code >= 48 && code <= 57) return 0;
  if (code >= 65 && code <= 90) return 1;
  if (code >= 97 && code <= 122) return 2;
  return 3;
}

/**
 * Whether a run of base64 characters looks like random bytes rather than words or a path. Random base64
 * has every kind of character (digit, upper, lower), changes kind between most neighbours (about 64%),
 * has short runs of one kind and few lower-case words; a path has a `/` every few characters and words
 * between them, and identifiers are words. Measured (test/unit/redact.test.ts says how): none of the
 * 182,000 runs of 40+ such characters in this machine's 417,000 file paths is taken, nor any argument of
 * the typical developer command lines tried; of random keys, 0.9% of 40-character base64 ones (0.3% of
 * base64url) and 0.6% of 64-character ones (0.1%) are missed.
 */
export function looksRandom(run: string): boolean {
  const s = run.replace(/=+$/, '');
  if (s.length < 40 || HEX_LIKE.test(s)) return false;
  let digits = 0;
  let upper = 0;
  let lower = 0;
  let slashes = 0;
  let changes = 0;
  let compared = 0;
  let longest = 0;
  let current = 0;
  let previous = -1;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const kind = charKind(code);
    if (kind === 0) digits++;
    else if (kind === 1) upper++;
    else if (kind === 2) lower++;
    else {
      if (code === 47) slashes++;
      continue; // separators are left out of the kind changes
    }
    if (previous >= 0) {
      compared++;
      if (kind !== previous) {
        changes++;
        current = 1;
      } else current++;
    } else current = 1;
    if (current > longest) longest = current;
    previous = kind;
  }
  if (digits === 0 || upper === 0 || lower === 0) return false;
  if (slashes > s.length / 16 + 1) return false;
  if (compared === 0 || changes / compared < 0.3 || longest > 12) return false;
  if ((s.match(/[a-z]{5,}/g)?.length ?? 0) > s.length / 16) return false;
  if (slashes > 0) {
    // A path has plain words between its slashes (`lib`, `node_modules`, `Modules`); random base64 rarely.
    for (const piece of s.split('/'))
      if (
        (/^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$/.test(piece) && /[a-z]{4}/.test(piece)) ||
        /^[A-Z][a-z]{4,}$/.test(piece)
      )
        return false;
  }
  return true;
}

function redactBlobs(text: string, keepHex: boolean): string {
  let out = text;
  if (out.length >= 40)
    out = out.replace(BLOB, (run, offset: number, whole: string) => {
      // A content digest is not a secret: `sha512-…` (npm integrity), `SHA256:…` (a key's fingerprint).
      if (DIGEST_PREFIX.test(run) || DIGEST_LABEL.test(whole.slice(Math.max(0, offset - 8), offset)))
        return run;
      return looksRandom(run) ? MASK : run;
    });
  if (out.length >= 64 && !keepHex)
    out = out.replace(HEX_BLOB, (hex, offset: number, whole: string) => {
      const before = whole.slice(Math.max(0, offset - 40), offset);
      if (HEX_ID_OPTION.test(before) || HEX_ID_KEY.test(before)) return hex;
      return MASK;
    });
  return out;
}

// -- the passes ------------------------------------------------------------------------------------------

/** Masks every secret this module knows in free text. Idempotent: masking masked text changes nothing. */
export function redact(text: string): string {
  return redactText(text, false);
}

/** `keepHex`: the text is the argument after an id option (`-id <container id>`). */
function redactText(text: string, keepHex: boolean): string {
  if (text.length < 6) return text;
  let out = text;
  if (out.includes('-----BEGIN ')) out = out.replace(PEM_BLOCK, MASK);
  if (out.includes('://')) {
    out = out.replace(URL_PASSWORD, (_m, head: string) => `${head}:${MASK}@`);
    out = out.replace(WEBHOOK_URL, webhookReplacer as never);
  }
  out = out.replace(ANY_TOKEN_SHAPE, MASK);
  out = out.replace(AUTH_HEADER, headerReplacer as never);
  out = out.replace(BEARER, (_m, kind: string) => `${kind} ${MASK}`);
  out = out.replace(BASIC, (_m, kind: string) => `${kind} ${MASK}`);
  if (out.includes('=')) {
    out = out.replace(QUERY_PARAM, queryReplacer as never);
    out = redactAssignments(out);
  }
  if (out.includes('-')) out = out.replace(OPTION, optionReplacer as never);
  if (out.includes(':')) out = out.replace(KEY_VALUE, keyValueReplacer as never);
  out = redactProgramOptions(out);
  return redactBlobs(out, keepHex);
}

/**
 * Masks the secrets of an argv, where an option and its value may be separate arguments (`--password`,
 * `x`) and an argument may hold spaces (`--password=two words`). Each argument goes through
 * {@link redact}; then a secret option's next argument, a secret `NAME=` or `--name=` argument's whole
 * value, and what {@link PROGRAM_RULES} say are masked. A new array; the argv is not changed.
 */
export function redactArgv(argv: readonly string[]): string[] {
  // Most command lines hold no secret: one pass over the whole line says so, instead of one per argument.
  // (Every pattern is bounded by spaces or the ends of the text alike, so a secret in an argument changes
  // the joined line too.)
  const joined = argv.join(' ');
  const out =
    redactText(joined, false) === joined
      ? [...argv]
      : argv.map((arg, i) => redactText(arg, i > 0 && ID_OPTION_WORD.test(argv[i - 1]!)));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const option = /^(--?)([A-Za-z][A-Za-z0-9_.-]*)(=?)/.exec(arg);
    if (option) {
      const [head, , name, eq] = option;
      if (isSecretName(name!, 'option')) {
        if (eq) out[i] = arg.length > head.length ? `${head}${MASK}` : arg;
        else if (head.length === arg.length && i + 1 < argv.length && !argv[i + 1]!.startsWith('-'))
          out[++i] = MASK;
        continue;
      }
    }
    const assignment = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.)/s.exec(arg);
    if (assignment && isSecretName(assignment[1]!, 'assignment')) out[i] = `${assignment[1]}=${MASK}`;
  }
  redactProgramWords(out);
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
