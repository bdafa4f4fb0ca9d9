import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { waitUntil } from '../helpers/procs.js';
import {
  attackerUser,
  mkdirAs,
  runVigilAs,
  spawnAs,
  spawnVigilAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * The runtime directory (pid file, heartbeat) belongs to the user vigil runs as, and nobody else can
 * steer vigil through it. Without XDG_RUNTIME_DIR (cron, ssh without a session, containers) vigil used
 * `/tmp/vigil-<uid>`, which any other user could make first: a pid file naming pid 1 kept the daemon from
 * starting, and a `heartbeat.json.tmp` symbolic link turned every heartbeat into a write of the victim's
 * file. Run for real: the attacker and the victim are two ordinary users (the suite, as root, makes them).
 */

const victim = victimUser();
const attacker = attackerUser();
const skip = typeof victim === 'string' ? victim : typeof attacker === 'string' ? attacker : false;
const homes: UserHome[] = [];
const cleanups: Array<() => void> = [];
const children: ChildProcess[] = [];

before(() => {
  assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
});

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const home of homes) home.cleanup();
  for (const cleanup of cleanups) cleanup();
});

/** The victim's environment as cron or a bare ssh session gives it: no runtime directory at all. */
function withoutRuntimeDir(home: UserHome): NodeJS.ProcessEnv {
  const env = { ...home.env };
  delete env['XDG_RUNTIME_DIR'];
  delete env['VIGIL_RUNTIME_DIR'];
  return env;
}

/** A symbolic link at `path` to `target`, made by `user` (a link's owner is whoever made it). */
function symlinkAs(user: TestUser, target: string, path: string): void {
  symlinkSync(target, path);
  lchownSync(path, user.uid, user.gid);
}

/** A directory like /tmp (everyone may create in it, sticky), for the tests where XDG_RUNTIME_DIR is one. */
function sharedDir(label: string): string {
  const dir = mkdtempSync(join('/tmp', `vigil-shared-${label}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o1777);
  return dir;
}

/** A directory of the attacker's own, open to everyone (bait). */
function attackerDir(user: TestUser, label: string): string {
  const dir = mkdtempSync(join('/tmp', `vigil-attacker-${label}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return mkdirAs(user, dir, 0o777);
}

function startDaemon(user: TestUser, env: NodeJS.ProcessEnv) {
  const child = spawnVigilAs(user, ['run', '--mode', 'observe', '--interval', '1'], env);
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}

describe('the runtime directory without XDG_RUNTIME_DIR', () => {
  for (const shape of ['a directory open to everyone', 'a symbolic link to a directory of theirs'] as const) {
    it(`another user's /tmp/vigil-<uid> (${shape}, a pid file naming pid 1, heartbeat.json.tmp linked to the victim's file) neither stops the victim's daemon nor writes that file, and vigil health tells the truth`, {
      skip,
      timeout: 120_000,
    }, async () => {
      const v = victim as TestUser;
      const a = attacker as TestUser;
      const home = userHome(v, 'runtime-fallback');
      homes.push(home);
      const words = "the victim's own words\n";
      const precious = writeFileAs(v, join(home.dir, 'precious.txt'), words, 0o644);

      // What the attacker prepares before the victim's vigil ever starts.
      const trap = `/tmp/vigil-${v.uid}`;
      rmSync(trap, { recursive: true, force: true });
      cleanups.push(() => rmSync(trap, { recursive: true, force: true }));
      let planted = trap;
      if (shape === 'a directory open to everyone') mkdirAs(a, trap, 0o777);
      else {
        planted = attackerDir(a, 'runtime');
        symlinkAs(a, planted, trap);
      }
      writeFileAs(a, join(planted, 'vigil.pid'), '1\n', 0o644);
      symlinkAs(a, precious, join(planted, 'heartbeat.json.tmp'));

      const env = withoutRuntimeDir(home);
      const daemon = startDaemon(v, env);
      const heartbeat = join(home.stateDir, 'run', 'heartbeat.json');
      await waitUntil(
        () => {
          if (daemon.child.exitCode !== null)
            throw new Error(`the victim's daemon exited (${daemon.child.exitCode}):\n${daemon.out.stderr}`);
          return existsSync(heartbeat);
        },
        `a heartbeat in ${heartbeat}; log:\n${daemon.out.stderr}`,
        60_000,
      );

      const health = runVigilAs(v, ['health'], env);
      assert.match(
        health.stdout,
        new RegExp(`^daemon +running, pid ${daemon.child.pid},`, 'm'),
        health.stdout,
      );

      assert.equal(readFileSync(precious, 'utf8'), words, "the victim's file is untouched");
      assert.deepEqual(
        readdirSync(planted).sort(),
        ['heartbeat.json.tmp', 'vigil.pid'],
        'nothing written there',
      );
      const beat = statSync(heartbeat);
      assert.equal(beat.uid, v.uid);
      assert.equal(beat.mode & 0o777, 0o600);
      assert.equal(statSync(join(home.stateDir, 'run')).mode & 0o777, 0o700);
      assert.equal(readFileSync(join(home.stateDir, 'run', 'vigil.pid'), 'utf8'), `${daemon.child.pid}\n`);

      daemon.child.kill('SIGTERM');
      assert.equal(await daemon.exited, 0, daemon.out.stderr);
      assert.ok(!existsSync(join(home.stateDir, 'run', 'vigil.pid')), 'the pid file goes with the daemon');
    });
  }
});

describe('a pid file left behind', () => {
  it("is taken over when its pid now belongs to a process that started after it was written (the state directory's pid file outlives a reboot)", {
    skip: typeof victim === 'string' ? victim : false,
    timeout: 60_000,
  }, async () => {
    const v = victim as TestUser;
    const home = userHome(v, 'runtime-stale');
    homes.push(home);
    // A process of the victim's own that got the pid after the daemon that wrote the file was gone.
    const other = spawnAs(v, ['sleep', '60'], home.env, 'ignore');
    children.push(other);
    const run = mkdirAs(v, home.runtimeDir, 0o700);
    const pidFile = writeFileAs(v, join(run, 'vigil.pid'), `${other.pid}\n`);
    const before = new Date(Date.now() - 3_600_000);
    utimesSync(pidFile, before, before);

    const once = runVigilAs(v, ['run', '--once', '--mode', 'observe'], home.env, 60_000);
    assert.equal(once.status, 0, once.stderr);
    assert.doesNotMatch(once.stderr, /already running/);
    assert.equal(other.exitCode, null, 'and the process that has the pid now is left alone');
  });
});

describe('a runtime directory XDG_RUNTIME_DIR names, in a directory others can write', () => {
  for (const shape of ['their own directory', 'a symbolic link to their directory'] as const) {
    it(`refuses, on one line saying why, a vigil directory there that another user made (${shape})`, {
      skip,
      timeout: 60_000,
    }, () => {
      const v = victim as TestUser;
      const a = attacker as TestUser;
      const home = userHome(v, 'runtime-shared');
      homes.push(home);
      const shared = sharedDir('run');
      const theirs = join(shared, 'vigil');
      let planted = theirs;
      if (shape === 'their own directory') mkdirAs(a, theirs, 0o777);
      else {
        planted = attackerDir(a, 'run-link');
        symlinkAs(a, planted, theirs);
      }
      writeFileAs(a, join(planted, 'vigil.pid'), '1\n', 0o644);

      const env = { ...home.env, XDG_RUNTIME_DIR: shared };
      const run = runVigilAs(v, ['run', '--once', '--mode', 'observe'], env);
      assert.equal(run.status, 1, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(
        run.stderr,
        shape === 'their own directory'
          ? new RegExp(`^vigil: not started: ${theirs} belongs to uid ${a.uid} \\(${a.name}\\), not to you`)
          : new RegExp(`^vigil: not started: ${theirs} is a symbolic link \\(to ${planted}\\)`),
      );
      assert.deepEqual(readdirSync(planted), ['vigil.pid'], 'nothing written there');
    });
  }

  it("vigil health does not take another user's pid file and heartbeat for the victim's daemon", {
    skip,
    timeout: 120_000,
  }, () => {
    const v = victim as TestUser;
    const a = attacker as TestUser;
    // A real heartbeat, from a daemon the attacker ran as themselves, rewritten to name pid 1 and now.
    const own = userHome(a, 'runtime-bait');
    homes.push(own);
    const bait = runVigilAs(a, ['run', '--once', '--mode', 'observe'], own.env, 60_000);
    assert.equal(bait.status, 0, bait.stderr);
    const beat = JSON.parse(readFileSync(join(own.runtimeDir, 'heartbeat.json'), 'utf8'));

    const home = userHome(v, 'runtime-health');
    homes.push(home);
    const shared = sharedDir('health');
    const theirs = mkdirAs(a, join(shared, 'vigil'), 0o777);
    writeFileAs(a, join(theirs, 'vigil.pid'), '1\n', 0o644);
    writeFileAs(
      a,
      join(theirs, 'heartbeat.json'),
      JSON.stringify({ ...beat, pid: 1, lastCycleAt: Date.now() }),
      0o644,
    );

    const health = runVigilAs(v, ['health'], { ...home.env, XDG_RUNTIME_DIR: shared }, 20_000);
    assert.match(health.stdout, /^the daemon is not running/, health.stdout);
    assert.match(health.stdout, /^daemon +not running/m);
    assert.notEqual(health.status, 0);
  });

  it('vigil health finishes when another user put a FIFO where the pid file goes', {
    skip,
    timeout: 60_000,
  }, async () => {
    const v = victim as TestUser;
    const a = attacker as TestUser;
    const home = userHome(v, 'runtime-fifo');
    homes.push(home);
    const shared = sharedDir('fifo');
    const theirs = mkdirAs(a, join(shared, 'vigil'), 0o777);
    const made = spawnAs(
      a,
      ['mkfifo', '-m', '0666', join(theirs, 'vigil.pid'), join(theirs, 'heartbeat.json')],
      {
        PATH: process.env['PATH'],
      },
    );
    await new Promise((resolve) => made.on('close', resolve));
    assert.ok(lstatSync(join(theirs, 'vigil.pid')).isFIFO());

    const health = runVigilAs(v, ['health'], { ...home.env, XDG_RUNTIME_DIR: shared }, 20_000);
    assert.match(health.stdout, /^the daemon is not running/, health.stdout);
  });
});
