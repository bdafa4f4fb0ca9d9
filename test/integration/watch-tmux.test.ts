import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { cmdlineOf, killAll, spawnHostile, spawnOrphanedStorm, stateOf } from '../helpers/procs.js';
import { hasTmux, TmuxPane } from '../helpers/tmux.js';

describe('vigil watch in a real terminal (tmux, 120×40)', () => {
  let storm: number[] = [];
  let home = '';
  let pane: TmuxPane | null = null;
  let hostile: ReturnType<typeof spawnHostile> | null = null;

  before(() => {
    if (!hasTmux()) return;
    storm = spawnOrphanedStorm(3, 1);
    hostile = spawnHostile();
    home = mkdtempSync(join(tmpdir(), 'vigil-watch-'));
  });

  after(() => {
    pane?.close();
    killAll(storm);
    hostile?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('draws, filters, sorts, groups, opens and cancels the kill dialog, follows a resize, and gives the prompt back on q', async (t) => {
    if (!hasTmux()) return t.skip('needs tmux (Debian package tmux)');
    pane = new TmuxPane(120, 40, {
      ...process.env,
      // CI=true makes ink draw nothing interactive when it sees it (is-in-ci); vigil watch on a terminal
      // must draw anyway, so it is set here on purpose.
      CI: 'true',
      NO_COLOR: '1',
      VIGIL_STATE_DIR: join(home, 'state'),
      VIGIL_RUNTIME_DIR: join(home, 'run'),
      XDG_CONFIG_HOME: join(home, 'config'),
    });
    await pane.waitFor(/^PROMPT\$ ?$/m, 'the shell prompt');
    pane.type(`${process.execPath} ${VIGIL_BIN} watch --interval 1`, true);

    let screen = await pane.waitFor(/COMMAND/, 'the first frame');
    assert.match(screen, /^vigil · \S+ · up .* · mode observe · daemon off · alerts crit \d+ high \d+/m);
    assert.match(screen, /^CPU +[█░]+ /m);
    assert.match(screen, /^Mem +[█░]+ /m);
    assert.match(screen, /sort cpu ▼ · list · \d+ processes/);
    // vigil's own dashboard is not taken for a dev server's file watcher (`… watch` in its cmdline).
    const status = JSON.parse(runVigil(['status', '--json', '--sample', '0']).stdout) as {
      processes: Array<{ cmdline: string; kind: string | null }>;
    };
    const dashboard = status.processes.find((p) => p.cmdline.endsWith(`${VIGIL_BIN} watch --interval 1`));
    assert.ok(dashboard, 'the dashboard is in the process table');
    assert.equal(dashboard.kind, null);

    // A process whose name and cmdline hold a newline, a screen clear and a window title is one row with
    // its escapes written out; the header stays on the first line and the title stays vigil's.
    pane.type('/');
    await pane.waitFor(/filter: █/, 'the filter prompt');
    pane.type('vigil-hostile');
    pane.keys('Enter');
    screen = await pane.waitFor((s) => s.includes('filter "vigil-hostile"'), 'the hostile filter');
    assert.match(screen.split('\n')[0]!, /^vigil · /, `the header is on the first line:\n${screen}`);
    assert.match(
      screen,
      new RegExp(`^ +${hostile!.pid} .*vigil-hostile\\\\n\\\\e\\[2J\\\\e\\]0;pwned\\\\x07 600`, 'm'),
    );
    assert.match(screen, /1 of \d+ processes/);
    assert.notEqual(pane.title(), 'pwned');
    pane.type('/');
    pane.keys('Escape');
    await pane.waitFor((s) => !s.includes('filter "'), 'the filter to be cleared');

    pane.type('/');
    await pane.waitFor(/filter: █/, 'the filter prompt');
    // The storm's own temp directory: other tests may run servers of the same name meanwhile.
    const dir = /vigil-mcp-\w+/.exec(cmdlineOf(storm[0]!))![0];
    pane.type(dir);
    pane.keys('Enter');
    screen = await pane.waitFor((s) => s.includes(`filter "${dir}"`), 'the filter to be kept');
    const lines = screen.split('\n');
    const rows = lines
      .slice(lines.findIndex((l) => l.includes('COMMAND')) + 1)
      .filter((l) => /^. +\d+ /.test(l));
    assert.deepEqual(
      rows.map((l) => Number(/^. +(\d+) /.exec(l)?.[1])).sort(),
      [...storm].sort(),
      `the three servers and nothing else:\n${screen}`,
    );
    assert.match(screen, /3 of \d+ processes/);
    // KIND says what each is, COMMAND the program and its script: the rows differ by their port.
    for (const row of rows)
      assert.match(row, /mcp-server·orphan +.* python3 …\/mcp_server_fake\.py --port 410\d\d /);

    pane.type('s');
    screen = await pane.waitFor(/sort mem ▼/, 'the memory sort');
    assert.match(screen, /MEM▼/);

    pane.type('g');
    screen = await pane.waitFor(/· grouped ·/, 'grouping');
    assert.match(screen, /×3 python3 .*mcp_server_fake\.py --port <port>/);

    pane.type('k');
    screen = await pane.waitFor(/Kill 3 processes/, 'the kill dialog');
    assert.match(screen, /y yes · n\/Esc cancel/);
    pane.keys('Escape');
    await pane.waitFor(/kill cancelled/, 'the cancelled kill');
    for (const pid of storm) assert.notEqual(stateOf(pid), null, `pid ${pid} is still alive`);

    pane.resize(80, 24);
    screen = await pane.waitFor(/PID +KIND +CPU% +MEM▼ COMMAND/, 'the table to drop columns at 80×24');
    assert.doesNotMatch(screen, /AGE/);
    for (const line of screen.split('\n')) assert.ok([...line].length <= 80, `wider than 80: ${line}`);
    assert.match(screen, /×3 python3 …\/mcp_server_fake\.py/, 'the group is still shown, with its script');

    pane.type('q');
    screen = await pane.waitFor(
      (s) => !s.includes('COMMAND') && /watch --interval 1\nPROMPT\$ ?$/m.test(s),
      'the prompt after quitting',
    );
    assert.ok(!screen.includes('vigil:'), `no error printed:\n${screen}`);
  });

  it('says it needs a terminal when run from a script, and rejects a bad interval, with exit status 2', () => {
    const piped = runVigil(['watch']);
    assert.equal(piped.status, 2);
    assert.match(
      piped.stderr,
      /watch needs a terminal \(for a one-off look from a script, use vigil status\)/,
    );
    const bad = runVigil(['watch', '--interval', '0']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /expected seconds from 0\.2 to 3600/);
  });
});
