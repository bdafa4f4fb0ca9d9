import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { localMoment, MINUTE, type ReplayHistory, writeReplayHistory } from '../helpers/replay-history.js';
import { hasTmux, TmuxPane } from '../helpers/tmux.js';

/**
 * `vigil watch --at` and the keys that travel through time, in a real terminal on a real history: an hour
 * of snapshots written by the store three hours ago, memory rising as a python server leaks, a memory
 * alert raised at minute 30 and resolved at minute 45.
 */
describe('vigil watch in the past (tmux, 120×40, a real history)', () => {
  let home = '';
  let history: ReplayHistory;
  let env: NodeJS.ProcessEnv = {};
  const panes: TmuxPane[] = [];
  const at = (minutes: number, extraMs = 0) => history.start + minutes * MINUTE + extraMs;
  const header = (screen: string) => screen.split('\n')[0]!;
  const replayAt = (ms: number) => (s: string) => header(s).startsWith(`vigil · REPLAY ${localMoment(ms)} `);

  before(() => {
    home = mkdtempSync(join(tmpdir(), 'vigil-replay-'));
    const start = Math.floor((Date.now() - 3 * 3_600_000) / MINUTE) * MINUTE + 5000;
    history = writeReplayHistory(join(home, 'state', 'vigil.db'), start);
    env = {
      VIGIL_STATE_DIR: join(home, 'state'),
      VIGIL_RUNTIME_DIR: join(home, 'run'),
      XDG_CONFIG_HOME: join(home, 'config'),
    };
  });

  after(() => {
    for (const pane of panes) pane.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function watch(args: string): Promise<TmuxPane> {
    // CI=true would make ink draw nothing interactive (is-in-ci); vigil watch must draw anyway.
    const pane = new TmuxPane(120, 40, { ...process.env, ...env, CI: 'true', NO_COLOR: '1' });
    panes.push(pane);
    await pane.waitFor(/^PROMPT\$ ?$/m, 'the shell prompt');
    pane.type(`${process.execPath} ${VIGIL_BIN} watch ${args}`, true);
    return pane;
  }

  it('--at a moment inside the alert shows it open with the stored snapshot; the keys move the shown time; l goes live', async (t) => {
    if (!hasTmux()) return t.skip('needs tmux (Debian package tmux)');
    const pane = await watch(`--at "${localMoment(at(35, 20_000))}"`);
    let screen = await pane.waitFor(replayAt(at(35)), 'the snapshot of minute 35');
    assert.match(header(screen), /· daemon was running \(pid 777\) · alerts crit 0 high 1 med 0 low 0$/);
    assert.match(screen, /^Mem +[█░]+ +72% +4\.5 GiB available/m);
    assert.match(screen, /per-core use, frequency and the core count are not stored in history/);
    assert.match(screen, /^Alerts 1 open at \d\d:\d\d:05 \(from the history\)/m);
    assert.match(
      screen,
      /^ HIGH #1 memory_high: RAM .* used; python3 leaky_server\.py holds the most {2}\[advice\]$/m,
    );
    assert.match(
      screen,
      /^! +4242 dev +dev-server +3\.0% +3\.6 GiB S +- python3 …\/leaky_server\.py --port 8123$/m,
    );
    assert.match(screen, /3 processes stored/);

    pane.type('k');
    screen = await pane.waitFor(/kill is off in replay/, 'the refused kill');
    assert.doesNotMatch(screen, /Kill pid/);

    pane.type('[');
    await pane.waitFor(replayAt(at(34)), 'one snapshot back');
    pane.type(']');
    await pane.waitFor(replayAt(at(35)), 'one snapshot forward');
    pane.type('}');
    screen = await pane.waitFor(replayAt(at(45)), 'ten minutes forward, when the alert was resolved');
    assert.match(screen, /^Alerts none open at \d\d:\d\d:05 \(from the history\)/m);
    assert.match(
      screen,
      new RegExp(`^ ended ${localMoment(history.alertResolvedAt).slice(11)} HIGH #1 memory_high`, 'm'),
    );
    assert.match(header(screen), /alerts crit 0 high 0 /);
    pane.type('{');
    pane.type('{');
    screen = await pane.waitFor(replayAt(at(25)), 'twenty minutes back, before the alert');
    assert.match(screen, /^Alerts none open at/m);
    assert.doesNotMatch(screen, /memory_high/);
    assert.match(screen, /^Mem +[█░]+ +63% /m, 'less memory used twenty minutes earlier');
    pane.keys('Left');
    await pane.waitFor(replayAt(at(24)), 'the left arrow: one snapshot back');

    pane.type('l');
    screen = await pane.waitFor(
      (s) => /^vigil · \S+ · up /.test(header(s)) && /live again/.test(s),
      'the live machine',
    );
    assert.doesNotMatch(screen, /REPLAY/);
    pane.type('[');
    await pane.waitFor(replayAt(at(60)), 'from live, [ shows the latest snapshot stored');
    pane.type('?');
    screen = await pane.waitFor(/^Keys/m, 'the help');
    assert.match(
      screen,
      /^ {2}\[ \] or ← → {2}one snapshot back or forward · \{ \} 10 minutes · l live again$/m,
    );
    pane.keys('Escape');
    await pane.waitFor((s) => !/^Keys/m.test(s), 'the help closed');

    pane.type('q');
    await pane.waitFor((s) => !s.includes('REPLAY') && /\nPROMPT\$ ?$/m.test(s), 'the prompt back');
  });

  it('--at a moment after the alert was resolved shows it ended, not open, and more memory used', async (t) => {
    if (!hasTmux()) return t.skip('needs tmux (Debian package tmux)');
    const pane = await watch(`--at "${localMoment(at(50))}"`);
    const screen = await pane.waitFor(replayAt(at(50)), 'the snapshot of minute 50');
    assert.match(header(screen), /alerts crit 0 high 0 med 0 low 0$/);
    assert.match(screen, /^Alerts none open at \d\d:\d\d:05 \(from the history\)/m);
    assert.match(screen, /^ ended \d\d:\d\d:05 HIGH #1 memory_high/m);
    assert.match(screen, /^Mem +[█░]+ +86% /m);
    assert.match(screen, /^ +4242 dev +dev-server +3\.0% +5\.1 GiB /m, 'no longer marked: no alert names it');
    pane.type('q');
    await pane.waitFor(/\nPROMPT\$ ?$/m, 'the prompt back');
  });

  it('says in one line what is wrong with --at: a bad value exits 2, a moment before the history or no history exits 1', () => {
    const bad = runVigil(['watch', '--at', 'at teatime'], env);
    assert.equal(bad.status, 2);
    assert.equal(
      bad.stderr,
      `vigil: --at "at teatime": not a moment; use e.g. "today 03:10", "yesterday 23:00", "2026-12-07 03:10", "03:10", "-2h" or "2h ago"\n`,
    );
    const future = runVigil(['watch', '--at', localMoment(Date.now() + 3_600_000)], env);
    assert.equal(future.status, 2);
    assert.match(
      future.stderr,
      /^vigil: --at ".*" is in the future \(it is \d\d:\d\d now\): the history holds only the past\n$/,
    );

    const early = runVigil(['watch', '--at', localMoment(at(0, -1000))], env);
    assert.equal(early.status, 1);
    assert.equal(
      early.stderr,
      `vigil: no history at ${localMoment(at(0, -1000))}: it starts at ${localMoment(at(0))}\n`,
    );

    const state = join(home, 'empty-state');
    const none = runVigil(['watch', '--at', '-1h'], { ...env, VIGIL_STATE_DIR: state });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /^vigil: no history yet: .*empty-state\/vigil\.db does not exist/);
    assert.equal(existsSync(join(state, 'vigil.db')), false, 'no database is created by looking');
  });
});
