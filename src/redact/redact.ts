/**
 * Masks secrets in free text — cmdlines, journal messages — before it is stored, logged or sent anywhere.
 * What counts: the value of secret-looking options (`--token=…`, `--password …`, `--api-key …`),
 * `KEY=value` for key-like names, `Authorization: Bearer …`, well-known token shapes (Anthropic `sk-ant-…`,
 * OpenAI `sk-…`, GitHub `ghp_…`/`github_pat_…`, Slack `xox…`, AWS access key ids) and the password in a
 * URL (`https://user:pass@host`). The mask keeps the name so a person still sees what was there.
 */

const MASK = '‹redacted›';

const SECRET_NAME =
  '[A-Za-z0-9_.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key|apikey|auth|credential|private[-_]?key|access[-_]?key|session[-_]?key|client[-_]?secret)[A-Za-z0-9_.-]*';

const PATTERNS: ReadonlyArray<[RegExp, string | ((...m: string[]) => string)]> = [
  // --token=abc, --api-key abc, -password abc
  [
    new RegExp(String.raw`(--?${SECRET_NAME})(=|\s+)(?!-)("[^"]*"|'[^']*'|\S+)`, 'gi'),
    (_m, name, sep) => `${name}${sep}${MASK}`,
  ],
  // API_KEY=abc, db_password=abc (environment-style assignments)
  [new RegExp(String.raw`\b(${SECRET_NAME})=("[^"]*"|'[^']*'|\S+)`, 'gi'), (_m, name) => `${name}=${MASK}`],
  // Authorization: Bearer abc / Basic abc
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, (_m, kind) => `${kind} ${MASK}`],
  // token shapes
  [/\bsk-ant-[A-Za-z0-9_-]{8,}/g, MASK],
  [/\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}/g, MASK],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/g, MASK],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, MASK],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK],
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, MASK],
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
