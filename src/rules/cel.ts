import { createRequire } from 'node:module';
import type { Environment } from '@marcbachmann/cel-js';
import { formatBytes, formatDuration } from '../model/format.js';
import { SCOPE_VARIABLES, type Scope, SYSTEM_FIELDS } from '../understand/facts-schema.js';
import { compileFast, type FieldType, type VariableTypes } from './cel-fast.js';

/** A compiled CEL expression: call it with the variables of its scope. */
export type CelProgram = (variables: Record<string, unknown>) => unknown;

/** Number formatting used inside summary templates: whole numbers plainly, others with one decimal. */
function plain(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The summary functions, the same for CEL and for the fast path. */
export const SUMMARY_FUNCTIONS = {
  bytes: (x: number) => formatBytes(x),
  duration: (x: number) => formatDuration(x),
  fixed: (x: number) => plain(x),
} as const;

/**
 * What expressions of one scope may use: `sys`, `t` (thresholds, all doubles) and the scope's own
 * variable, with their field types, so that a typo or a wrong comparison is a load-time error, plus the
 * formatting functions for summaries: `bytes(x)`, `duration(secs)`, `fixed(x)`. No function touches the
 * system: CEL here is a pure expression language (never `eval`). CEL's own environment is built only when
 * an expression needs it (see ./cel-fast.ts).
 */
export interface CelScope {
  readonly types: VariableTypes;
  cel: Environment | null;
}

const cache = new Map<string, CelScope>();

export function environmentFor(scope: Scope, thresholdNames: readonly string[]): CelScope {
  const id = `${scope}:${thresholdNames.join(',')}`;
  const cached = cache.get(id);
  if (cached) return cached;
  const types: Record<string, Record<string, FieldType>> = {
    sys: { ...SYSTEM_FIELDS },
    t: Object.fromEntries(thresholdNames.map((name) => [name, 'double' as const])),
  };
  if (scope !== 'system') {
    const { variable, fields } = SCOPE_VARIABLES[scope];
    types[variable] = { ...fields };
  }
  const made: CelScope = { types, cel: null };
  cache.set(id, made);
  return made;
}

/**
 * @marcbachmann/cel-js, loaded on first use: synchronously (require of an ES module, Node ≥ 20.19), since
 * rules compile inside synchronous loading code.
 */
export function celEnvironment(scope: CelScope): Environment {
  if (scope.cel) return scope.cel;
  const { Environment: CelEnvironment } = createRequire(import.meta.url)(
    '@marcbachmann/cel-js',
  ) as typeof import('@marcbachmann/cel-js');
  let env = new CelEnvironment({ homogeneousAggregateLiterals: false });
  for (const [name, fields] of Object.entries(scope.types))
    env = env.registerVariable({ name, schema: { ...fields } });
  env = env
    .registerFunction('bytes(double): string', SUMMARY_FUNCTIONS.bytes)
    .registerFunction('duration(double): string', SUMMARY_FUNCTIONS.duration)
    .registerFunction('fixed(double): string', SUMMARY_FUNCTIONS.fixed);
  scope.cel = env;
  return env;
}

export interface CompileResult {
  readonly program?: CelProgram;
  readonly error?: string;
}

/** Parses and type-checks an expression; `expect` is the CEL type it must have (`bool` for conditions). */
export function compile(scope: CelScope, expression: string, expect: 'bool' | 'any'): CompileResult {
  // A simple expression runs as plain closures (./cel-fast.ts), checked there; anything else through CEL.
  const fast = compileFast(expression, scope.types, expect, SUMMARY_FUNCTIONS);
  if (fast) return { program: fast };
  const env = celEnvironment(scope);
  let checked: { valid: boolean; type?: string; error?: { message: string } };
  try {
    checked = env.check(expression) as typeof checked;
  } catch (error) {
    return { error: firstLine((error as Error).message) };
  }
  if (!checked.valid) return { error: firstLine(checked.error?.message ?? 'invalid expression') };
  if (expect === 'bool' && checked.type !== 'bool') {
    return { error: `must be a condition (bool), but is ${checked.type}` };
  }
  return { program: env.parse(expression) as unknown as CelProgram };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** `{{ expr }}` pieces of a summary template, compiled once. */
export type Template = (variables: Record<string, unknown>) => string;

export function compileTemplate(scope: CelScope, template: string): { template?: Template; error?: string } {
  const parts: Array<string | CelProgram> = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) break;
    const close = rest.indexOf('}}', open);
    if (close < 0) return { error: 'unclosed "{{" in summary' };
    parts.push(rest.slice(0, open));
    const expression = rest.slice(open + 2, close).trim();
    const compiled = compile(scope, expression, 'any');
    if (compiled.error) return { error: `in "{{ ${expression} }}": ${compiled.error}` };
    parts.push(compiled.program!);
    rest = rest.slice(close + 2);
  }
  parts.push(rest);
  return {
    template: (variables) =>
      parts
        .map((part) => {
          if (typeof part === 'string') return part;
          const value = part(variables);
          return typeof value === 'number' ? plain(value) : String(value);
        })
        .join(''),
  };
}
