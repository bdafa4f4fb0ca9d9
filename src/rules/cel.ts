import { Environment } from '@marcbachmann/cel-js';
import { formatBytes, formatDuration } from '../cli/format.js';
import { compileFast, type FieldType, type VariableTypes } from './cel-fast.js';
import { SCOPE_VARIABLES, type Scope, SYSTEM_FIELDS } from './facts-schema.js';

/** A compiled CEL expression: call it with the variables of its scope. */
export type CelProgram = (variables: Record<string, unknown>) => unknown;

/** Number formatting used inside summary templates: whole numbers plainly, others with one decimal. */
function plain(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

const cache = new Map<string, Environment>();
/** The declared fields of each environment's variables, for {@link compileFast}. */
const declared = new WeakMap<Environment, VariableTypes>();

/**
 * The CEL environment of one scope: `sys`, `t` (thresholds, all doubles) and the scope's own variable,
 * declared with their field types so that a typo or a wrong comparison is a load-time error, plus a few
 * formatting functions for summaries: `bytes(x)`, `duration(secs)`, `fixed(x)`. No function touches the
 * system: CEL here is a pure expression language (never `eval`).
 */
export function environmentFor(scope: Scope, thresholdNames: readonly string[]): Environment {
  const id = `${scope}:${thresholdNames.join(',')}`;
  const cached = cache.get(id);
  if (cached) return cached;
  const env = new Environment({ homogeneousAggregateLiterals: false })
    .registerVariable({ name: 'sys', schema: { ...SYSTEM_FIELDS } })
    .registerVariable({
      name: 't',
      schema: Object.fromEntries(thresholdNames.map((name) => [name, 'double'])),
    })
    .registerFunction('bytes(double): string', (x: number) => formatBytes(x))
    .registerFunction('duration(double): string', (x: number) => formatDuration(x))
    .registerFunction('fixed(double): string', (x: number) => plain(x));
  const types: Record<string, Record<string, FieldType>> = {
    sys: { ...SYSTEM_FIELDS },
    t: Object.fromEntries(thresholdNames.map((name) => [name, 'double' as const])),
  };
  if (scope !== 'system') {
    const { variable, fields } = SCOPE_VARIABLES[scope];
    env.registerVariable({ name: variable, schema: { ...fields } });
    types[variable] = { ...fields };
  }
  declared.set(env, types);
  cache.set(id, env);
  return env;
}

export interface CompileResult {
  readonly program?: CelProgram;
  readonly error?: string;
}

/** Parses and type-checks an expression; `expect` is the CEL type it must have (`bool` for conditions). */
export function compile(env: Environment, expression: string, expect: 'bool' | 'any'): CompileResult {
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
  // A simple condition runs as plain closures (./cel-fast.ts); anything else through CEL's interpreter.
  const types = declared.get(env);
  const fast = expect === 'bool' && types ? compileFast(expression, types, 'bool') : null;
  if (fast) return { program: fast };
  const parsed = env.parse(expression) as unknown as CelProgram;
  return { program: parsed };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** `{{ expr }}` pieces of a summary template, compiled once. */
export type Template = (variables: Record<string, unknown>) => string;

export function compileTemplate(env: Environment, template: string): { template?: Template; error?: string } {
  const parts: Array<string | CelProgram> = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) break;
    const close = rest.indexOf('}}', open);
    if (close < 0) return { error: 'unclosed "{{" in summary' };
    parts.push(rest.slice(0, open));
    const expression = rest.slice(open + 2, close).trim();
    const compiled = compile(env, expression, 'any');
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
