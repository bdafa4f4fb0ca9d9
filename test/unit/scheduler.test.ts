/**
 * The action scheduler on a fake clock: what a finding leads to in each mode, the veto window, `vigil
 * veto`, the hourly kill limit, "two failures then only notify", snooze, following a growing group, the
 * mode in force at the moment of acting, a store that cannot record, and verification. The actions table
 * is a real SQLite file; the processes acted on are real (`sleep`, or node ignoring SIGTERM) and really
 * signalled. Minutes of veto windows and hours of limits pass in no time: only the clock moves.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, defaultConfig, type Mode } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { Refusal } from '../../src/host/trusted-file.js';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import type { ActionResult } from '../../src/respond/execute.js';
import { readLiveProcess } from '../../src/respond/identity.js';
import { type ActionLog, actionLogOf } from '../../src/respond/log.js';
import { type ActionNote, REPLAN_EVERY_MS, Scheduler } from '../../src/respond/scheduler.js';
import type { CatalogActionId, Finding } from '../../src/rules/types.js';
import { openStore } from '../../src/store/store.js';
import type { FactSet } from '../../src/understand/facts-schema.js';
import { processSample } from '../helpers/snapshots.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'vigil-scheduler-'));
const children: ChildProcess[] = [];
const closers: Array<() => void> = [];

after(() => {
  for (const child of children) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const close of closers) close();
  rmSync(dir, { recursive: true, force: true });
});

// ---- real processes ---------------------------------------------------------------------------------

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ok()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A real `sleep 600` of this user, in a process group of its own. */
async function sleeper(): Promise<number> {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  await until(`sleep ${pid} to start`, () => readLiveProcess(LIVE_PATHS, pid)?.cmdline === 'sleep 600');
  return pid;
}

/**
 * A real node process that ignores SIGTERM and writes `marker` when it gets one: only SIGKILL ends it, so
 * whether it is alive after an action says whether SIGKILL was sent.
 */
async function stubborn(marker: string): Promise<number> {
  const ready = `${marker}.ready`;
  const code = `const fs = require('node:fs');
process.on('SIGTERM', () => fs.writeFileSync(${JSON.stringify(marker)}, ''));
fs.writeFileSync(${JSON.stringify(ready)}, '');
setInterval(() => {}, 1e6);`;
  const child = spawn(process.execPath, ['-e', code], { detached: true, stdio: 'ignore' });
  children.push(child);
  await until('the stubborn process to start', () => existsSync(ready));
  return child.pid!;
}

function alive(pid: number): boolean {
  const live = readLiveProcess(LIVE_PATHS, pid);
  return live !== null && live.state !== 'Z';
}

/** A process as the collector would have sampled it: pid, start time, command line, parent, group. */
function sample(pid: number): ProcessSample {
  const live = readLiveProcess(LIVE_PATHS, pid);
  assert.ok(live, `pid ${pid} runs`);
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return processSample(pid, argv, {
    ppid: live.ppid,
    pgid: live.pgid,
    sid: live.pgid,
    state: live.state,
    comm: live.comm,
    cmdline: live.cmdline,
    uid: live.uid,
    user: null,
    startTicks: live.startTicks,
    rssBytes: live.rssPages * 4096,
  });
}

/** The nice value of a process (field 19 of /proc/PID/stat, see proc(5)). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** What verification recorded of an action: whether its finding cleared afterwards. */
function clearedOf(action: { result: unknown } | undefined): boolean | undefined {
  return (action?.result as { cleared?: boolean } | null | undefined)?.cleared;
}

// ---- the scheduler under test, on a real SQLite file --------------------------------------------------

function config(mode: Mode, actions: Partial<Config['actions']> = {}): Config {
  const base = defaultConfig();
  return { ...base, general: { ...base.general, mode }, actions: { ...base.actions, ...actions } };
}

function finding(pids: readonly number[], suggest: CatalogActionId[], rule = 'hog', subject = 'x'): Finding {
  return {
    fingerprint: `${rule}|${subject}`,
    rule,
    title: rule,
    severity: 'high',
    scope: 'process',
    subject,
    summary: `${rule} on ${subject}`,
    pids,
    since: T0,
    suggest,
    event: false,
  };
}

interface HarnessOptions {
  readonly mode?: Mode;
  /** `--mode` on the command line (null: general.mode decides). */
  readonly asked?: Mode | null;
  readonly actions?: Partial<Config['actions']>;
  readonly refused?: readonly Refusal[];
  /** The store of an earlier harness (a restart). */
  readonly log?: ActionLog;
  readonly noStore?: boolean;
  /** Called before each policy check (the daemon applies a SIGHUP there). */
  readonly refresh?: (h: Harness) => void;
}

interface Harness {
  readonly clock: { t: number; now(): number };
  readonly log: ActionLog;
  readonly scheduler: Scheduler;
  readonly notes: ActionNote[];
  readonly lines: string[];
  readonly storeErrors: string[];
  readonly db: ReturnType<typeof openStore>;
  /** One full cycle at the clock's time. */
  cycle(input: {
    raised?: Finding[];
    firing?: Finding[];
    alertIds?: Record<string, number>;
    /** Processes in the sample besides the findings' members that are alive. */
    also?: readonly number[];
  }): Promise<void>;
  /** Every action stored, oldest first. */
  rows(): ReturnType<ActionLog['between']>;
  steps(): string[];
}

let stores = 0;
function harness(options: HarnessOptions = {}): Harness {
  const db = openStore(join(dir, `vigil-${++stores}.db`));
  closers.push(() => db.close());
  const log = options.log ?? actionLogOf(db)!;
  const clock = {
    t: T0,
    now() {
      return this.t;
    },
  };
  const notes: ActionNote[] = [];
  const lines: string[] = [];
  const storeErrors: string[] = [];
  const h: Harness = {
    clock,
    log,
    db,
    notes,
    lines,
    storeErrors,
    scheduler: new Scheduler({
      askedMode: options.asked ?? null,
      steering: { config: config(options.mode ?? 'auto', options.actions), refused: options.refused ?? [] },
      paths: LIVE_PATHS,
      actions: () => (options.noStore ? null : log),
      clock,
      refresh: () => options.refresh?.(h),
      sink: {
        tell: (note) => notes.push(note),
        log: (line) => lines.push(line),
        storeFailed: (error) => storeErrors.push(error.message),
      },
    }),
    async cycle({ raised = [], firing = raised, alertIds = {}, also = [] }) {
      const pids = new Set([...firing, ...raised].flatMap((f) => f.pids).filter(alive));
      for (const pid of also) pids.add(pid);
      const snapshot = {
        takenAt: clock.t,
        host: { hostname: 'test', kernel: 'test', uptimeSecs: 1 },
        processes: [...pids].map(sample),
        collectors: [],
      } satisfies Snapshot;
      const facts = { now: clock.t, sys: {}, thresholds: {}, subjects: {} } as unknown as FactSet;
      const evaluation = { raised, firing, resolved: [], errors: [] };
      const ids = new Map(Object.entries(alertIds));
      await h.scheduler.cycle({ evaluation, snapshot, facts, alertIds: ids, now: clock.t });
    },
    rows: () => log.between(0, Number.MAX_SAFE_INTEGER),
    steps: () => notes.map((n) => n.step),
  };
  return h;
}

// ---- what a finding leads to ------------------------------------------------------------------------

describe('what a raised finding leads to, by mode', () => {
  it('in observe mode, a kill is only recorded for vigil fix and nothing is told', async () => {
    const pid = await sleeper();
    const h = harness({ mode: 'observe' });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.deepEqual(
      h.rows().map((r) => [r.alertId, r.state, r.mode]),
      [[7, 'proposed', 'observe']],
    );
    assert.deepEqual(h.notes, []);
    assert.ok(alive(pid));
  });

  it('in suggest mode, the exact command is shown with how to run it', async () => {
    const pid = await sleeper();
    const h = harness({ mode: 'suggest' });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.deepEqual(
      h.rows().map((r) => r.state),
      ['proposed'],
    );
    assert.deepEqual(h.notes, [
      { step: 'suggest', rule: 'hog', severity: 'high', alertId: 7, text: `kill ${pid}  (run: vigil fix 7)` },
    ]);
  });

  it('in auto mode, a kill is scheduled behind the veto window and announced with how to veto it', async () => {
    const pid = await sleeper();
    const h = harness({ mode: 'auto', actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    const [row] = h.rows();
    assert.equal(row?.state, 'scheduled');
    assert.equal(row?.notBefore, T0 + 10_000);
    assert.deepEqual(h.steps(), ['notice']);
    assert.match(h.notes[0]!.text, /in 10 s unless: vigil veto 7$/);
    assert.ok(alive(pid), 'nothing runs before the window has passed');
  });

  it('in auto mode, an action that needs no consent (renice) runs in the same cycle, unannounced', async () => {
    const pid = await sleeper();
    const h = harness({ mode: 'auto' });
    const f = finding([pid], ['renice']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.deepEqual(
      h.rows().map((r) => [r.state, r.outcome]),
      [['finished', 'success']],
    );
    assert.deepEqual(h.steps(), ['acted']);
    assert.equal(niceOf(pid), 10);
  });

  it('in auto mode, an action that needs confirmation (a process group kill) is only proposed', async () => {
    const pid = await sleeper();
    const h = harness({ mode: 'auto' });
    const f = finding([pid], ['kill_process_group']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.deepEqual(
      h.rows().map((r) => r.state),
      ['proposed'],
    );
    assert.deepEqual(h.steps(), ['suggest']);
    assert.match(h.notes[0]!.text, new RegExp(`^kill -- -${pid} `));
    h.clock.t += 3_600_000;
    await h.cycle({ firing: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(alive(pid));
  });
});

// ---- the veto window --------------------------------------------------------------------------------

describe('the veto window', () => {
  it('a kill waits out its window to the millisecond, then stops the real process and says so', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    const ids = { [f.fingerprint]: 7 };
    await h.cycle({ raised: [f], alertIds: ids });
    h.clock.t = T0 + 9_999;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(alive(pid), 'still inside the window');
    assert.equal(h.rows()[0]?.state, 'scheduled');
    h.clock.t = T0 + 10_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(!alive(pid), 'stopped once the window passed');
    assert.deepEqual(
      h.rows().map((r) => [r.state, r.outcome]),
      [['finished', 'success']],
    );
    assert.deepEqual(h.steps(), ['notice', 'acted']);
    assert.match(h.notes[1]!.text, new RegExp(`^Stop a process \\(${pid}\\): success, 1 of 1 gone`));
  });

  it('a kill vetoed within its window (vigil veto) never runs', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    const ids = { [f.fingerprint]: 7 };
    await h.cycle({ raised: [f], alertIds: ids });
    // What `vigil veto 7` does, on the same database.
    assert.equal(h.log.veto(7, T0 + 3_000), 1);
    h.clock.t = T0 + 60_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(alive(pid));
    assert.deepEqual(
      h.rows().map((r) => [r.state, r.reason]),
      [['vetoed', 'vetoed by the user']],
    );
    assert.deepEqual(h.steps(), ['notice']);
  });
});

// ---- limits -----------------------------------------------------------------------------------------

describe('limits on automatic actions', () => {
  it('past max_kills_per_hour a kill is refused and told as the limit; an hour later kills run again', async () => {
    const first = await sleeper();
    const second = await sleeper();
    const h = harness({ actions: { veto_secs: 0, max_kills_per_hour: 1 } });
    const a = finding([first], ['kill_process'], 'hog', 'a');
    const b = finding([second], ['kill_process'], 'hog', 'b');
    await h.cycle({ raised: [a], alertIds: { [a.fingerprint]: 1 } });
    assert.ok(!alive(first), 'the first kill of the hour runs');

    h.clock.t = T0 + 60_000;
    await h.cycle({ raised: [b], alertIds: { [b.fingerprint]: 2 } });
    assert.ok(alive(second), 'the second kill within the hour does not');
    const refused = h.rows().find((r) => r.alertId === 2);
    assert.deepEqual(
      [refused?.state, refused?.reason],
      ['refused', 'limit of 1 automatic kills per hour reached'],
    );
    assert.deepEqual(
      h.notes.filter((n) => n.step === 'limit').map((n) => [n.alertId, n.text]),
      [[2, '1 automatic kills per hour reached; not acting (alert 2)']],
    );

    h.clock.t = T0 + 2 * 3_600_000;
    await h.cycle({ raised: [b], alertIds: { [b.fingerprint]: 3 } });
    assert.ok(!alive(second), 'a new hour, a new kill');
  });

  it('after two automatic actions that did not clear a finding, vigil only notifies', async () => {
    const pid = await sleeper();
    const h = harness();
    const f = finding([pid], ['renice']);
    for (const alertId of [1, 2]) {
      // Raised, acted on at once (renice needs no consent), and still firing on the next cycle.
      await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: alertId } });
      h.clock.t += 1;
      await h.cycle({ firing: [f], alertIds: { [f.fingerprint]: alertId } });
      h.clock.t += 1;
    }
    assert.deepEqual(h.steps(), ['acted', 'verified', 'acted', 'verified']);
    assert.equal(h.log.failuresFor(f.fingerprint), 2);

    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 3 } });
    const third = h.rows().at(-1);
    assert.deepEqual(
      [third?.alertId, third?.state, third?.reason],
      [3, 'refused', 'two earlier actions did not clear it'],
    );
    assert.equal(h.notes.at(-1)?.step, 'escalate');
    assert.equal(
      h.notes.at(-1)?.text,
      'two automatic actions did not clear it; vigil only notifies now (alert 3)',
    );
  });

  it('a snoozed rule gets no plan, and its scheduled kill is cancelled instead of run', async () => {
    const pid = await sleeper();
    const other = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 1 } });
    // `vigil snooze hog 1h` during the window.
    h.log.snooze('hog', T0 + 3_600_000);
    h.clock.t = T0 + 10_000;
    const g = finding([other], ['kill_process'], 'hog', 'y');
    await h.cycle({ raised: [g], firing: [f, g], alertIds: { [f.fingerprint]: 1, [g.fingerprint]: 2 } });
    assert.ok(alive(pid), 'the scheduled kill did not run');
    assert.ok(alive(other), 'nothing was planned for the new finding');
    assert.deepEqual(
      h.rows().map((r) => [r.alertId, r.state, r.reason]),
      [[1, 'vetoed', 'rule hog is snoozed']],
    );
    assert.deepEqual(h.steps(), ['notice']);
  });
});

// ---- the plan follows the group ---------------------------------------------------------------------

describe('a firing group planned again', () => {
  it('is stored without target while every member has a live owner, and scheduled once the owner is gone', async () => {
    const members = [await sleeper(), await sleeper()];
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding(members, ['kill_matching'], 'ghost_process_storm');
    const ids = { [f.fingerprint]: 4 };
    // The members' parent (this test's process) is in the sample: they still have a live owner.
    await h.cycle({ raised: [f], alertIds: ids, also: [process.pid] });
    assert.deepEqual(
      h.rows().map((r) => [r.state, r.plan.targets.length, r.plan.kept.length]),
      [['proposed', 0, 2]],
    );
    assert.deepEqual(h.notes, [], 'a plan without target is told nothing');

    // The owner is gone from the next sample: the group gained targets.
    h.clock.t = T0 + 5_000;
    await h.cycle({ firing: [f], alertIds: ids });
    const latest = h.rows().at(-1);
    assert.deepEqual(
      [latest?.state, latest?.notBefore, latest?.plan.targets.map((t) => t.pid).sort()],
      ['scheduled', T0 + 15_000, [...members].sort()],
    );
    assert.deepEqual(h.steps(), ['notice']);
    h.clock.t = T0 + 15_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(
      members.every((pid) => !alive(pid)),
      'the storm is stopped',
    );
  });

  it('an action announced or under way runs first: a group growing meanwhile is not planned again', async () => {
    const members = [await sleeper(), await sleeper()];
    const late = await sleeper();
    // A veto window longer than REPLAN_EVERY_MS: the group grows while its kill still waits.
    const h = harness({ actions: { veto_secs: 60 } });
    const f = finding(members, ['kill_matching'], 'ghost_process_storm');
    const ids = { [f.fingerprint]: 4 };
    await h.cycle({ raised: [f], alertIds: ids });
    assert.deepEqual(
      h.rows().map((r) => r.state),
      ['scheduled'],
    );
    h.clock.t = T0 + 40_000;
    const grown = finding([...members, late], ['kill_matching'], 'ghost_process_storm');
    await h.cycle({ firing: [grown], alertIds: ids });
    assert.equal(h.rows().length, 1, 'no second plan beside the scheduled one');
    h.clock.t = T0 + 60_000;
    await h.cycle({ firing: [grown], alertIds: ids });
    assert.ok(members.every((pid) => !alive(pid)));
    assert.ok(alive(late), 'the scheduled plan ran as announced');
    // What it left is planned after it.
    h.clock.t = T0 + 61_000;
    await h.cycle({ firing: [grown], alertIds: ids });
    const latest = h.rows().at(-1);
    assert.deepEqual([latest?.state, latest?.plan.targets.map((t) => t.pid)], ['scheduled', [late]]);
  });

  it('a group that keeps growing is planned again at most every 30 s', async () => {
    const [a, b, c] = [await sleeper(), await sleeper(), await sleeper()];
    const h = harness({ mode: 'suggest' });
    const ids = { 'ghost_process_storm|x': 4 };
    const storm = (pids: number[]) => finding(pids, ['kill_matching'], 'ghost_process_storm');
    await h.cycle({ raised: [storm([a])], alertIds: ids });
    h.clock.t = T0 + 10_000;
    await h.cycle({ firing: [storm([a, b])], alertIds: ids });
    h.clock.t = T0 + REPLAN_EVERY_MS - 1;
    await h.cycle({ firing: [storm([a, b, c])], alertIds: ids });
    assert.deepEqual(
      h.rows().map((r) => r.plan.targets.length),
      [1],
      'not again within 30 s',
    );
    h.clock.t = T0 + REPLAN_EVERY_MS;
    await h.cycle({ firing: [storm([a, b, c])], alertIds: ids });
    assert.deepEqual(
      h.rows().map((r) => r.plan.targets.length),
      [1, 3],
    );
    assert.deepEqual(h.steps(), ['suggest', 'suggest']);
  });
});

// ---- the mode in force at the moment of acting -------------------------------------------------------

describe('the mode in force at the moment of acting decides', () => {
  it('a reload to observe cancels a kill waiting in its veto window, and takes back its notice', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    const ids = { [f.fingerprint]: 7 };
    await h.cycle({ raised: [f], alertIds: ids });
    h.clock.t = T0 + 2_000;
    h.scheduler.reconfigure({ config: config('observe'), refused: [] });
    assert.equal(h.scheduler.mode, 'observe');
    assert.ok(h.lines.includes('mode auto -> observe'));
    await h.cycle({ firing: [f], alertIds: ids });
    // Cancelled at once, 8 s before it was due: its notice is taken back now, not when it would have run.
    assert.deepEqual(h.steps(), ['notice', 'cancelled']);
    assert.match(h.notes[1]!.text, /not run: vigil is in observe mode now; .*vigil fix 7 runs it by hand/);
    assert.equal(h.rows()[0]?.state, 'vetoed');
    h.clock.t = T0 + 60_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(alive(pid));
    assert.deepEqual(h.steps(), ['notice', 'cancelled']);
  });

  it('a scheduler started again in observe mode cancels what an earlier run scheduled', async () => {
    const pid = await sleeper();
    const before = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    await before.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    const restarted = harness({ mode: 'observe', log: before.log });
    restarted.clock.t = T0 + 1_000;
    await restarted.cycle({ firing: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(alive(pid));
    assert.deepEqual(restarted.steps(), ['cancelled']);
    assert.equal(before.rows()[0]?.state, 'vetoed');
  });

  it('keeps --mode auto from the command line over general.mode = "observe" across a reload', async () => {
    const h = harness({ mode: 'auto', asked: 'auto' });
    h.scheduler.reconfigure({ config: config('observe'), refused: [] });
    assert.equal(h.scheduler.mode, 'auto');
    assert.deepEqual(h.lines, [
      'general.mode is observe in the config; --mode auto given on the command line stays in force',
    ]);
  });

  it('fails closed when a steering file is refused: observe mode, nothing scheduled, a scheduled kill cancelled', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    const ids = { [f.fingerprint]: 7 };
    await h.cycle({ raised: [f], alertIds: ids });
    const refused: Refusal = { file: '/etc/vigil/rules/x.toml', reason: 'writable by others', line: '' };
    // A reload finds a rules file others could have written: --mode auto or not, auto mode is off.
    const asked = harness({ asked: 'auto', refused: [refused], log: h.log });
    assert.equal(asked.scheduler.mode, 'observe');
    assert.match(
      asked.lines[0]!,
      /running in observe mode instead of auto: vigil refused \/etc\/vigil\/rules\/x\.toml/,
    );
    h.scheduler.reconfigure({ config: config('auto'), refused: [refused] });
    assert.equal(h.scheduler.mode, 'observe');
    h.clock.t = T0 + 60_000;
    const g = finding([pid], ['kill_process'], 'hog', 'again');
    await h.cycle({ raised: [g], firing: [f, g], alertIds: { ...ids, [g.fingerprint]: 8 } });
    assert.ok(alive(pid));
    assert.deepEqual(
      h.rows().map((r) => [r.alertId, r.state]),
      [
        [7, 'vetoed'],
        [8, 'proposed'],
      ],
    );
    assert.deepEqual(h.steps(), ['notice', 'cancelled']);
  });

  it('a reload to observe during the grace period sends no SIGKILL', async () => {
    const marker = join(dir, 'term-reload');
    const pid = await stubborn(marker);
    const h = harness({
      actions: { veto_secs: 0, grace_secs: 30 },
      // The SIGHUP arrives once the process got its SIGTERM.
      refresh: (self) => {
        if (existsSync(marker)) self.scheduler.reconfigure({ config: config('observe'), refused: [] });
      },
    });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(existsSync(marker), 'SIGTERM was sent');
    assert.ok(alive(pid), 'no SIGKILL followed');
    const result = h.rows()[0]?.result as ActionResult;
    assert.equal(result.outcome, 'failed');
    assert.match(result.refused[0]!.reason, /^not sent SIGKILL: vigil is in observe mode now/);
  });

  it('a stop during the grace period sends no SIGKILL', async () => {
    const marker = join(dir, 'term-stop');
    const pid = await stubborn(marker);
    const h = harness({
      actions: { veto_secs: 0, grace_secs: 30 },
      refresh: (self) => {
        if (existsSync(marker)) self.scheduler.stop();
      },
    });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(existsSync(marker), 'SIGTERM was sent');
    assert.ok(alive(pid), 'no SIGKILL followed');
    const result = h.rows()[0]?.result as ActionResult;
    assert.match(result.refused[0]!.reason, /^not sent SIGKILL: vigil is stopping/);
  });
});

// ---- nothing runs that the store cannot record -------------------------------------------------------

describe('without a store that records it, nothing runs', () => {
  it('plans and runs nothing without a store', async () => {
    const pid = await sleeper();
    const h = harness({ noStore: true, actions: { veto_secs: 0 } });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(alive(pid));
    assert.deepEqual(h.notes, []);
  });

  it('runs a due kill only once the store can record that it started', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 10 } });
    const f = finding([pid], ['kill_process']);
    const ids = { [f.fingerprint]: 7 };
    await h.cycle({ raised: [f], alertIds: ids });
    // Reads work, writes fail: a full disk, a file gone read-only.
    const raw = h.db.raw()!;
    raw.pragma('query_only = ON');
    h.clock.t = T0 + 10_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(alive(pid), 'not run while its start cannot be recorded');
    assert.ok(h.storeErrors.length > 0, 'the failure is reported');
    raw.pragma('query_only = OFF');
    h.clock.t = T0 + 20_000;
    await h.cycle({ firing: [f], alertIds: ids });
    assert.ok(!alive(pid), 'run once the store records again');
  });
});

// ---- verification -----------------------------------------------------------------------------------

describe('after an action', () => {
  it('says whether the finding cleared on the first cycle sampled after the action ended, not before', async () => {
    const pid = await sleeper();
    const h = harness({ actions: { veto_secs: 0 } });
    const f = finding([pid], ['kill_process']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.ok(!alive(pid));
    // A sample taken while the action was still running says nothing about its effect.
    await h.cycle({ firing: [f], alertIds: { [f.fingerprint]: 7 } });
    assert.deepEqual(h.steps(), ['acted']);
    h.clock.t += 1;
    await h.cycle({});
    assert.deepEqual(h.steps(), ['acted', 'verified']);
    const id = h.rows()[0]!.id;
    assert.equal(h.notes[1]!.text, `the finding cleared (action ${id})`);
    assert.equal(clearedOf(h.rows()[0]), true);
  });

  it('says the finding is still there, and which of its processes still run', async () => {
    const pid = await sleeper();
    const h = harness();
    const f = finding([pid], ['renice']);
    await h.cycle({ raised: [f], alertIds: { [f.fingerprint]: 7 } });
    h.clock.t += 1;
    await h.cycle({ firing: [f], alertIds: { [f.fingerprint]: 7 } });
    const id = h.rows()[0]!.id;
    assert.equal(
      h.notes.at(-1)?.text,
      `the finding is still there (action ${id}); 1 of its 1 processes still runs (pid ${pid})`,
    );
    assert.equal(clearedOf(h.rows()[0]), false);
  });
});
