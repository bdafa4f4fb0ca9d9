import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { actionLogOf } from '../../src/respond/log.js';
import type { ActionPlan } from '../../src/respond/plan.js';
import { openStore } from '../../src/store/store.js';
import type { FiringFinding, ProcessRecord, SnapshotRecord } from '../../src/store/types.js';
import { runVigil } from '../helpers/cli.js';
import { type DaemonHome, daemonHome } from '../helpers/daemon.js';

/**
 * "What happened last night?": a night of history written by the real store into a real SQLite file,
 * then read back by the built `vigil report` as a user runs it.
 */

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 1, 0);
const window = ['--from', String(T0 - MIN), '--to', String(T0 + 60 * MIN)];

const proc = (over: Partial<ProcessRecord> & Pick<ProcessRecord, 'pid' | 'cpuSeconds'>): ProcessRecord => ({
  startTicks: over.pid * 100,
  comm: 'python3',
  name: 'python3',
  cmdline: '',
  user: 'dev',
  kind: null,
  group: '',
  cpuPercent: 0,
  rssBytes: 0,
  state: 'S',
  orphan: false,
  ...over,
});

const python = (pid: number, user: string, script: string, cpuSeconds: number): ProcessRecord =>
  proc({
    pid,
    user,
    cpuSeconds,
    cmdline: `python3 ${script}`,
    group: `python3 ${script}`,
    kind: 'script',
    rssBytes: 300e6,
  });

/** Four python3 processes of two users running two scripts, and two idle kernel threads. */
const processesAt = (minute: number): ProcessRecord[] => [
  python(101, 'alice', '/home/alice/train.py', 10 + minute * 30),
  python(102, 'alice', '/home/alice/train.py', 10 + minute * 25),
  python(103, 'bob', '/srv/serve.py', 5 + minute * 2),
  python(104, 'bob', '/home/bob/notebook.py', 1),
  proc({ pid: 2, comm: 'kthreadd', name: '[kthreadd]', cpuSeconds: 0, kind: 'kernel-thread' }),
  proc({ pid: 3, comm: 'rcu_gp', name: '[rcu_gp]', cpuSeconds: 0, kind: 'kernel-thread' }),
];

const snapshot = (minute: number, memUsedPercent: number): SnapshotRecord => ({
  takenAt: T0 + minute * MIN,
  memUsedPercent,
  memAvailableBytes: null,
  // A machine without swap: the collector says 0 %.
  swapUsedPercent: 0,
  load1: 1,
  load5: 1,
  load15: 1,
  cpuPercent: 40,
  psiMemSomeAvg10: null,
  psiMemFullAvg10: null,
  psiCpuSomeAvg10: null,
  psiIoFullAvg10: null,
  cpuTempCelsius: null,
  gpuTempCelsius: null,
  disks: { '/': 50 },
  processes: processesAt(minute),
});

const ramHigh = (summary: string): FiringFinding => ({
  fingerprint: 'ram_high|system',
  rule: 'ram_high',
  subject: 'system',
  severity: 'high',
  summary,
  pids: [],
  since: T0 + 2 * MIN,
  event: false,
  suggest: [],
});

const identity = (pid: number) => ({ pid, startTicks: pid * 100, cmdline: 'python3' });

function killPlan(pids: readonly number[]): ActionPlan {
  return {
    action: 'kill_matching',
    targets: pids.map(identity),
    kept: [],
    unit: null,
    command: `kill ${pids.join(' ')}`,
    reason: 'RAM 7.1 % used',
  };
}

let h: DaemonHome;
let alertId: number;

before(() => {
  h = daemonHome();
  mkdirSync(h.stateDir, { recursive: true });
  const store = openStore(join(h.stateDir, 'vigil.db'));
  const run = store.beginRun(process.pid, T0 - MIN);
  for (let minute = 0; minute <= 10; minute++) store.insertSnapshot(snapshot(minute, 5 + (minute % 3)));
  // Raised at 7.1 %, refreshed while it fired until it read 2.4 %, then resolved: as the daemon records it.
  alertId = store.recordFiring(ramHigh('RAM 7.1 % used'), T0 + 2 * MIN).alert.id;
  store.recordFiring(ramHigh('RAM 5.0 % used'), T0 + 3 * MIN);
  store.recordFiring(ramHigh('RAM 2.4 % used'), T0 + 4 * MIN);
  store.resolveAlert('ram_high|system', T0 + 5 * MIN);
  const log = actionLogOf(store)!;
  const kill = log.add({
    alertId,
    fingerprint: 'ram_high|system',
    plan: killPlan([101, 102, 103]),
    mode: 'auto',
    state: 'started',
    now: T0 + 3 * MIN,
  });
  log.finish(
    kill.id,
    {
      outcome: 'success',
      refused: [],
      acted: [101, 102, 103],
      gone: [101, 102, 103],
      survived: [],
      freedBytes: 900e6,
      detail: 'SIGTERM sent to 3',
    },
    T0 + 3 * MIN,
  );
  store.endRun(run, T0 + 60 * MIN);
  store.close();
});

after(() => h?.cleanup());

describe('vigil report, for "what happened last night?"', () => {
  it('shows each raised alert with the summary it was raised with and the id vigil fix takes', () => {
    const text = runVigil(['report', ...window], h.env);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`raised +high +#${alertId} ram_high: RAM 7\\.1 % used`));
    assert.match(text.stdout, new RegExp(`resolved +high +#${alertId} ram_high: RAM 2\\.4 % used`));
    const md = runVigil(['report', '--markdown', ...window], h.env).stdout;
    assert.match(
      md,
      new RegExp(`\\| raised \\| ${alertId} \\| high \\| \`ram_high\` \\| RAM 7\\.1 % used \\|`),
    );
    const json = JSON.parse(runVigil(['report', '--json', ...window], h.env).stdout) as {
      alerts: Array<{ id: number; summary: string; raisedSummary: string }>;
    };
    assert.deepEqual(
      json.alerts.map((a) => [a.id, a.raisedSummary, a.summary]),
      [[alertId, 'RAM 7.1 % used', 'RAM 2.4 % used']],
    );
  });

  it('names the user and command of each top offender, and leaves out kernel threads that used nothing', () => {
    const out = runVigil(['report', ...window], h.env).stdout;
    const top = out.slice(out.indexOf('Top by CPU time'), out.indexOf('Top by peak memory'));
    assert.match(top, /\n {2}.* CPU .* ×2 +alice +script +python3 \/home\/alice\/train\.py\n/);
    assert.match(top, /bob +script +python3 \/srv\/serve\.py\n/);
    assert.doesNotMatch(top, /kthreadd|rcu_gp/);
    assert.doesNotMatch(top, / 0s CPU/);
    const memory = out.slice(out.indexOf('Top by peak memory'), out.indexOf('By kind'));
    assert.match(memory, /bob +script +python3 \/home\/bob\/notebook\.py/);
    assert.doesNotMatch(memory, /kthreadd|rcu_gp/);
  });

  it('says nothing of swap on a machine without swap, and names each kind once', () => {
    const out = runVigil(['report', ...window], h.env).stdout;
    assert.doesNotMatch(out, /swap/i);
    const byKind = out.slice(out.indexOf('By kind'), out.indexOf('Actions taken'));
    assert.doesNotMatch(byKind, /kernel-thread/, 'a kind that used nothing is left out');
    for (const line of byKind.split('\n').filter((l) => l.includes('script')))
      assert.equal(line.match(/script/g)?.length, 1, line);
  });

  it('labels each action with what it did and the alert it answered', () => {
    const out = runVigil(['report', ...window], h.env).stdout;
    assert.match(
      out,
      new RegExp(`#${alertId} killed 3 processes \\(kill_matching \\(auto\\); 101 102 103\\): success`),
    );
    const md = runVigil(['report', '--markdown', ...window], h.env).stdout;
    assert.match(md, new RegExp(`\\| ${alertId} \\| killed 3 processes \\| kill_matching \\(auto\\) \\|`));
  });

  it('shows an alert raised before the upgrade with the summary its audit entry kept', () => {
    const old = daemonHome();
    try {
      mkdirSync(old.stateDir, { recursive: true });
      const path = join(old.stateDir, 'vigil.db');
      const store = openStore(path);
      const id = store.recordFiring(ramHigh('RAM 7.1 % used'), T0 + 2 * MIN).alert.id;
      store.audit!.append(
        'alert_raised',
        {
          alert: id,
          rule: 'ram_high',
          severity: 'high',
          subject: 'system',
          summary: 'RAM 7.1 % used',
          pids: [],
        },
        T0 + 2 * MIN,
      );
      store.recordFiring(ramHigh('RAM 2.4 % used'), T0 + 4 * MIN);
      store.close();
      // The same file as a vigil of schema 4 left it: no raised_summary column.
      const db = new Database(path);
      db.exec('ALTER TABLE alerts DROP COLUMN raised_summary');
      db.pragma('user_version = 4');
      db.close();
      const out = runVigil(['report', ...window], old.env);
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`raised +high +#${id} ram_high: RAM 7\\.1 % used`));
    } finally {
      old.cleanup();
    }
  });
});
