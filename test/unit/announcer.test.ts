/**
 * Telling what the rules decided (src/notify/announcer.ts): a real Notifier over a channel that keeps
 * what it is told, and a real SQLite store where snoozes are read and what was told is audited.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/schema.js';
import { Announcer } from '../../src/notify/announcer.js';
import type { DirectChannel, Notice } from '../../src/notify/channel.js';
import { Notifier } from '../../src/notify/notifier.js';
import type { Evaluation } from '../../src/rules/engine.js';
import type { Finding } from '../../src/rules/types.js';
import { StoreGuard } from '../../src/store/guard.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-announcer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 21, 9, 58, 12);
const HOUR = 3_600_000;

function finding(rule: string, over: Partial<Finding> = {}): Finding {
  return {
    fingerprint: `${rule}|system`,
    rule,
    title: rule.replace(/_/g, ' '),
    severity: 'high',
    scope: 'system',
    subject: 'system',
    summary: `${rule} holds`,
    pids: [],
    since: T0,
    suggest: [],
    event: false,
    ...over,
  };
}

function evaluation(over: Partial<Evaluation>): Evaluation {
  return { firing: [], raised: [], resolved: [], errors: [], ...over };
}

let made = 0;
/** An announcer over a real store and a channel that keeps its notices; the clock moves when told. */
function harness() {
  const clock = { now: T0 };
  const logs: string[] = [];
  const terminal: string[] = [];
  const notices: Notice[] = [];
  const channel: DirectChannel = {
    name: 'log',
    queued: false,
    minSeverity: 'low',
    unsupported: null,
    async deliver(notice) {
      notices.push(notice);
    },
  };
  const guard = new StoreGuard(join(dir, `state${made++}`), (line) => logs.push(line));
  const store = guard.open()!;
  const notifier = new Notifier({
    config: defaultConfig(),
    store,
    stateDir: dir,
    log: (line) => logs.push(line),
    write: () => {},
    now: () => clock.now,
    hostname: 'devbox',
    channels: () => [channel],
  });
  const announcer = new Announcer({
    notifier,
    guard,
    log: (line) => logs.push(line),
    write: (line) => terminal.push(line),
    now: () => clock.now,
  });
  const told = () =>
    notices.map((n) => `${n.kind} ${n.findings.map((f) => `${f.rule}: ${f.summary}`).join()}`);
  const audited = () =>
    store.audit!.list().flatMap((e) => (e.kind === 'notification' ? [JSON.stringify(e.data)] : []));
  return { clock, logs, terminal, guard, store, announcer, told, audited };
}

describe('telling what the rules decided', () => {
  it('tells a raised finding and its end, and audits each thing it told with why', () => {
    const { announcer, told, audited } = harness();
    const ram = finding('ram_high', { summary: 'RAM 93% used' });
    announcer.announce(evaluation({ raised: [ram], firing: [ram] }));
    announcer.announce(evaluation({ firing: [ram] }));
    announcer.announce(evaluation({ resolved: [ram] }));
    assert.deepEqual(told(), ['raised ram_high: RAM 93% used', 'resolved ram_high: RAM 93% used']);
    assert.deepEqual(audited(), [
      JSON.stringify({ rule: 'ram_high', severity: 'high', subject: 'system', what: 'new' }),
      JSON.stringify({ rule: 'ram_high', subject: 'system', what: 'resolved' }),
    ]);
  });

  it('does not tell a finding of a snoozed rule, and tells the other rules and those whose snooze ended', () => {
    const { store, announcer, told, audited } = harness();
    store.actions!.snooze('ram_high', T0 + HOUR);
    store.actions!.snooze('disk_full', T0 - 1);
    const raised = [finding('ram_high'), finding('swap_high'), finding('disk_full')];
    announcer.announce(evaluation({ raised, firing: raised }));
    assert.deepEqual(told(), ['raised swap_high: swap_high holds', 'raised disk_full: disk_full holds']);
    assert.deepEqual(
      audited().map((data) => JSON.parse(data).rule),
      ['swap_high', 'disk_full'],
    );
  });

  it('tells the end of a finding the engine knew only by its fingerprint in the words stored when it was raised, and not at all without them', () => {
    const { announcer, told } = harness();
    const orphan = finding('orphan_cpu', { summary: 'Orphaned python3 spin (pid 500) uses 100% CPU' });
    const other = finding('gpu_hot', { summary: 'GPU at 92 °C' });
    announcer.announce(evaluation({ raised: [orphan, other], firing: [orphan, other] }));
    const stub = (f: Finding) => ({ ...f, summary: '', severity: 'info' as const });
    announcer.announce(
      evaluation({ resolved: [stub(orphan), stub(other)] }),
      new Map([[orphan.fingerprint, orphan]]),
    );
    assert.deepEqual(told().slice(2), ['resolved orphan_cpu: Orphaned python3 spin (pid 500) uses 100% CPU']);
  });

  it('says in the log which rule failed to evaluate, on which subject, and why', () => {
    const { announcer, logs } = harness();
    announcer.announce(
      evaluation({ errors: [{ rule: 'my_rule', subject: 'pid 42', message: 'when: no such key: rss' }] }),
    );
    assert.deepEqual(logs, ['rule my_rule failed on pid 42: when: no such key: rss']);
  });

  it('tells what was raised on a full disk, where nothing can be audited, and the store is judged failing', () => {
    const { guard, store, announcer, told } = harness();
    // The disk as SQLite sees it: no page more than the file has, and those filled to the last row.
    const db = store.raw()!;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true })}`);
    for (const size of [500, 50, 0]) {
      assert.throws(() => {
        for (let i = 0; i < 100_000; i++) store.audit!.append('config_reload', { filler: 'x'.repeat(size) });
      }, /full/);
    }
    assert.equal(guard.judge().ok, true, 'the filling was not the guard’s');
    const ram = finding('ram_high');
    announcer.announce(evaluation({ raised: [ram], firing: [ram] }));
    assert.deepEqual(told(), ['raised ram_high: ram_high holds']);
    const state = guard.judge();
    assert.equal(state.ok, false);
    assert.match(state.error!, /full/);
  });
});

describe('lines on the terminal', () => {
  it('prints an action step with its time and the rule, and tells it to the channels that take action notices', () => {
    const { announcer, terminal, told } = harness();
    announcer.action({
      step: 'suggest',
      rule: 'ghost_process_storm',
      severity: 'high',
      alertId: 7,
      text: 'stop the 8 orphaned python3 processes: vigil fix 7',
    });
    assert.deepEqual(terminal, [
      '2026-11-21 09:58:12 SUGGEST  ghost_process_storm: stop the 8 orphaned python3 processes: vigil fix 7',
    ]);
    assert.deepEqual(told(), ['action ']);
  });

  it('masks a secret in a line before it is printed', () => {
    const { announcer, terminal } = harness();
    announcer.line('ADVICE   leak: restart with OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx');
    assert.equal(terminal.length, 1);
    assert.doesNotMatch(terminal[0]!, /sk-proj-abcdef/);
    assert.match(terminal[0]!, /^2026-11-21 09:58:12 ADVICE {3}leak: restart with OPENAI_API_KEY=/);
  });
});
