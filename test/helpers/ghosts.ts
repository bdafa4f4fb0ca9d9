import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LIVE_PATHS } from '../../src/host/paths.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import type { Evaluation } from '../../src/rules/engine.js';
import type { RulesRuntime } from '../../src/rules/runtime.js';
import type { FactSet, GroupFacts } from '../../src/understand/facts-schema.js';
import { liveSampling } from './context.js';
import { childrenOf, waitUntil } from './procs.js';

/**
 * Real processes shaped like the ones the ghost-storm reports show, and like their look-alikes: each is a
 * small python "actor" that takes the command line, kernel name (comm) and memory it is told to, then
 * starts the children it is told to. Three ways give a process the shape of another program:
 *
 * - exec'd for real with the argv it should have: `python3 …/mcp_server.py --port 41001 --stdio`, or a
 *   script run through a symlink named like the runtime (`…/bin/node …/vitest/dist/workers/forks.js`,
 *   where `node` is python: the kernel names the process after the link, and the script is the actor);
 * - a rewritten title, as setproctitle and node's process.title do: the actor writes the wanted argv
 *   over its own argument area (/proc/self/mem at the stat fields arg_start…arg_end, see proc(5)), sized
 *   to fit when it is started, and sets its comm with prctl(PR_SET_NAME): `postgres: app app [local]
 *   idle`, `chrome --type=renderer …`, `claude --output-format stream-json …`, `npm exec …`;
 * - forked from its parent and keeping the parent's argv, as gunicorn's workers without setproctitle.
 *
 * Every process carries the lab's marker in its environment, and `cleanup()` kills only processes that
 * carry it (pids are reused, and other tests run on the same machine).
 */

/** What one process is and does. */
export interface Actor {
  /** Reported with its pid so the test can find it: `server`, `wrapper`, `owner`. */
  readonly role: string;
  /** A real program to exec (with `argv`); without it the actor is python with a rewritten `title`. */
  readonly exec?: string;
  /** The argv for `exec`, argv[0] included. */
  readonly argv?: readonly string[];
  /** The command line to show, written over the argument area (setproctitle-like). */
  readonly title?: readonly string[];
  /** The kernel's name for the process (at most 15 characters). */
  readonly comm?: string;
  /** MiB to allocate and touch, so that they count in its RSS. */
  readonly mib?: number;
  /** Spin a CPU instead of sleeping. */
  readonly spin?: boolean;
  /** What it gets on stdin from its parent (default: a pipe the parent keeps open while it lives). */
  readonly stdin?: 'pipe' | 'null';
  /** Start a session of its own (setsid), as daemons do. */
  readonly setsid?: boolean;
  /** Become a child subreaper (PR_SET_CHILD_SUBREAPER), as containerd-shim and systemd --user are. */
  readonly subreaper?: boolean;
  /** Working directory (default: its parent's). */
  readonly cwd?: string;
  /** Exit this long after starting its children (it is an owner that dies, or a launcher). */
  readonly lifeMs?: number;
  /** False for a program that is not the actor (sh, bash, sleep): it reports nothing itself. */
  readonly actor?: boolean;
  /** For a program that is not the actor: the actor spec its own actor descendants read. */
  readonly inner?: Actor;
  readonly children?: readonly Actor[];
  /** Copies forked from this process, keeping its argv unless they set a title. */
  readonly forks?: readonly (Actor & { readonly count: number })[];
  /** Workers started with python's multiprocessing `spawn` (what uvicorn --workers does). */
  readonly spawnWorkers?: { readonly count: number; readonly role: string; readonly mib?: number };
}

/** The actor. Its spec is JSON in VIGIL_ACTOR; it reports `<kind> <role> <host pid> <own pid>` lines. */
const ACTOR_PY = `
import ctypes, json, os, signal, subprocess, sys, time

libc = ctypes.CDLL(None, use_errno=True)
held = []
pipes = []

def report(kind, role, pid=None, ns_pid=None):
    host = int(os.readlink('/proc/self')) if pid is None else pid
    with open(os.environ['VIGIL_GHOST_REPORT'], 'a') as f:
        f.write('%s %s %d %d\\n' % (kind, role, host, os.getpid() if ns_pid is None else ns_pid))

def set_title(words):
    stat = open('/proc/self/stat').read()
    fields = stat[stat.rindex(')') + 2:].split()
    start, end = int(fields[45]), int(fields[46])
    data = b'\\0'.join(w.encode() for w in words) + b'\\0'
    size = end - start
    data = data[:size]
    with open('/proc/self/mem', 'r+b', buffering=0) as mem:
        mem.seek(start)
        mem.write(data + b'\\0' * (size - len(data)))

def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass

def become(spec):
    if spec.get('title'):
        set_title(spec['title'])
    if spec.get('comm'):
        libc.prctl(15, spec['comm'].encode()[:15], 0, 0, 0)
    if spec.get('subreaper'):
        libc.prctl(36, 1, 0, 0, 0)
    mib = spec.get('mib', 0)
    if mib:
        block = bytearray(mib << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        held.append(block)

def spawn(child):
    env = dict(os.environ)
    env['VIGIL_ACTOR'] = json.dumps(child.get('inner', child))
    if child.get('exec'):
        args, executable = child['argv'], child['exec']
    else:
        title = b'\\0'.join(w.encode() for w in child.get('title', [])) + b'\\0'
        base = len(b'p\\0') + len(ACTOR.encode()) + 1 + 1
        args, executable = ['p', ACTOR, 'x' * max(0, len(title) - base)], PYTHON
    stdin = subprocess.DEVNULL if child.get('stdin') == 'null' else subprocess.PIPE
    proc = subprocess.Popen(args, executable=executable, stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=child.get('cwd'),
                            start_new_session=child.get('setsid', False))
    if proc.stdin is not None:
        pipes.append(proc.stdin)
    pipes.append(proc)
    if not child.get('actor', True):
        report('spawned', child['role'], proc.pid, proc.pid)

def worker(report_path, role, mib):
    os.environ['VIGIL_GHOST_REPORT'] = report_path
    become({'mib': mib})
    report('ready', role)
    while True:
        time.sleep(3600)

def idle(spec):
    if spec.get('spin'):
        while True:
            pass
    while True:
        signal.pause()

def main():
    spec = json.loads(os.environ['VIGIL_ACTOR'])
    signal.signal(signal.SIGCHLD, reap)
    become(spec)
    for child in spec.get('children', []):
        spawn(child)
    for fork in spec.get('forks', []):
        for _ in range(fork.get('count', 1)):
            if os.fork() == 0:
                held.clear()
                become(fork)
                report('ready', fork['role'])
                idle(fork)
    workers = spec.get('spawnWorkers')
    if workers:
        import multiprocessing
        context = multiprocessing.get_context('spawn')
        context.set_executable(PYTHON)
        for _ in range(workers['count']):
            context.Process(target=worker, args=(os.environ['VIGIL_GHOST_REPORT'], workers['role'], workers.get('mib', 0))).start()
    report('ready', spec['role'])
    if spec.get('lifeMs') is not None:
        time.sleep(spec['lifeMs'] / 1000)
        os._exit(0)
    idle(spec)

PYTHON = os.environ['VIGIL_GHOST_PYTHON']
ACTOR = os.environ['VIGIL_GHOST_ACTOR']
if __name__ == '__main__':
    main()
`;

/** One line of the lab's report. */
interface Report {
  readonly kind: 'ready' | 'spawned';
  readonly role: string;
  /** The pid as the host sees it. */
  readonly pid: number;
  /** The pid in the process's own pid namespace (the same outside a container). */
  readonly nsPid: number;
}

let python: string | undefined;

/** The python interpreter itself (not a pyenv shim), resolved once. */
export function pythonPath(): string {
  python ??= execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], {
    encoding: 'utf8',
  }).trim();
  return python;
}

/**
 * A directory of programs shaped like real ones, the processes started from it, and what they reported.
 * One per scenario: `cleanup()` ends every process that carries its marker.
 */
export class GhostLab {
  readonly dir: string;
  readonly marker: string;
  private readonly reportFile: string;
  private readonly roots: number[] = [];
  readonly env: NodeJS.ProcessEnv;

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `vg-${name}-`));
    this.marker = `vigil-ghost-lab:${this.dir}`;
    this.reportFile = join(this.dir, 'report');
    live.add(this);
    writeFileSync(this.reportFile, '');
    const actor = join(this.dir, 'a');
    writeFileSync(actor, ACTOR_PY);
    this.env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      VIGIL_GHOST_MARK: this.marker,
      VIGIL_GHOST_REPORT: this.reportFile,
      VIGIL_GHOST_PYTHON: pythonPath(),
      VIGIL_GHOST_ACTOR: actor,
    };
  }

  /** A path inside the lab. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** A script at `rel` (made with its directories) that is the actor; returns its path. */
  script(rel: string): string {
    const file = this.path(rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, ACTOR_PY);
    return file;
  }

  /** A link at `rel` to the python interpreter, so that a process exec'd through it is named `rel`'s base name. */
  runtime(rel: string): string {
    const file = this.path(rel);
    mkdirSync(dirname(file), { recursive: true });
    if (!existsSync(file)) symlinkSync(pythonPath(), file);
    return file;
  }

  /** An empty file at `rel` (a snapshot a shell sources); returns its path. */
  file(rel: string, text = ''): string {
    const file = this.path(rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    chmodSync(file, 0o755);
    return file;
  }

  /**
   * Starts a tree from its root as a child of this test process (or of `via`, e.g. nsenter's argv into a
   * container). Resolves with the root's pid; the tree's own processes report themselves.
   */
  start(root: Actor, via: readonly string[] = []): number {
    const env = { ...this.env, VIGIL_ACTOR: JSON.stringify(root.inner ?? root) };
    let file: string;
    let args: string[];
    let argv0: string;
    if (root.exec) {
      [file, args, argv0] = [root.exec, [...(root.argv ?? []).slice(1)], root.argv?.[0] ?? root.exec];
    } else {
      [file, args, argv0] = [
        pythonPath(),
        [String(this.env['VIGIL_GHOST_ACTOR']), this.pad(root.title ?? [])],
        'p',
      ];
    }
    if (via.length > 0) {
      args = [...via.slice(1), file, ...args];
      file = via[0]!;
      argv0 = via[0]!;
    }
    const child = spawn(file, args, {
      argv0,
      env,
      ...(root.cwd ? { cwd: root.cwd } : {}),
      detached: root.setsid === true,
      stdio: [root.stdin === 'null' ? 'ignore' : 'pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => {});
    this.roots.push(child.pid!);
    return child.pid!;
  }

  /** Padding that makes the root's argument area exactly as long as its title. */
  private pad(title: readonly string[]): string {
    const wanted = Buffer.byteLength(title.join('\0')) + 1;
    const base = 2 + Buffer.byteLength(String(this.env['VIGIL_GHOST_ACTOR'])) + 1 + 1;
    return 'x'.repeat(Math.max(0, wanted - base));
  }

  reports(): Report[] {
    return readFileSync(this.reportFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [kind, role, pid, nsPid] = line.split(' ');
        return { kind: kind as Report['kind'], role: role!, pid: Number(pid), nsPid: Number(nsPid) };
      });
  }

  /** Host pids of the processes that reported `role` (ready actors and spawned programs), sorted. */
  pids(role: string): number[] {
    return [
      ...new Set(
        this.reports()
          .filter((r) => r.role === role)
          .map((r) => r.pid),
      ),
    ].sort((a, b) => a - b);
  }

  /** Their pids inside their own pid namespace, sorted. */
  nsPids(role: string): number[] {
    return [
      ...new Set(
        this.reports()
          .filter((r) => r.role === role)
          .map((r) => r.nsPid),
      ),
    ].sort((a, b) => a - b);
  }

  /** Waits until `count` processes reported `role`. */
  async ready(role: string, count: number, timeoutMs = 15_000): Promise<number[]> {
    await waitUntil(() => this.pids(role).length >= count, `${count} × ${role}`, timeoutMs);
    return this.pids(role);
  }

  /** Every live process carrying this lab's marker (the started roots' descendants included). */
  members(): number[] {
    const found: number[] = [];
    for (const name of safeList('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      if (this.owns(Number(name))) found.push(Number(name));
    }
    return found;
  }

  /** True when the pid is alive and carries this lab's marker in its environment. */
  owns(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`VIGIL_GHOST_MARK=${this.marker}\0`);
    } catch {
      return false;
    }
  }

  /**
   * Kills what labs of an earlier run left behind (a run killed before its cleanup): processes carrying
   * a lab marker whose directory is gone. Their servers would otherwise join this run's groups.
   */
  static sweepAbandoned(): number {
    let killed = 0;
    for (const name of safeList('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let environ: string;
      try {
        environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      } catch {
        continue;
      }
      const at = environ.indexOf('VIGIL_GHOST_MARK=vigil-ghost-lab:');
      if (at < 0) continue;
      const dir = environ.slice(at + 33, environ.indexOf('\0', at));
      if (existsSync(dir)) continue;
      try {
        process.kill(Number(name), 'SIGKILL');
        killed++;
      } catch {
        // gone already
      }
    }
    return killed;
  }

  /** SIGKILLs one process of the lab (a crashing agent); false when it is not (or no longer) the lab's. */
  kill(pid: number): boolean {
    if (!this.owns(pid)) return false;
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }

  /** Ends every process of the lab and removes its directory. */
  async cleanup(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const left = this.members();
      if (left.length === 0) break;
      for (const pid of left) this.kill(pid);
      await new Promise((r) => setTimeout(r, 100));
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

/** Labs not cleaned up yet: a test process that exits (an assertion thrown past `finally`) ends them. */
const live = new Set<GhostLab>();
process.on('exit', () => {
  for (const lab of live) for (const pid of lab.members()) lab.kill(pid);
});

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A pid namespace with its own /proc, as a container has: its init's host pid and how to enter it. */
export interface Namespace {
  /** The init's pid on the host. */
  readonly init: number;
  /** argv prefix that runs a program inside the namespace (a `docker exec`). */
  readonly enter: readonly string[];
  /** The namespace's /proc seen from the host: what a vigil inside the container reads. */
  readonly procfs: string;
  stop(): void;
}

/**
 * Why pid namespaces cannot be made here, or null when they can: `unshare --pid --fork --mount-proc` as
 * root, or with `--map-root-user` (a user namespace) as anyone else where the kernel allows it.
 */
export function namespaceSkipReason(): string | null {
  const args = [...userNsArgs(), '--pid', '--fork', '--mount-proc', 'true'];
  const probe = spawnSync('unshare', args, { encoding: 'utf8', timeout: 5000 });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `unshare ${args.join(' ')} is not allowed here: ${probe.stderr.trim()}`;
  return null;
}

function userNsArgs(): string[] {
  return process.getuid?.() === 0 ? [] : ['--user', '--map-root-user'];
}

/**
 * Starts a pid namespace whose init runs `init` (`['sleep', 'infinity']`, `['bash', '-c', …]`, node…),
 * under `unshare --pid --fork --mount-proc`, started from the lab so it carries its marker.
 */
export async function startNamespace(lab: GhostLab, init: readonly string[]): Promise<Namespace> {
  const unshare = spawn('unshare', [...userNsArgs(), '--pid', '--fork', '--mount-proc', ...init], {
    env: lab.env,
    stdio: 'ignore',
    detached: true,
  });
  unshare.on('error', () => {});
  let initPid = 0;
  await waitUntil(() => {
    initPid = childrenOf(unshare.pid!)[0] ?? 0;
    return initPid > 0 && readlinkOr(`/proc/${initPid}/exe`) !== readlinkOr(`/proc/${unshare.pid}/exe`);
  }, 'the namespace init');
  const enter = [
    'nsenter',
    '-t',
    String(initPid),
    ...(userNsArgs().length > 0 ? ['-U', '--preserve-credentials'] : []),
    '-p',
  ];
  return {
    init: initPid,
    enter,
    procfs: `/proc/${initPid}/root/proc`,
    stop: () => lab.kill(initPid),
  };
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

// ───────────────────────── scenarios, judged through the real pipeline ─────────────────────────

/**
 * One situation of the corpus: real processes started by `setup`, judged by vigil's `Watcher` (collect →
 * facts → rules) as the daemon runs it. A recall scenario must raise `ghost_process_storm` naming exactly
 * the `expected` pids; a look-alike must raise neither a storm nor `duplicate_processes` on any of its
 * processes. Each is judged twice: by a watcher running from before anything dies (it has seen the
 * lineage) and by one started afterwards (`vigil status`, or a daemon restarted: nothing seen).
 */
export interface Scenario {
  readonly name: string;
  /** `1` … `8`, the issue's shapes, or `look-alike`. */
  readonly shape: string;
  readonly expect: 'storm' | 'quiet';
  /** Why it cannot run on this machine, or null. */
  readonly skip?: () => string | null;
  readonly setup: (lab: GhostLab) => Promise<Setup>;
}

export interface Setup {
  /** The /proc vigil reads: a container's, for a vigil running inside it (default: the host's). */
  readonly procfs?: string;
  /** What happens while vigil watches, before any owner dies (a launcher exits, `runc` hands over). */
  readonly transition?: () => Promise<void>;
  /** The owner's death (an agent crashing); absent when nothing dies while vigil watches. */
  readonly die?: () => Promise<void>;
  /** False when vigil starts only after the storm (shape 8): nothing of the lineage is seen. */
  readonly watchFromStart?: boolean;
  /** The pids a storm must name, as `procfs` numbers them (recall scenarios). */
  readonly expected?: () => number[];
}

/** What vigil made of one scenario. */
export interface Outcome {
  readonly name: string;
  readonly shape: string;
  readonly expect: 'storm' | 'quiet';
  /** Judged right by the watcher running from the start (null: there was none). */
  readonly watched: boolean | null;
  /** Judged right by a watcher started afterwards. */
  readonly fresh: boolean;
  /** Cycles of the watching watcher from the owner's death to the storm naming them all orphaned. */
  readonly cyclesAfterDeath: number | null;
  readonly msAfterDeath: number | null;
  /** Why it was judged wrong: the findings, or the storm that did not come. */
  readonly wrong: readonly string[];
  readonly skipped: string | null;
}

export interface CorpusOptions {
  /** The runtime (config, rules, kinds) for a scenario expecting a storm, or staying quiet. */
  readonly runtime: (expect: 'storm' | 'quiet') => RulesRuntime;
  /** Pause between two cycles (the daemon's interval, shortened: cycles are what is counted). */
  readonly cycleMs: number;
  /** Cycles after the owner's death before the storm counts as missed. */
  readonly maxCycles: number;
}

const WATCHED_RULES = new Set(['ghost_process_storm', 'duplicate_processes']);

/** Runs one scenario in its own lab and says what vigil made of it; the lab is cleaned up either way. */
export async function runScenario(scenario: Scenario, options: CorpusOptions): Promise<Outcome> {
  const base = { name: scenario.name, shape: scenario.shape, expect: scenario.expect };
  const skipped = scenario.skip?.() ?? null;
  if (skipped !== null) {
    return {
      ...base,
      watched: null,
      fresh: false,
      cyclesAfterDeath: null,
      msAfterDeath: null,
      wrong: [],
      skipped,
    };
  }
  const lab = new GhostLab(scenario.name.replace(/\W+/g, '-').slice(0, 20));
  const wrong: string[] = [];
  try {
    const setup = await scenario.setup(lab);
    const runtime = options.runtime(scenario.expect);
    const sampling = liveSampling({ paths: { ...LIVE_PATHS, procfs: setup.procfs ?? LIVE_PATHS.procfs } });
    const watcher = () =>
      new Watcher(runtime, sampling, {
        collectors: ['processes', 'memory', 'cpu'],
        learnBaselines: false,
        trackLeaks: false,
      });
    const pause = () => new Promise((r) => setTimeout(r, options.cycleMs));
    // Judges one cycle: right or not, and why not.
    const judge = (evaluation: Evaluation, facts: FactSet, stage: string): boolean => {
      const ours = new Set([...lab.members(), ...lab.reports().flatMap((r) => [r.pid, r.nsPid])]);
      const mine = evaluation.firing.filter(
        (f) => WATCHED_RULES.has(f.rule) && f.pids.some((pid) => ours.has(pid)),
      );
      if (scenario.expect === 'quiet') {
        for (const f of mine) wrong.push(`${stage}: ${f.rule} on ${f.pids.length} pids: ${f.summary}`);
        return mine.length === 0;
      }
      const expected = setup.expected?.() ?? [];
      const storm = mine.find((f) => f.rule === 'ghost_process_storm' && sameNumbers(f.pids, expected));
      if (!storm) return false;
      const group = facts.subjects.group?.find((s) => sameNumbers(s.pids, expected))?.facts as
        | GroupFacts
        | undefined;
      // Once the owner is dead, the facts must say so: every member left behind.
      return setup.die === undefined || (group !== undefined && group.orphans === group.count);
    };
    const describe = (evaluation: Evaluation, facts: FactSet, stage: string) => {
      const expected = setup.expected?.() ?? [];
      const near = evaluation.firing.filter(
        (f) => WATCHED_RULES.has(f.rule) && f.pids.some((pid) => expected.includes(pid)),
      );
      const groups = (facts.subjects.group ?? [])
        .filter((g) => g.pids.some((pid) => expected.includes(pid)))
        .map((g) => {
          const f = g.facts as GroupFacts;
          return `${g.label}: count ${f.count}, suspects ${f.suspects}, orphans ${f.orphans}, mem ${f.mem_percent.toFixed(2)}%, cpu ${f.cpu_percent.toFixed(0)}%`;
        });
      wrong.push(
        `${stage}: no storm on ${expected.length} pids [${expected.join(' ')}]; firing: ${
          near.map((f) => `${f.rule} [${f.pids.join(' ')}] ${f.summary}`).join(' | ') || 'nothing'
        }; groups: ${groups.join(' | ') || 'none'}`,
      );
    };

    let watched: boolean | null = null;
    let cyclesAfterDeath: number | null = null;
    let msAfterDeath: number | null = null;
    if (setup.watchFromStart !== false) {
      const a = watcher();
      let last = await a.cycle();
      let right =
        scenario.expect === 'quiet' ? judge(last.evaluation, last.facts, 'watched, first look') : true;
      if (setup.transition) {
        await setup.transition();
        await pause();
        last = await a.cycle();
        if (scenario.expect === 'quiet')
          right = judge(last.evaluation, last.facts, 'watched, after the hand-over') && right;
      }
      const died = performance.now();
      if (setup.die) await setup.die();
      let found = false;
      for (let cycle = 1; cycle <= options.maxCycles; cycle++) {
        await pause();
        last = await a.cycle();
        const ok = judge(last.evaluation, last.facts, `watched, cycle ${cycle}`);
        if (scenario.expect === 'quiet') {
          right = ok && right;
          if (cycle >= 2) break;
        } else if (ok) {
          found = true;
          if (setup.die) {
            cyclesAfterDeath = cycle;
            msAfterDeath = Math.round(performance.now() - died);
          }
          break;
        }
      }
      if (scenario.expect === 'storm') {
        right = found;
        if (!found) describe(last.evaluation, last.facts, 'watched');
      }
      watched = right;
    }
    const b = watcher();
    await b.cycle();
    await pause();
    const second = await b.cycle();
    const fresh = judge(second.evaluation, second.facts, 'fresh');
    if (!fresh && scenario.expect === 'storm') describe(second.evaluation, second.facts, 'fresh');
    return { ...base, watched, fresh, cyclesAfterDeath, msAfterDeath, wrong, skipped: null };
  } finally {
    await lab.cleanup();
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  const x = [...a].sort((m, n) => m - n);
  const y = [...b].sort((m, n) => m - n);
  return x.every((v, i) => v === y[i]);
}

/** Recall and precision over outcomes, and a table of them, for the test's output. */
export function corpusReport(outcomes: readonly Outcome[]): {
  recall: number;
  precision: number;
  text: string;
} {
  const ran = outcomes.filter((o) => o.skipped === null);
  const right = (o: Outcome) => o.fresh && o.watched !== false;
  const storms = ran.filter((o) => o.expect === 'storm');
  const caught = storms.filter(right).length;
  // Precision: of the scenarios vigil raised a storm or duplicate alert on, those where it should have,
  // with the right pids. A look-alike judged wrong is a false alarm; a storm on the wrong pids is one too.
  const falseAlarms = ran.filter((o) => o.expect === 'quiet' && !right(o)).length;
  const recall = storms.length === 0 ? 1 : caught / storms.length;
  const precision = caught + falseAlarms === 0 ? 1 : caught / (caught + falseAlarms);
  const rows = outcomes.map((o) => {
    const verdict = o.skipped !== null ? `skipped: ${o.skipped}` : right(o) ? 'right' : 'WRONG';
    const timing =
      o.cyclesAfterDeath !== null
        ? `${o.cyclesAfterDeath} cycle(s), ${o.msAfterDeath} ms after the owner died`
        : '';
    return `  ${o.shape.padEnd(10)} ${o.name.padEnd(58)} ${o.expect.padEnd(5)} ${verdict}${timing ? `  (${timing})` : ''}${
      o.wrong.length > 0 ? `\n      ${o.wrong.join('\n      ')}` : ''
    }`;
  });
  const text = [
    `ghost corpus: ${ran.length} scenarios run (${storms.length} storms, ${ran.length - storms.length} look-alikes), ${outcomes.length - ran.length} skipped`,
    ...rows,
    `recall ${caught}/${storms.length} = ${recall.toFixed(2)}, precision ${caught}/${caught + falseAlarms} = ${precision.toFixed(2)}`,
  ].join('\n');
  return { recall, precision, text };
}
