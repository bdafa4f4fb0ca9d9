import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Environment } from '@marcbachmann/cel-js';
import { defaultConfig } from '../../src/config/schema.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { celEnvironment, environmentFor, SUMMARY_FUNCTIONS } from '../../src/rules/cel.js';
import { compileFast, type VariableTypes } from '../../src/rules/cel-fast.js';
import { loadRules } from '../../src/rules/load.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { SCOPE_VARIABLES, SCOPES, type Scope } from '../../src/understand/facts-schema.js';
import { liveSampling } from '../helpers/context.js';

const THRESHOLDS = Object.keys(defaultConfig().thresholds);

/** The declared fields of a scope's variables, as rules compile against them. */
function typesFor(scope: Scope): VariableTypes {
  return environmentFor(scope, THRESHOLDS).types;
}

/** CEL's own environment over the same declarations and functions, as rules outside the fast path get. */
function celEnv(scope: Scope): Environment {
  return celEnvironment(environmentFor(scope, THRESHOLDS));
}

const FUNCTIONS = SUMMARY_FUNCTIONS;

/** CEL's own interpreter for the same expression, over the same declarations. */
function interpreted(scope: Scope, expression: string): (v: Record<string, unknown>) => unknown {
  return celEnv(scope).parse(expression) as unknown as (v: Record<string, unknown>) => unknown;
}

/** A deterministic generator of facts that often hit the interesting values: -1, 0, thresholds, equal sides. */
function randomFacts(
  types: VariableTypes,
  seed: number,
  strings: readonly string[],
): Record<string, unknown> {
  let x = seed;
  const next = () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
  const numbers = [-1, 0, 0.5, 1, 2, 5, 10, 40, 45, 50, 80, 85, 90, 95, 100, 1e9, 8e9];
  const out: Record<string, unknown> = {};
  for (const [variable, fields] of Object.entries(types)) {
    const facts: Record<string, unknown> = {};
    for (const [name, type] of Object.entries(fields)) {
      const r = next();
      facts[name] =
        type === 'bool'
          ? r < 0.5
          : type === 'string'
            ? strings[Math.floor(r * strings.length)]!
            : r < 0.7
              ? numbers[Math.floor(next() * numbers.length)]!
              : next() * 200 - 20;
    }
    out[variable] = facts;
  }
  return out;
}

describe('the CEL fast path', () => {
  const shipped = loadRules({ thresholdNames: THRESHOLDS });
  const expressions = shipped.rules.flatMap((rule) =>
    [rule.spec.when, rule.spec.clear_when, ...rule.spec.escalate.map((e) => e.when)]
      .filter((e): e is string => e !== undefined)
      .map((expression) => ({ rule: rule.id, scope: rule.spec.scope, expression })),
  );

  it('takes nearly every shipped condition, and gives what CEL gives on 2,000 sets of facts each', () => {
    assert.deepEqual(shipped.problems, []);
    // Strings the rules compare against, so equality and `in` are exercised both ways.
    const strings = [
      ...new Set(expressions.flatMap(({ expression }) => expression.match(/'[^']*'/g) ?? [])),
    ].map((s) => s.slice(1, -1));
    strings.push('', 'other', 'python3');
    let fast = 0;
    for (const { rule, scope, expression } of expressions) {
      const types = typesFor(scope);
      const program = compileFast(expression, types, 'bool');
      if (program === null) continue;
      fast++;
      const cel = interpreted(scope, expression);
      for (let seed = 1; seed <= 2000; seed++) {
        const facts = randomFacts(types, seed * 7919, strings);
        assert.equal(program(facts), cel(facts), `${rule}: ${expression} on seed ${seed}`);
      }
    }
    assert.ok(fast >= expressions.length - 2, `${fast} of ${expressions.length} conditions on the fast path`);
  });

  it('agrees with CEL on the facts of this machine’s real processes', async () => {
    const watcher = new Watcher(
      loadRulesRuntime({ env: { XDG_CONFIG_HOME: '/nonexistent' } }),
      liveSampling(),
    );
    await watcher.cycle();
    const { facts } = await watcher.cycle();
    let judged = 0;
    for (const { rule, scope, expression } of expressions) {
      const program = compileFast(expression, typesFor(scope), 'bool');
      if (program === null) continue;
      const cel = interpreted(scope, expression);
      const subjects = scope === 'system' ? [null] : (facts.subjects[scope] ?? []);
      for (const subject of subjects) {
        const vars: Record<string, unknown> = { sys: facts.sys, t: facts.thresholds };
        if (subject) vars[SCOPE_VARIABLES[scope as Exclude<Scope, 'system'>].variable] = subject.facts;
        assert.equal(program(vars), cel(vars), `${rule} on ${subject?.key ?? 'system'}`);
        judged++;
      }
    }
    assert.ok(judged > 100, `${judged} judgements`);
  });

  it('leaves to CEL what it does not take with the same meaning', () => {
    const types = typesFor('process');
    for (const expression of [
      'proc.cpu_percent > 50', // an int literal: CEL integer arithmetic
      'size(proc.cmdline) > 10.0', // a function
      "proc.cmdline.startsWith('python')", // a method
      "proc.comm < 'm'", // string order differs (code points against UTF-16 units)
      "proc.orphan ? 1.0 : 'one'", // a conditional whose branches differ (CEL: dyn)
      'bytes(proc.rss_bytes, 2.0) == "x"', // a declared function with two arguments
      "bytes('x') == 'x'", // a declared function on a string
      'floor(proc.cpu_percent) > 1.0', // an undeclared function
      "proc.comm == 'a\\'b'", // an escape
      "proc.comm in ['a', 'b'] && has(proc.kind)", // a macro
      'proc.cpu_percent in [1.0, 2.0]', // a number list (NaN)
      'proc.nonexistent > 1.0', // an unknown field: CEL says so
      'proc', // a bare variable
    ]) {
      assert.equal(compileFast(expression, types, 'bool'), null, expression);
    }
    assert.equal(compileFast('proc.cpu_percent + 1.0', types, 'bool'), null, 'a double is not a condition');
  });

  it('computes precedence, arithmetic, negation, lists and strings as CEL does', () => {
    const types = typesFor('process');
    const facts = {
      sys: {},
      t: { orphan_cpu_percent: 50 },
      proc: { cpu_percent: 30, orphan: true, comm: 'node', rss_bytes: 2e9, kind: 'mcp-server' },
    };
    for (const [expression, expected] of [
      ['proc.orphan && proc.cpu_percent >= t.orphan_cpu_percent / 2.0', true],
      ['!proc.orphan || proc.cpu_percent > 2.0 * t.orphan_cpu_percent - 80.0', true],
      ['-proc.cpu_percent < -29.5 && (proc.rss_bytes / 1.0e9 == 2.0)', true],
      ["proc.comm in ['bash', 'node'] && !(proc.kind in ['browser'])", true],
      ["proc.comm + '-x' == 'node-x' && proc.kind != 'editor'", true],
      ['proc.cpu_percent > 30.0 || false', false],
    ] as const) {
      const program = compileFast(expression, types, 'bool');
      assert.ok(program, expression);
      assert.equal(program(facts), expected, expression);
      assert.equal(interpreted('process', expression)(facts), expected, `CEL: ${expression}`);
    }
  });

  it('takes every piece of every shipped summary, and gives what CEL gives on 500 sets of facts each', () => {
    const strings = ['', 'systemd-oomd', 'kernel', 'python3', 'editor'];
    let pieces = 0;
    for (const rule of shipped.rules) {
      const types = typesFor(rule.spec.scope);
      for (const [, piece] of rule.spec.summary.matchAll(/\{\{(.*?)\}\}/g)) {
        const expression = piece!.trim();
        const program = compileFast(expression, types, 'any', FUNCTIONS);
        assert.ok(program, `${rule.id}: ${expression} is on the fast path`);
        const cel = interpreted(rule.spec.scope, expression);
        for (let seed = 1; seed <= 500; seed++) {
          const facts = randomFacts(types, seed * 104_729, strings);
          assert.equal(program(facts), cel(facts), `${rule.id}: ${expression} on seed ${seed}`);
        }
        pieces++;
      }
    }
    assert.ok(pieces > 30, `${pieces} summary pieces`);
  });

  it('takes an expression only when CEL accepts it too, with the same type', () => {
    const types = typesFor('process');
    const env = celEnv('process');
    const atoms = [
      'proc.cpu_percent',
      'proc.orphan',
      'proc.comm',
      "'x'",
      '2.0',
      'true',
      't.orphan_cpu_percent',
      'fixed(proc.pid)',
      'bytes(proc.comm)',
      'proc.nope',
      '1',
    ];
    const shapes = [
      (a: string, b: string) => `${a} + ${b}`,
      (a: string, b: string) => `${a} - ${b}`,
      (a: string, b: string) => `${a} * ${b}`,
      (a: string, b: string) => `${a} == ${b}`,
      (a: string, b: string) => `${a} < ${b}`,
      (a: string, b: string) => `${a} && ${b}`,
      (a: string, b: string) => `!${a} || ${b}`,
      (a: string, b: string) => `-${a} >= ${b}`,
      (a: string, b: string) => `${a} ? ${b} : ${a}`,
      (a: string, b: string) => `proc.orphan ? ${a} : ${b}`,
      (a: string, b: string) => `(${a}) in [${b}]`,
      (a: string, b: string) => `duration(${a}) + ${b}`,
    ];
    let taken = 0;
    for (const shape of shapes) {
      for (const a of atoms) {
        for (const b of atoms) {
          const expression = shape(a, b);
          const program = compileFast(expression, types, 'any', FUNCTIONS);
          if (program === null) continue;
          taken++;
          const checked = env.check(expression) as { valid: boolean; type?: string };
          assert.ok(checked.valid, `CEL rejects what the fast path took: ${expression}`);
          const value = program({
            sys: {},
            t: { orphan_cpu_percent: 50 },
            proc: { cpu_percent: 3, orphan: true, comm: 'x', pid: 7 },
          });
          const jsType = typeof value === 'number' ? 'double' : typeof value === 'string' ? 'string' : 'bool';
          assert.equal(checked.type, jsType, `the type of ${expression}`);
        }
      }
    }
    assert.ok(taken > 100, `${taken} expressions taken`);
  });

  it('is tried for every scope', () => {
    for (const scope of SCOPES) assert.ok(compileFast('sys.load1 >= 0.0', typesFor(scope), 'bool'), scope);
  });
});
