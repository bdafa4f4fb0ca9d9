import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll, stateOf, waitUntil } from './procs.js';
import { asUser, type TestUser } from './users.js';

/**
 * Shape 6 of the ghost storm, for real: a storm paged out to swap. Root makes a swap file and a memory
 * cgroup, starts the storm inside the cgroup, then squeezes the cgroup so the kernel pushes the servers'
 * memory out to swap: their RSS falls to almost nothing while their VmSwap grows. Every function that
 * cannot do its part here returns a string saying why, for `t.skip`.
 */

const MiB = 1024 * 1024;
const REPO = fileURLToPath(new URL('../..', import.meta.url));

function have(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

function run(argv: string[]): string | null {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (result.status === 0) return null;
  return `${argv.join(' ')}: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`;
}

/** A swap file in use until `off()`, which turns it off and removes it. */
export interface SwapFile {
  readonly path: string;
  off(): void;
}

/**
 * A swap file of `bytes`, turned on. Tried in the temporary directory, then beside the checkout (a tmpfs
 * /tmp cannot hold swap; btrfs needs a no-copy-on-write file; overlayfs none): the first file system that
 * takes one is used. Needs root (swapon(2) needs CAP_SYS_ADMIN) and util-linux.
 */
export function swapFile(bytes: number): SwapFile | string {
  if (process.getuid?.() !== 0) return 'needs root: swapon(2) needs CAP_SYS_ADMIN';
  for (const program of ['fallocate', 'mkswap', 'swapon', 'swapoff'])
    if (!have(program)) return `needs ${program} (Debian package util-linux)`;
  const refusals: string[] = [];
  for (const parent of [tmpdir(), REPO]) {
    const dir = mkdtempSync(join(parent, 'vigil-swap-'));
    const path = join(dir, 'swapfile');
    const failed =
      run(['fallocate', '-l', String(bytes), path]) ??
      run(['chmod', '600', path]) ??
      run(['mkswap', path]) ??
      run(['swapon', path]);
    if (failed === null) {
      return {
        path,
        off() {
          run(['swapoff', path]);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    refusals.push(failed);
    rmSync(dir, { recursive: true, force: true });
  }
  return `no file system here takes a swap file (${refusals.join('; ')})`;
}

/** A memory cgroup of the test's own, v2 or v1. */
export interface MemoryCgroup {
  readonly path: string;
  readonly version: 1 | 2;
  /** Moves a process in: what it starts afterwards is charged here. */
  add(pid: number): void;
  /** Squeezes the cgroup down to `bytes`, so the kernel pushes the rest of its memory out to swap. */
  squeeze(bytes: number): string | null;
  /** Removes it (its processes must be gone). */
  remove(): void;
}

interface Mount {
  readonly root: string;
  readonly point: string;
  readonly type: string;
  readonly options: string;
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .flatMap((line) => {
      const [left, right] = line.split(' - ');
      if (!left || !right) return [];
      const f = left.split(' ');
      const [type, , options] = right.split(' ');
      return [{ root: f[3]!, point: f[4]!, type: type!, options: options ?? '' }];
    });
}

function tryWrite(path: string, text: string): string | null {
  try {
    writeFileSync(path, text);
    return null;
  } catch (error) {
    return `${path}: ${(error as Error).message}`;
  }
}

/**
 * A fresh memory cgroup: under the cgroup v2 root when the memory controller is enabled there (a child of
 * the test's own cgroup could not have it: a v2 cgroup with processes cannot enable controllers for its
 * children), else under the test's own v1 memory cgroup (so its processes stay inside whatever limits
 * the test runs under). Needs root.
 */
export function memoryCgroup(label: string): MemoryCgroup | string {
  if (process.getuid?.() !== 0) return 'needs root: creating a cgroup';
  const all = mounts();
  const v2 = all.find((m) => m.type === 'cgroup2' && m.root === '/');
  const v2Controllers = v2 ? (readText(join(v2.point, 'cgroup.subtree_control')) ?? '') : '';
  const name = `vigil-${label}-${process.pid}`;
  if (v2 && v2Controllers.split(/\s+/).includes('memory')) {
    const path = join(v2.point, name);
    mkdirSync(path);
    return {
      path,
      version: 2,
      add: (pid) => writeFileSync(join(path, 'cgroup.procs'), String(pid)),
      squeeze: (bytes) =>
        tryWrite(join(path, 'memory.swap.max'), 'max') ?? tryWrite(join(path, 'memory.max'), String(bytes)),
      remove: () => removeCgroup(path),
    };
  }
  const v1 = all.find((m) => m.type === 'cgroup' && m.options.split(',').includes('memory'));
  if (!v1) return 'no memory cgroup controller here (neither in cgroup v2 nor mounted for v1)';
  const own = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((line) => line.split(':')[1]?.split(',').includes('memory'));
  const ownPath = own?.split(':').slice(2).join(':') ?? '/';
  const relative = v1.root === '/' ? ownPath : ownPath.slice(v1.root.length);
  const path = join(v1.point, relative, name);
  mkdirSync(path);
  return {
    path,
    version: 1,
    add: (pid) => writeFileSync(join(path, 'cgroup.procs'), String(pid)),
    squeeze: (bytes) => {
      // A swappiness of 0 would keep anonymous memory in RAM and OOM-kill instead.
      tryWrite(join(path, 'memory.swappiness'), '100');
      return tryWrite(join(path, 'memory.limit_in_bytes'), String(bytes));
    },
    remove: () => removeCgroup(path),
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function removeCgroup(path: string): void {
  // Killed processes leave the cgroup once reaped: wait a little for it to empty.
  for (let i = 0; i < 50 && existsSync(path); i++) {
    try {
      rmdirSync(path);
    } catch {
      spawnSync('sleep', ['0.1']);
    }
  }
}

/** VmSwap and VmRSS of a pid in bytes (0 when gone). */
export function memoryOf(pid: number): { rssBytes: number; swapBytes: number } {
  const status = readText(`/proc/${pid}/status`) ?? '';
  const kib = (key: string) => Number(status.match(new RegExp(`\\n${key}:\\s+(\\d+) kB`))?.[1] ?? 0);
  return { rssBytes: kib('VmRSS') * 1024, swapBytes: kib('VmSwap') * 1024 };
}

/** A storm paged out to swap, and how to end it and everything made for it. */
export interface SwappedStorm {
  readonly pids: number[];
  /** The storm's VmRSS and VmSwap, summed, once pushed out. */
  readonly rssBytes: number;
  readonly swapBytes: number;
  cleanup(): void;
}

/**
 * `count` identical python MCP servers (as {@link spawnOrphanedStorm} makes them: orphaned, a pipe from
 * their dead node parent on stdin), each holding `mib` MiB, started by `user` inside a memory cgroup and
 * then paged out: the cgroup is squeezed to 2 MiB a server, below the servers' size, so most of their
 * memory goes to a swap file four times the storm's size (so `swap_high` stays quiet). Resolves once at
 * least 80 % of the storm's memory is in swap. Needs root; a string says why it cannot run here.
 */
export async function spawnSwappedStorm(
  user: TestUser,
  count: number,
  mib: number,
): Promise<SwappedStorm | string> {
  const swap = swapFile(4 * count * mib * MiB);
  if (typeof swap === 'string') return swap;
  const cgroup = memoryCgroup('swap-storm');
  if (typeof cgroup === 'string') {
    swap.off();
    return cgroup;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-swapped-mcp-'));
  chmodSync(dir, 0o755);
  const pids: number[] = [];
  const cleanup = () => {
    killAll(pids);
    const end = Date.now() + 10_000;
    while (pids.some((pid) => stateOf(pid) !== null) && Date.now() < end) spawnSync('sleep', ['0.1']);
    cgroup.remove();
    swap.off();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const server = join(dir, 'mcp_server_fake.py');
    writeFileSync(
      server,
      `import time; b = bytearray(${mib} * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\ntime.sleep(600)`,
    );
    chmodSync(server, 0o644);
    // The parent waits for a line on stdin: by then root has moved it into the cgroup, so the servers it
    // starts are charged there. It prints their pids and exits, orphaning them.
    const script = `
      const { spawn } = require('node:child_process');
      process.stdin.once('data', () => {
        const pids = [];
        for (let i = 0; i < ${count}; i++) {
          const child = spawn('python3', [${JSON.stringify(server)}, '--port', String(43000 + i), '--workdir', '/tmp/mcp-' + Math.random().toString(36).slice(2)], { stdio: ['pipe', 'ignore', 'ignore'] });
          pids.push(child.pid);
        }
        setTimeout(() => { process.stdout.write(pids.join(' ')); process.exit(0); }, 300);
      });
    `;
    const parent = spawn(process.execPath, ['-e', script], {
      ...asUser(user),
      cwd: '/',
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    parent.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<void>((resolve) => parent.once('exit', () => resolve()));
    cgroup.add(parent.pid!);
    parent.stdin.write('go\n');
    await exited;
    pids.push(...out.trim().split(' ').filter(Boolean).map(Number));
    if (pids.length !== count)
      throw new Error(`the storm's parent started ${pids.length} of ${count} servers`);
    const touched = () => pids.every((pid) => memoryOf(pid).rssBytes >= mib * MiB);
    await waitUntil(touched, `${count} servers holding ${mib} MiB each`, 30_000);
    const refused = cgroup.squeeze(2 * count * MiB);
    if (refused) throw new Error(`cannot squeeze the cgroup: ${refused}`);
    const swapped = () => pids.reduce((sum, pid) => sum + memoryOf(pid).swapBytes, 0);
    await waitUntil(() => swapped() >= 0.8 * count * mib * MiB, 'the storm paged out to swap', 60_000);
    const totals = pids.map(memoryOf).reduce((a, b) => ({
      rssBytes: a.rssBytes + b.rssBytes,
      swapBytes: a.swapBytes + b.swapBytes,
    }));
    return { pids, ...totals, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}
