import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real processes for tests. Every helper returns the pids it started so `killAll` can end them; tests
 * call it in `after()` so nothing outlives the suite.
 */

/** Python code for a child that touches `mib` MiB (so it counts in RSS) then sleeps. */
const holdMemory = (mib: number, execOnUsr1 = false) =>
  `${execOnUsr1 ? "import os, signal\nsignal.signal(signal.SIGUSR1, lambda *_: os.execvp('sleep', ['sleep', '600']))\n" : ''}import time; b = bytearray(${mib} * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\ntime.sleep(600)`;

/**
 * Starts `count` identical python MCP servers (a script named like one) from a node parent that then
 * exits, so they are orphaned — as MCP servers are when the agent CLI that spawned them dies. Each gets
 * its own `--port` and temp dir, and keeps a pipe from its dead parent on stdin. With `execOnUsr1`, a
 * member sent SIGUSR1 execs `sleep 600`: the same pid and start time, another program (as a reused pid
 * or an exec would look to vigil).
 */
export function spawnOrphanedStorm(
  count: number,
  mib: number,
  options: { execOnUsr1?: boolean; cwd?: string } = {},
): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-mcp-'));
  const server = join(dir, 'mcp_server_fake.py');
  writeFileSync(server, holdMemory(mib, options.execOnUsr1));
  const script = `
    const { spawn } = require('node:child_process');
    const pids = [];
    for (let i = 0; i < ${count}; i++) {
      const child = spawn('python3', [${JSON.stringify(server)}, '--port', String(41000 + i), '--workdir', '/tmp/mcp-' + Math.random().toString(36).slice(2)], { stdio: ['pipe', 'ignore', 'ignore'] });
      pids.push(child.pid);
    }
    setTimeout(() => { process.stdout.write(pids.join(' ')); process.exit(0); }, 300);
  `;
  const out = execFileSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return out.trim().split(' ').map(Number);
}

/** What {@link spawnAgentStorm} started. */
export interface AgentStorm {
  /** The agent CLI: a node program run as `claude` (through a symlink, so its comm is `claude` too). */
  readonly agent: number;
  readonly servers: number[];
  /** Ends the agent with SIGKILL, as a crash or a closed terminal does; resolves once it has exited. */
  leave(): Promise<void>;
  /** Kills the agent and the servers and removes the program's temporary directory. */
  stop(): void;
}

/**
 * An agent CLI — `claude <dir>/agent.js --resume <session>`, run in `cwd` — that starts `count` identical
 * python MCP servers on stdin pipes (they inherit its working directory) and lives until `leave()`: the
 * shape vigil sees when it watched the agent before it died, so it knows who left the servers.
 */
export async function spawnAgentStorm(
  count: number,
  mib: number,
  options: { cwd: string; session: string },
): Promise<AgentStorm> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-agent-'));
  const server = join(dir, 'mcp_server_fake.py');
  writeFileSync(server, holdMemory(mib));
  const program = join(dir, 'agent.js');
  writeFileSync(
    program,
    `const { spawn } = require('node:child_process');
const pids = [];
for (let i = 0; i < ${count}; i++) {
  const child = spawn('python3', [${JSON.stringify(server)}, '--port', String(43000 + i)], { stdio: ['pipe', 'ignore', 'ignore'] });
  pids.push(child.pid);
}
process.stdout.write(pids.join(' ') + '\\n');
setInterval(() => {}, 60000);
`,
  );
  const claude = join(dir, 'claude');
  symlinkSync(process.execPath, claude);
  const agent = spawn(claude, [program, '--resume', options.session], {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => agent.on('exit', () => resolve()));
  const servers = await new Promise<number[]>((resolve) => {
    let out = '';
    agent.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim().split(' ').map(Number));
    });
  });
  agent.stdout!.destroy();
  await waitUntil(
    () => servers.every((pid) => readlinkOr(`/proc/${pid}/exe`).includes('python')),
    'the servers',
  );
  return {
    agent: agent.pid!,
    servers,
    leave: async () => {
      agent.kill('SIGKILL');
      await exited;
    },
    stop: () => {
      killAll([agent.pid!, ...servers]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** A shell that starts `count` identical sleepers and stays alive waiting for them: no orphans. */
export async function spawnLiveParent(count: number): Promise<{ parent: number; children: number[] }> {
  const body = Array.from(
    { length: count },
    (_, i) => `python3 -c 'import time; time.sleep(600)' worker-fake --port ${42000 + i} &`,
  ).join('\n');
  const shell = spawn('sh', ['-c', `${body}\nwait`], { stdio: 'ignore' });
  const parent = shell.pid!;
  await waitUntil(() => childrenOf(parent).length === count, `${count} children of the live parent`);
  return { parent, children: childrenOf(parent) };
}

/** A daemon the classic way: setsid, stdio on /dev/null, parent exits; re-parented to init. */
export function spawnDaemon(): number {
  const result = spawnSync(
    'setsid',
    [
      'sh',
      '-c',
      "python3 -c 'import time; time.sleep(600)' fake-daemon --foreground </dev/null >/dev/null 2>&1 & echo $!",
    ],
    { encoding: 'utf8', timeout: 5000 },
  );
  return Number(result.stdout.trim());
}

/**
 * A python process spinning the CPU under a node parent that lives `parentLifeMs` and then exits,
 * leaving it orphaned. Resolves with the child's pid as soon as it runs, and `parentGone` when the
 * parent has exited.
 */
export async function spawnOrphanSpinner(
  parentLifeMs: number,
): Promise<{ pid: number; parentGone: Promise<void> }> {
  const script = `
    const { spawn } = require('node:child_process');
    const child = spawn('python3', ['-c', 'while True: pass', 'spin-fake'], { stdio: ['pipe', 'ignore', 'ignore'] });
    process.stdout.write(String(child.pid) + '\\n');
    setTimeout(() => process.exit(0), ${parentLifeMs});
  `;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const parentGone = new Promise<void>((resolve) => parent.on('exit', () => resolve()));
  const pid = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  return { pid, parentGone };
}

/** A parent that never waits for its `count` children, which exit at once: zombies. */
export function spawnZombieParent(count: number): { parent: number } {
  const code = `import os, time\nfor _ in range(${count}):\n    if os.fork() == 0:\n        os._exit(0)\ntime.sleep(600)`;
  const result = spawnSync(
    'sh',
    ['-c', `python3 -c '${code}' zombie-maker </dev/null >/dev/null 2>&1 & echo $!`],
    {
      encoding: 'utf8',
      timeout: 5000,
    },
  );
  return { parent: Number(result.stdout.trim()) };
}

/** The name of the hostile process's program: a newline and an escape sequence that clears the screen. */
export const HOSTILE_COMM = 'ev\nil\u001b[2J';
/** Its argv[0]: a marker to filter on, a newline, a screen clear and a window-title sequence. */
export const HOSTILE_ARGV0 = 'vigil-hostile\n\u001b[2J\u001b]0;pwned\u0007';

/**
 * A sleeper whose program name and cmdline are written to wreck a terminal that prints them raw, as
 * anyone's process can be (its cmdline is world-readable). Started through a symlink named
 * HOSTILE_COMM, so the kernel's comm is that name too. `stop()` kills it and removes the symlink.
 */
export function spawnHostile(): { pid: number; stop: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-hostile-'));
  const program = join(dir, HOSTILE_COMM);
  symlinkSync('/bin/sleep', program);
  const child = spawn(program, ['600'], { argv0: HOSTILE_ARGV0, stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  return {
    pid,
    stop: () => {
      killAll([pid]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** State letter of a pid from /proc, or null when gone. */
export function stateOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** The cmdline of a pid, arguments joined by spaces ('' when gone). */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Waits until `check` is true, polling; throws with `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function memTotalBytes(): number {
  const m = readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+) kB/);
  return Number(m?.[1] ?? 0) * 1024;
}
