import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { TestUser, UserHome } from './users.js';

/**
 * The real systemd parts of a Linux desktop, for tests on machines that boot without them (containers,
 * sandboxes, CI runners whose pid 1 is not systemd): a `systemd --user` manager for the victim user, as
 * logind would start it, a `systemd-journald` reading the kernel log, and real kernel OOM kills in a small
 * memory cgroup. Where pid 1 is systemd, the user manager is the real `user@UID.service`.
 *
 * How a user manager comes up without logind: `systemd --user` refuses to start unless
 * `/run/systemd/system` exists (what sd_booted(3) checks), needs `$XDG_RUNTIME_DIR` (`/run/user/UID`,
 * owned by the user) for its private socket, and a cgroup v2 subtree it may write
 * (`user.slice/user-UID.slice/user@UID.service`, chowned to the user: logind's "delegation"). Root makes
 * those, moves a shell into the cgroup, and the shell execs the manager as the user with setpriv(1).
 *
 * Everything is set up as root, synchronously, and left as found by `stop()`: the manager is stopped
 * (SIGTERM starts its exit.target, which stops every unit and scope), whatever is left in its cgroup is
 * killed, and only the directories and files made here are removed. Several test processes may hold the
 * same manager (other helpers' tests run beside these on one machine): the last holder tears it down, and
 * a manager this helper did not start (the host's own, or one a person started) is used and never stopped.
 * Each function returns a string instead when it cannot work here: the reason to skip, naming the Debian
 * package when one is missing.
 */

const STATE_DIR = '/run/vigil-test-realsys';
const SYSTEMD = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'];
const JOURNALD = ['/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'];
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const isRoot = process.getuid?.() === 0;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Polls `check` every 50 ms for up to `timeoutMs`; the last value it returned. */
function pollUntil<T>(check: () => T, timeoutMs: number): T {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value || Date.now() > end) return value;
    sleepMs(50);
  }
}

/** A live process (a zombie counts as gone: it only waits to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

function firstExecutable(paths: readonly string[]): string | null {
  return paths.find((p) => existsSync(p)) ?? null;
}

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$0"', program], { stdio: 'ignore' }).status === 0;
}

/** Whether pid 1 is systemd, with its /run/systemd/system marker: the host's own managers are real. */
function systemdIsInit(): boolean {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd' && existsSync('/run/systemd/system');
  } catch {
    return false;
  }
}

/**
 * The mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified`
 * on a hybrid one), from /proc/self/mountinfo (see proc(5): field 5 is the mount point, the field after
 * ` - ` the file system type); null when none is mounted.
 */
export function cgroup2Mount(): string | null {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  const mounts: string[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right || right.split(' ')[0] !== 'cgroup2') continue;
    const point = left.split(' ')[4];
    if (point) mounts.push(point.replace(/\\040/g, ' '));
  }
  return (
    mounts.find((m) => m === '/sys/fs/cgroup') ?? mounts.find((m) => m.startsWith('/sys/fs/cgroup')) ?? null
  );
}

// ───────────────────────── shared resources, held by several test processes ─────────────────────────

interface Held {
  /** Test processes (pids, once per hold) holding the resource. */
  holders: number[];
  /** What was made to bring it up, to undo in reverse: directories, files and the process started. */
  made: { dirs: string[]; files: string[]; pid: number };
}

function stateFile(key: string): string {
  return join(STATE_DIR, `${key}.json`);
}

function readHeld(key: string): Held | null {
  try {
    return JSON.parse(readFileSync(stateFile(key), 'utf8')) as Held;
  } catch {
    return null;
  }
}

function writeHeld(key: string, held: Held | null): void {
  if (held) writeFileSync(stateFile(key), JSON.stringify(held));
  else rmSync(stateFile(key), { force: true });
}

/** Runs `fn` holding the lock of STATE_DIR (a directory made atomically, taken over from a dead owner). */
function locked<T>(fn: () => T): T {
  const lock = join(STATE_DIR, 'lock');
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // being made or removed right now
      }
      if (owner > 0 && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`realsys: ${lock} held by pid ${owner} for a minute`);
      else sleepMs(50);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
    try {
      rmdirSync(STATE_DIR); // only when nothing is held any more
    } catch {
      // something is held, or another process took the lock meanwhile
    }
  }
}

/** Makes `dir` and the parents it lacks, recording each one made (outermost first) in `made`. */
function mkdirRecorded(dir: string, made: string[], mode = 0o755): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = join(d, '..')) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d, { mode });
    made.push(d);
  }
}

/** Removes what `made` recorded, innermost first; a directory that is not empty is left (not ours alone). */
function undo(made: Held['made']): void {
  for (const file of [...made.files].reverse()) rmSync(file, { force: true });
  for (const dir of [...made.dirs].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // still holds something made by someone else
    }
  }
}

// ───────────────────────── cgroups ─────────────────────────

/** Kills every process in the cgroup `dir` and below, and waits until it is empty. */
function emptyCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  const kill = join(dir, 'cgroup.kill'); // Linux 5.14+
  if (existsSync(kill)) {
    try {
      writeFileSync(kill, '1');
    } catch {
      // fall back to killing them one by one
    }
  }
  const pids = (d: string): number[] => {
    const own = (() => {
      try {
        return readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    })();
    const subs = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory());
    return [...own, ...subs.flatMap((e) => pids(join(d, e.name)))];
  };
  pollUntil(() => {
    const left = pids(dir).filter(alive);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    return left.length === 0;
  }, 10_000);
}

/** Removes the cgroup `dir` and every cgroup below it (they must be empty of processes). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  // A cgroup whose last process just exited may still count as populated for a moment.
  pollUntil(() => {
    try {
      rmdirSync(dir);
      return true;
    } catch {
      return false;
    }
  }, 5000);
}

// ───────────────────────── systemd --user ─────────────────────────

/** A running `systemd --user` of one user, with what is needed to use it as that user. */
export interface UserManager {
  readonly user: TestUser;
  /** `/run/user/UID`: the manager's private socket is `systemd/private` in it. */
  readonly runtimeDir: string;
  /** pid of `systemd --user`, the subreaper of everything it starts. */
  readonly managerPid: number;
  /** The environment to run commands as the user with this manager (`systemctl --user`, `systemd-run --user`). */
  readonly env: NodeJS.ProcessEnv;
  /** How set-up went: `started` (by this helper, in `setupMs`), `shared` (another test process's), `host`. */
  readonly origin: 'started' | 'shared' | 'host';
  readonly setupMs: number;
  /** Runs `argv` as the user with `env` (plus `extraEnv`), from the user's home. */
  run(
    argv: readonly string[],
    options?: { extraEnv?: NodeJS.ProcessEnv; timeoutMs?: number },
  ): { status: number | null; stdout: string; stderr: string };
  /** Starts `argv` as the user with `env` (plus `extraEnv`), not waited for. */
  spawn(argv: readonly string[], options?: { extraEnv?: NodeJS.ProcessEnv }): ChildProcess;
  /** `systemctl --user ARGS…` as the user. */
  systemctl(...args: string[]): { status: number | null; stdout: string; stderr: string };
  /**
   * The environment for vigil as the user in a test home: the home's own (config, state, its private
   * runtime directory for vigil's pid file and heartbeat, via VIGIL_RUNTIME_DIR), with the manager's
   * XDG_RUNTIME_DIR, as a desktop session has it, so vigil's `systemctl --user` reaches this manager.
   */
  envFor(home: UserHome): NodeJS.ProcessEnv;
  /** Stops the manager when this was its last holder and this helper started it; leaves the machine as found. */
  stop(): void;
}

/** The state `systemctl --user is-system-running` answers ('' when the manager cannot be reached). */
function managerState(user: TestUser, env: NodeJS.ProcessEnv): string {
  const out = spawnSync('systemctl', ['--user', 'is-system-running'], {
    uid: user.uid,
    gid: user.gid,
    env,
    cwd: '/',
    encoding: 'utf8',
    timeout: 5000,
  });
  return (out.stdout ?? '').trim();
}

const UP = new Set(['running', 'degraded']);

/** The pid of the user's `systemd --user` (a process named systemd of that uid), 0 when none. */
function managerPidOf(uid: number): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'systemd') continue;
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status) && alive(Number(name))) return Number(name);
    } catch {
      // gone while listed
    }
  }
  return 0;
}

/** Why a user manager cannot be run here, or null when it can be tried. */
export function userManagerUnsupported(): string | null {
  if (!isRoot)
    return 'needs root to start a systemd user manager for the test user (CI runs the suite as root)';
  if (!firstExecutable(SYSTEMD) || !onPath('systemctl') || !onPath('systemd-run'))
    return 'needs systemd --user, systemctl and systemd-run (Debian package systemd)';
  if (systemdIsInit()) return null;
  if (!onPath('setpriv'))
    return 'needs setpriv to start systemd --user as the test user (Debian package util-linux)';
  const mount = cgroup2Mount();
  if (!mount) return 'no cgroup v2 hierarchy is mounted: systemd --user needs one to delegate to the user';
  const probe = join(mount, `vigil-test-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (error) {
    return `cgroup v2 at ${mount} is not writable here (${(error as NodeJS.ErrnoException).code}): a container needs a writable /sys/fs/cgroup (e.g. --privileged or --cgroupns=private with rw) for systemd --user`;
  }
  return null;
}

function userEnv(user: TestUser, runtimeDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: '/bin/sh',
    LANG: 'C.UTF-8',
    XDG_RUNTIME_DIR: runtimeDir,
  };
  // With dbus-user-session installed, the manager listens on the session bus socket; the private socket
  // is enough for systemctl and systemd-run.
  if (existsSync(join(runtimeDir, 'bus'))) env['DBUS_SESSION_BUS_ADDRESS'] = `unix:path=${runtimeDir}/bus`;
  return env;
}

/**
 * Starts (or joins) a `systemd --user` for `user` and waits until `systemctl --user is-system-running`
 * says running or degraded. Returns the reason to skip when it cannot: not root, systemd missing, no
 * writable cgroup v2, or the manager did not come up (with the end of its log).
 */
export function startUserManager(user: TestUser): UserManager | string {
  const unsupported = userManagerUnsupported();
  if (unsupported) return unsupported;
  const t0 = performance.now();
  const runtimeDir = `/run/user/${user.uid}`;
  const key = `user-manager-${user.uid}`;
  const host = systemdIsInit();

  const outcome = locked((): { origin: UserManager['origin'] } | string => {
    const held = readHeld(key);
    if (held) held.holders = held.holders.filter(alive);
    if (UP.has(managerState(user, userEnv(user, runtimeDir)))) {
      if (held) {
        held.holders.push(process.pid);
        writeHeld(key, held);
        return { origin: 'shared' };
      }
      return { origin: 'host' }; // not ours: used, never stopped
    }
    if (held) {
      tearDownManager(user, held); // a manager ours that died, or one whose holders all died
      writeHeld(key, null);
    }
    const made: Held['made'] = { dirs: [], files: [], pid: 0 };
    const failed = host ? startHostManager(user, made) : startOwnManager(user, runtimeDir, made);
    let exited = false;
    const state = pollUntil(() => {
      const s = managerState(user, userEnv(user, runtimeDir));
      exited = made.pid > 0 && !alive(made.pid);
      return UP.has(s) || exited ? s || 'gone' : '';
    }, 15_000);
    if (failed || !UP.has(state)) {
      const log = logTail(user.uid);
      tearDownManager(user, { holders: [], made });
      const said = managerState(user, userEnv(user, runtimeDir)) || 'no answer';
      const why = failed ?? (exited ? 'it exited' : `is-system-running: ${said}`);
      return `systemd --user for ${user.name} did not come up (${why})${log ? `; its log ends:\n${log}` : ''}`;
    }
    writeHeld(key, { holders: [process.pid], made });
    return { origin: 'started' };
  });
  if (typeof outcome === 'string') return outcome;

  const env = userEnv(user, runtimeDir);
  const managerPid = managerPidOf(user.uid);
  const asUser = { uid: user.uid, gid: user.gid };
  let stopped = false;
  const run: UserManager['run'] = (argv, options = {}) => {
    const [program, ...args] = argv;
    const out = spawnSync(program!, args, {
      ...asUser,
      env: { ...env, ...options.extraEnv },
      cwd: user.home,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 30_000,
    });
    if (out.error) throw out.error;
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  };
  return {
    user,
    runtimeDir,
    managerPid,
    env,
    origin: outcome.origin,
    setupMs: Math.round(performance.now() - t0),
    run,
    spawn: (argv, options = {}) => {
      const [program, ...args] = argv;
      return spawn(program!, args, {
        ...asUser,
        env: { ...env, ...options.extraEnv },
        cwd: user.home,
        stdio: 'pipe',
      });
    },
    systemctl: (...args) => run(['systemctl', '--user', ...args]),
    envFor: (home) => ({ ...home.env, ...env, VIGIL_RUNTIME_DIR: home.runtimeDir }),
    stop: () => {
      if (stopped || outcome.origin === 'host') return;
      stopped = true;
      locked(() => {
        const held = readHeld(key);
        if (!held) return;
        const at = held.holders.indexOf(process.pid);
        if (at >= 0) held.holders.splice(at, 1);
        held.holders = held.holders.filter(alive);
        if (held.holders.length > 0) return writeHeld(key, held);
        tearDownManager(user, held);
        writeHeld(key, null);
      });
    },
  };
}

function logFile(uid: number): string {
  return join(STATE_DIR, `user-manager-${uid}.log`);
}

function logTail(uid: number): string {
  try {
    return readFileSync(logFile(uid), 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

/** On a host booted with systemd: the real `user@UID.service`, as logind starts it at login. */
function startHostManager(user: TestUser, made: Held['made']): string | null {
  const out = spawnSync('systemctl', ['start', `user@${user.uid}.service`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (out.status !== 0) return `systemctl start user@${user.uid}.service: ${out.stderr.trim()}`;
  made.pid = -1; // stopped with systemctl, not by pid
  return null;
}

/** Without systemd as pid 1: the markers, the runtime directory and the delegated cgroup, then the manager. */
function startOwnManager(user: TestUser, runtimeDir: string, made: Held['made']): string | null {
  const systemd = firstExecutable(SYSTEMD)!;
  mkdirRecorded('/run/systemd/system', made.dirs);
  mkdirRecorded('/run/user', made.dirs);
  mkdirRecorded(runtimeDir, made.dirs, 0o700);
  chownSync(runtimeDir, user.uid, user.gid);
  const service = join(cgroup2Mount()!, 'user.slice', `user-${user.uid}.slice`, `user@${user.uid}.service`);
  mkdirRecorded(service, made.dirs);
  // Delegation: the user owns its cgroup directory and the files in it (procs, subtree_control, …).
  chownSync(service, user.uid, user.gid);
  for (const file of readdirSync(service)) chownSync(join(service, file), user.uid, user.gid);
  const log = openSync(logFile(user.uid), 'w', 0o600);
  made.files.push(logFile(user.uid));
  // Root moves the shell into the user's cgroup (the user may not move a process out of the root
  // cgroup), then the shell becomes the manager as the user.
  const child = spawn(
    'sh',
    [
      '-c',
      'echo $$ > "$0/cgroup.procs" && exec setpriv --reuid="$1" --regid="$2" --init-groups -- "$3" --user',
      service,
      String(user.uid),
      String(user.gid),
      systemd,
    ],
    { env: userEnv(user, runtimeDir), cwd: '/', detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  child.unref();
  made.pid = child.pid ?? 0;
  return made.pid > 0 ? null : 'could not spawn sh';
}

function tearDownManager(user: TestUser, held: Held): void {
  const { made } = held;
  if (made.pid === -1) {
    spawnSync('systemctl', ['stop', `user@${user.uid}.service`], { timeout: 60_000 });
    return;
  }
  if (made.pid > 0 && alive(made.pid)) {
    // SIGTERM makes a user manager start exit.target: its units and scopes are stopped, then it exits.
    process.kill(made.pid, 'SIGTERM');
    if (!pollUntil(() => !alive(made.pid), 15_000)) process.kill(made.pid, 'SIGKILL');
  }
  const mount = cgroup2Mount();
  if (mount) {
    const service = join(mount, 'user.slice', `user-${user.uid}.slice`, `user@${user.uid}.service`);
    if (made.dirs.includes(service)) {
      emptyCgroup(service);
      removeCgroupTree(service);
    }
  }
  // The runtime directory holds what the manager and the user's programs left (sockets, vigil's files).
  const runtimeDir = `/run/user/${user.uid}`;
  if (made.dirs.includes(runtimeDir)) rmSync(runtimeDir, { recursive: true, force: true });
  undo(made);
}

// ───────────────────────── systemd-journald ─────────────────────────

export interface Journald {
  readonly pid: number;
  readonly origin: 'started' | 'shared' | 'host';
  stop(): void;
}

function journaldPid(): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // comm is cut to 15 characters: systemd-journald shows as systemd-journal
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'systemd-journal' && alive(Number(name)))
        return Number(name);
    } catch {
      // gone while listed
    }
  }
  return 0;
}

/**
 * Starts (or joins) a `systemd-journald`: it reads the kernel log (/dev/kmsg) and `/dev/log`, so kernel
 * OOM reports, `logger` and `systemd-cat` land in a real journal that `journalctl` and `journalctl -f`
 * read (volatile, in /run/log/journal: nothing asks it to flush to /var/log/journal). `stop()` stops it when this was
 * its last holder and this helper started it, and removes the journal files it wrote under /run.
 */
export function startJournald(): Journald | string {
  if (!isRoot) return 'needs root to start systemd-journald (CI runs the suite as root)';
  const journald = firstExecutable(JOURNALD);
  if (!journald) return 'needs systemd-journald (Debian package systemd)';
  const key = 'journald';
  const outcome = locked((): { origin: Journald['origin'] } | string => {
    const held = readHeld(key);
    if (held) held.holders = held.holders.filter(alive);
    if (journaldPid() > 0) {
      if (!held) return { origin: 'host' };
      held.holders.push(process.pid);
      writeHeld(key, held);
      return { origin: 'shared' };
    }
    if (held) undo(held.made);
    const made: Held['made'] = { dirs: [], files: [], pid: 0 };
    mkdirRecorded('/run/systemd/journal', made.dirs);
    // Until a flush (`journalctl --flush`, which nothing here asks for) journald writes to /run/log/journal.
    // As systemd's tmpfiles.d/systemd.conf makes it: setgid systemd-journal, so the journal files are that
    // group's and its members (a desktop's first user, often through adm) can read the system journal.
    if (!existsSync('/run/log/journal')) {
      mkdirRecorded('/run/log/journal', made.dirs);
      const group = spawnSync('getent', ['group', 'systemd-journal'], { encoding: 'utf8' });
      if (group.status === 0) chownSync('/run/log/journal', 0, Number(group.stdout.split(':')[2]));
      chmodSync('/run/log/journal', 0o2755);
    }
    const child = spawn(journald, [], { detached: true, stdio: 'ignore', cwd: '/' });
    child.unref();
    made.pid = child.pid ?? 0;
    if (!pollUntil(() => existsSync('/run/systemd/journal/socket'), 10_000)) {
      if (made.pid > 0) process.kill(made.pid, 'SIGKILL');
      undo(made);
      return 'systemd-journald did not open /run/systemd/journal/socket within 10 s';
    }
    if (!existsSync('/dev/log') && !isSymlink('/dev/log')) {
      symlinkSync('/run/systemd/journal/dev-log', '/dev/log');
      made.files.push('/dev/log');
    }
    writeHeld(key, { holders: [process.pid], made });
    return { origin: 'started' };
  });
  if (typeof outcome === 'string') return outcome;
  const { origin } = outcome;
  let stopped = false;
  return {
    pid: journaldPid(),
    origin,
    stop: () => {
      if (stopped || origin === 'host') return;
      stopped = true;
      locked(() => {
        const held = readHeld(key);
        if (!held) return;
        const at = held.holders.indexOf(process.pid);
        if (at >= 0) held.holders.splice(at, 1);
        held.holders = held.holders.filter(alive);
        if (held.holders.length > 0) return writeHeld(key, held);
        if (held.made.pid > 0 && alive(held.made.pid)) {
          process.kill(held.made.pid, 'SIGTERM');
          if (!pollUntil(() => !alive(held.made.pid), 10_000)) process.kill(held.made.pid, 'SIGKILL');
        }
        // The journal written while it ran: test entries, not the machine's.
        if (held.made.dirs.includes('/run/log/journal')) {
          for (const entry of readdirSync('/run/log/journal'))
            rmSync(join('/run/log/journal', entry), { recursive: true, force: true });
        }
        for (const dir of held.made.dirs.filter((d) => d.startsWith('/run/systemd/journal')))
          for (const entry of existsSync(dir) ? readdirSync(dir) : [])
            rmSync(join(dir, entry), { recursive: true, force: true });
        undo(held.made);
        writeHeld(key, null);
      });
    },
  };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

// ───────────────────────── kernel OOM kills ─────────────────────────

export interface OomKill {
  /** The pid the kernel killed (a python that allocated past the cgroup's limit). */
  readonly pid: number;
  /** The limit of the memory cgroup it ran in. */
  readonly limitBytes: number;
  /** The kernel's count of OOM kills in that cgroup (memory.events `oom_kill`, v2 only; -1 on v1). */
  readonly oomKills: number;
}

/**
 * A real kernel OOM kill: a python (named `vigil-oom-victim` in its argv) allocates past the limit of a
 * fresh memory cgroup (v2 with the memory controller, else the v1 memory hierarchy), without swap, so the
 * kernel's OOM killer ends it with SIGKILL and writes its report to the kernel log (which journald, when
 * running, records: `journalctl -k`). The cgroup is removed afterwards. Returns why not when it cannot.
 */
export function causeOomKill(limitMib = 40): OomKill | string {
  if (!isRoot) return 'needs root to make a memory cgroup (CI runs the suite as root)';
  if (!onPath('python3')) return 'needs python3 to allocate past the limit (Debian package python3)';
  const limitBytes = limitMib * 1024 * 1024;
  const v2 = cgroup2Mount();
  let dir = '';
  let v1 = false;
  if (v2 && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) {
    if (!readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('memory'))
      return `the memory controller is not enabled in ${v2}/cgroup.subtree_control`;
    dir = join(v2, `vigil-test-oom-${process.pid}-${Date.now()}`);
  } else if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    v1 = true;
    dir = `/sys/fs/cgroup/memory/vigil-test-oom-${process.pid}-${Date.now()}`;
  } else {
    return 'no memory cgroup controller here (neither cgroup v2 with memory nor the v1 memory hierarchy)';
  }
  try {
    mkdirSync(dir);
  } catch (error) {
    return `cannot make a memory cgroup at ${dir} (${(error as NodeJS.ErrnoException).code})`;
  }
  try {
    if (v1) {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
      try {
        writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes));
      } catch {
        // no swap accounting: nothing to forbid
      }
    } else {
      writeFileSync(join(dir, 'memory.max'), String(limitBytes));
      try {
        writeFileSync(join(dir, 'memory.swap.max'), '0');
      } catch {
        // no swap controller
      }
    }
    const allocate = `x = [bytearray(1 << 20) for _ in range(${limitMib * 4})]`;
    const out = spawnSync(
      'sh',
      ['-c', 'echo $$ > "$0/cgroup.procs" && exec python3 -c "$1" vigil-oom-victim', dir, allocate],
      { stdio: 'ignore', timeout: 60_000 },
    );
    if (out.signal !== 'SIGKILL')
      return `the allocating python was not OOM-killed (exit ${out.status}, signal ${out.signal})`;
    let oomKills = -1;
    if (!v1) {
      const events = readFileSync(join(dir, 'memory.events'), 'utf8');
      oomKills = Number(events.match(/^oom_kill (\d+)/m)?.[1] ?? 0);
    }
    return { pid: out.pid, limitBytes, oomKills };
  } finally {
    removeCgroupTree(dir);
  }
}

/** The kernel's lines about an OOM kill of `pid`, as journald recorded them ('' when none yet). */
export function journalOomLines(pid: number, timeoutMs = 10_000): string {
  return pollUntil(() => {
    const out = spawnSync('journalctl', ['-k', '--no-pager', '-o', 'cat', '-g', `Killed process ${pid}\\b`], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    return out.status === 0 ? out.stdout.trim() : '';
  }, timeoutMs);
}
