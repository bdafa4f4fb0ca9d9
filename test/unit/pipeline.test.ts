/**
 * The pipeline on a fake clock: minutes and hours of a machine's behaviour, judged by the same Watcher the
 * daemon runs, in milliseconds. Each test drives a Watcher whose source hands it snapshots made for each
 * moment of its clock; every duration counted (`for`, clear_for, baselines once a minute) is the clock's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  assembleSnapshot,
  COLLECTOR_NAMES,
  COMMAND_COLLECTORS,
  type LightSlice,
  RATE_COLLECTORS,
  REGISTRY,
} from '../../src/collectors/index.js';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import { FakeClock } from '../../src/pipeline/clock.js';
import { SnapshotSource } from '../../src/pipeline/source.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Finding } from '../../src/rules/types.js';
import { hourOf } from '../../src/understand/baseline.js';
import { FIXTURE_PATHS, fixtureContext, liveSampling } from '../helpers/context.js';
import { machineSnapshot, processSample } from '../helpers/snapshots.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The shipped rules and the default config (no user file anywhere). */
function shippedRuntime(configToml?: string) {
  const env = { XDG_CONFIG_HOME: join(dir, 'none') };
  if (configToml === undefined) return loadRulesRuntime({ env });
  const configPath = join(dir, `config-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(configPath, configToml);
  return loadRulesRuntime({ env, configPath });
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

/** A Watcher on `clock` whose samples are `at(now)`. */
function watcherOn(
  clock: FakeClock,
  at: (nowMs: number) => Snapshot,
  options: { runtime?: ReturnType<typeof shippedRuntime>; light?: (nowMs: number) => LightSlice } = {},
  more: ConstructorParameters<typeof Watcher>[2] = {},
) {
  const light = options.light;
  const source = new SnapshotSource(
    ({ nowMs }) => at(nowMs),
    light ? { light: ({ nowMs }) => light(nowMs) } : {},
  );
  return new Watcher(options.runtime ?? shippedRuntime(), null, { clock, source, ...more });
}

describe('rules that hold for a duration, on a fake clock', () => {
  it('fires orphan_cpu only once its shipped two minutes have passed since the parent died, then names who left it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const agent = proc(400, 1, ['node', '/home/dev/agent.js'], { sid: 300 });
    const spinner = (ppid: number) => proc(500, ppid, ['python3', 'spin.py'], { cpuPercent: 100 });
    // The first look sees the spinner under its living parent; from then on the parent is gone.
    const watcher = watcherOn(clock, (now) =>
      machine(now, 30, now === start ? [init, agent, spinner(400)] : [init, spinner(1)]),
    );
    const raisedAt: Array<{ at: number; f: Finding }> = [];
    for (let i = 0; i <= 40; i++) {
      const { evaluation } = await watcher.cycle();
      for (const f of evaluation.raised) raisedAt.push({ at: clock.now() - start, f });
      clock.advance(5000);
    }
    const fired = raisedAt.filter((r) => r.f.rule === 'orphan_cpu');
    assert.equal(fired.length, 1, JSON.stringify(raisedAt.map((r) => r.f.rule)));
    // Orphaned from the second look (5 s), two minutes held: the look at 125 s is the first to fire it.
    assert.equal(fired[0]!.at, 125_000);
    assert.equal(fired[0]!.f.since, start + 5000);
    assert.equal(fired[0]!.f.severity, 'medium');
    assert.deepEqual(fired[0]!.f.pids, [500]);
    assert.equal(fired[0]!.f.summary, 'Orphaned python3 spin (pid 500, left by node) uses 100% CPU');
  });

  it('keeps ram_high firing between the warning and the clear level, and resolves it only after clear_for below it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    // 85 % for a minute, 78 % (under 80, above the 75 % clear level) for five, then 70 %.
    const ram = (t: number) => (t < 60_000 ? 85 : t < 360_000 ? 78 : 70);
    const watcher = watcherOn(clock, (now) => machine(now, ram(now - start)));
    const events: string[] = [];
    for (let t = 0; t <= 420_000; t += 5000) {
      const { evaluation } = await watcher.cycle();
      for (const f of evaluation.raised) events.push(`${t / 1000}s raised ${f.rule}`);
      for (const f of evaluation.resolved) events.push(`${t / 1000}s resolved ${f.rule}`);
      clock.advance(5000);
    }
    // for = 30s from 0 s; clear_when (< 75 %) from 360 s, held clear_for = 30 s.
    assert.deepEqual(events, ['30s raised ram_high', '390s resolved ram_high']);
  });

  it('judges ram_high on the fast path between full cycles, at the clock’s time, and not before a full cycle', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const start = clock.now();
    const full = (now: number) => machine(now, 40);
    const light = (now: number): LightSlice => ({
      memory: machine(now, now - start >= 10_000 ? 95 : 40).memory!,
      load: [0.5, 0.5, 0.5],
      cpuPressure: null,
      ioPressure: null,
    });
    const watcher = watcherOn(clock, full, { light });
    assert.equal(watcher.fastCycle(), null, 'nothing to update before the first full cycle');
    await watcher.cycle();
    const raised: Array<{ at: number; f: Finding }> = [];
    for (let t = 1000; t <= 60_000; t += 1000) {
      clock.advance(1000);
      const fast = watcher.fastCycle();
      assert.ok(fast);
      assert.equal(fast.snapshot.takenAt, clock.now());
      for (const f of fast.evaluation.raised) raised.push({ at: t, f });
    }
    // 95 % from 10 s, held 30 s: raised at 40 s, critical (≥ ram_critical_percent 90).
    assert.deepEqual(
      raised.map((r) => [r.at, r.f.rule, r.f.severity]),
      [[40_000, 'ram_high', 'critical']],
    );
  });
});

describe('baselines on a fake clock', () => {
  it('learns once a minute of sample time, and flags RAM far above what this hour usually holds after its two minutes', async () => {
    // Noon, local time: the hour the baselines are learned for.
    const day = new Date(2026, 4, 1, 12, 0, 0).getTime();
    const clock = new FakeClock(day);
    let spike = false;
    const watcher = watcherOn(
      clock,
      (now) => machine(now, spike ? 80 : 20 + (Math.floor(now / 60_000) % 3)),
      {},
      { learnBaselines: true, baselineEveryMs: 60_000 },
    );
    // 40 minutes of cycles every 5 s: 480 cycles, 40 observations.
    for (let i = 0; i < 480; i++) {
      const { evaluation } = await watcher.cycle();
      assert.deepEqual(evaluation.firing, [], 'an ordinary noon');
      clock.advance(5000);
    }
    const hour = hourOf(day);
    const learned = watcher.facts.baselines.stats('mem_used_percent', hour);
    assert.equal(learned?.count, 40, 'one observation per minute, not one per cycle');
    assert.ok(Math.abs(learned.mean - 20.975) < 1e-9, `mean ${learned.mean}`);
    spike = true;
    const start = clock.now();
    let fired: { at: number; f: Finding } | undefined;
    for (let i = 0; i < 60 && !fired; i++) {
      const { evaluation } = await watcher.cycle();
      const f = evaluation.raised.find((x) => x.rule === 'baseline_anomaly');
      if (f) fired = { at: clock.now() - start, f };
      clock.advance(5000);
    }
    assert.ok(fired, 'baseline_anomaly fired');
    assert.equal(fired.at, 120_000, 'after its for = 2m');
    // Two more minutes learned meanwhile (the spike included, as the daemon learns): the mean moved up.
    assert.match(
      fired.f.summary,
      /^mem_used_percent is 80, far from its usual 23\.8 at this hour \(4\.\d σ\)$/,
    );
  });
});

describe('one Watcher, any source', () => {
  it('samples a fixture /proc with the live collectors at the fake clock’s time, rates over the fake interval', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    const watcher = new Watcher(shippedRuntime(), liveSampling({ paths: FIXTURE_PATHS }), {
      clock,
      collectors: ['processes', 'memory', 'cpu'],
    });
    const first = await watcher.cycle();
    assert.equal(first.snapshot.takenAt, clock.now());
    assert.ok((first.snapshot.processes?.length ?? 0) > 0, 'the fixture’s processes');
    const cpu = (snapshot: Snapshot) => [...new Set(snapshot.processes!.map((p) => p.cpuPercent))];
    assert.deepEqual(cpu(first.snapshot), [null], 'no rate on the first sample');
    // The clock has not moved: no interval to divide by, whatever the real time spent.
    assert.deepEqual(cpu((await watcher.cycle()).snapshot), [null]);
    clock.advance(1000);
    const second = await watcher.cycle();
    assert.equal(second.snapshot.takenAt, clock.now());
    // The fixture's counters do not move: 0 % over the fake second.
    assert.deepEqual(cpu(second.snapshot), [0]);
    assert.deepEqual(watcher.last, second.snapshot);
  });
});

describe('the collectors registry', () => {
  it('lists each collector once, the ones running a program first, and the rates that need two samples', () => {
    assert.deepEqual(
      REGISTRY.map((d) => d.name),
      ['gpu', 'journal', 'units', 'processes', 'memory', 'cpu', 'thermal', 'disks', 'network'],
    );
    assert.deepEqual(
      COLLECTOR_NAMES,
      REGISTRY.map((d) => d.name),
    );
    assert.deepEqual(COMMAND_COLLECTORS, ['gpu', 'journal', 'units']);
    assert.deepEqual(RATE_COLLECTORS, ['processes', 'cpu', 'disks', 'network']);
  });

  it('puts each slice where its collector’s definition says, and joins nvidia-smi’s memory onto the process table', () => {
    const ctx = fixtureContext();
    const gpu = {
      gpus: [],
      processes: [{ gpuUuid: null, pid: 4242, name: 'python3', usedMemoryBytes: 512 }],
    };
    const snapshot = assembleSnapshot(
      {
        values: {
          processes: [proc(4242, 1, ['python3', 'train.py'])],
          network: { interfaces: [], tcp: { LISTEN: 2 } },
          gpu,
          units: [],
        },
        statuses: [],
      },
      ctx,
    );
    assert.deepEqual(snapshot.tcp, { LISTEN: 2 });
    assert.deepEqual(snapshot.network, []);
    assert.deepEqual(snapshot.gpuProcesses, gpu.processes);
    assert.deepEqual(snapshot.units, []);
    assert.equal(snapshot.processes?.[0]?.gpuMemoryBytes, 512);
    assert.equal(snapshot.memory, undefined);
  });
});
