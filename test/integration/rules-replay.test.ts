/**
 * `vigil rules test --replay` as a user runs it: the built CLI over a history the real store wrote to the
 * user's state directory — three hours ending a few minutes ago, one snapshot a minute, RAM past 80 % for
 * ten minutes in the middle, and the alert the daemon raised then.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/store/store.js';
import type { SnapshotRecord } from '../../src/store/types.js';
import { runVigil } from '../helpers/cli.js';
import { mkdirAs, runVigilAs, userHome, victimUser } from '../helpers/users.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MINUTE = 60_000;
const GiB = 2 ** 30;
const END = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
const T0 = END - 180 * MINUTE;
const CLIMB = { from: T0 + 90 * MINUTE, to: T0 + 100 * MINUTE };

function snapshotAt(takenAt: number, memUsedPercent: number): SnapshotRecord {
  return {
    takenAt,
    memUsedPercent,
    memAvailableBytes: Math.round(16 * GiB * (1 - memUsedPercent / 100)),
    swapUsedPercent: 0,
    load1: 0.2,
    load5: 0.2,
    load15: 0.2,
    cpuPercent: 10,
    psiMemSomeAvg10: 0,
    psiMemFullAvg10: 0,
    psiCpuSomeAvg10: 0,
    psiIoFullAvg10: 0,
    cpuTempCelsius: null,
    gpuTempCelsius: null,
    disks: {},
    processes: [],
  };
}

/** A user whose daemon stored three hours of history and raised ram_high once, in its own XDG dirs. */
function user(config = ''): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(dir, 'home-'));
  const env = { XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state') };
  mkdirSync(join(env.XDG_CONFIG_HOME, 'vigil'), { recursive: true });
  writeFileSync(join(env.XDG_CONFIG_HOME, 'vigil', 'config.toml'), config);
  const store = openStore(join(env.XDG_STATE_HOME, 'vigil', 'vigil.db'), { log: () => {} });
  for (let t = T0; t <= END; t += MINUTE)
    store.insertSnapshot(snapshotAt(t, t >= CLIMB.from && t < CLIMB.to ? 88 : 50));
  store.recordFiring(
    {
      fingerprint: 'ram_high|system',
      rule: 'ram_high',
      subject: 'system',
      severity: 'high',
      summary: 'RAM 88% used, 1.9 GiB available',
      pids: [],
      since: CLIMB.from,
      event: false,
      suggest: ['notify_only'],
    },
    CLIMB.from + 30_000,
  );
  store.resolveAlert('ram_high|system', CLIMB.to + 30_000);
  store.close();
  return env;
}

/** `2026-05-01 03:10:00`, as the replay prints times (UTC). */
const stamp = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

interface ReplayJson {
  snapshots: number;
  wouldFire: Array<{
    rule: string;
    subject: string;
    severity: string;
    since: number;
    firedAt: number;
    resolvedAt: number | null;
    firedThen: boolean;
  }>;
  firedThen: Array<{ rule: string; since: number; resolvedAt: number | null; wouldFire: boolean }>;
  notes: string[];
}

describe('vigil rules test --replay', () => {
  it('prints what the current rules would have fired over the last 4 hours and when, beside what fired then', () => {
    const run = runVigil(['rules', 'test', '--replay', '4h'], user());
    assert.equal(run.status, 0, run.stderr);
    const out = run.stdout;
    assert.match(
      out,
      /^Replayed 181 stored snapshot\(s\) from .* UTC, one every 60 s, with \d+ rules as loaded now\./,
    );
    const fired = `HIGH     ram_high on this machine: ${stamp(CLIMB.from)} – ${stamp(CLIMB.to + MINUTE).slice(11)} (fires ${stamp(CLIMB.from + MINUTE).slice(11)})`;
    assert.ok(out.includes(`Would have fired (1):\n  ${fired}\n`), out);
    assert.ok(
      out.includes(
        `Fired then (1, from the alerts table):\n  HIGH     ram_high on this machine: ${stamp(CLIMB.from)} – ${stamp(CLIMB.to + 30_000).slice(11)}\n`,
      ),
      out,
    );
    assert.match(
      out,
      /\nSummary: 1 would have fired \(ram_high ×1\); 1 fired then \(ram_high ×1\); 1 of the first fired then too\.\n/,
    );
    assert.match(out, /\nNotes \(what a replay cannot see\):\n {2}- history keeps one snapshot every 1 min/);
    assert.match(out, /- process and group rules \(.*\) see only the processes history kept/);
    assert.match(out, /- journal entries are not stored: journal rules \(oom_kill\) are not judged again/);
  });

  it('answers otherwise once ram_warn_percent is raised past the climb: nothing would fire, and the alert then would not fire now', () => {
    const run = runVigil(
      ['rules', 'test', '--replay', '4h', '--json'],
      user('[thresholds]\nram_warn_percent = 90\nram_critical_percent = 95\n'),
    );
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReplayJson;
    assert.equal(report.snapshots, 181);
    assert.deepEqual(report.wouldFire, []);
    assert.deepEqual(
      report.firedThen.map((a) => [a.rule, a.since, a.resolvedAt, a.wouldFire]),
      [['ram_high', CLIMB.from, CLIMB.to + 30_000, false]],
    );
  });

  it('tries a rule file on top of the current rules: ram_high with for = 5m fires five minutes into the climb', () => {
    const file = join(dir, 'ram.toml');
    writeFileSync(file, '[[rule]]\nid = "ram_high"\nfor = "5m"\n');
    const run = runVigil(['rules', 'test', file, '--replay', '4h', '--json'], user());
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReplayJson;
    assert.deepEqual(
      report.wouldFire.map((e) => [e.rule, e.since, e.firedAt, e.resolvedAt, e.firedThen]),
      [['ram_high', CLIMB.from, CLIMB.from + 5 * MINUTE, CLIMB.to + MINUTE, true]],
    );
  });

  it('replays only the window asked: the last 30 minutes hold none of the climb', () => {
    const run = runVigil(['rules', 'test', '--replay', '30m', '--json'], user());
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReplayJson;
    assert.ok(report.snapshots >= 25 && report.snapshots <= 31, `${report.snapshots} snapshots`);
    assert.deepEqual(report.wouldFire, []);
    assert.deepEqual(report.firedThen, []);
  });

  it('says so, exit 1, when there is no history yet, and exit 2 without --snapshot or --replay', () => {
    const home = mkdtempSync(join(dir, 'empty-'));
    const env = { XDG_CONFIG_HOME: join(home, 'c'), XDG_STATE_HOME: join(home, 's') };
    const none = runVigil(['rules', 'test', '--replay', '24h'], env);
    assert.equal(none.status, 1);
    assert.match(
      none.stderr,
      /no history yet \(.*vigil\.db does not exist\): start the daemon with vigil run/,
    );
    const neither = runVigil(['rules', 'test'], env);
    assert.equal(neither.status, 2);
    assert.match(neither.stderr, /rules test needs --snapshot <snap\.json> or --replay <duration>/);
  });

  const victim = victimUser();
  it('reads a history its user cannot write, saying nothing of writing it', {
    skip: typeof victim === 'string' ? victim : false,
  }, () => {
    const u = victim as Exclude<typeof victim, string>;
    const home = userHome(u, 'replay-readonly');
    after(() => home.cleanup());
    const written = join(user().XDG_STATE_HOME!, 'vigil', 'vigil.db');
    mkdirAs(u, home.stateDir);
    const db = join(home.stateDir, 'vigil.db');
    copyFileSync(written, db);
    chownSync(db, u.uid, u.gid);
    chmodSync(db, 0o400);
    const run = runVigilAs(u, ['rules', 'test', '--replay', '4h', '--json'], home.env);
    assert.equal(run.stderr, '');
    assert.equal(run.status, 0);
    const report = JSON.parse(run.stdout) as ReplayJson;
    assert.equal(report.snapshots, 181);
    assert.deepEqual(
      report.firedThen.map((a) => a.rule),
      ['ram_high'],
    );
  });

  it('refuses a window that is not a duration, or is empty, in one vigil: line naming it, exit 2', () => {
    const home = mkdtempSync(join(dir, 'bad-'));
    const env = { XDG_CONFIG_HOME: join(home, 'c'), XDG_STATE_HOME: join(home, 's') };
    for (const [value, why] of [
      ['0x', 'not a duration \\(use e\\.g\\. 90m, 24h, 7d\\)'],
      ['0s', 'the window is empty'],
    ] as const) {
      const run = runVigil(['rules', 'test', '--replay', value], env);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`^vigil: --replay "${value}": ${why}\\n$`));
      assert.equal(run.stdout, '');
    }
  });
});
