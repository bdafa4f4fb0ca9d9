import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { attackerUser, spawnAs } from '../helpers/users.js';

/**
 * What a new user trips over on the command line (issue 17): a bad value, a typo or a refusal gets one
 * clear line on stderr, prefixed `vigil: `, and a non-zero exit; nothing is done or logged before it.
 */

function oneLine(args: readonly string[], line: string, status: number): void {
  const run = runVigil(args);
  assert.equal(run.stderr, `${line}\n`, `vigil ${args.join(' ')}`);
  assert.equal(run.status, status, `vigil ${args.join(' ')}`);
}

test('a --since that is not a window is refused with one line and exit 2 by report, audit and bundle', () => {
  oneLine(
    ['report', '--since', 'garbage'],
    'vigil: --since "garbage": not a duration (use e.g. 90m, 24h, 7d)',
    2,
  );
  oneLine(['report', '--since', '-5h'], 'vigil: --since "-5h": not a duration (use e.g. 90m, 24h, 7d)', 2);
  oneLine(['report', '--since', '0'], 'vigil: --since "0": not a duration (use e.g. 90m, 24h, 7d)', 2);
  oneLine(['report', '--since', '0h'], 'vigil: --since "0h": the window is empty', 2);
  oneLine(['audit', '--since', 'x'], 'vigil: --since "x": not a duration (use e.g. 90m, 24h, 7d)', 2);
  oneLine(['bundle', '--since', 'x'], 'vigil: --since "x": not a duration (use e.g. 90m, 24h, 7d)', 2);
});

test('a --top that is not a count is refused instead of listing "Top NaN" or all but five', () => {
  oneLine(['status', '--top', 'abc'], 'vigil: --top "abc": expected a whole number of 1 or more', 2);
  oneLine(['status', '--top', '-5'], 'vigil: --top "-5": expected a whole number of 1 or more', 2);
  oneLine(['report', '--top', 'abc'], 'vigil: --top "abc": expected a whole number of 1 or more', 2);
});

test('explain takes a pid as kill does, and watch an interval in seconds, in one vigil: line', () => {
  oneLine(['explain', '0x10'], 'vigil: pid "0x10": expected a process id, a whole number such as 1234', 2);
  oneLine(['watch', '--interval', '0x10'], 'vigil: --interval "0x10": expected seconds from 0.2 to 3600', 2);
  oneLine(['watch', '--interval', '0.1'], 'vigil: --interval "0.1": expected seconds from 0.2 to 3600', 2);
});

test('a --sample written as hex, empty or past a minute is refused instead of sampling for 16 ms or none', () => {
  const refused = (text: string) =>
    oneLine(
      ['status', '--sample', text],
      `vigil: --sample ${JSON.stringify(text)}: expected a whole number of milliseconds from 0 to 60000`,
      2,
    );
  refused('0x10');
  refused('');
  refused('1e3');
  refused('60001');
});

test('a --from or --to that is not a time is refused with one line naming the option', () => {
  oneLine(
    ['report', '--from', 'garbage'],
    'vigil: --from "garbage": not a time (use 2026-11-20T03:00 or ms since the epoch)',
    2,
  );
  oneLine(
    ['report', '--to', '2026-13-45'],
    'vigil: --to "2026-13-45": not a time (use 2026-11-20T03:00 or ms since the epoch)',
    2,
  );
});

test('kill refuses a signal that does not exist before anything is shown, asked or logged', () => {
  const run = runVigil(['kill', '--yes', '--signal', 'BOGUS', String(process.pid)]);
  assert.equal(
    run.stderr,
    'vigil: --signal "BOGUS": not a signal name (e.g. HUP, INT, TERM, KILL; kill -l lists them)\n',
  );
  assert.equal(run.stdout, '');
  assert.equal(run.status, 2);
});

test('a pid written as hex, with spaces or as 0 is refused', () => {
  oneLine(['kill', '0x10'], 'vigil: pid "0x10": expected a process id, a whole number such as 1234', 2);
  oneLine(['kill', ' 12'], 'vigil: pid " 12": expected a process id, a whole number such as 1234', 2);
  oneLine(['kill', '0'], 'vigil: pid "0": expected a process id, a whole number such as 1234', 2);
});

test('status --check does not say healthy when its collectors could not look', () => {
  const run = runVigil(['--procfs', '/tmp', 'status', '--check']);
  assert.match(
    run.stderr,
    /^vigil: status --check could not look: the processes, memory and cpu collectors failed \(status --json gives each one's error\)\n$/m,
  );
  assert.equal(run.status, 3);
});

test('kill 1 is refused at once, once, without asking and with a non-zero exit', () => {
  const run = runVigil(['kill', '1']);
  assert.match(run.stderr, /^vigil: refused: pid 1 \([^)]*\): pid 1 is never touched\n$/);
  assert.equal(run.stdout, '');
  assert.equal(run.status, 1);
});

const other = attackerUser();
test('kill refuses another user’s process once, naming both users, without asking', {
  skip: typeof other === 'string' ? other : false,
}, () => {
  const user = other as Exclude<typeof other, string>;
  const sleeper = spawnAs(user, ['sleep', '30'], { ...process.env, HOME: '/' }, 'ignore');
  try {
    // Until it runs sleep as that user, not the forked node.
    while (readFileSync(`/proc/${sleeper.pid}/comm`, 'utf8') !== 'sleep\n') execFileSync('sleep', ['0.01']);
    const run = runVigil(['kill', String(sleeper.pid)]);
    assert.equal(
      run.stderr,
      `vigil: refused: pid ${sleeper.pid} (sleep): belongs to another user, ${user.name} (uid ${user.uid}); vigil only acts on root (uid 0)'s processes\n`,
    );
    assert.equal(run.stdout, '');
    assert.equal(run.status, 1);
    assert.equal(sleeper.exitCode, null, 'the process still runs');
  } finally {
    sleeper.kill();
  }
});

test('kill without a terminal and without --yes does nothing and exits 1', async () => {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const run = runVigil(['kill', String(sleeper.pid)]);
    assert.equal(
      run.stderr,
      'vigil: not a terminal, so nothing was done: add --yes to do it without asking\n',
    );
    assert.equal(run.status, 1);
    assert.equal(sleeper.exitCode, null, 'the process still runs');
  } finally {
    sleeper.kill();
  }
});

test('a mistyped command is named with the nearest one, not answered with the daemon', () => {
  oneLine(['stauts'], "vigil: unknown command 'stauts' (did you mean status?)", 2);
  oneLine(
    ['--config', '/nonexistent.toml', 'stauts'],
    "vigil: unknown command 'stauts' (did you mean status?)",
    2,
  );
  oneLine(['help', 'nosuch'], "vigil: unknown command 'nosuch' (vigil --help lists the commands)", 2);
});

test('vigil help run lists the options run takes', () => {
  const run = runVigil(['help', 'run']);
  assert.equal(run.status, 0);
  assert.match(run.stdout, /--once/);
  assert.match(run.stdout, /--mode <observe\|suggest\|auto>/);
});

test('commander-detected mistakes use the same vigil: prefix', () => {
  oneLine(['status', '--bogus'], "vigil: unknown option '--bogus'", 2);
});
