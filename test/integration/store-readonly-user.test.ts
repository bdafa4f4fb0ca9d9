import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { runVigilAs, type UserHome, userHome, victimUser } from '../helpers/users.js';

/**
 * An ordinary user whose state directory they cannot write (made read-only after a first run): the daemon
 * says so once per run, and the commands that only read the history say nothing about writing.
 */
const victim = victimUser();
const skip = typeof victim === 'string' ? victim : false;

describe('a state directory the user cannot write', { skip }, () => {
  let home: UserHome;
  const count = (text: string, pattern: RegExp) => text.split('\n').filter((l) => pattern.test(l)).length;

  after(() => {
    if (home) {
      chmodSync(home.stateDir, 0o700);
      home.cleanup();
    }
  });

  it('run --once says the history store is failing once, and never "writable again"', () => {
    if (typeof victim === 'string') return;
    home = userHome(victim, 'readonly');
    const first = runVigilAs(victim, ['run', '--once'], home.env);
    assert.equal(first.status, 0, first.stderr);
    chmodSync(home.stateDir, 0o500);
    const run = runVigilAs(victim, ['run', '--once'], home.env);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(count(run.stderr, /history store failing/), 1, run.stderr);
    assert.equal(count(run.stderr, /writable again/), 0, run.stderr);
  });

  it('report, health and bundle do not complain about writing', () => {
    if (typeof victim === 'string') return;
    for (const args of [['report'], ['health'], ['bundle', '--output', `${home.dir}/b.tar.gz`]]) {
      const run = runVigilAs(victim, args, home.env);
      assert.doesNotMatch(
        run.stderr,
        /failing|for writing|readonly|read-only/i,
        `${args[0]}:\n${run.stderr}`,
      );
    }
  });

  it('health with no daemon running shows no cost, and says the daemon is not running', () => {
    if (typeof victim === 'string') return;
    const run = runVigilAs(victim, ['health'], home.env);
    assert.equal(run.status, 1, run.stdout);
    assert.match(run.stdout, /^daemon +not running/m);
    assert.doesNotMatch(run.stdout, /cost|% CPU/, run.stdout);
  });
});
