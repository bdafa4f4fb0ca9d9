import type { BaseIssue } from 'valibot';
import { lineOfKey } from './locate.js';

/** One thing wrong in a config or rule file, located for a person: `file:line: key: message`. */
export interface Problem {
  readonly file: string;
  readonly line: number | null;
  readonly key: string | null;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file}${p.line === null ? '' : `:${p.line}`}: ${p.key ? `${p.key}: ` : ''}${p.message}`;
}

/** A file that cannot be used; `problems` says every reason found, each with its line and key. */
export class ProblemsError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a table';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'bigint' || typeof value === 'number') return `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

/** A failed check (range, whole number, non-empty) said as a person would, with the value found. */
function describeCheck(issue: BaseIssue<unknown>): string {
  const got = `(got ${describeShort(issue.input)})`;
  const requirement = (issue as { requirement?: unknown }).requirement;
  switch (issue.type) {
    case 'max_value':
      return `must be at most ${String(requirement)} ${got}`;
    case 'min_value':
      return `must be at least ${String(requirement)} ${got}`;
    case 'integer':
      return `must be a whole number ${got}`;
    case 'min_length':
      return requirement === 1 ? 'must not be empty' : `must be at least ${String(requirement)} long ${got}`;
    case 'regex':
      return issue.message.startsWith('Invalid format')
        ? `must match ${String(requirement)} ${got}`
        : issue.message;
    default:
      return issue.message;
  }
}

function describeShort(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Turns valibot issues into located problems. An unknown key (a strict object's `never` issue) says so;
 * a missing one names the key; a wrong type says what was expected and what was found; a value out of
 * range says the bound and the value.
 */
export function problemsFromIssues(
  file: string,
  text: string,
  issues: readonly BaseIssue<unknown>[],
  prefix: readonly (string | number)[] = [],
): Problem[] {
  return issues.map((issue) => {
    const path = [...prefix, ...(issue.path ?? []).map((item) => item.key as string | number)];
    const key = path.filter((part) => typeof part === 'string').join('.') || null;
    let message: string;
    if (issue.expected === 'never') message = 'unknown key';
    else if (issue.kind === 'schema' && issue.input === undefined && path.length > 0)
      message = `missing key ${String(path[path.length - 1])}`;
    else if (issue.kind === 'schema')
      message = `expected ${issue.expected ?? 'another type'}, found ${describeValue(issue.input)}`;
    else message = describeCheck(issue);
    return { file, line: lineOfKey(text, path), key: key ? displayKey(path) : null, message };
  });
}

function displayKey(path: readonly (string | number)[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}
