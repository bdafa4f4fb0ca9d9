import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import {
  HOLD_OBSERVE,
  type Refusal,
  readTrustedFile,
  refusal,
  type TrustContext,
  warnOnce,
} from '../host/trusted-file.js';
import { invocationOf, programName } from './normalize.js';

/**
 * Process kinds: which family a process belongs to, so that a storm of forty identical processes can be
 * named ("40 orphaned MCP servers") and rules can treat, say, language servers differently from browsers.
 * The patterns are data (`rules/kinds.toml`, format in its header comment); this file loads, validates
 * and compiles them once, and matches a process against them on every cycle.
 */
export type Kind =
  | 'mcp-server'
  | 'language-server'
  | 'dev-server'
  | 'agent-cli'
  | 'editor'
  | 'browser'
  | 'build';

export const KINDS: readonly Kind[] = [
  'mcp-server',
  'language-server',
  'dev-server',
  'agent-cli',
  'editor',
  'browser',
  'build',
];

/** The label an entry gets when it does not set one. */
export const KIND_LABELS: Readonly<Record<Kind, string>> = {
  'mcp-server': 'MCP server',
  'language-server': 'language server',
  'dev-server': 'dev server',
  'agent-cli': 'agent CLI',
  editor: 'editor',
  browser: 'browser',
  build: 'build tool',
};

/** The result of `classify`: one shared frozen object per pattern, so a match allocates nothing. */
export interface KindMatch {
  readonly kind: Kind;
  readonly label: string;
}

/** One compiled `[[kind]]` entry. Every matcher that is set must match (AND); null matchers are ignored. */
export interface KindPattern {
  /** Null for a `kind = "none"` entry: a match stops the search and leaves the process unclassified. */
  readonly kind: Kind | null;
  readonly label: string;
  /** Kernel task name (/proc/[pid]/comm, at most 15 characters). */
  readonly comm: RegExp | null;
  /** Basename of argv[0] as written (`python3.11`, `node`, `code`). */
  readonly exe: RegExp | null;
  /** What is run: the script/module/package's short name behind an interpreter, else `exe` (see `programName`). */
  readonly program: RegExp | null;
  /** The script, module, package or image an interpreter or runner runs, as written; never matches without one. */
  readonly script: RegExp | null;
  /** The whole command line, argv joined by single spaces. */
  readonly cmdline: RegExp | null;
  /** Where the entry comes from, for messages: file, 1-based entry number and the line of its `[[kind]]`. */
  readonly file: string;
  readonly index: number;
  readonly line: number | null;
  /** Null for `none` entries. */
  readonly match: KindMatch | null;
}

export interface KindLoadError {
  readonly file: string;
  /** 1-based line in the file, null when the file could not be read at all. */
  readonly line: number | null;
  readonly message: string;
}

/**
 * The patterns shipped with vigil, `rules/kinds.toml` at the package root. This module is two levels below
 * the root both as source (`src/understand/classify.ts`) and compiled (`dist/understand/classify.js`).
 */
export const SHIPPED_KINDS_FILE: string = fileURLToPath(new URL('../../rules/kinds.toml', import.meta.url));

/**
 * The user's own patterns, `$XDG_CONFIG_HOME/vigil/kinds.toml` (default `~/.config/vigil/kinds.toml`);
 * null when neither XDG_CONFIG_HOME nor HOME is set.
 */
export function userKindsFile(env: NodeJS.ProcessEnv = process.env): string | null {
  const config = env['XDG_CONFIG_HOME'] || (env['HOME'] ? join(env['HOME'], '.config') : '');
  return config === '' ? null : join(config, 'vigil', 'kinds.toml');
}

/** The files to load, in priority order: the user's file when it exists, then the shipped one. */
export function kindFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const user = userKindsFile(env);
  return user !== null && existsSync(user) ? [user, SHIPPED_KINDS_FILE] : [SHIPPED_KINDS_FILE];
}

const MATCHERS = ['comm', 'exe', 'program', 'script', 'cmdline'] as const;
type MatcherName = (typeof MATCHERS)[number];
const ENTRY_KEYS = new Set<string>(['kind', 'label', 'ignore_case', ...MATCHERS]);

/**
 * Loads pattern files in order (earlier files win, so pass the user's file first). A file that cannot be
 * read or parsed contributes nothing and one error; an invalid entry is skipped with an error naming the
 * file, the entry number and its line, and the other entries still load. Every file but the shipped one
 * (part of the program, as its code) is read only if nobody but the user or root could have written it:
 * a refused file contributes nothing, is listed in `refused` and its line goes to `warn`.
 */
export function loadKindPatterns(
  files: readonly string[],
  options: { trust?: TrustContext; warn?: (line: string) => void } = {},
): {
  patterns: KindPattern[];
  errors: KindLoadError[];
  refused: Refusal[];
} {
  const patterns: KindPattern[] = [];
  const errors: KindLoadError[] = [];
  const refused: Refusal[] = [];
  for (const file of files) {
    let text: string;
    if (file === SHIPPED_KINDS_FILE) {
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : (code ?? String(err));
        errors.push({ file, line: null, message: `cannot read kind patterns: ${why}` });
        continue;
      }
    } else {
      const read = readTrustedFile(file, options.trust);
      if (!read.ok) {
        if (read.why === 'refused') {
          const r = refusal(file, read.reason, HOLD_OBSERVE, options.trust);
          refused.push(r);
          (options.warn ?? warnOnce)(r.line);
        } else {
          const why = read.why === 'missing' ? 'no such file' : read.reason;
          errors.push({ file, line: null, message: `cannot read kind patterns: ${why}` });
        }
        continue;
      }
      text = read.text;
    }
    const parsed = parseKindPatterns(text, file);
    patterns.push(...parsed.patterns);
    errors.push(...parsed.errors);
  }
  return { patterns, errors, refused };
}

/** Parses and compiles the text of one kinds.toml. Pure: `file` is only used in messages. */
export function parseKindPatterns(
  text: string,
  file: string,
): { patterns: KindPattern[]; errors: KindLoadError[] } {
  const patterns: KindPattern[] = [];
  const errors: KindLoadError[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    const line = typeof (err as { line?: unknown }).line === 'number' ? (err as { line: number }).line : null;
    const first = String((err as Error).message ?? err).split('\n')[0];
    errors.push({ file, line, message: `not valid TOML: ${first}` });
    return { patterns, errors };
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'kind') {
      errors.push({
        file,
        line: lineOfKey(text, key),
        message: `unknown top-level key "${key}"; expected [[kind]] entries`,
      });
    }
  }
  const entries = doc['kind'];
  if (entries === undefined) return { patterns, errors };
  if (!Array.isArray(entries)) {
    errors.push({
      file,
      line: lineOfKey(text, 'kind'),
      message: '"kind" must be an array of tables: write [[kind]]',
    });
    return { patterns, errors };
  }
  const lines = entryLines(text);
  entries.forEach((entry: unknown, i) => {
    const line = lines[i] ?? null;
    const result = compileEntry(entry, file, i + 1, line);
    if (typeof result === 'string') {
      errors.push({
        file,
        line,
        message: `entry ${i + 1} ([[kind]] on line ${line ?? '?'}): ${result}; entry skipped`,
      });
    } else {
      patterns.push(result);
    }
  });
  return { patterns, errors };
}

/** Compiles one entry, or returns what is wrong with it. */
function compileEntry(
  entry: unknown,
  file: string,
  index: number,
  line: number | null,
): KindPattern | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not a table';
  const e = entry as Record<string, unknown>;
  const unknown = Object.keys(e).filter((k) => !ENTRY_KEYS.has(k));
  if (unknown.length > 0) {
    return `unknown key ${unknown.map((k) => `"${k}"`).join(', ')} (allowed: ${[...ENTRY_KEYS].join(', ')})`;
  }
  const kindValue = e['kind'];
  if (kindValue === undefined) return `"kind" is missing (one of ${KINDS.join(', ')} or none)`;
  if (kindValue !== 'none' && !KINDS.includes(kindValue as Kind)) {
    return `"kind" must be one of ${KINDS.join(', ')} or none, not ${JSON.stringify(kindValue)}`;
  }
  const kind = kindValue === 'none' ? null : (kindValue as Kind);
  const labelValue = e['label'];
  if (labelValue !== undefined && (typeof labelValue !== 'string' || labelValue.trim() === '')) {
    return '"label" must be a non-empty string';
  }
  const ignoreCase = e['ignore_case'];
  if (ignoreCase !== undefined && typeof ignoreCase !== 'boolean')
    return '"ignore_case" must be true or false';
  const flags = ignoreCase === true ? 'i' : '';
  const compiled: Partial<Record<MatcherName, RegExp>> = {};
  for (const name of MATCHERS) {
    const source = e[name];
    if (source === undefined) continue;
    if (typeof source !== 'string') return `"${name}" must be a regular expression in a string`;
    try {
      compiled[name] = new RegExp(source, flags);
    } catch (err) {
      return `"${name}" is not a valid regular expression: ${(err as Error).message}`;
    }
  }
  const used = MATCHERS.filter((name) => compiled[name] !== undefined);
  if (used.length === 0) return `needs at least one matcher (${MATCHERS.join(', ')})`;
  if (used.every((name) => compiled[name]!.test(''))) {
    return 'every matcher matches the empty string, so the entry would match every process';
  }
  const label = typeof labelValue === 'string' ? labelValue : kind === null ? 'none' : KIND_LABELS[kind];
  return {
    kind,
    label,
    comm: compiled.comm ?? null,
    exe: compiled.exe ?? null,
    program: compiled.program ?? null,
    script: compiled.script ?? null,
    cmdline: compiled.cmdline ?? null,
    file,
    index,
    line,
    match: kind === null ? null : Object.freeze({ kind, label }),
  };
}

/**
 * The 1-based line of each `[[kind]]` header, in order (smol-toml does not report positions). Lines inside
 * multi-line strings are skipped.
 */
function entryLines(text: string): number[] {
  const lines: number[] = [];
  let inMultiline: string | null = null;
  text.split('\n').forEach((raw, i) => {
    if (inMultiline === null && /^\s*\[\[\s*kind\s*\]\]/.test(raw)) lines.push(i + 1);
    for (const quote of raw.match(/'''|"""/g) ?? []) {
      if (inMultiline === null) inMultiline = quote;
      else if (inMultiline === quote) inMultiline = null;
    }
  });
  return lines;
}

function lineOfKey(text: string, key: string): number | null {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const at = text.split('\n').findIndex((l) => new RegExp(`^\\s*\\[*\\s*["']?${escaped}`).test(l));
  return at < 0 ? null : at + 1;
}

/**
 * The kind of a process: the first pattern whose matchers all match, or null. Cost: one pass over argv
 * to find the interpreter's target, then at most five regex tests per pattern, cheapest field first
 * (comm, exe, program, script, cmdline), stopping at the first that fails.
 */
export function classify(
  proc: { readonly comm: string; readonly argv: readonly string[]; readonly cmdline: string },
  patterns: readonly KindPattern[],
): KindMatch | null {
  const inv = invocationOf(proc.argv);
  const hasArgv = inv.exe !== '';
  const exe = hasArgv ? inv.exe : null;
  const program = hasArgv ? programName(inv) : null;
  const script = inv.target;
  const cmdline = hasArgv ? proc.cmdline : null;
  const comm = proc.comm;
  for (const p of patterns) {
    if (p.comm !== null && !p.comm.test(comm)) continue;
    if (p.exe !== null && (exe === null || !p.exe.test(exe))) continue;
    if (p.program !== null && (program === null || !p.program.test(program))) continue;
    if (p.script !== null && (script === null || !p.script.test(script))) continue;
    if (p.cmdline !== null && (cmdline === null || !p.cmdline.test(cmdline))) continue;
    return p.match;
  }
  return null;
}
