/**
 * `vigil rules test --replay`'s engine: today's rules judged again over a history the real store wrote to a
 * real SQLite file, on a fake clock set to each stored snapshot's time.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MachineShape } from '../../src/pipeline/history.js';
import { replayRules } from '../../src/pipeline/replay.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { openStore } from '../../src/store/store.js';
import type { ProcessRecord, SnapshotRecord } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MINUTE = 60_000;
const GiB = 2 ** 30;
/** Three hours of history from here, one snapshot a minute. */
const T0 = Date.UTC(2026, 4, 1, 0, 0, 0);
const END = T0 + 180 * MINUTE;
/** RAM at 88 % from minute 90 to minute 99, 50 % otherwise. */
const CLIMB = { from: T0 + 90 * MINUTE, to: T0 + 100 * MINUTE };

const shape: MachineShape = {
  hostname: 'devbox',
  kernel: '6.8.0',
  cores: 8,
  swapTotalBytes: 8 * GiB,
  diskTotalBytes: new Map([['/', 500 * 10 ** 9]]),
};

function python(rssBytes: number): ProcessRecord {
  return {
    pid: 4242,
    startTicks: 99,
    comm: 'python3',
    name: 'python3 train.py',
    cmdline: 'python3 train.py',
    user: 'dev',
    kind: null,
    group: 'python3 train.py',
    cpuPercent: 20,
    cpuSeconds: 100,
    rssBytes,
    swapBytes: 0,
    state: 'S',
    orphan: false,
  };
}

function snapshotAt(takenAt: number, memUsedPercent: number): SnapshotRecord {
  return {
    takenAt,
    memUsedPercent,
    memAvailableBytes: Math.round(16 * GiB * (1 - memUsedPercent / 100)),
    swapUsedPercent: 0,
    load1: 0.5,
    load5: 0.5,
    load15: 0.5,
    cpuPercent: 10,
    psiMemSomeAvg10: 0,
    psiMemFullAvg10: 0,
    psiCpuSomeAvg10: 0,
    psiIoFullAvg10: 0,
    cpuTempCelsius: 55,
    gpuTempCelsius: null,
    disks: { '/': 40 },
    processes: [python(memUsedPercent > 80 ? 12 * GiB : 6 * GiB)],
  };
}

/** A history database as the daemon leaves it: the snapshots, and the alert it raised then. */
function writeHistory(name: string, options: { gapFrom?: number; gapTo?: number } = {}): string {
  const path = join(dir, name, 'vigil.db');
  mkdirSync(join(dir, name), { recursive: true });
  const store = openStore(path, { log: () => {} });
  for (let t = T0; t <= END; t += MINUTE) {
    if (options.gapFrom !== undefined && t > options.gapFrom && t < options.gapTo!) continue;
    store.insertSnapshot(snapshotAt(t, t >= CLIMB.from && t < CLIMB.to ? 88 : 50));
  }
  // The daemon, every 5 s, raised ram_high 30 s into the climb and resolved it 30 s after.
  const finding = {
    fingerprint: 'ram_high|system',
    rule: 'ram_high',
    subject: 'system',
    severity: 'high' as const,
    summary: 'RAM 88% used, 1.9 GiB available',
    pids: [],
    since: CLIMB.from,
    event: false,
    suggest: ['notify_only'],
  };
  store.recordFiring(finding, CLIMB.from + 30_000);
  store.resolveAlert('ram_high|system', CLIMB.to + 30_000);
  store.close();
  return path;
}

function runtimeWith(files: { config?: string; rules?: string } = {}) {
  const home = mkdtempSync(join(dir, 'xdg-'));
  mkdirSync(join(home, 'vigil', 'rules'), { recursive: true });
  if (files.rules) writeFileSync(join(home, 'vigil', 'rules', 'mine.toml'), files.rules);
  const configPath = join(home, 'vigil', 'config.toml');
  writeFileSync(configPath, files.config ?? '');
  const runtime = loadRulesRuntime({ configPath, env: { XDG_CONFIG_HOME: home } });
  assert.deepEqual(runtime.problems, []);
  return runtime;
}

async function replay(path: string, runtime = runtimeWith()) {
  const store = openStore(path, { log: () => {}, quickCheck: false });
  try {
    return await replayRules({
      runtime,
      store,
      from: T0 - 60 * MINUTE,
      to: END + MINUTE,
      shape,
      snapshotIntervalMs: MINUTE,
    });
  } finally {
    store.close();
  }
}

describe('replaying the current rules over stored history', () => {
  const path = writeHistory('climb');

  it('says ram_high would have fired at the first stored snapshot after its 30 s, and resolved at the first after its clear_for, beside the alert raised then', async () => {
    const report = await replay(path);
    assert.equal(report.snapshots, 181);
    assert.equal(report.stepMs, MINUTE);
    assert.deepEqual(
      report.wouldFire.map((e) => [
        e.rule,
        e.subject,
        e.severity,
        e.since,
        e.firedAt,
        e.resolvedAt,
        e.firedThen,
      ]),
      [['ram_high', 'system', 'high', CLIMB.from, CLIMB.from + MINUTE, CLIMB.to + MINUTE, true]],
    );
    assert.match(report.wouldFire[0]!.summary, /^RAM 88% used, 1\.9 GiB available/);
    assert.deepEqual(
      report.firedThen.map((a) => [a.rule, a.since, a.resolvedAt, a.wouldFire]),
      [['ram_high', CLIMB.from, CLIMB.to + 30_000, true]],
    );
    assert.deepEqual(report.gaps, []);
    assert.deepEqual(report.errors, []);
  });

  it('changes its answer with the threshold: at ram_warn_percent = 90 nothing would fire, and the alert then would not fire now', async () => {
    const report = await replay(
      path,
      runtimeWith({ config: '[thresholds]\nram_warn_percent = 90\nram_critical_percent = 95\n' }),
    );
    assert.deepEqual(report.wouldFire, []);
    assert.deepEqual(
      report.firedThen.map((a) => [a.rule, a.wouldFire]),
      [['ram_high', false]],
    );
  });

  it('changes its answer with the rule: with for = 15m, a ten-minute climb fires nothing; with for = 5m, it fires five minutes in', async () => {
    const long = await replay(path, runtimeWith({ rules: '[[rule]]\nid = "ram_high"\nfor = "15m"\n' }));
    assert.deepEqual(long.wouldFire, []);
    const short = await replay(path, runtimeWith({ rules: '[[rule]]\nid = "ram_high"\nfor = "5m"\n' }));
    assert.deepEqual(
      short.wouldFire.map((e) => [e.rule, e.firedAt]),
      [['ram_high', CLIMB.from + 5 * MINUTE]],
    );
  });

  it('says what it cannot replay: the processes history did not keep, the journal, the units', async () => {
    const report = await replay(path);
    const notes = report.notes.join('\n');
    assert.match(notes, /history keeps one snapshot every 1 min/);
    assert.match(
      notes,
      /process and group rules \([^)]*ghost_process_storm[^)]*\) see only the processes history kept/,
    );
    assert.match(notes, /journal entries are not stored: journal rules \(oom_kill\) are not judged again/);
    assert.match(notes, /failed_user_unit cannot be judged again/);
    assert.match(notes, /against this machine's 8 cores today/);
  });

  it('starts rule states over after a gap in the history: a climb cut by a gap fires nothing on its far side', async () => {
    // No snapshot from minute 92 to minute 98: the daemon was off in the middle of the climb.
    const gapped = writeHistory('gap', { gapFrom: CLIMB.from + MINUTE, gapTo: CLIMB.from + 9 * MINUTE });
    const report = await replay(gapped, runtimeWith({ rules: '[[rule]]\nid = "ram_high"\nfor = "2m"\n' }));
    assert.deepEqual(report.gaps, [{ from: CLIMB.from + MINUTE, to: CLIMB.from + 9 * MINUTE }]);
    // Two stored minutes before the gap and one after: never the 2 minutes in one stretch.
    assert.deepEqual(report.wouldFire, []);
    assert.match(report.notes.join('\n'), /1 gap\(s\) longer than 5 min with no snapshot/);
  });
});
