import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/schema.js';
import { parseDuration } from '../../src/model/duration.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { loadRules } from '../../src/rules/load.js';
import type { FactSet, Subject, SystemFacts } from '../../src/understand/facts-schema.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-engine-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const thresholds = defaultConfig().thresholds as unknown as Record<string, number>;
const names = Object.keys(thresholds);

function rulesFrom(toml: string) {
  const file = join(dir, `r${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(file, toml);
  const loaded = loadRules({ shippedDir: join(dir, 'none'), extraFiles: [file], thresholdNames: names });
  assert.deepEqual(loaded.problems, []);
  return loaded.rules;
}

const sys = (over: Partial<SystemFacts> = {}): SystemFacts => ({
  mem_total_bytes: 16e9,
  mem_available_bytes: 8e9,
  mem_used_percent: 50,
  swap_total_bytes: 0,
  swap_used_bytes: 0,
  swap_used_percent: 0,
  has_psi: true,
  psi_mem_some_avg10: 0,
  psi_mem_some_avg60: 0,
  psi_mem_full_avg10: 0,
  psi_mem_full_avg60: 0,
  psi_cpu_some_avg10: 0,
  psi_io_full_avg10: 0,
  load1: 0.5,
  load5: 0.5,
  load15: 0.5,
  cores: 8,
  cpu_percent: 5,
  process_count: 300,
  zombie_count: 0,
  hour: 10,
  anomaly_z: -1,
  anomaly_metric: '',
  anomaly_value: 0,
  anomaly_mean: 0,
  ...over,
});

const at = (now: number, s: SystemFacts, subjects: FactSet['subjects'] = {}): FactSet => ({
  now,
  sys: s,
  thresholds,
  subjects,
});

const RAM = `[[rule]]
id = "ram"
title = "RAM"
severity = "high"
scope = "system"
when = "sys.mem_used_percent >= t.ram_warn_percent"
for = "30s"
clear_when = "sys.mem_used_percent < t.ram_warn_percent - 5.0"
clear_for = "30s"
escalate = [{ severity = "critical", when = "sys.mem_used_percent >= t.ram_critical_percent" }]
summary = "RAM {{ fixed(sys.mem_used_percent) }}%"
`;

describe('the rule engine', () => {
  it('fires only once the condition has held for its duration', () => {
    const engine = new RuleEngine(rulesFrom(RAM));
    assert.equal(engine.evaluate(at(0, sys({ mem_used_percent: 85 }))).raised.length, 0);
    assert.equal(engine.evaluate(at(29_000, sys({ mem_used_percent: 85 }))).raised.length, 0);
    const fired = engine.evaluate(at(30_000, sys({ mem_used_percent: 85 })));
    assert.deepEqual(
      fired.raised.map((f) => [f.rule, f.severity, f.summary, f.since]),
      [['ram', 'high', 'RAM 85%', 0]],
    );
  });

  it('starts counting again when the condition breaks before its duration', () => {
    const engine = new RuleEngine(rulesFrom(RAM));
    engine.evaluate(at(0, sys({ mem_used_percent: 85 })));
    engine.evaluate(at(20_000, sys({ mem_used_percent: 60 })));
    assert.equal(engine.evaluate(at(40_000, sys({ mem_used_percent: 85 }))).raised.length, 0);
    assert.equal(engine.evaluate(at(70_000, sys({ mem_used_percent: 85 }))).raised.length, 1);
  });

  it('does not flap around the threshold: it resolves only below the clear level, held for clear_for', () => {
    const engine = new RuleEngine(rulesFrom(RAM));
    engine.evaluate(at(0, sys({ mem_used_percent: 85 })));
    engine.evaluate(at(30_000, sys({ mem_used_percent: 85 })));
    // 78 % is under the 80 % warning but above the 75 % clear level: still firing.
    let step = engine.evaluate(at(40_000, sys({ mem_used_percent: 78 })));
    assert.deepEqual([step.firing.length, step.resolved.length], [1, 0]);
    step = engine.evaluate(at(50_000, sys({ mem_used_percent: 70 })));
    assert.deepEqual([step.firing.length, step.resolved.length], [1, 0]);
    step = engine.evaluate(at(60_000, sys({ mem_used_percent: 81 })));
    step = engine.evaluate(at(70_000, sys({ mem_used_percent: 70 })));
    assert.equal(step.resolved.length, 0, 'the clear period started again');
    step = engine.evaluate(at(100_000, sys({ mem_used_percent: 70 })));
    assert.deepEqual([step.firing.length, step.resolved.map((f) => f.rule)], [0, ['ram']]);
  });

  it('escalates severity while firing and refreshes the summary', () => {
    const engine = new RuleEngine(rulesFrom(RAM));
    engine.evaluate(at(0, sys({ mem_used_percent: 85 })));
    engine.evaluate(at(30_000, sys({ mem_used_percent: 85 })));
    const step = engine.evaluate(at(40_000, sys({ mem_used_percent: 93 })));
    assert.deepEqual(
      step.firing.map((f) => [f.severity, f.summary]),
      [['critical', 'RAM 93%']],
    );
  });

  const GROUPS = `[[rule]]
id = "storm"
title = "Storm"
severity = "high"
scope = "group"
when = "group.count > 5.0 && group.orphans > 5.0"
summary = "{{ fixed(group.count) }} x {{ group.name }}"
supersedes = ["dupes"]

[[rule]]
id = "dupes"
title = "Dupes"
severity = "low"
scope = "group"
when = "group.count > 5.0"
summary = "dupes {{ group.name }}"
`;
  const group = (key: string, count: number, orphans: number, pids: number[]): Subject => ({
    key,
    label: key,
    pids,
    facts: {
      key,
      name: key,
      comm: key,
      user: 'dev',
      count,
      rss_bytes: 1e9,
      rss_percent: 5,
      cpu_percent: 0,
      orphans,
      agent_related: 0,
      suspects: orphans,
      live_owners: 0,
      parents: 1,
      kind: 'mcp-server',
      kind_label: 'MCP server',
      kind_plural: 'MCP servers',
      own: true,
    },
  });

  it('hides a finding that a more specific rule supersedes on the same subject', () => {
    const engine = new RuleEngine(rulesFrom(GROUPS));
    const step = engine.evaluate(
      at(0, sys(), { group: [group('py', 8, 8, [1, 2]), group('node', 7, 0, [3])] }),
    );
    assert.deepEqual(step.firing.map((f) => `${f.rule}:${f.subject}`).sort(), ['dupes:node', 'storm:py']);
  });

  it('resolves a finding at once when its subject disappears', () => {
    const engine = new RuleEngine(rulesFrom(GROUPS));
    engine.evaluate(at(0, sys(), { group: [group('py', 8, 8, [1, 2])] }));
    const step = engine.evaluate(at(5_000, sys(), { group: [] }));
    assert.deepEqual(step.resolved.map((f) => f.rule).sort(), ['dupes', 'storm']);
    assert.equal(step.firing.length, 0);
  });

  it('raises a journal event once per entry and never tracks it as firing', () => {
    const engine = new RuleEngine(
      rulesFrom(`[[rule]]
id = "oom"
title = "OOM"
severity = "high"
scope = "journal"
when = "entry.oom"
summary = "killed {{ entry.oom_name }}"
`),
    );
    const entry = (key: string) => ({
      key,
      label: 'kernel',
      pids: [42],
      facts: {
        message: 'x',
        identifier: 'kernel',
        unit: '',
        priority: 3,
        pid: -1,
        oom: true,
        oom_source: 'kernel',
        oom_pid: 42,
        oom_name: 'java',
        oom_rss_bytes: 1e9,
        oom_cgroup: '',
      },
    });
    const first = engine.evaluate(at(0, sys(), { journal: [entry('c1')] }));
    assert.deepEqual(
      first.raised.map((f) => [f.summary, f.event]),
      [['killed java', true]],
    );
    assert.equal(first.firing.length, 0);
    assert.equal(engine.evaluate(at(1000, sys(), { journal: [entry('c1')] })).raised.length, 0);
    assert.equal(engine.evaluate(at(2000, sys(), { journal: [entry('c1'), entry('c2')] })).raised.length, 1);
  });

  it('reports a condition that fails at run time instead of throwing, and skips it', () => {
    const engine = new RuleEngine(
      rulesFrom(`[[rule]]
id = "div"
title = "Div"
severity = "low"
scope = "system"
when = "int(sys.load1) / int(sys.zombie_count) > 1"
summary = "x"
`),
    );
    const step = engine.evaluate(at(0, sys({ zombie_count: 0 })));
    assert.equal(step.firing.length, 0);
    assert.equal(step.errors[0]?.rule, 'div');
    assert.match(step.errors[0]!.message, /division by zero/i);
  });
});

describe('rule files', () => {
  it('override a shipped rule key by key, and can turn one off', () => {
    const shipped = join(dir, 'shipped');
    const user = join(dir, 'user');
    for (const d of [shipped, user]) rmSync(d, { recursive: true, force: true });
    mkdirSync(shipped);
    mkdirSync(user);
    writeFileSync(join(shipped, 'a.toml'), RAM);
    writeFileSync(join(user, 'mine.toml'), '[[rule]]\nid = "ram"\nfor = "2m"\nseverity = "medium"\n');
    let loaded = loadRules({ shippedDir: shipped, userDir: user, thresholdNames: names });
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.rules[0]!.forMs, 120_000);
    assert.equal(loaded.rules[0]!.spec.severity, 'medium');
    assert.equal(loaded.rules[0]!.spec.when, 'sys.mem_used_percent >= t.ram_warn_percent');
    assert.equal(loaded.rules[0]!.file, join(user, 'mine.toml'));
    writeFileSync(join(user, 'mine.toml'), '[[rule]]\nid = "ram"\nenabled = false\n');
    loaded = loadRules({ shippedDir: shipped, userDir: user, thresholdNames: names });
    assert.deepEqual([loaded.rules.length, loaded.all.length], [0, 1]);
  });

  it('say a condition must be a bool and a summary expression must type-check', () => {
    const file = join(dir, 'types.toml');
    writeFileSync(
      file,
      '[[rule]]\nid = "a"\ntitle = "A"\nseverity = "low"\nscope = "system"\nwhen = "sys.load1 + 1.0"\nsummary = "x"\n\n' +
        '[[rule]]\nid = "b"\ntitle = "B"\nseverity = "low"\nscope = "disk"\nwhen = "disk.free_percent < 5.0"\nsummary = "{{ disk.nope }}"\n',
    );
    const loaded = loadRules({ shippedDir: join(dir, 'none'), extraFiles: [file], thresholdNames: names });
    assert.deepEqual(
      loaded.problems.map((p) => `${p.line}: ${p.key}: ${p.message}`),
      [
        '6: rule[0].when: rule "a": must be a condition (bool), but is double',
        '15: rule[1].summary: rule "b": in "{{ disk.nope }}": No such key: nope',
      ],
    );
  });

  it('name a missing key and report a broken condition in the same check as the schema errors', () => {
    const file = join(dir, 'both.toml');
    writeFileSync(
      file,
      '[[rule]]\nid = "a"\nseverity = "loud"\nscope = "system"\nwhen = "sys.nope > 1.0"\nsummary = "{{ sys.load1 }}"\n',
    );
    const loaded = loadRules({ shippedDir: join(dir, 'none'), extraFiles: [file], thresholdNames: names });
    assert.deepEqual(
      loaded.problems.map((p) => `${p.line}: ${p.key}: ${p.message}`),
      [
        '1: rule[0].title: rule "a": missing key title',
        '3: rule[0].severity: rule "a": expected ("info" | "low" | "medium" | "high" | "critical"), found the string "loud"',
        '5: rule[0].when: rule "a": No such key: nope',
      ],
    );
  });

  it('warn that proc.name is not the bare program name, and still load the rule', () => {
    const file = join(dir, 'names.toml');
    writeFileSync(
      file,
      '[[rule]]\nid = "py"\ntitle = "P"\nseverity = "low"\nscope = "process"\n' +
        'when = \'proc.name == "python3" || proc.name == "firefox" || proc.comm == "node"\'\nsummary = "x"\n',
    );
    const said: string[] = [];
    const loaded = loadRules({
      shippedDir: join(dir, 'none'),
      extraFiles: [file],
      thresholdNames: names,
      warn: (line) => said.push(line),
    });
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.rules.length, 1);
    assert.deepEqual(said, [
      `${file}:6: rule[0].when: rule "py": warning: proc.name is what a process runs ("python3 train.py"), so proc.name == "python3" matches almost nothing; compare proc.comm, the kernel's name (proc.comm == "python3")`,
    ]);
  });

  it('read durations in ms, s, m, h and d', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.throws(() => parseDuration('5 minutes'), /not a duration/);
  });
});
