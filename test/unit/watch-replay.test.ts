import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMoment } from '../../src/cli/watch.js';
import { UsageError } from '../../src/pipeline/options.js';
import { openTimeline } from '../../src/store/open-timeline.js';
import { formatMoment, type Timeline } from '../../src/store/timeline.js';
import {
  handleKey,
  initialUiState,
  processRows,
  REPLAY_KILL_REFUSED,
  type WatchFrame,
} from '../../src/watch/model.js';
import { historyFrame, TimeTravelSource } from '../../src/watch/replay.js';
import { buildScreen, lineText } from '../../src/watch/screen.js';
import { StaticSource } from '../../src/watch/source.js';
import { MINUTE, type ReplayHistory, writeReplayHistory } from '../helpers/replay-history.js';

const HOUR = 60 * MINUTE;

describe('vigil watch --at: the moments it understands', () => {
  // 14:30 on 7 December 2026, local time.
  const now = new Date(2026, 11, 7, 14, 30, 0).getTime();
  const local = (...parts: [number, number, number, number, number, number?]) =>
    new Date(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5] ?? 0).getTime();

  it('reads today and yesterday at a time, a date and a time, a time alone, and a duration ago', () => {
    assert.equal(parseMoment('today 03:10', now), local(2026, 11, 7, 3, 10));
    assert.equal(parseMoment('today 03:10:05', now), local(2026, 11, 7, 3, 10, 5));
    assert.equal(parseMoment('yesterday 23:00', now), local(2026, 11, 6, 23, 0));
    assert.equal(parseMoment('2026-12-07 03:10', now), local(2026, 11, 7, 3, 10));
    assert.equal(parseMoment('2026-11-30T22:05:09', now), local(2026, 10, 30, 22, 5, 9));
    assert.equal(parseMoment('03:10', now), local(2026, 11, 7, 3, 10));
    assert.equal(parseMoment('-2h', now), now - 2 * HOUR);
    assert.equal(parseMoment('2h ago', now), now - 2 * HOUR);
    assert.equal(parseMoment('1h30m ago', now), now - 90 * MINUTE);
    assert.equal(
      parseMoment('  Today   3:10 ', now),
      local(2026, 11, 7, 3, 10),
      'case and spaces do not matter',
    );
  });

  it('takes a time alone as the latest such time that is not in the future, across a new year too', () => {
    assert.equal(parseMoment('15:00', now), local(2026, 11, 6, 15, 0), 'yesterday’s 15:00 at 14:30');
    const newYear = new Date(2027, 0, 1, 1, 0).getTime();
    assert.equal(parseMoment('03:10', newYear), local(2026, 11, 31, 3, 10));
    assert.equal(parseMoment('yesterday 23:00', newYear), local(2026, 11, 31, 23, 0));
  });

  it('refuses anything else with one line naming the value: no such moment, no direction, the future', () => {
    const cases: Array<[string, RegExp]> = [
      ['bogus', /--at "bogus": not a moment; use e\.g\. "today 03:10", .* "2h ago"/],
      ['tomorrow 03:10', /not a moment/],
      ['2h', /--at "2h": say which way, as "-2h" or "2h ago"/],
      ['25:10', /no such time of day/],
      ['today 03:61', /no such time of day/],
      ['2026-02-30 03:10', /--at "2026-02-30 03:10": no such date/],
      ['today 15:00', /--at "today 15:00" is in the future \(it is 14:30 now\)/],
      ['2026-12-08 00:00', /is in the future/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseMoment(text, now),
        (error: unknown) => {
          assert.ok(error instanceof UsageError, `${text}: a usage error (exit 2)`);
          assert.match(error.message, message);
          assert.doesNotMatch(error.message, /\n/, 'one line');
          return true;
        },
      );
    }
  });
});

describe('the timeline: the history at a moment, on a real SQLite file written by the store', () => {
  let dir = '';
  let history: ReplayHistory;
  let timeline: Timeline;
  let close = () => {};
  const at = (minutes: number, extraMs = 0) => history.start + minutes * MINUTE + extraMs;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-timeline-'));
    history = writeReplayHistory(join(dir, 'vigil.db'), Date.parse('2026-12-07T02:00:05Z'));
    const opened = openTimeline(history.path);
    assert.ok('timeline' in opened, 'the history opens');
    timeline = opened.timeline;
    close = opened.close;
  });

  after(() => {
    close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('knows its first and last snapshot, and the neighbours of each', () => {
    assert.deepEqual(timeline.span(), { firstAt: at(0), lastAt: at(60), count: 61 });
    assert.equal(timeline.atOrBefore(at(10, 59_999)), at(10));
    assert.equal(timeline.atOrBefore(at(10)), at(10));
    assert.equal(timeline.atOrBefore(at(0, -1)), null);
    assert.equal(timeline.before(at(10)), at(9));
    assert.equal(timeline.after(at(10)), at(11));
    assert.equal(timeline.before(at(0)), null);
    assert.equal(timeline.after(at(60)), null);
  });

  it('shows the snapshot at or before the moment, with memory rising and the leaking server’s processes', () => {
    assert.equal(timeline.moment(at(0, -1)), null, 'nothing before the first snapshot');
    const early = timeline.moment(at(0, 30_000))!;
    assert.equal(early.snapshot.takenAt, at(0));
    assert.equal(early.snapshot.memUsedPercent, 40);
    const late = timeline.moment(at(60))!;
    assert.equal(late.snapshot.memUsedPercent, 95);
    const leak = late.snapshot.processes.find((p) => p.pid === history.leakPid)!;
    assert.equal(leak.rssBytes, 6200 * 2 ** 20);
    assert.equal(leak.cmdline, 'python3 /home/dev/leaky_server.py --port 8123');
    assert.equal(leak.kind, 'dev-server');
    assert.equal(late.snapshot.processes.length, 3);
    assert.deepEqual(late.snapshot.disks, { '/': 61.5, '/home': 40 });
  });

  it('lists an alert as open from the moment it was raised until, not including, the moment it was resolved', () => {
    const rules = (t: number) => timeline.moment(t)!.open.map((a) => a.rule);
    assert.deepEqual(rules(history.alertRaisedAt - 1), []);
    assert.deepEqual(rules(history.alertRaisedAt), ['memory_high']);
    assert.deepEqual(rules(at(40, 30_000)), ['memory_high']);
    assert.deepEqual(rules(history.alertResolvedAt - 1), ['memory_high']);
    assert.deepEqual(rules(history.alertResolvedAt), []);
    assert.deepEqual(rules(history.eventAt), [], 'an event is never open');
  });

  it('lists the alerts that ended in the ten minutes before, events included, latest first', () => {
    const ended = (t: number) => timeline.moment(t)!.ended.map((a) => [a.rule, a.resolvedAt]);
    assert.deepEqual(ended(history.alertResolvedAt - 1), []);
    assert.deepEqual(ended(history.alertResolvedAt), [['memory_high', history.alertResolvedAt]]);
    assert.deepEqual(ended(history.eventAt), [
      ['oom_kill', history.eventAt],
      ['memory_high', history.alertResolvedAt],
    ]);
    assert.deepEqual(ended(history.alertResolvedAt + 10 * MINUTE + 1), [['oom_kill', history.eventAt]]);
  });

  it('gives the advisor’s answer stored by then, and the daemon run that covered the moment', () => {
    assert.equal(timeline.moment(at(31))!.advice.size, 0, 'the advice came at minute 32');
    assert.match(timeline.moment(at(33))!.advice.get('memory_high|host')!, /restart leaky_server\.py/);
    assert.equal(timeline.moment(at(20))!.daemonPid, history.daemonPid);
    assert.equal(timeline.moment(at(60) + HOUR)!.daemonPid, null, 'an hour after the run ended');
  });

  it('says there is no history for a missing file, and does not create it', () => {
    const missing = join(dir, 'none', 'vigil.db');
    const opened = openTimeline(missing);
    assert.ok('problem' in opened);
    assert.match(opened.problem, /no history yet: .*none\/vigil\.db does not exist/);
    assert.equal(existsSync(missing), false);
  });

  it('maps a moment into the dashboard’s view model: the stored rows, the open alert marking its process', () => {
    const frame = historyFrame(timeline.moment(at(35, 20_000))!, timeline.span()!);
    assert.equal(frame.alertsFrom, 'history');
    assert.equal(frame.replay?.record.takenAt, at(35));
    assert.deepEqual(
      frame.alerts.map((a) => [a.rule, a.severity, a.advice]),
      [['memory_high', 'high', 'restart leaky_server.py: it grows 100 MiB a minute']],
    );
    assert.deepEqual(frame.daemon, { running: true, pid: history.daemonPid, mode: null, fresh: true });
    const rows = processRows(frame);
    const leak = rows.find((r) => r.pid === history.leakPid)!;
    assert.equal(leak.severity, 'high');
    assert.equal(leak.kind, 'dev-server');
    assert.equal(leak.ageSecs, null, 'the history does not store when a process started');
    assert.equal(leak.command, 'python3 …/leaky_server.py --port 8123');
    assert.deepEqual(frame.notes, []);
    const long = historyFrame(timeline.moment(at(60) + HOUR)!, timeline.span()!);
    assert.match(long.notes[0]!, /no snapshot stored between .* \(the daemon was not running\)/);
  });

  it('draws the past as such: REPLAY and the time, the stored metrics, and what is not stored', () => {
    const frame = historyFrame(timeline.moment(at(35, 20_000))!, timeline.span()!);
    const screen = buildScreen(frame, initialUiState(), [], { columns: 120, rows: 40 }).lines.map(lineText);
    const text = screen.join('\n');
    assert.match(
      screen[0]!,
      new RegExp(`^vigil · REPLAY ${formatMoment(at(35))} · daemon was running \\(pid 777\\)`),
    );
    assert.doesNotMatch(screen[0]!, / up |mode /, 'no uptime or mode of now');
    assert.match(text, /^CPU +[█░]+ +13% +load 1\.35 0\.80 0\.50 +55°C/m);
    assert.match(text, /per-core use, frequency and the core count are not stored in history/);
    assert.match(text, /^Mem +[█░]+ +72% +4\.5 GiB available/m);
    assert.match(text, /free space, disk I\/O, network rates and TCP are not stored in history/);
    assert.match(text, /^Alerts 1 open at \d\d:\d\d:05 \(from the history\)/m);
    assert.match(screen.at(-1)!, /\[ \] snapshot · \{ \} 10 min · l live/);
    const gap = historyFrame(timeline.moment(at(60) + HOUR)!, timeline.span()!);
    const gapHeader = lineText(buildScreen(gap, initialUiState(), [], { columns: 120, rows: 40 }).lines[0]!);
    assert.match(gapHeader, /REPLAY .* · at \d\d:\d\d:\d\d the daemon was off/);
  });
});

describe('watch keys for time travel', () => {
  const ui = initialUiState();
  const key = (input: string, replay: boolean, flags = {}) => handleKey(ui, input, flags, [], 10, 0, replay);

  it('[ ] ← → step a snapshot, { } ten minutes, l goes live; forward from live and l when live only say so', () => {
    assert.deepEqual(key('[', false).effect, { type: 'travel', step: { by: 'snapshot', direction: -1 } });
    assert.deepEqual(key('', true, { leftArrow: true }).effect, {
      type: 'travel',
      step: { by: 'snapshot', direction: -1 },
    });
    assert.deepEqual(key(']', true).effect, { type: 'travel', step: { by: 'snapshot', direction: 1 } });
    assert.deepEqual(key('', true, { rightArrow: true }).effect, {
      type: 'travel',
      step: { by: 'snapshot', direction: 1 },
    });
    assert.deepEqual(key('{', false).effect, { type: 'travel', step: { by: 'minutes', minutes: -10 } });
    assert.deepEqual(key('}', true).effect, { type: 'travel', step: { by: 'minutes', minutes: 10 } });
    assert.deepEqual(key('l', true).effect, { type: 'travel', step: { by: 'live' } });
    assert.equal(key(']', false).effect, undefined);
    assert.match(key(']', false).state.message!, /nothing after now/);
    assert.equal(key('l', false).state.message, 'already live');
  });

  it('refuses kill, the tree and pause in the past, saying why; leaves the tree for the list on the way back', () => {
    const row = {
      key: 'p1:1',
      pid: 1,
      ppid: -1,
      user: 'dev',
      kind: '',
      cpuPercent: 0,
      rssBytes: 0,
      state: 'S',
      ageSecs: null,
      command: 'x',
      cmdline: 'x',
      name: 'x',
      group: 'x',
      severity: null,
      count: 1,
      members: [{ pid: 1, startTicks: 1, cmdline: 'x' }],
      prefix: '',
    };
    const kill = handleKey(ui, 'k', {}, [row], 10, 0, true);
    assert.equal(kill.state.dialog, null);
    assert.equal(kill.state.message, REPLAY_KILL_REFUSED);
    assert.equal(
      handleKey(ui, 'k', {}, [row], 10, 0, false).state.dialog?.type,
      'kill',
      'live, k still asks',
    );
    assert.match(key('t', true).state.message!, /no tree in replay/);
    assert.equal(key('t', true).state.mode, 'list');
    assert.match(key('p', true).state.message!, /nothing to pause/);
    assert.equal(key('p', true).state.paused, false);
    const tree = handleKey({ ...ui, mode: 'tree' }, '[', {}, [], 10, 0, false);
    assert.equal(tree.state.mode, 'list');
  });
});

describe('the time-travel source', () => {
  let dir = '';
  let history: ReplayHistory;
  const at = (minutes: number, extraMs = 0) => history.start + minutes * MINUTE + extraMs;
  const liveFrame = {
    snapshot: { takenAt: Date.now(), host: { hostname: 'now', kernel: '', uptimeSecs: 1 }, collectors: [] },
    info: new Map(),
    alerts: [],
    alertsFrom: 'local',
    daemon: { running: false, pid: null, mode: null, fresh: false },
    mode: 'observe',
    notes: [],
  } satisfies WatchFrame;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-travel-'));
    history = writeReplayHistory(join(dir, 'vigil.db'), Date.parse('2026-12-07T02:00:05Z'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function travel(start?: number) {
    const frames: WatchFrame[] = [];
    const source = new TimeTravelSource({
      live: () => new StaticSource(liveFrame),
      history: () => openTimeline(history.path),
      ...(start === undefined ? {} : { at: start }),
      now: () => at(60) + 5 * MINUTE,
    });
    source.start((frame) => frames.push(frame));
    const shown = () => frames.at(-1)?.replay?.record.takenAt ?? 'live';
    return { source, frames, shown };
  }

  it('starts at the moment asked, steps a snapshot and ten minutes, and stops at either end saying so', async () => {
    const { source, shown } = travel(at(35, 20_000));
    assert.equal(shown(), at(35));
    assert.equal(await source.travel({ by: 'snapshot', direction: -1 }), null);
    assert.equal(shown(), at(34));
    assert.equal(await source.travel({ by: 'snapshot', direction: 1 }), null);
    assert.equal(shown(), at(35));
    assert.equal(await source.travel({ by: 'minutes', minutes: 10 }), null);
    assert.equal(shown(), at(45));
    assert.equal(await source.travel({ by: 'minutes', minutes: 10 }), null);
    assert.equal(shown(), at(55));
    assert.match((await source.travel({ by: 'minutes', minutes: 10 }))!, /latest snapshot stored/);
    assert.equal(shown(), at(60));
    assert.match(
      (await source.travel({ by: 'snapshot', direction: 1 }))!,
      /latest snapshot stored \(l goes live\)/,
    );
    for (let i = 0; i < 6; i++) await source.travel({ by: 'minutes', minutes: -10 });
    assert.equal(shown(), at(0));
    assert.match(
      (await source.travel({ by: 'snapshot', direction: -1 }))!,
      /the history starts at .*: nothing before/,
    );
    source.stop();
  });

  it('goes live with l, and back into the history at its latest snapshot with [ or ten minutes ago with {', async () => {
    const { source, frames, shown } = travel(at(20));
    assert.equal(await source.travel({ by: 'live' }), 'live again');
    assert.equal(frames.at(-1), liveFrame);
    assert.equal(await source.travel({ by: 'snapshot', direction: -1 }), null);
    assert.equal(shown(), at(60));
    await source.travel({ by: 'live' });
    await source.travel({ by: 'minutes', minutes: -10 });
    assert.equal(shown(), at(55), 'ten minutes before now (five after the last snapshot)');
    source.stop();
  });

  it('starts live without --at and opens no history until asked', async () => {
    let opened = 0;
    const frames: WatchFrame[] = [];
    const source = new TimeTravelSource({
      live: () => new StaticSource(liveFrame),
      history: () => {
        opened++;
        return openTimeline(join(dir, 'nowhere.db'));
      },
    });
    source.start((frame) => frames.push(frame));
    assert.deepEqual(frames, [liveFrame]);
    assert.equal(opened, 0);
    assert.match((await source.travel({ by: 'snapshot', direction: -1 }))!, /no history yet/);
    assert.equal(frames.length, 1, 'still live');
    source.stop();
  });
});
