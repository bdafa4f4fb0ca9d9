/**
 * The daemon's heartbeat (src/store/heartbeat-builder.ts): what it costs, measured on a meter the test
 * moves, and where it goes — the store's heartbeat row on a real SQLite file and `heartbeat.json` beside
 * the pid file, read back the way `vigil health` reads them.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { StoreGuard } from '../../src/store/guard.js';
import {
  HeartbeatBuilder,
  type HeartbeatCycle,
  type ProcessMeter,
} from '../../src/store/heartbeat-builder.js';
import { sightDaemon } from '../../src/store/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-heartbeat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 5, 1, 12);

/** A process meter that moves when told: CPU µs used, resident bytes, a monotonic ms clock. */
function meter() {
  const m = { cpuMicros: 0, rss: 80 * 2 ** 20, mono: 0 };
  const reading: ProcessMeter = {
    cpuUsage: () => ({ user: m.cpuMicros, system: 0 }),
    rssBytes: () => m.rss,
    monoMs: () => m.mono,
  };
  return { m, reading };
}

const STORE_OK = { ok: true, error: null, path: '/state/vigil.db' };

const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: join(dir, 'none') } });

function cycle(over: Partial<HeartbeatCycle> = {}): HeartbeatCycle {
  return {
    snapshot: {
      takenAt: T0,
      collectors: [{ name: 'memory', ok: true, error: null, durationMs: 1, unsupported: null }],
    },
    mode: 'observe',
    journal: { state: 'following', detail: null },
    runtime,
    configError: null,
    firing: 2,
    ...over,
  };
}

describe('the heartbeat', () => {
  it('reports the CPU the daemon used since the previous heartbeat (100 = one core) and in all', () => {
    const { m, reading } = meter();
    const builder = new HeartbeatBuilder({
      runtimeDir: dir,
      startedAt: T0,
      intervalMs: 5000,
      meter: reading,
    });
    m.mono = 5000;
    m.cpuMicros = 250_000; // a quarter second of CPU in five seconds
    assert.equal(builder.build(cycle(), STORE_OK).cpuPercent, 5);
    m.mono = 10_000;
    m.cpuMicros = 5_250_000; // a whole core for the next five
    const second = builder.build(cycle(), STORE_OK);
    assert.equal(second.cpuPercent, 100);
    assert.equal(second.cpuSeconds, 5.25);
    assert.equal(second.rssBytes, 80 * 2 ** 20);
  });

  it('says which config is in force and why a reload was refused, and the rule files’ problems', () => {
    const { reading } = meter();
    const builder = new HeartbeatBuilder({
      runtimeDir: dir,
      startedAt: T0,
      intervalMs: 5000,
      meter: reading,
    });
    const heartbeat = builder.build(
      cycle({ configError: 'config.toml:3: thresholds.ram_warn_percent: expected a number' }),
      STORE_OK,
    );
    assert.deepEqual(heartbeat.config, {
      ok: false,
      path: runtime.config.path,
      error: 'config.toml:3: thresholds.ram_warn_percent: expected a number',
    });
    assert.equal(heartbeat.rules.count, runtime.rules.rules.length);
    assert.deepEqual(heartbeat.rules.problems, []);
    assert.equal(heartbeat.firing, 2);
    assert.equal('notifications' in heartbeat, false, 'no notifier, no channels to report');
  });

  it('is written to the store and beside the pid file, where vigil health reads the same heartbeat', () => {
    const logs: string[] = [];
    const guard = new StoreGuard(join(dir, 'state'), (line) => logs.push(line));
    const store = guard.open()!;
    const runDir = join(dir, 'run');
    mkdirSync(runDir, { mode: 0o700 });
    writeFileSync(join(runDir, 'vigil.pid'), `${process.pid}\n`, { mode: 0o600 });
    const builder = new HeartbeatBuilder({ runtimeDir: runDir, startedAt: T0, intervalMs: 5000 });
    const written = builder.beat(cycle({ snapshot: { takenAt: Date.now(), collectors: [] } }), guard);
    assert.equal(written.pid, process.pid);
    assert.deepEqual(store.latestHeartbeat(), written);
    const seen = sightDaemon(runDir);
    assert.deepEqual(seen.heartbeat, written);
    assert.equal(seen.fresh, true, 'a running daemon that just beat');
    guard.close();
  });

  it('says the store is failing when a store call failed during the cycle, and well again after a cycle without one', () => {
    const guard = new StoreGuard(join(dir, 'state3'), () => {});
    const store = guard.open()!;
    const builder = new HeartbeatBuilder({ runtimeDir: join(dir, 'gone'), startedAt: T0, intervalMs: 5000 });
    guard.noteFailure('cannot write a batch: the disk is full');
    assert.deepEqual(builder.beat(cycle(), guard).store, {
      ok: false,
      error: 'cannot write a batch: the disk is full',
      path: store.path,
    });
    assert.deepEqual(builder.beat(cycle(), guard).store, { ok: true, error: null, path: store.path });
    guard.close();
  });

  it('goes on when the runtime directory is gone: the store still gets it', () => {
    const guard = new StoreGuard(join(dir, 'state2'), () => {});
    const store = guard.open()!;
    const builder = new HeartbeatBuilder({ runtimeDir: join(dir, 'gone'), startedAt: T0, intervalMs: 5000 });
    const written = builder.beat(cycle(), guard);
    assert.deepEqual(store.latestHeartbeat(), written);
    assert.equal(guard.judge().ok, true);
    guard.close();
  });
});
