import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { openStore } from '../../src/store/store.js';
import { groupRows, processRows } from '../../src/watch/model.js';
import { LiveSource } from '../../src/watch/source.js';
import { liveSampling } from '../helpers/context.js';
import { killAll, spawnOrphanedStorm } from '../helpers/procs.js';

describe('the dashboard’s live source', () => {
  let home = '';
  let storm: number[] = [];
  let daemon: ChildProcess | null = null;

  before(() => {
    home = mkdtempSync(join(tmpdir(), 'vigil-watch-source-'));
    storm = spawnOrphanedStorm(3, 1);
  });

  after(() => {
    killAll(storm);
    daemon?.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  function source(env: NodeJS.ProcessEnv): LiveSource {
    const runtime = loadRulesRuntime({ env });
    return new LiveSource({ runtime, sampling: liveSampling(), intervalMs: 1000, env });
  }

  it('without a daemon: samples the machine, knows kinds and orphans, groups the storm, evaluates rules here', async () => {
    const env = {
      XDG_CONFIG_HOME: join(home, 'config'),
      VIGIL_STATE_DIR: join(home, 'state-none'),
      VIGIL_RUNTIME_DIR: join(home, 'run-none'),
    };
    const live = source(env);
    await live.frame();
    const frame = await live.frame();
    assert.equal(frame.alertsFrom, 'local');
    assert.equal(frame.daemon.running, false);
    assert.equal(frame.mode, 'observe');
    const rows = processRows(frame);
    const mine = rows.find((r) => r.pid === process.pid)!;
    assert.notEqual(mine.cpuPercent, null, 'the second sample has CPU %');
    for (const pid of storm) assert.match(rows.find((r) => r.pid === pid)!.kind, /orphan/);
    const group = groupRows(rows.filter((r) => storm.includes(r.pid)));
    assert.equal(group.length, 1);
    assert.equal(group[0]!.count, 3);
    live.stop();
  });

  it('with a daemon: shows its mode and its open alerts from the database, with the stored advice', async () => {
    const run = join(home, 'run');
    const state = join(home, 'state');
    mkdirSync(run, { recursive: true });
    daemon = spawn('sleep', ['600'], { stdio: 'ignore' });
    const dbPath = join(state, 'vigil.db');
    const store = openStore(dbPath, { log: () => {} });
    const now = Date.now();
    store.recordFiring(
      {
        fingerprint: 'ghost-storm|test',
        rule: 'ghost-storm',
        subject: 'test',
        severity: 'high',
        summary: '3 identical orphaned python3 mcp_server_fake processes',
        pids: storm,
        since: now - 60_000,
        event: false,
        suggest: ['kill_matching'],
      },
      now,
    );
    store
      .raw()!
      .prepare(
        `INSERT INTO advice (at, fingerprint, cache_key, model, outcome, advice) VALUES (?, 'ghost-storm|test', 'k', 'm', 'ok', ?)`,
      )
      .run(
        now,
        JSON.stringify({ diagnostic: 'The agent that started them exited.', actions: [], prevention: 'x' }),
      );
    store.close();
    writeFileSync(join(run, 'vigil.pid'), `${daemon.pid}\n`);
    writeFileSync(
      join(run, 'heartbeat.json'),
      JSON.stringify({
        pid: daemon.pid,
        lastCycleAt: now,
        intervalMs: 5000,
        mode: 'suggest',
        store: { ok: true, error: null, path: dbPath },
      }),
    );
    const live = source({
      XDG_CONFIG_HOME: join(home, 'config'),
      VIGIL_STATE_DIR: state,
      VIGIL_RUNTIME_DIR: run,
    });
    const frame = await live.frame();
    live.stop();
    assert.deepEqual(frame.daemon, { running: true, pid: daemon.pid, mode: 'suggest', fresh: true, dbPath });
    assert.equal(frame.mode, 'suggest');
    assert.equal(frame.alertsFrom, 'daemon');
    assert.equal(frame.alerts.length, 1);
    const alert = frame.alerts[0]!;
    assert.equal(alert.rule, 'ghost-storm');
    assert.deepEqual([...alert.pids].sort(), [...storm].sort());
    assert.match(alert.advice ?? '', /^The agent that started them exited\.\nprevention: x$/);
    const flagged = processRows(frame).filter((r) => r.severity === 'high');
    assert.deepEqual(flagged.map((r) => r.pid).sort(), [...storm].sort());
  });
});
