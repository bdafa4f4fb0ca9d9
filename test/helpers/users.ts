import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { VIGIL_BIN, type VigilRun } from './cli.js';

/**
 * Real users for the trust tests: vigil runs as an ordinary user (the victim) and a second ordinary user
 * (the attacker) tries to steer it. Root hides most of what these tests look for, so vigil itself never
 * runs as root here: the suite, when it runs as root (CI), creates both users with `useradd -m` and starts
 * vigil as the victim; run as an ordinary user, the victim is that user and tests that need an attacker
 * skip, saying why.
 */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

const isRoot = process.getuid?.() === 0;
const VICTIM = 'vigil-victim';
const ATTACKER = 'vigil-attacker';

function lookup(name: string): TestUser | null {
  const out = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (out.status !== 0) return null;
  const [user, , uid, gid, , home] = out.stdout.trim().split(':');
  return { name: user!, uid: Number(uid), gid: Number(gid), home: home! };
}

/** The user, created (as root, with `useradd -m`) when missing; or why there is none. */
function ensureUser(name: string): TestUser | string {
  const found = lookup(name);
  if (found) return reachable(found);
  if (!isRoot)
    return `needs the user ${name}: run the suite as root (CI does), which creates it with useradd`;
  const made = spawnSync('useradd', ['-m', '-s', '/bin/sh', name], { encoding: 'utf8' });
  if (made.status !== 0 && !lookup(name))
    return `useradd ${name} failed (${made.stderr.trim() || made.error?.message}): needs useradd (Debian package passwd)`;
  const user = lookup(name);
  return user ? reachable(user) : `useradd ${name} left no passwd entry`;
}

/** The user can run this checkout's vigil (every directory above it searchable, its files readable). */
function reachable(user: TestUser): TestUser | string {
  if (user.uid === process.getuid?.()) return user;
  const probe = spawnSync(
    process.execPath,
    ['-e', `require('fs').accessSync(${JSON.stringify(VIGIL_BIN)})`],
    {
      uid: user.uid,
      gid: user.gid,
      encoding: 'utf8',
    },
  );
  if (probe.status !== 0)
    return `${user.name} cannot read ${VIGIL_BIN} (a directory above the checkout is closed to other users)`;
  return user;
}

/** The user vigil runs as in these tests: `vigil-victim` when the suite runs as root, else the current user. */
export function victimUser(): TestUser | string {
  if (isRoot) return ensureUser(VICTIM);
  const me = userInfo();
  return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir };
}

/** A second ordinary user who tries to steer the victim's vigil; only when the suite runs as root. */
export function attackerUser(): TestUser | string {
  if (!isRoot) return 'needs a second user to attack with: run the suite as root (CI does), which creates it';
  return ensureUser(ATTACKER);
}

/** Creates (or fixes) a directory owned by `user` with `mode`, its parents as root makes them. */
export function mkdirAs(user: TestUser, path: string, mode = 0o700): string {
  mkdirSync(path, { recursive: true });
  if (isRoot) chownSync(path, user.uid, user.gid);
  chmodSync(path, mode);
  return path;
}

/** Writes a file owned by `user` with `mode` (the directory must exist). */
export function writeFileAs(user: TestUser, path: string, text: string, mode = 0o600): string {
  writeFileSync(path, text);
  if (isRoot) chownSync(path, user.uid, user.gid);
  chmodSync(path, mode);
  return path;
}

/**
 * A fresh home of the user's own for one test: XDG config, state and runtime directories under a private
 * directory inside the user's home (0700, owned by the user), so a test starts from nothing and leaves
 * nothing behind. `env` is what vigil runs with: HOME, USER and the XDG variables, nothing of root's.
 */
export interface UserHome {
  readonly user: TestUser;
  readonly dir: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  readonly env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function userHome(user: TestUser, label = 'home'): UserHome {
  mkdirAs(user, user.home, 0o750);
  const dir = mkdtempSync(join(user.home, `vigil-test-${label}-`));
  mkdirAs(user, dir, 0o700);
  const config = mkdirAs(user, join(dir, 'config'));
  const state = mkdirAs(user, join(dir, 'state'));
  const runtime = mkdirAs(user, join(dir, 'run'));
  mkdirAs(user, join(config, 'vigil'));
  mkdirAs(user, join(config, 'vigil', 'rules'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    XDG_CONFIG_HOME: config,
    XDG_STATE_HOME: state,
    XDG_RUNTIME_DIR: runtime,
  };
  return {
    user,
    dir,
    configDir: join(config, 'vigil'),
    stateDir: join(state, 'vigil'),
    runtimeDir: join(runtime, 'vigil'),
    env,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Options that make a child run as `user` (nothing when the user is the current one). */
export function asUser(user: TestUser): { uid?: number; gid?: number } {
  return user.uid === process.getuid?.() ? {} : { uid: user.uid, gid: user.gid };
}

/** Runs the built `vigil` as `user` with exactly `env` (no variable of the suite's own leaks in). */
export function runVigilAs(
  user: TestUser,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): VigilRun {
  const result = spawnSync(process.execPath, [VIGIL_BIN, ...args], {
    ...asUser(user),
    cwd: env['HOME'] ?? dirname(VIGIL_BIN),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `argv` as `user` (a long-running vigil, or a process for vigil to judge). */
export function spawnAs(
  user: TestUser,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  stdio: 'ignore' | 'pipe' = 'pipe',
): ChildProcess {
  const [program, ...args] = argv;
  return spawn(program!, args, { ...asUser(user), cwd: env['HOME'], env, stdio });
}

/** Starts the daemon (`vigil run …`) as `user`. */
export function spawnVigilAs(user: TestUser, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawnAs(user, [process.execPath, VIGIL_BIN, ...args], env);
}
