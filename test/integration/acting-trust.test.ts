import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  lchownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { childrenOf, killAll, memTotalBytes, stateOf, waitUntil } from '../helpers/procs.js';
import {
  asUser,
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
 * Attacks on vigil's acting, tried for real as an ordinary user (the victim vigil runs as): a /proc that
 * is not the live one of vigil's pid namespace, a mode that changes while a kill waits, and a process
 * that execs another program keeping its pid, start time and argv. Each must end with the processes
 * alive and the reason said.
 */
const victim = victimUser();
const skip = typeof victim === 'string' ? victim : false;
const user = victim as TestUser;

const homes: UserHome[] = [];
const daemons: VictimDaemon[] = [];
const started = new Set<number>();
const storms: number[][] = [];
after(() => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  killAll(started);
  for (const h of homes) h.cleanup();
});
const alive = (pid: number) => ['R', 'S', 'D', 'T'].includes(stateOf(pid) ?? '');
/** Ends a test's processes so they do not join the next test's group. */
afterEach(async () => {
  for (const storm of storms.splice(0)) {
    killAll(storm);
    await waitUntil(() => !storm.some(alive), 'the storm gone');
  }
});

function home(label: string): UserHome {
  const h = userHome(user, label);
  homes.push(h);
  return h;
}

/** `vigil run` as the victim, with its log (stderr) and notifications (stdout) collected. */
class VictimDaemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<void>;

  constructor(h: UserHome, args: readonly string[]) {
    this.child = spawnVigilAs(h.user, ['run', '--interval', '1', ...args], h.env);
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
    daemons.push(this);
  }

  async waitFor(pattern: RegExp, stream: 'stdout' | 'stderr', timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const match = this[stream].match(pattern);
      if (match) return match;
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${pattern} in ${stream}:\n${this.stdout}\n${this.stderr}`);
      if (this.child.exitCode !== null)
        throw new Error(`vigil exited (${this.child.exitCode}) before ${pattern}:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** The victim's python interpreter, as a file (its copy elsewhere is another executable). */
let interpreter = '';
function python(): string {
  if (interpreter) return interpreter;
  const found = spawnSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], {
    ...asUser(user),
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    cwd: '/',
    encoding: 'utf8',
  });
  interpreter = found.stdout.trim();
  assert.ok(interpreter, `the victim runs python3: ${found.stderr}`);
  return interpreter;
}

/**
 * An MCP-server-like python process. VIGIL_TEST_MODE decides what it does to vigil's signals:
 * exec-on-usr1 / exec-on-term exec a copy of the interpreter at another path with the very same argv
 * (sys.orig_argv) and environment but for the mode, so pid, start time and cmdline stay and only the
 * executable changes; the copy ignores SIGTERM. mark-term notes each SIGTERM and lives on. not-dumpable
 * makes itself non-dumpable, as ssh-agent does. Each writes `<pid>.<mode>` in the marks directory once
 * set up.
 */
const SERVER = `import os, signal, sys, time

MODE = os.environ.get('VIGIL_TEST_MODE', 'plain')
MARKS = os.environ['VIGIL_TEST_MARKS']

def mark(name):
    open(os.path.join(MARKS, name), 'w').close()

def exec_copy(*_):
    os.execve(os.environ['VIGIL_TEST_COPY'], sys.orig_argv, dict(os.environ, VIGIL_TEST_MODE='copied'))

if MODE == 'copied':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif MODE == 'exec-on-usr1':
    signal.signal(signal.SIGUSR1, exec_copy)
elif MODE == 'exec-on-term':
    signal.signal(signal.SIGTERM, exec_copy)
elif MODE == 'mark-term':
    signal.signal(signal.SIGTERM, lambda *_: mark(f'{os.getpid()}.term'))
elif MODE == 'not-dumpable':
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
held = bytearray(int(os.environ['VIGIL_TEST_MIB']) * 1024 * 1024)
for i in range(0, len(held), 4096):
    held[i] = 1
mark(f'{os.getpid()}.{MODE}')
while True:
    time.sleep(600)
`;

const STORM_MIB = 24;
/** Half the share of RAM eight members hold: the storm is over the ghost-storm threshold. */
const share = () => (((8 * STORM_MIB * 1024 * 1024) / memTotalBytes()) * 100) / 2;

interface Storm {
  readonly pids: number[];
  readonly marks: string;
  /** The copy of the interpreter the exec modes switch to. */
  readonly copy: string;
}

/**
 * `count` identical servers started by a node parent that then exits, as the victim: orphaned, with the
 * dead parent's pipe on stdin, as MCP servers an agent CLI left behind. Resolves once each is set up.
 */
async function stormOf(h: UserHome, mode: string, count = 8): Promise<Storm> {
  const script = writeFileAs(user, join(h.dir, 'mcp_server_fake.py'), SERVER, 0o644);
  const marks = mkdirAs(user, join(h.dir, 'marks'));
  const copy = join(mkdirAs(user, join(h.dir, 'interp'), 0o755), 'python3');
  copyFileSync(python(), copy);
  chmodSync(copy, 0o755);
  if (process.getuid?.() === 0) chownSync(copy, user.uid, user.gid);
  const env = {
    ...h.env,
    VIGIL_TEST_MODE: mode,
    VIGIL_TEST_MARKS: marks,
    VIGIL_TEST_COPY: copy,
    VIGIL_TEST_MIB: String(STORM_MIB),
  };
  const parent = `
    const { spawn } = require('node:child_process');
    const pids = [];
    for (let i = 0; i < ${count}; i++) {
      const child = spawn(${JSON.stringify(python())}, [${JSON.stringify(script)}, '--port', String(41000 + i), '--workdir', '/tmp/mcp-' + Math.random().toString(36).slice(2)], { stdio: ['pipe', 'ignore', 'ignore'] });
      pids.push(child.pid);
    }
    setTimeout(() => { process.stdout.write(pids.join(' ')); process.exit(0); }, 300);
  `;
  const out = spawnSync(process.execPath, ['-e', parent], {
    ...asUser(user),
    env,
    cwd: h.dir,
    encoding: 'utf8',
    timeout: 10_000,
  });
  const pids = out.stdout.trim().split(' ').map(Number);
  assert.equal(pids.length, count, out.stderr);
  for (const pid of pids) started.add(pid);
  storms.push(pids);
  await waitUntil(
    () => pids.every((pid) => existsSync(join(marks, `${pid}.${mode}`))),
    `${count} ${mode} servers set up`,
  );
  return { pids, marks, copy };
}

function writeConfig(h: UserHome, general: string, actions: string): string {
  return writeFileAs(
    user,
    join(h.configDir, 'config.toml'),
    `[general]\n${general}\n\n[thresholds]\nghost_storm_min_ram_percent = ${share().toFixed(4)}\n\n[actions]\n${actions}\n`,
    0o600,
  );
}

/** What `vigil report --json` says of the actions: [action (mode), outcome]. */
function reportedActions(h: UserHome): string[][] {
  const run = runVigilAs(user, ['report', '--since', '1h', '--json'], h.env);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout).actions.map((a: { action: string; outcome: string }) => [
    a.action,
    a.outcome,
  ]);
}

const FIXTURE_PROC = fileURLToPath(new URL('../fixtures/proc', import.meta.url));

/**
 * A /proc tree the victim could be pointed at (`--procfs`, general.procfs), describing the given real
 * processes as an orphaned storm: each pid's own stat, status and cmdline copied from /proc, with the
 * parent made pid 1, the session another, resident memory 100 MiB, and the dead parent's pipe on stdin.
 * The rest (memory, CPU, uptime) is the machine's own; pid 1 is the fixture's systemd.
 */
function craftedProcfs(h: UserHome, pids: readonly number[]): string {
  const tree = join(h.dir, 'proc-copy');
  cpSync(FIXTURE_PROC, tree, { recursive: true });
  for (const name of readdirSync(tree))
    if (/^\d+$/.test(name) && name !== '1') rmSync(join(tree, name), { recursive: true });
  // procfs files say their size is 0: read them (copyFileSync would copy nothing).
  const copy = (from: string, to: string) => writeFileSync(to, readFileSync(from));
  for (const file of ['stat', 'meminfo', 'uptime', 'loadavg']) copy(`/proc/${file}`, join(tree, file));
  for (const pid of pids) {
    const dir = join(tree, String(pid));
    mkdirSync(join(dir, 'fd'), { recursive: true });
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat
      .slice(close + 2)
      .trim()
      .split(' ');
    fields[1] = '1'; // ppid
    fields[3] = '1'; // session
    fields[21] = String(25_600); // rss, pages
    writeFileSync(join(dir, 'stat'), `${stat.slice(0, close + 1)} ${fields.join(' ')}\n`);
    copy(`/proc/${pid}/status`, join(dir, 'status'));
    copy(`/proc/${pid}/cmdline`, join(dir, 'cmdline'));
    writeFileSync(join(dir, 'cgroup'), '0::/\n');
    symlinkSync('pipe:[4242]', join(dir, 'fd', '0'));
  }
  chownTree(tree);
  return tree;
}

/** Gives a directory tree (symlinks included, not followed) to the victim. */
function chownTree(dir: string): void {
  if (process.getuid?.() !== 0) return;
  lchownSync(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path);
    else lchownSync(path, user.uid, user.gid);
  }
}

/** `count` plain `sleep 600` of the victim's, unrelated to vigil. */
async function sleepers(h: UserHome, count: number): Promise<number[]> {
  const pids = Array.from({ length: count }, () => spawnAs(user, ['sleep', '600'], h.env, 'ignore').pid!);
  for (const pid of pids) started.add(pid);
  storms.push(pids);
  await waitUntil(
    () => pids.every((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep')),
    'the sleepers',
  );
  return pids;
}

describe('actions only on the live /proc of vigil’s own pid namespace', { skip }, () => {
  it('vigil kill refuses a pid as a copied /proc tree describes it, and the real process lives', async () => {
    const h = home('procfs-kill');
    const [pid] = await sleepers(h, 1);
    const tree = craftedProcfs(h, [pid!]);
    const run = runVigilAs(user, ['--procfs', tree, 'kill', String(pid), '--yes'], h.env);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /actions are refused: .*proc-copy is not the live \/proc of vigil's own pid namespace \(not a proc file system \(statfs type 0x[0-9a-f]+\)\)/,
    );
    assert.ok(alive(pid!), `pid ${pid} is alive`);
  });

  const userns = (() => {
    if (typeof victim === 'string') return victim;
    const probe = spawnSync('unshare', ['-Urpf', '--mount-proc', 'true'], {
      ...asUser(user),
      encoding: 'utf8',
    });
    return probe.status === 0
      ? false
      : `unshare -Urpf as ${user.name} fails here (${probe.stderr.trim() || probe.error?.message}): no user namespaces`;
  })();
  it('vigil kill refuses a real procfs of another pid namespace (a container’s /proc)', {
    skip: userns,
  }, async () => {
    const h = home('procfs-ns');
    const unshare = spawnAs(
      user,
      ['unshare', '-Urpf', '--mount-proc', 'sh', '-c', 'sleep 600 & sleep 600 & wait'],
      h.env,
      'ignore',
    );
    started.add(unshare.pid!);
    let shell = 0;
    await waitUntil(() => {
      shell = childrenOf(unshare.pid!)[0] ?? 0;
      return shell > 0 && childrenOf(shell).length === 2;
    }, 'the namespace’s shell and its two sleepers');
    const inside = childrenOf(shell);
    storms.push([unshare.pid!, shell, ...inside]);
    const theirProc = `/proc/${shell}/root/proc`;
    assert.ok(readdirSync(theirProc).includes('2'), 'the namespace numbers its own processes');
    const run = runVigilAs(user, ['--procfs', theirProc, 'kill', '2', '--yes'], h.env);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /actions are refused: \/proc\/\d+\/root\/proc is not the live \/proc of vigil's own pid namespace \(its self link does not resolve for vigil \(ENOENT\): the \/proc of another pid namespace\)/,
    );
    for (const pid of inside) assert.ok(alive(pid), `pid ${pid} of the namespace is alive`);
  });

  it('the daemon in auto mode judges a crafted /proc storm of real processes but refuses to act, and vigil fix cannot run it on the live /proc', async () => {
    const h = home('procfs-daemon');
    const pids = await sleepers(h, 8);
    const tree = craftedProcfs(h, pids);
    writeConfig(h, 'mode = "auto"', 'veto_secs = 1\ngrace_secs = 1');
    const d = new VictimDaemon(h, ['--procfs', tree]);
    await d.waitFor(/actions are refused: .*proc-copy is not the live \/proc/, 'stderr');
    const [, alert] = await d.waitFor(
      /ghost_process_storm: Stop a group of identical processes \([\d, ]+\) refused \(alert (\d+)\): actions are refused: .*proc-copy is not the live \/proc of vigil's own pid namespace/,
      'stderr',
    );
    await d.stop();
    assert.doesNotMatch(d.stdout, /NOTICE|ACTED/);
    for (const pid of pids) assert.ok(alive(pid), `pid ${pid} is alive`);
    const [[action, outcome]] = reportedActions(h) as [[string, string]];
    assert.equal(action, 'kill_matching (auto)');
    assert.match(outcome, /^refused: actions are refused: .*proc-copy is not the live \/proc/);
    // The plan was judged on what the tree says: bound to no executable, it cannot run on the live /proc.
    const fix = runVigilAs(user, ['fix', alert!, '--yes'], h.env);
    assert.equal(fix.status, 1, fix.stdout + fix.stderr);
    for (const pid of pids)
      assert.match(
        fix.stdout,
        new RegExp(`refused: pid ${pid}: its executable could not be read when the action was planned`),
        fix.stdout + fix.stderr,
      );
    const fixThere = runVigilAs(user, ['--procfs', tree, 'fix', alert!, '--yes'], h.env);
    assert.equal(fixThere.status, 1);
    assert.match(fixThere.stderr, /actions are refused: .*proc-copy is not the live \/proc/);
    for (const pid of pids) assert.ok(alive(pid), `pid ${pid} is alive`);
  });
});

describe('the mode in force at the moment of acting decides', { skip }, () => {
  it('cancels a kill waiting out its veto window when SIGHUP brings general.mode = "observe"', async () => {
    const h = home('mode-hup');
    const storm = await stormOf(h, 'plain');
    const config = writeConfig(h, 'mode = "auto"', 'veto_secs = 5\ngrace_secs = 1');
    const d = new VictimDaemon(h, []);
    await d.waitFor(/NOTICE\s+ghost_process_storm: .* in 5 s unless: vigil veto \d+/, 'stdout');
    writeFileAs(user, config, readFileSync(config, 'utf8').replace('mode = "auto"', 'mode = "observe"'));
    d.child.kill('SIGHUP');
    await d.waitFor(
      /CANCELLED ghost_process_storm: Stop a group of identical processes .* not run: vigil is in observe mode now/,
      'stdout',
    );
    assert.match(d.stderr, /mode auto -> observe/);
    await d.stop();
    assert.doesNotMatch(d.stdout, /ACTED/);
    for (const pid of storm.pids) assert.ok(alive(pid), `pid ${pid} is alive`);
    const [[action, outcome]] = reportedActions(h) as [[string, string]];
    assert.equal(action, 'kill_matching (auto)');
    assert.match(
      outcome,
      /^vetoed: not run: vigil is in observe mode now; automatic actions run only in auto mode/,
    );
    // The channels that heard the NOTICE hear it taken back (the JSON log stands for them all).
    const steps = readFileSync(join(h.stateDir, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; action?: { step: string; text: string } })
      .filter((n) => n.kind === 'action')
      .map((n) => n.action!.step);
    assert.deepEqual(
      steps.filter((s) => s === 'notice' || s === 'cancelled' || s === 'acted'),
      ['notice', 'cancelled'],
    );
  });

  it('cancels a kill scheduled before a restart when vigil comes back in observe mode', async () => {
    const h = home('mode-restart');
    const storm = await stormOf(h, 'plain');
    writeConfig(h, 'mode = "auto"', 'veto_secs = 5\ngrace_secs = 1');
    const first = new VictimDaemon(h, []);
    await first.waitFor(/NOTICE\s+ghost_process_storm: .* in 5 s unless: vigil veto \d+/, 'stdout');
    await first.stop();
    const second = new VictimDaemon(h, ['--mode', 'observe']);
    await second.waitFor(/CANCELLED ghost_process_storm: .* not run: vigil is in observe mode now/, 'stdout');
    await second.stop();
    assert.doesNotMatch(first.stdout + second.stdout, /ACTED/);
    for (const pid of storm.pids) assert.ok(alive(pid), `pid ${pid} is alive`);
  });

  it('cancels a kill waiting out its veto window when the config stops being trusted, --mode auto or not', async () => {
    const h = home('mode-untrusted');
    const storm = await stormOf(h, 'plain');
    const config = writeConfig(h, 'mode = "auto"', 'veto_secs = 5\ngrace_secs = 1');
    const d = new VictimDaemon(h, ['--mode', 'auto']);
    await d.waitFor(/NOTICE\s+ghost_process_storm: .* in 5 s unless: vigil veto \d+/, 'stdout');
    chmodSync(config, 0o666);
    d.child.kill('SIGHUP');
    await d.waitFor(/CANCELLED ghost_process_storm: .* not run: vigil is in observe mode now/, 'stdout');
    await d.stop();
    assert.doesNotMatch(d.stdout, /ACTED/);
    for (const pid of storm.pids) assert.ok(alive(pid), `pid ${pid} is alive`);
  });

  it('sends no SIGKILL after the grace period once SIGHUP switched to observe mode', async () => {
    const h = home('mode-grace');
    const storm = await stormOf(h, 'mark-term');
    const config = writeConfig(h, 'mode = "auto"', 'veto_secs = 1\ngrace_secs = 30');
    const d = new VictimDaemon(h, []);
    await d.waitFor(/NOTICE\s+ghost_process_storm/, 'stdout');
    // Every member got SIGTERM, ignored it, and the 30 s grace period runs.
    await waitUntil(
      () => storm.pids.every((pid) => existsSync(join(storm.marks, `${pid}.term`))),
      'SIGTERM to every member',
      20_000,
    );
    writeFileAs(user, config, readFileSync(config, 'utf8').replace('mode = "auto"', 'mode = "observe"'));
    d.child.kill('SIGHUP');
    await d.waitFor(
      /ACTED\s+ghost_process_storm: .*: failed, 0 of 8 gone, 8 survived, 8 refused/,
      'stdout',
      20_000,
    );
    for (const pid of storm.pids) {
      assert.match(
        d.stderr,
        new RegExp(
          `policy refused kill_matching on pid ${pid}: not sent SIGKILL: vigil is in observe mode now`,
        ),
      );
      assert.ok(alive(pid), `pid ${pid} is alive`);
    }
    await d.stop();
  });

  it('keeps watching while a kill waits out its grace period, and a stop then ends it without SIGKILL', async () => {
    const h = home('grace-watch');
    const storm = await stormOf(h, 'mark-term');
    writeConfig(h, 'mode = "auto"', 'veto_secs = 1\ngrace_secs = 60');
    const d = new VictimDaemon(h, []);
    await d.waitFor(/NOTICE\s+ghost_process_storm/, 'stdout');
    await waitUntil(
      () => storm.pids.every((pid) => existsSync(join(storm.marks, `${pid}.term`))),
      'SIGTERM to every member',
      20_000,
    );
    // Inside the 60 s grace period the daemon goes on cycling (it used to wait the whole period out).
    const heartbeat = join(h.runtimeDir, 'heartbeat.json');
    const cycleAt = () =>
      (JSON.parse(readFileSync(heartbeat, 'utf8')) as { lastCycleAt: number }).lastCycleAt;
    const first = cycleAt();
    await waitUntil(() => cycleAt() >= first + 2000, 'two more cycles during the grace period', 15_000);
    assert.doesNotMatch(d.stdout, /ACTED/);
    await d.stop();
    assert.match(d.stdout, /ACTED\s+ghost_process_storm: .*: failed, 0 of 8 gone, 8 survived, 8 refused/);
    assert.match(d.stderr, /not sent SIGKILL: vigil is stopping/);
    for (const pid of storm.pids) assert.ok(alive(pid), `pid ${pid} is alive`);
  });

  it('keeps the --mode given on the command line over a changed general.mode across a reload', async () => {
    const h = home('mode-flag');
    const config = writeConfig(h, 'mode = "observe"', 'veto_secs = 1');
    const d = new VictimDaemon(h, ['--mode', 'suggest']);
    await d.waitFor(/started \(pid \d+, mode suggest/, 'stderr');
    writeFileAs(user, config, readFileSync(config, 'utf8').replace('mode = "observe"', 'mode = "auto"'));
    d.child.kill('SIGHUP');
    await d.waitFor(
      /general\.mode is auto in the config; --mode suggest given on the command line stays in force/,
      'stderr',
    );
    await d.waitFor(/reloaded config/, 'stderr');
    assert.doesNotMatch(d.stderr, /mode suggest -> /);
    await d.stop();
  });
});

describe('identity includes the executable', { skip }, () => {
  it('vigil fix refuses a storm whose members exec’d a copy of their interpreter keeping pid, start time and argv', async () => {
    const h = home('exe-fix');
    const storm = await stormOf(h, 'exec-on-usr1');
    writeConfig(h, 'mode = "suggest"', 'grace_secs = 1');
    const d = new VictimDaemon(h, []);
    const [, id] = await d.waitFor(
      /SUGGEST\s+ghost_process_storm: kill [\d ]+ \(run: vigil fix (\d+)\)/,
      'stdout',
    );
    const before = new Map(storm.pids.map((pid) => [pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8')]));
    for (const pid of storm.pids) process.kill(pid, 'SIGUSR1');
    await waitUntil(
      () => storm.pids.every((pid) => existsSync(join(storm.marks, `${pid}.copied`))),
      'every member running the copy',
    );
    for (const pid of storm.pids) {
      assert.equal(readlinkSync(`/proc/${pid}/exe`), storm.copy, `pid ${pid} runs the copy`);
      assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), before.get(pid), `pid ${pid} kept its argv`);
    }
    const fix = runVigilAs(user, ['fix', id!, '--yes'], h.env);
    assert.equal(fix.status, 1, fix.stdout + fix.stderr);
    for (const pid of storm.pids) {
      assert.match(
        fix.stdout,
        new RegExp(
          `refused: pid ${pid} now runs another executable \\(same pid, start time and command line`,
        ),
        fix.stdout + fix.stderr,
      );
      assert.ok(alive(pid), `pid ${pid} is alive`);
    }
    await d.stop();
  });

  it('sends no SIGKILL after the grace period to a process that exec’d another program on SIGTERM', async () => {
    const h = home('exe-grace');
    const {
      pids: [pid],
      marks,
    } = await stormOf(h, 'exec-on-term', 1);
    writeConfig(h, 'mode = "observe"', 'grace_secs = 2');
    const kill = runVigilAs(user, ['kill', String(pid), '--yes'], h.env);
    await waitUntil(() => existsSync(join(marks, `${pid}.copied`)), 'the copy it exec’d on SIGTERM running');
    assert.equal(kill.status, 1, kill.stdout + kill.stderr);
    assert.match(
      kill.stdout,
      new RegExp(`refused: left alone after the signal: pid ${pid} now runs another executable`),
      kill.stdout + kill.stderr,
    );
    assert.match(kill.stdout, /failed: 0 of 1 gone, 1 refused/, kill.stdout + kill.stderr);
    assert.ok(alive(pid!), `pid ${pid} is alive`);
  });

  it('does not run an action stored before vigil recorded executables (fail closed)', async () => {
    const h = home('exe-old-plan');
    const storm = await stormOf(h, 'plain');
    writeConfig(h, 'mode = "suggest"', 'grace_secs = 1');
    const d = new VictimDaemon(h, []);
    const [, id] = await d.waitFor(
      /SUGGEST\s+ghost_process_storm: kill [\d ]+ \(run: vigil fix (\d+)\)/,
      'stdout',
    );
    await d.stop();
    // The row as an older vigil wrote it: targets with pid, start time and cmdline only.
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const strip = `
      const db = new (require(${JSON.stringify(sqlite)}))(${JSON.stringify(join(h.stateDir, 'vigil.db'))});
      for (const row of db.prepare('SELECT id, target FROM actions').all()) {
        const plan = JSON.parse(row.target);
        for (const t of [...plan.targets, ...plan.kept]) delete t.exe;
        db.prepare('UPDATE actions SET target = ? WHERE id = ?').run(JSON.stringify(plan), row.id);
      }
      db.close();
    `;
    const stripped = spawnSync(process.execPath, ['-e', strip], { ...asUser(user), encoding: 'utf8' });
    assert.equal(stripped.status, 0, stripped.stderr);
    const fix = runVigilAs(user, ['fix', id!, '--yes'], h.env);
    assert.equal(fix.status, 1, fix.stdout + fix.stderr);
    for (const pid of storm.pids) {
      assert.match(
        fix.stdout,
        new RegExp(
          `refused: pid ${pid}: the action was stored by an older vigil that did not record which executable`,
        ),
        fix.stdout + fix.stderr,
      );
      assert.ok(alive(pid), `pid ${pid} is alive`);
    }
  });

  it('vigil kill refuses the user’s own process whose executable it cannot read (not dumpable)', async () => {
    const h = home('exe-undumpable');
    const {
      pids: [pid],
    } = await stormOf(h, 'not-dumpable', 1);
    const kill = runVigilAs(user, ['kill', String(pid), '--yes'], h.env);
    assert.equal(kill.status, 1, kill.stdout + kill.stderr);
    assert.match(
      kill.stdout,
      new RegExp(`refused: pid ${pid}: its executable could not be read`),
      kill.stdout + kill.stderr,
    );
    assert.ok(alive(pid!), `pid ${pid} is alive`);
  });
});
