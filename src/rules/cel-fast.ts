/**
 * A fast path for the simple CEL expressions rules are made of: conditions such as `proc.orphan &&
 * proc.cpu_percent >= t.orphan_cpu_percent` or `group.kind in ['browser', 'editor']`, and summary pieces
 * such as `bytes(proc.rss_bytes)` or `proc.original_parent != '' ? ', left by ' + proc.original_parent :
 * ''`. Such an expression becomes a tree of plain closures, 20–50× faster than the interpreter (process
 * rules run once per process per cycle), and it is type-checked here, so a rule set made only of them
 * never loads the CEL interpreter at all (3–7 MB resident in a bare Node, and 35 ms to load).
 *
 * Only a subset with the very same meaning and the very same type in CEL and JavaScript is taken: field
 * access on the declared variables (whose values the fact builder always fills with their declared type:
 * numbers are CEL `double`, an unknown one is -1, never null), double literals (with a `.` or an exponent:
 * an integer literal would bring CEL's integer arithmetic), string and bool literals, `! - * / + - < <= >
 * >= == != && || in [list]`, `c ? a : b` with branches of one type, the declared one-double functions,
 * parentheses. Relations on strings other than equality and `in` are left out (CEL orders strings by code
 * point, JavaScript by UTF-16 unit), so is everything else — other calls, methods, macros, maps, escapes in
 * strings: {@link compileFast} returns null and CEL checks and runs the expression, with its own errors.
 * test/unit/cel-fast.test.ts checks that CEL accepts, with the same type, every expression taken here, and
 * gives the same value on every shipped rule.
 */

export type FieldType = 'double' | 'string' | 'bool';
/** Functions a summary may call, each from one double to a string: `bytes(x)`, `duration(x)`, `fixed(x)`. */
export type FastFunctions = Readonly<Record<string, (x: number) => string>>;
/** The declared fields of each variable (`sys`, `t`, the scope's own). */
export type VariableTypes = Readonly<Record<string, Readonly<Record<string, FieldType>>>>;

type Vars = Record<string, Record<string, unknown> | undefined>;
type Value = number | string | boolean;
interface Node {
  readonly type: FieldType | 'list';
  readonly fn: (v: Vars) => Value;
  /** Only for a list literal: its elements. */
  readonly items?: ReadonlySet<Value>;
}

class Unsupported extends Error {}

const OPERATORS = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '!',
  '+',
  '-',
  '*',
  '/',
  '(',
  ')',
  '[',
  ']',
  ',',
  '.',
  '?',
  ':',
];

type Token =
  | { kind: 'num'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'id'; value: string }
  | { kind: 'op'; value: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const number = /^(\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i));
    if (number && /\d/.test(c)) {
      // An integer literal (or 1u, 0x1) is CEL int/uint: left to CEL.
      if (!number[2] && !number[3]) throw new Unsupported();
      if (/[\w.]/.test(text[i + number[1]!.length] ?? '')) throw new Unsupported();
      tokens.push({ kind: 'num', value: Number(number[1]) });
      i += number[1]!.length;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      const body = end < 0 ? null : text.slice(i + 1, end);
      // Escapes, raw/bytes prefixes and triple quotes are CEL's own: left to CEL.
      if (body === null || body.includes('\\') || text.startsWith(c.repeat(3), i)) throw new Unsupported();
      tokens.push({ kind: 'str', value: body });
      i = end + 1;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (word) {
      tokens.push({ kind: 'id', value: word[0] });
      i += word[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new Unsupported();
    tokens.push({ kind: 'op', value: op });
    i += op.length;
  }
  return tokens;
}

class Parser {
  private at = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly types: VariableTypes,
    private readonly functions: FastFunctions,
  ) {}

  parse(): Node {
    const node = this.conditional();
    if (this.at !== this.tokens.length) throw new Unsupported();
    return node;
  }

  /** `c ? a : b`, right-associative, both branches of one type (CEL would make a mixed one dyn). */
  private conditional(): Node {
    const condition = this.or();
    if (!this.take('?')) return condition;
    const c = bool(condition);
    const yes = this.conditional();
    if (!this.take(':')) throw new Unsupported();
    const no = this.conditional();
    if (yes.type !== no.type || yes.type === 'list') throw new Unsupported();
    const a = yes.fn;
    const b = no.fn;
    return { type: yes.type, fn: (v) => (c(v) ? a(v) : b(v)) };
  }

  private peek(value: string): boolean {
    const t = this.tokens[this.at];
    return t !== undefined && (t.kind === 'op' || t.kind === 'id') && t.value === value;
  }

  private take(value: string): boolean {
    if (!this.peek(value)) return false;
    this.at++;
    return true;
  }

  private or(): Node {
    let left = this.and();
    while (this.take('||')) {
      const a = bool(left);
      const b = bool(this.and());
      left = { type: 'bool', fn: (v) => (a(v) as boolean) || (b(v) as boolean) };
    }
    return left;
  }

  private and(): Node {
    let left = this.relation();
    while (this.take('&&')) {
      const a = bool(left);
      const b = bool(this.relation());
      left = { type: 'bool', fn: (v) => (a(v) as boolean) && (b(v) as boolean) };
    }
    return left;
  }

  private relation(): Node {
    const left = this.addition();
    const t = this.tokens[this.at];
    if (t === undefined || t.kind === 'str' || t.kind === 'num') return left;
    if (!['==', '!=', '<', '<=', '>', '>=', 'in'].includes(t.value)) return left;
    this.at++;
    const right = this.addition();
    const a = left.fn;
    const b = right.fn;
    if (t.value === 'in') {
      const items = right.items;
      if (right.type !== 'list' || items === undefined) throw new Unsupported();
      for (const item of items) if (typeOf(item) !== left.type) throw new Unsupported();
      return { type: 'bool', fn: (v) => items.has(a(v)) };
    }
    if (left.type !== right.type || left.type === 'list') throw new Unsupported();
    switch (t.value) {
      case '==':
        return { type: 'bool', fn: (v) => a(v) === b(v) };
      case '!=':
        return { type: 'bool', fn: (v) => a(v) !== b(v) };
    }
    if (left.type !== 'double') throw new Unsupported();
    switch (t.value) {
      case '<':
        return { type: 'bool', fn: (v) => (a(v) as number) < (b(v) as number) };
      case '<=':
        return { type: 'bool', fn: (v) => (a(v) as number) <= (b(v) as number) };
      case '>':
        return { type: 'bool', fn: (v) => (a(v) as number) > (b(v) as number) };
      default:
        return { type: 'bool', fn: (v) => (a(v) as number) >= (b(v) as number) };
    }
  }

  private addition(): Node {
    let left = this.multiplication();
    for (;;) {
      const plus = this.take('+');
      if (!plus && !this.take('-')) return left;
      const right = this.multiplication();
      const a = left.fn;
      const b = right.fn;
      if (plus && left.type === 'string' && right.type === 'string')
        left = { type: 'string', fn: (v) => (a(v) as string) + (b(v) as string) };
      else {
        double(left);
        double(right);
        left = plus
          ? { type: 'double', fn: (v) => (a(v) as number) + (b(v) as number) }
          : { type: 'double', fn: (v) => (a(v) as number) - (b(v) as number) };
      }
    }
  }

  private multiplication(): Node {
    let left = this.unary();
    for (;;) {
      const times = this.take('*');
      if (!times && !this.take('/')) return left;
      const a = double(left);
      const b = double(this.unary());
      left = times
        ? { type: 'double', fn: (v) => (a(v) as number) * (b(v) as number) }
        : { type: 'double', fn: (v) => (a(v) as number) / (b(v) as number) };
    }
  }

  private unary(): Node {
    if (this.take('!')) {
      const a = bool(this.unary());
      return { type: 'bool', fn: (v) => !a(v) };
    }
    if (this.take('-')) {
      const a = double(this.unary());
      return { type: 'double', fn: (v) => -(a(v) as number) };
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.tokens[this.at++];
    if (t === undefined) throw new Unsupported();
    if (t.kind === 'num') return constant('double', t.value);
    if (t.kind === 'str') return constant('string', t.value);
    if (t.kind === 'op' && t.value === '(') {
      const inner = this.conditional();
      if (!this.take(')')) throw new Unsupported();
      return inner;
    }
    if (t.kind === 'op' && t.value === '[') return this.list();
    if (t.kind !== 'id') throw new Unsupported();
    if (t.value === 'true' || t.value === 'false') return constant('bool', t.value === 'true');
    // One of the declared functions, called with one double: `bytes(proc.rss_bytes)`.
    if (this.peek('(') && Object.hasOwn(this.functions, t.value)) {
      this.at++;
      const argument = double(this.conditional());
      if (!this.take(')')) throw new Unsupported();
      const fn = this.functions[t.value]!;
      return { type: 'string', fn: (v) => fn(argument(v) as number) };
    }
    // A variable's field: `proc.cpu_percent`. A bare variable, a deeper path or a call is left to CEL.
    const fields = this.types[t.value];
    if (fields === undefined || !Object.hasOwn(this.types, t.value) || !this.take('.'))
      throw new Unsupported();
    const field = this.tokens[this.at++];
    if (field?.kind !== 'id' || this.peek('(') || this.peek('.') || this.peek('[')) throw new Unsupported();
    const type = Object.hasOwn(fields, field.value) ? fields[field.value] : undefined;
    if (type === undefined) throw new Unsupported();
    const variable = t.value;
    const name = field.value;
    return { type, fn: (v) => v[variable]![name] as Value };
  }

  private list(): Node {
    const items: Value[] = [];
    if (!this.take(']')) {
      do {
        const t = this.tokens[this.at++];
        // Strings and bools only: `in` is SameValueZero here, and NaN in [NaN] is false in CEL.
        if (t?.kind === 'str') items.push(t.value);
        else if (t?.kind === 'id' && (t.value === 'true' || t.value === 'false'))
          items.push(t.value === 'true');
        else throw new Unsupported();
      } while (this.take(','));
      if (!this.take(']')) throw new Unsupported();
    }
    const set = new Set(items);
    return { type: 'list', fn: () => false, items: set };
  }
}

function typeOf(value: Value): FieldType {
  return typeof value === 'number' ? 'double' : typeof value === 'string' ? 'string' : 'bool';
}

function constant(type: FieldType, value: Value): Node {
  return { type, fn: () => value };
}

function bool(node: Node): Node['fn'] {
  if (node.type !== 'bool') throw new Unsupported();
  return node.fn;
}

function double(node: Node): Node['fn'] {
  if (node.type !== 'double') throw new Unsupported();
  return node.fn;
}

/**
 * The expression as plain closures when it is within the subset (see the module comment), else null.
 * `types` declares each variable's fields; `expect` is the type the result must have (`any`: a bool,
 * double or string); `functions` are the functions it may call.
 */
export function compileFast(
  expression: string,
  types: VariableTypes,
  expect: FieldType | 'any',
  functions: FastFunctions = {},
): ((variables: Record<string, unknown>) => unknown) | null {
  try {
    const node = new Parser(tokenize(expression), types, functions).parse();
    if (node.type === 'list' || (expect !== 'any' && node.type !== expect)) return null;
    const fn = node.fn;
    return (variables) => fn(variables as Vars);
  } catch (error) {
    if (error instanceof Unsupported) return null;
    throw error;
  }
}
