import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { waitUntil } from '../helpers/procs.js';
import {
  attackerUser,
  mkdirAs,
  runVigilAs,
  spawnAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * What vigil keeps — command lines and alerts in the database, notifications in the log, the signing key,
 * bundles — is the user's alone: files 0600 whatever the umask (SQLite made the database 0644 under umask
 * 000, and gave its -wal and -shm the same), in a state directory that is 0700. A state directory of the
 * user's that is wider is tightened; one another user made is refused, saying why; an output path
 * another user planted a link at is not written through. Run as an ordinary user, against another.
 */

const victim = victimUser();
const attacker = attackerUser();
const skipVictim = typeof victim === 'string' ? victim : false;
const skip = skipVictim || (typeof attacker === 'string' ? attacker : false);
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

/** `vigil ARGS` as `user` under umask 000, as a careless login shell or a container might set it. */
function underUmask000(user: TestUser, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawnAs(
    user,
    ['/bin/sh', '-c', 'umask 000 && exec "$@"', 'sh', process.execPath, VIGIL_BIN, ...args],
    env,
  );
  children.push(child);
  return child;
}

function collect(child: ChildProcess): Promise<{ status: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

/** A home whose rule fires at every cycle, so the daemon writes notifications to its log. */
function firingHome(user: TestUser, label: string): UserHome {
  const home = userHome(user, label);
  homes.push(home);
  writeFileAs(
    user,
    join(home.configDir, 'rules', 'always.toml'),
    '[[rule]]\nid = "always_on"\ntitle = "Always"\nseverity = "high"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "always fires"\n',
  );
  return home;
}

/** A directory like /tmp: everyone may create in it, and only the owner of an entry may remove it. */
function sharedDir(label: string): string {
  const dir = mkdtempSync(join('/tmp', `vigil-shared-${label}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o1777);
  return dir;
}

function symlinkAs(user: TestUser, target: string, path: string): void {
  symlinkSync(target, path);
  lchownSync(path, user.uid, user.gid);
}

describe('file modes under umask 000', () => {
  it("keeps the victim's database, its -wal and -shm, the log, the key and a bundle 0600, in a 0700 state directory", {
    skip: skipVictim,
    timeout: 120_000,
  }, async () => {
    const v = victim as TestUser;
    const home = firingHome(v, 'modes');
    rmSync(home.stateDir, { recursive: true, force: true });
    rmSync(join(home.dir, 'state'), { recursive: true, force: true });
    const daemon = underUmask000(v, ['run', '--mode', 'observe', '--interval', '1'], home.env);
    const ran = collect(daemon);
    const db = join(home.stateDir, 'vigil.db');
    const files = [
      db,
      `${db}-wal`,
      `${db}-shm`,
      join(home.stateDir, 'notifications.jsonl'),
      join(home.stateDir, 'identity.key'),
    ];
    await waitUntil(
      () => {
        if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode})`);
        // The heartbeat is written last in a cycle, after the notices that make the log.
        return [...files, join(home.runtimeDir, 'heartbeat.json')].every((f) => existsSync(f));
      },
      `${files.join(', ')} and the heartbeat to exist`,
      60_000,
    );
    // The state directory and its parent, which vigil made: 0700 as the XDG base directory spec asks.
    assert.equal(modeOf(home.stateDir), '0700');
    assert.equal(modeOf(join(home.dir, 'state')), '0700');
    for (const file of files) {
      assert.equal(modeOf(file), '0600', file);
      assert.equal(statSync(file).uid, v.uid, file);
    }
    assert.equal(modeOf(home.runtimeDir), '0700');
    assert.equal(modeOf(join(home.runtimeDir, 'vigil.pid')), '0600');
    assert.equal(modeOf(join(home.runtimeDir, 'heartbeat.json')), '0600');

    const out = mkdirAs(v, join(home.dir, 'out'), 0o755);
    const bundle = await collect(underUmask000(v, ['bundle', '--since', '1h', '-o', `${out}/`], home.env));
    assert.equal(bundle.status, 0, bundle.stderr);
    const [made] = readdirSync(out);
    assert.match(made ?? '', /^vigil-bundle-.*\.tar\.gz$/);
    assert.equal(modeOf(join(out, made!)), '0600');
    const exported = await collect(
      underUmask000(v, ['audit', 'export', '--since', '1h', '-o', join(out, 'audit.json')], home.env),
    );
    assert.equal(exported.status, 0, exported.stderr);
    assert.equal(modeOf(join(out, 'audit.json')), '0600');

    daemon.kill('SIGTERM');
    assert.equal((await ran).status, 0);
  });
});

describe('the state directory', () => {
  it("tightens a 0755 state directory of the victim's to 0700, and says so", {
    skip: skipVictim,
    timeout: 60_000,
  }, () => {
    const v = victim as TestUser;
    const home = userHome(v, 'state-wide');
    homes.push(home);
    mkdirAs(v, home.stateDir, 0o755);
    const run = runVigilAs(v, ['run', '--once', '--mode', 'observe'], home.env, 60_000);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(modeOf(home.stateDir), '0700');
    assert.match(run.stderr, new RegExp(`made ${home.stateDir} private to you \\(mode 0755 -> 0700\\)`));
    assert.equal(modeOf(join(home.stateDir, 'vigil.db')), '0600');
  });

  for (const shape of [
    'their own directory, open to everyone',
    'a symbolic link to their directory',
  ] as const) {
    it(`refuses a state directory another user made (${shape}), saying why, and writes nothing there`, {
      skip,
      timeout: 60_000,
    }, () => {
      const v = victim as TestUser;
      const a = attacker as TestUser;
      const home = userHome(v, 'state-theirs');
      homes.push(home);
      const shared = sharedDir('state');
      const theirs = join(shared, 'vigil');
      let planted = theirs;
      if (shape === 'their own directory, open to everyone') mkdirAs(a, theirs, 0o777);
      else {
        planted = mkdirAs(a, mkdtempSync(join('/tmp', 'vigil-attacker-state-')), 0o777);
        cleanups.push(() => rmSync(planted, { recursive: true, force: true }));
        symlinkAs(a, planted, theirs);
      }

      const env = { ...home.env, XDG_STATE_HOME: shared };
      const run = runVigilAs(v, ['run', '--once', '--mode', 'observe'], env, 60_000);
      assert.equal(run.status, 0, run.stderr);
      assert.match(
        run.stderr,
        shape === 'their own directory, open to everyone'
          ? new RegExp(
              `history unavailable, running without it: ${theirs} belongs to uid ${a.uid} \\(${a.name}\\), not to you`,
            )
          : new RegExp(
              `history unavailable, running without it: ${theirs} is a symbolic link \\(to ${planted}\\) made by uid ${a.uid} \\(${a.name}\\), not by you`,
            ),
      );
      assert.deepEqual(readdirSync(planted), [], 'nothing of the victim’s in the attacker’s directory');
    });
  }
});

describe('output paths', () => {
  it('does not write an audit export or a bundle through a link another user planted at the path', {
    skip,
    timeout: 60_000,
  }, () => {
    const v = victim as TestUser;
    const a = attacker as TestUser;
    const home = userHome(v, 'output');
    homes.push(home);
    const words = "the victim's own words\n";
    const precious = writeFileAs(v, join(home.dir, 'precious.txt'), words, 0o644);
    const once = runVigilAs(v, ['run', '--once', '--mode', 'observe'], home.env, 60_000);
    assert.equal(once.status, 0, once.stderr);

    const shared = sharedDir('output');
    for (const [name, args] of [
      ['audit.json', ['audit', 'export', '--since', '1h', '-o']],
      ['bundle.tar.gz', ['bundle', '--since', '1h', '-o']],
    ] as const) {
      const path = join(shared, name);
      symlinkAs(a, precious, path);
      const run = runVigilAs(v, [...args, path], home.env);
      assert.equal(run.status, 1, `${name}: ${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(`${path} is a symbolic link: vigil neither writes through nor replaces one`),
      );
      assert.equal(readFileSync(precious, 'utf8'), words, `${name}: the victim's file is untouched`);
    }
  });
});
