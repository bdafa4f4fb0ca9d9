import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { parseTomlFile } from '../config/load.js';
import { lineOfKey } from '../config/locate.js';
import { formatProblem, type Problem, ProblemsError, problemsFromIssues } from '../config/problems.js';
import { SEVERITIES } from '../config/schema.js';
import {
  HOLD_OBSERVE,
  listTrustedDir,
  type Refusal,
  readTrustedFile,
  refusal,
  showPath,
  type TrustContext,
  warnOnce,
} from '../host/trusted-file.js';
import { DURATION, parseDuration } from '../model/duration.js';
import { HISTORY_FIELDS, SCOPES } from '../understand/facts-schema.js';
import { canonicalProgram, displayName } from '../understand/normalize.js';
import { compile, compileTemplate, environmentFor } from './cel.js';
import { CATALOG_ACTION_IDS, type Rule, type RuleSpec } from './types.js';

/** rules/ at the package root (two levels above both src/rules and dist/rules). */
export const SHIPPED_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

/** Files in rules/ that are not rule packs. */
const NOT_RULE_FILES = new Set(['kinds.toml']);

const duration = v.pipe(v.string(), v.regex(DURATION, 'expected a duration such as 30s, 5m or 1h30m'));

const RuleSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_]*$/, 'expected a lower_snake_case id')),
  title: v.pipe(v.string(), v.minLength(1)),
  description: v.optional(v.string()),
  severity: v.picklist(SEVERITIES),
  scope: v.picklist(SCOPES),
  when: v.pipe(v.string(), v.minLength(1)),
  for: v.optional(duration, '0s'),
  clear_when: v.optional(v.string()),
  clear_for: v.optional(duration, '0s'),
  escalate: v.optional(v.array(v.strictObject({ severity: v.picklist(SEVERITIES), when: v.string() })), []),
  summary: v.pipe(v.string(), v.minLength(1)),
  suggest: v.optional(v.array(v.picklist(CATALOG_ACTION_IDS)), []),
  supersedes: v.optional(v.array(v.string()), []),
  enabled: v.optional(v.boolean(), true),
});

const RuleFileSchema = v.strictObject({
  rule: v.optional(v.array(v.record(v.string(), v.unknown())), []),
});

/** A raw rule entry and where it was written. */
interface Origin {
  readonly file: string;
  readonly text: string;
  readonly index: number;
  readonly entry: Record<string, unknown>;
}

export interface LoadedRules {
  readonly rules: Rule[];
  /** Every rule, enabled or not, with its source (for `vigil rules list`). */
  readonly all: Rule[];
  readonly problems: Problem[];
  /** The files read, shipped ones first. */
  readonly files: string[];
  /**
   * User rule files (or the user rules directory) not read because someone else could have written them.
   * The rules the user asked for are then missing, so vigil holds observe mode (fail closed).
   */
  readonly refused: Refusal[];
  /** Rules that load but probably do not mean what they say (said through `warn` too). */
  readonly warnings: Problem[];
}

/** A rule file's text, read. */
interface Source {
  readonly file: string;
  readonly text: string;
}

function isRuleFile(name: string): boolean {
  return name.endsWith('.toml') && !NOT_RULE_FILES.has(name);
}

/**
 * The shipped rule files. They are part of the program, as its JavaScript is: whoever can write them can
 * write vigil's code too, so they are read without the ownership checks that the user's files get.
 */
function shippedSources(dir: string, problems: Problem[]): Source[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter(isRuleFile).sort();
  } catch {
    return [];
  }
  const sources: Source[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (error) {
      problems.push({ file, line: null, key: null, message: `cannot read: ${(error as Error).message}` });
    }
  }
  return sources;
}

/**
 * One user rule file, read if it can be trusted. A file that vanished since the directory was listed is
 * skipped; an extra file (`--rules`) that does not exist is a problem.
 */
function userSource(
  file: string,
  explicit: boolean,
  trust: TrustContext | undefined,
  problems: Problem[],
  refused: Refusal[],
): Source | null {
  const read = readTrustedFile(file, trust);
  if (read.ok) return { file, text: read.text };
  if (read.why === 'refused') refused.push(refusal(file, read.reason, HOLD_OBSERVE, trust));
  else if (read.why === 'unreadable') problems.push({ file, line: null, key: null, message: read.reason });
  else if (explicit) problems.push({ file, line: null, key: null, message: 'cannot read: no such file' });
  return null;
}

/** The user's rule files, in name order, if the directory and each file can be trusted. */
function userSources(
  dir: string,
  trust: TrustContext | undefined,
  problems: Problem[],
  refused: Refusal[],
): Source[] {
  const listed = listTrustedDir(dir, trust);
  if (!listed.ok) {
    if (listed.why === 'refused')
      refused.push(refusal(dir, listed.reason, HOLD_OBSERVE, trust, `the rules in ${showPath(dir, trust)}`));
    else if (listed.why === 'unreadable')
      problems.push({ file: dir, line: null, key: null, message: listed.reason });
    return [];
  }
  const sources: Source[] = [];
  for (const name of listed.names.filter(isRuleFile).sort()) {
    const source = userSource(join(dir, name), false, trust, problems, refused);
    if (source) sources.push(source);
  }
  return sources;
}

/** Parses rule files, collecting a problem per broken file or entry; the good entries still load. */
function readEntries(sources: readonly Source[], problems: Problem[]): Origin[] {
  const origins: Origin[] = [];
  for (const { file, text } of sources) {
    let data: unknown;
    try {
      data = parseTomlFile(file, text);
    } catch (error) {
      if (error instanceof ProblemsError) problems.push(...error.problems);
      else throw error;
      continue;
    }
    const parsed = v.safeParse(RuleFileSchema, data);
    if (!parsed.success) {
      problems.push(...problemsFromIssues(file, text, parsed.issues));
      continue;
    }
    parsed.output.rule.forEach((entry, index) => {
      origins.push({ file, text, index, entry });
    });
  }
  return origins;
}

/** `proc.name == "x"` or `"x" != proc.name`, with the quoted name captured. */
const NAME_COMPARISON =
  /\bproc\.name\s*[!=]=\s*(?:"([^"\\]*)"|'([^'\\]*)')|(?:"([^"\\]*)"|'([^'\\]*)')\s*[!=]=\s*proc\.name\b/g;

/**
 * Whether `proc.name == name` can only ever match a few of the processes the writer meant. `proc.name`
 * is what a process runs: an interpreter or runner is named with its program (`python3 train.py`, `node
 * vite`), and an interpreter's version goes (`python3.11` is `python3`). So a bare interpreter name
 * matches only that interpreter run without a program, and a versioned one never does.
 */
function misleadingName(name: string): boolean {
  if (name === '' || /\s/.test(name)) return false;
  if (canonicalProgram(name) !== name) return true;
  const probes = [
    [name, 'app.py'],
    [name, 'app.js'],
    [name, 'run', 'app'],
    [name, '-c', 'app'],
  ];
  return probes.some((argv) => displayName(argv) !== name);
}

/** One warning per comparison of `proc.name` with a bare program name in a rule's conditions. */
function nameWarnings(
  spec: RuleSpec,
  locate: (key: string) => Pick<Problem, 'file' | 'line'>,
  index: number,
) {
  const warnings: Problem[] = [];
  const conditions: [string, string, string | undefined][] = [
    ['when', 'when', spec.when],
    ['clear_when', 'clear_when', spec.clear_when],
    ...spec.escalate.map((step, i): [string, string, string] => [
      'escalate',
      `escalate[${i}].when`,
      step.when,
    ]),
  ];
  for (const [key, keyPath, expression] of conditions) {
    for (const match of (expression ?? '').matchAll(NAME_COMPARISON)) {
      const name = match[1] ?? match[2] ?? match[3] ?? match[4] ?? '';
      if (!misleadingName(name)) continue;
      warnings.push({
        ...locate(key),
        key: `rule[${index}].${keyPath}`,
        message:
          `rule "${spec.id}": warning: proc.name is what a process runs ("python3 train.py"), so ` +
          `proc.name == "${name}" matches almost nothing; compare proc.comm, the kernel's name ` +
          `(proc.comm == "${canonicalProgram(name).slice(0, 15)}")`,
      });
    }
  }
  return warnings;
}

/**
 * Loads the shipped rules and the user's. A user entry whose id matches a shipped rule overrides it key
 * by key (so `id = "load_high"` with `enabled = false`, or with a new `for`, is enough). Every problem —
 * bad TOML, unknown field, wrong type, CEL that does not compile or type-check, a template that does not —
 * names file, line and rule id; the other rules still load. The user's files (directory and extra files)
 * are read only if nobody but the user or root could have written them; a refused one is not read at all,
 * is listed in `refused`, and its line goes to `warn`.
 */
export function loadRules(options: {
  shippedDir?: string;
  userDir?: string | null;
  extraFiles?: readonly string[];
  thresholdNames: readonly string[];
  trust?: TrustContext;
  warn?: (line: string) => void;
}): LoadedRules {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const refused: Refusal[] = [];
  const { trust } = options;
  const sources = [
    ...shippedSources(options.shippedDir ?? SHIPPED_RULES_DIR, problems),
    ...(options.userDir ? userSources(options.userDir, trust, problems, refused) : []),
    ...(options.extraFiles ?? []).flatMap((file) => userSource(file, true, trust, problems, refused) ?? []),
  ];
  for (const r of refused) (options.warn ?? warnOnce)(r.line);
  const files = sources.map((source) => source.file);
  const merged = new Map<string, { entry: Record<string, unknown>; origins: Map<string, Origin> }>();
  const order: string[] = [];
  for (const origin of readEntries(sources, problems)) {
    const id =
      typeof origin.entry['id'] === 'string' ? origin.entry['id'] : `#${origin.index}@${origin.file}`;
    let slot = merged.get(id);
    if (!slot) {
      slot = { entry: {}, origins: new Map() };
      merged.set(id, slot);
      order.push(id);
    }
    for (const [key, value] of Object.entries(origin.entry)) {
      slot.entry[key] = value;
      slot.origins.set(key, origin);
    }
    slot.origins.set('', slot.origins.get('') ?? origin);
  }

  const all: Rule[] = [];
  for (const id of order) {
    const { entry, origins } = merged.get(id)!;
    const headOrigin = origins.get('id') ?? origins.get('')!;
    const locate = (key: string | null): Pick<Problem, 'file' | 'line'> => {
      const origin = (key && origins.get(key)) || headOrigin;
      return {
        file: origin.file,
        line: lineOfKey(origin.text, ['rule', origin.index, ...(key ? [key] : [])]),
      };
    };
    const label = typeof entry['id'] === 'string' ? `rule "${entry['id']}"` : `rule #${headOrigin.index + 1}`;
    const parsed = v.safeParse(RuleSchema, entry);
    const errors: Problem[] = [];
    const badKeys = new Set<string>();
    if (!parsed.success) {
      for (const issue of parsed.issues) {
        const key = issue.path?.[0]?.key as string | undefined;
        if (key) badKeys.add(key);
        const [problem] = problemsFromIssues('', '', [issue], ['rule', headOrigin.index]);
        errors.push({
          ...locate(key ?? null),
          key: problem!.key,
          message: `${label}: ${problem!.message}`,
        });
      }
    }
    // The expressions are checked even when other keys are wrong, so that one `rules check` says all.
    const scope = entry['scope'];
    const env = SCOPES.includes(scope as (typeof SCOPES)[number])
      ? environmentFor(scope as RuleSpec['scope'], options.thresholdNames)
      : null;
    const program = (key: string, expression: unknown, expect: 'bool' | 'any', keyPath = key) => {
      if (env === null || typeof expression !== 'string' || badKeys.has(key)) return undefined;
      const result = compile(env, expression, expect);
      if (result.error) {
        errors.push({
          ...locate(key),
          key: `rule[${headOrigin.index}].${keyPath}`,
          message: `${label}: ${result.error}`,
        });
      }
      return result.program;
    };
    const when = program('when', entry['when'], 'bool');
    const clearWhen = program('clear_when', entry['clear_when'], 'bool');
    const steps = Array.isArray(entry['escalate']) ? (entry['escalate'] as unknown[]) : [];
    const escalate = steps.map((step, i) => ({
      severity: (step as { severity?: unknown } | null)?.severity,
      when: program('escalate', (step as { when?: unknown } | null)?.when, 'bool', `escalate[${i}].when`),
    }));
    const summary =
      env !== null && typeof entry['summary'] === 'string' && !badKeys.has('summary')
        ? compileTemplate(env, entry['summary'])
        : null;
    if (summary?.error) {
      errors.push({
        ...locate('summary'),
        key: `rule[${headOrigin.index}].summary`,
        message: `${label}: ${summary.error}`,
      });
    }
    if (!parsed.success || errors.length > 0) {
      problems.push(...errors);
      continue;
    }
    const spec = parsed.output as RuleSpec;
    warnings.push(...nameWarnings(spec, locate, headOrigin.index));
    const expressions = [
      spec.when,
      spec.clear_when ?? '',
      spec.summary,
      ...spec.escalate.map((e) => e.when),
    ].join(' ');
    const forMs = parseDuration(spec.for);
    all.push({
      spec,
      id: spec.id,
      file: headOrigin.file,
      line: locate(null).line,
      forMs,
      clearForMs: parseDuration(spec.clear_for),
      when: when!,
      clearWhen: spec.clear_when === undefined ? null : clearWhen!,
      escalate: spec.escalate.map((step, i) => ({ severity: step.severity, when: escalate[i]!.when! })),
      summary: summary!.template!,
      needsHistory:
        forMs > 0 || HISTORY_FIELDS.some((field) => new RegExp(`\\.${field}\\b`).test(expressions)),
      event: spec.scope === 'journal',
    });
  }
  for (const warning of warnings) (options.warn ?? warnOnce)(formatProblem(warning));
  return { rules: all.filter((rule) => rule.spec.enabled), all, problems, files, refused, warnings };
}
