/**
 * What the rules decided, kept in the history (src/pipeline/recorder.ts): a Watcher on a fake clock judges
 * hand-made samples of a machine, and the recorder writes to a real SQLite file what the daemon would —
 * alerts and their audit entries, one history snapshot per `history.snapshot_interval_secs`, the run,
 * and the rule states and baselines a restart picks up again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import { FakeClock } from '../../src/pipeline/clock.js';
import { HistoryRecorder } from '../../src/pipeline/recorder.js';
import { SnapshotSource } from '../../src/pipeline/source.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { StoreGuard } from '../../src/store/guard.js';
import type { OpenedStore } from '../../src/store/store.js';
import { machineSnapshot, processSample } from '../helpers/snapshots.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The shipped rules with a config of `toml` (none: the defaults). */
function runtime(toml = '') {
  const configPath = join(dir, `config-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(configPath, toml);
  return loadRulesRuntime({ env: { XDG_CONFIG_HOME: join(dir, 'none') }, configPath });
}

const machine = machineSnapshot;

const proc = (pid: number, ppid: number, argv: string[], extra: Partial<ProcessSample> = {}) =>
  processSample(pid, argv, {
    ppid,
    pgid: ppid,
    sid: 300,
    cgroup: '/user.slice/user-1000.slice/session-2.scope',
    ...extra,
  });

const init = proc(1, 0, ['/sbin/init'], { uid: 0, user: 'root', sid: 1, pgid: 1, cgroup: '/init.scope' });

let made = 0;
/** A store of its own in a new state directory, behind the guard the daemon holds. */
function history(): { guard: StoreGuard; store: OpenedStore; logs: string[] } {
  const logs: string[] = [];
  const guard = new StoreGuard(join(dir, `state${made++}`), (line) => logs.push(line));
  const store = guard.open()!;
  assert.ok(store, logs.join('\n'));
  return { guard, store, logs };
}

/**
 * One daemon run: a Watcher on `clock` whose samples are `at(now)` (a number: the machine with that much
 * of its RAM used), a recorder on `guard`, and `fullCycle()` doing what the daemon's full cycle does with
 * them (record, persist when due).
 */
function daemonRun(
  clock: FakeClock,
  guard: StoreGuard,
  at: (now: number) => number | Snapshot,
  options: { toml?: string; everySnapshot?: boolean } = {},
) {
  const rt = runtime(options.toml);
  const source = new SnapshotSource(({ nowMs }) => {
    const sample = at(nowMs);
    return typeof sample === 'number' ? machine(nowMs, sample) : sample;
  });
  const watcher = new Watcher(rt, null, { clock, source });
  const recorder = new HistoryRecorder({
    guard,
    watcher,
    history: () => rt.config.config.history,
    everySnapshot: options.everySnapshot ?? false,
  });
  recorder.begin(4242, clock.now());
  return {
    watcher,
    recorder,
    async fullCycle() {
      const { snapshot, facts, evaluation } = await watcher.cycle();
      const recorded = recorder.record(evaluation, snapshot.takenAt, { snapshot, facts });
      recorder.persistIfDue(snapshot.takenAt);
      return { evaluation, ...recorded };
    },
  };
}

const SEC = 1000;
const MIN = 60 * SEC;

describe('history snapshots on their interval', () => {
  it('keeps one snapshot per snapshot_interval_secs of sample time, however often the full cycle runs', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard, store } = history();
    const run = daemonRun(clock, guard, () => 40, { toml: '[history]\nsnapshot_interval_secs = 60\n' });
    for (let t = 0; t <= 5 * MIN; t += 10 * SEC) {
      await run.fullCycle();
      clock.advance(10 * SEC);
    }
    const kept = store.snapshotsBetween(start, clock.now()).map((s) => (s.takenAt - start) / SEC);
    assert.deepEqual(kept, [0, 60, 120, 180, 240, 300]);
    assert.equal(guard.judge().ok, true);
  });

  it('keeps the snapshot of every full cycle of vigil run --once, whatever the interval', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard, store } = history();
    const run = daemonRun(clock, guard, () => 40, { everySnapshot: true });
    for (let i = 0; i < 3; i++) {
      await run.fullCycle();
      clock.advance(5 * SEC);
    }
    assert.equal(store.snapshotsBetween(start, clock.now()).length, 3);
  });
});

describe('alerts kept as the rules decide', () => {
  it('opens an alert when ram_high fires, audits it, refreshes it each full cycle, and closes it when it resolves', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard, store } = history();
    // 85 % for two minutes, then 40 %: raised after its 30 s, resolved 30 s after it cleared.
    const run = daemonRun(clock, guard, (now) => (now - start < 2 * MIN ? 85 : 40));
    const ids = new Map<number, number | undefined>();
    for (let t = 0; t <= 3 * MIN; t += 10 * SEC) {
      const { alertIds } = await run.fullCycle();
      ids.set(t, alertIds.get('ram_high|system'));
      clock.advance(10 * SEC);
    }
    const alerts = store.alertsBetween(start, clock.now());
    assert.equal(alerts.length, 1);
    const alert = alerts[0]!;
    assert.equal(alert.rule, 'ram_high');
    assert.equal(alert.firstSeen, start, 'first seen when the RAM filled');
    assert.equal(alert.resolvedAt, start + 150 * SEC);
    assert.match(alert.summary, /^RAM 85(\.0)?% used/);
    // Seen on every full cycle while firing, from 30 s to 140 s.
    assert.equal(alert.count, 12);
    assert.equal(ids.get(20 * SEC), undefined);
    assert.equal(ids.get(30 * SEC), alert.id);
    assert.equal(ids.get(140 * SEC), alert.id, 'the scheduler gets the alert of a finding still firing');
    const audit = store.audit!.list().map((e) => [e.kind, (e.at - start) / SEC, e.data['alert']]);
    assert.deepEqual(audit, [
      ['alert_raised', 30, alert.id],
      ['alert_resolved', 150, alert.id],
    ]);
  });

  it('writes nothing on the fast path unless a finding was raised or resolved', () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const { guard, store } = history();
    const run = daemonRun(clock, guard, () => 40);
    // A store that cannot take a write: a fast path with nothing new must not try one.
    store.close();
    const quiet = { firing: [], raised: [], resolved: [], errors: [] };
    assert.deepEqual(run.recorder.record(quiet, clock.now()).alertIds.size, 0);
    assert.deepEqual(guard.judge(), { ok: true, error: null, path: store.path });
  });
});

describe('a restart keeps what the daemon knew', () => {
  it('fires ram_high 30 s after the RAM filled, counting the time before the restart', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard } = history();
    const first = daemonRun(clock, guard, () => 85);
    for (let t = 0; t <= 20 * SEC; t += 10 * SEC) {
      assert.deepEqual((await first.fullCycle()).evaluation.raised, []);
      clock.advance(10 * SEC);
    }
    first.recorder.end(clock.now());
    // The next run, on the same history: its first look is 30 s after the RAM filled.
    const second = daemonRun(clock, guard, () => 85);
    const { evaluation } = await second.fullCycle();
    assert.deepEqual(
      evaluation.raised.map((f) => [f.rule, f.since - start]),
      [['ram_high', 0]],
    );
  });

  it('closes an alert left open by a crash whose process ended meanwhile, telling its end in the words it was raised with', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard, store } = history();
    // An orphan spinning for two minutes (see test/unit/pipeline.test.ts): orphan_cpu fires at 125 s.
    const agent = proc(400, 1, ['node', '/home/dev/agent.js'], { sid: 300 });
    const spinner = (ppid: number) => proc(500, ppid, ['python3', 'spin.py'], { cpuPercent: 100 });
    const first = daemonRun(clock, guard, (now) =>
      machine(now, 30, now === start ? [init, agent, spinner(400)] : [init, spinner(1)]),
    );
    for (let t = 0; t <= 130 * SEC; t += 5 * SEC) {
      await first.fullCycle();
      clock.advance(5 * SEC);
    }
    const open = store.openAlerts();
    assert.deepEqual(
      open.map((a) => [a.rule, a.summary]),
      [['orphan_cpu', 'Orphaned python3 spin (pid 500, left by node) uses 100% CPU']],
    );
    // A crash: the rule states saved at the first cycle did not know it fired; as if never saved.
    store.saveRuleStates([]);
    // While vigil was down the spinner ended: the next run sees its subject gone at once.
    const second = daemonRun(clock, guard, (now) => machine(now, 30, [init]));
    const { evaluation, restored } = await second.fullCycle();
    assert.deepEqual(
      evaluation.resolved.map((f) => [f.rule, f.summary]),
      [['orphan_cpu', '']],
      'the engine knows no more than the fingerprint',
    );
    assert.deepEqual(
      [...restored.values()].map((f) => [f.rule, f.summary, f.severity]),
      [['orphan_cpu', open[0]!.summary, open[0]!.severity]],
    );
    assert.equal(store.alertById(open[0]!.id)!.resolvedAt, clock.now());
    assert.deepEqual(
      store.audit!.list().map((e) => e.kind),
      ['alert_raised', 'alert_resolved'],
    );
  });

  it('persists rule states and baselines once a minute of sample time, and again when the run ends', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const { guard, store } = history();
    const run = daemonRun(clock, guard, () => 85);
    const saved: number[] = [];
    let last = '';
    for (let t = 0; t <= 150 * SEC; t += 10 * SEC) {
      await run.fullCycle();
      // Each write of the states moves a firing state's "pending since" to what the engine holds.
      const now = JSON.stringify(store.loadRuleStates());
      if (now !== last) saved.push(t / SEC);
      last = now;
      clock.advance(10 * SEC);
    }
    // Written at the first cycle (pending), then at 60 s and 120 s: what changed at 30 s (firing) waits.
    assert.deepEqual(saved, [0, 60]);
    assert.deepEqual(
      store.loadRuleStates().map((s) => [s.fingerprint, s.firing, s.pendingSince - start]),
      [['ram_high|system', true, 0]],
    );
    const runs = store.runsBetween(start, clock.now());
    assert.deepEqual(
      runs.map((r) => [r.pid, r.startedAt - start, (r.lastSeenAt - start) / SEC, r.endedAt]),
      [[4242, 0, 150, null]],
      'the run was last seen at the last full cycle',
    );
    run.recorder.end(clock.now());
    assert.equal(store.runsBetween(start, clock.now())[0]!.endedAt, clock.now());
  });
});
