import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, cmdlineOf, stateOf, waitUntil } from './procs.js';

/**
 * Real process trees for the ghost-group tests: an agent that owns its MCP servers and can be killed,
 * and wrapper chains as `npx`/`uvx` leave them (a wrapper per server, the server's own helper with a
 * child of its own). Every helper returns the pids it started; tests end them in `after()`.
 */

/** A python MCP-like server: touches `mib` MiB, optionally starts a helper that starts a sleeper. */
function serverScript(dir: string, name: string, mib: number, helper: boolean): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      'import subprocess, sys, time',
      `b = bytearray(${mib} * 1024 * 1024)`,
      'for i in range(0, len(b), 4096): b[i] = 1',
      ...(helper
        ? [
            // The server's helper, with a child of its own: what a kill of the server alone leaves behind.
            "subprocess.Popen([sys.executable, '-c', 'import subprocess, time; subprocess.Popen([\"sleep\", \"600\"]); time.sleep(600)', 'ghost-helper'], stdin=subprocess.DEVNULL)",
          ]
        : []),
      'time.sleep(600)',
    ].join('\n'),
  );
  return path;
}

const alive = (pid: number) => ['R', 'S', 'D'].includes(stateOf(pid) ?? '');

/**
 * The python3 that runs, not a version manager's shim on PATH: a shim forks helpers of its own before it
 * execs python, which would show up as the server's children.
 */
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim();

/**
 * An "agent" (node, as agent CLIs are) that starts `count` identical MCP servers on pipes and stays
 * alive, as a running claude does. Killing `agent` orphans them.
 */
export async function spawnAgentWithServers(
  count: number,
  mib: number,
): Promise<{ agent: number; servers: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-follow-'));
  const server = serverScript(dir, 'mcp_follow_server.py', mib, false);
  const agentCode = `
    const { spawn } = require('node:child_process');
    for (let i = 0; i < ${count}; i++)
      spawn(${JSON.stringify(PYTHON)}, [${JSON.stringify(server)}, '--port', String(43000 + i)], { stdio: ['pipe', 'ignore', 'ignore'] });
    setInterval(() => {}, 1 << 30);
  `;
  const agent = spawn(process.execPath, ['-e', agentCode], { stdio: 'ignore' });
  const pid = agent.pid!;
  await waitUntil(
    () => childrenOf(pid).length === count && childrenOf(pid).every(alive),
    `the agent's ${count} servers`,
  );
  // Touched their memory: the group's size is what the rule weighs.
  await new Promise((r) => setTimeout(r, 500));
  return { agent: pid, servers: childrenOf(pid) };
}

/** One wrapper → server → helper → sleeper chain, by pid. */
export interface WrapperChain {
  readonly wrapper: number;
  readonly server: number;
  readonly helper: number;
  readonly grandchild: number;
}

/**
 * Node code for a wrapper as `npm exec` runs one: it shows as `npm exec ghost-mcp-server`, starts the
 * server with a pipe on its stdin, forwards SIGTERM to it, and starts it again if it exits while the
 * wrapper is not ending (so a kill that reaches the server before its wrapper is undone).
 */
function wrapperCode(server: string): string {
  return `
    const port = process.argv[1];
    process.title = 'npm exec ghost-mcp-server';
    const { spawn } = require('node:child_process');
    let ending = false;
    let child;
    const start = () => {
      child = spawn(${JSON.stringify(PYTHON)}, [${JSON.stringify(server)}, '--port', port], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('exit', () => (ending ? process.exit(0) : start()));
    };
    process.on('SIGTERM', () => { ending = true; child.kill('SIGTERM'); });
    start();
    setInterval(() => {}, 1 << 30);
  `;
}

/** Walks wrapper → server → helper → sleeper once they all run. */
async function chainOf(wrapper: number): Promise<WrapperChain> {
  let chain: WrapperChain | null = null;
  await waitUntil(() => {
    const [server] = childrenOf(wrapper);
    const [helper] = server ? childrenOf(server) : [];
    const [grandchild] = helper ? childrenOf(helper) : [];
    if (!server || !helper || !grandchild) return false;
    if (!cmdlineOf(helper).endsWith('ghost-helper') || cmdlineOf(grandchild) !== 'sleep 600') return false;
    chain = { wrapper, server, helper, grandchild };
    return [wrapper, server, helper, grandchild].every(alive);
  }, `wrapper ${wrapper}'s server, helper and sleeper`);
  return chain!;
}

/**
 * `count` wrapper chains started by a launcher that then exits, so the wrappers are orphaned while each
 * server's parent is its live wrapper; and `owned` more chains whose wrapper this test process owns (an
 * agent still running). All servers are one group: `python3 ghost_mcp_server`.
 */
export async function spawnWrapperChains(
  count: number,
  owned: number,
  mib: number,
): Promise<{ orphaned: WrapperChain[]; owned: WrapperChain[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-wrapped-'));
  const server = serverScript(dir, 'ghost_mcp_server.py', mib, true);
  const launcher = `
    const { spawn } = require('node:child_process');
    const pids = [];
    for (let i = 0; i < ${count}; i++) {
      const code = ${JSON.stringify(wrapperCode(server))};
      pids.push(spawn(process.execPath, ['-e', code, String(44000 + i)], { stdio: ['pipe', 'ignore', 'ignore'] }).pid);
    }
    setTimeout(() => { process.stdout.write(pids.join(' ')); process.exit(0); }, 300);
  `;
  // In a session of its own, as an agent CLI a terminal started is in a process group of its own: the
  // chains must not share the test runner's group (whose leader may be gone when the suite runs detached).
  const wrappers = execFileSync('setsid', [process.execPath, '-e', launcher], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .map(Number);
  const kept: WrapperChain[] = [];
  for (let i = 0; i < owned; i++) {
    const child = spawn(process.execPath, ['-e', wrapperCode(server), String(44500 + i)], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.unref();
    kept.push(await chainOf(child.pid!));
  }
  const orphaned: WrapperChain[] = [];
  for (const wrapper of wrappers) orphaned.push(await chainOf(wrapper));
  return { orphaned, owned: kept };
}

/**
 * A server in a process group of its own (setsid) that left a helper behind the classic way: the helper
 * forked and its parent exited, so it now hangs off pid 1 yet is still in the server's process group.
 * Returns the server (orphaned: its launcher exits) and the escaped helper.
 */
export function spawnServerWithEscapee(mib: number): { server: number; escapee: number } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-escape-'));
  const server = join(dir, 'ghost_mcp_server.py');
  writeFileSync(
    server,
    [
      'import os, sys, time',
      `b = bytearray(${mib} * 1024 * 1024)`,
      'for i in range(0, len(b), 4096): b[i] = 1',
      'r, w = os.pipe()',
      'if os.fork() == 0:',
      '    if os.fork() == 0:',
      "        os.write(w, str(os.getpid()).encode()); os.execvp('sleep', ['sleep', '600'])",
      '    os._exit(0)',
      'os.wait()',
      "sys.stdout.write(os.read(r, 32).decode() + '\\n'); sys.stdout.flush()",
      'time.sleep(600)',
    ].join('\n'),
  );
  const launcher = `
    const { spawn } = require('node:child_process');
    const child = spawn('setsid', [${JSON.stringify(PYTHON)}, ${JSON.stringify(server)}, '--port', '44900'], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout.once('data', (d) => { process.stdout.write(child.pid + ' ' + d.toString().trim()); process.exit(0); });
  `;
  const [pid, escapee] = execFileSync(process.execPath, ['-e', launcher], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .map(Number);
  return { server: pid!, escapee: escapee! };
}

/**
 * A member in a process group whose leader lives on: `setsid sh -c '(server &); exec sleep 600'` started by
 * a launcher that exits, so the leader (`sleep 600`) and the server both hang off pid 1, in one group.
 * The group is the leader's, not the orphaned session's: killing the server must spare the leader.
 */
export async function spawnLedGroupMember(mib: number): Promise<{ leader: number; member: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-led-'));
  const server = serverScript(dir, 'ghost_mcp_server.py', mib, false);
  const launcher = `
    const { spawn } = require('node:child_process');
    const child = spawn('setsid', ['sh', '-c', '(${PYTHON} ${server} --port 44950 </dev/null >/dev/null 2>&1 &); exec sleep 600'], { stdio: 'ignore' });
    setTimeout(() => { process.stdout.write(String(child.pid)); process.exit(0); }, 300);
  `;
  const leader = Number(execFileSync(process.execPath, ['-e', launcher], { encoding: 'utf8' }).trim());
  let member = 0;
  await waitUntil(() => {
    member = pidWithArgs(`${server} --port 44950`) ?? 0;
    return member > 0 && alive(leader) && readFileSync(`/proc/${leader}/cmdline`, 'utf8').startsWith('sleep');
  }, 'the led server and its group leader');
  return { leader, member };
}

/**
 * A member in a process group whose leader died beside a script that runs on: `setsid sh -c 'sh -c "sleep
 * 600; true" & server & exit'`. The leader exits, so the script (`sh -c …`, with its `sleep` running under
 * it) and the server are both orphans of one leaderless group — as a shell job whose terminal closed, or
 * a test suite run in the background whose shell went. The server is the ghost; the script is not.
 */
export async function spawnLeaderlessGroup(
  mib: number,
): Promise<{ member: number; script: number; work: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-led-'));
  const server = serverScript(dir, 'ghost_mcp_server.py', mib, false);
  const marker = `ghost-script-${Math.random().toString(36).slice(2)}`;
  const job = `sh -c "sleep 600; echo ${marker}" </dev/null >/dev/null 2>&1 & ${PYTHON} ${server} --port 44960 </dev/null >/dev/null 2>&1 & exit 0`;
  execFileSync('setsid', ['sh', '-c', job], { stdio: 'ignore' });
  let found: { member: number; script: number; work: number } | null = null;
  await waitUntil(() => {
    const member = pidWithArgs(`${server} --port 44960`);
    const script = pidWithArgs(marker);
    const work = script === null ? undefined : childrenOf(script)[0];
    found = member && script && work ? { member, script, work } : null;
    return found !== null;
  }, 'the leaderless group: a server and a script running a sleep');
  return found!;
}

/** The pid whose command line contains `args` (space-joined), or null. */
function pidWithArgs(args: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').includes(args))
        return Number(name);
    } catch {
      // gone
    }
  }
  return null;
}

/** What these helpers start, by command line: their temp dirs, the helpers' marker, the wrappers' title. */
const OURS = /\/vigil-(wrapped|escape|led|follow)-|ghost-helper$|ghost-script-|^npm exec ghost-mcp-server/;

/**
 * Ends whatever these helpers started that still runs, wherever it hangs now (a wrapper may have started
 * its server again; a helper whose server died hangs off pid 1), with the children of each.
 */
export function killGhostLeftovers(): void {
  const ours: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (OURS.test(cmdlineOf(pid))) ours.push(pid, ...childrenOf(pid));
  }
  // Stopped first, so that no wrapper sees its server die and starts another.
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const)
    for (const pid of ours) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
}

/** Every pid of the chains. */
export function pidsOf(chains: readonly WrapperChain[]): number[] {
  return chains.flatMap((c) => [c.wrapper, c.server, c.helper, c.grandchild]);
}

export { alive };
