import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { FIXTURE_PATHS } from '../helpers/context.js';

/**
 * A procfs tree given with --procfs is data, and may be hostile: where a process's `stat` or `cmdline`
 * should be there can be a FIFO (a blocking open never returns), a FIFO a writer holds open without
 * writing, or a symlink to /dev/zero or /dev/urandom (a read to EOF never ends). vigil must skip each,
 * say so, and finish with the rest of the tree.
 */

const dir = mkdtempSync(join(tmpdir(), 'vigil-procfs-special-'));
const procfs = join(dir, 'proc');
const holders: ChildProcess[] = [];

/** A process directory copied from the fixture's pid 1020 (stat, status, cmdline, cgroup). */
function fakeProcess(pid: number): string {
  const path = join(procfs, String(pid));
  mkdirSync(path);
  for (const file of ['stat', 'status', 'cmdline', 'cgroup']) {
    try {
      const text = readFileSync(join(FIXTURE_PATHS.procfs, '1020', file), 'utf8');
      writeFileSync(join(path, file), file === 'stat' ? text.replace(/^1020 /, `${pid} `) : text);
    } catch {
      // the fixture lacks it
    }
  }
  return path;
}

function mkfifo(path: string): void {
  rmSync(path, { force: true });
  const made = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  assert.equal(made.status, 0, `mkfifo: ${made.stderr}`);
}

before(() => {
  assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
  cpSync(FIXTURE_PATHS.procfs, procfs, { recursive: true });
  // 7001: stat is a FIFO nobody writes to.
  mkfifo(join(fakeProcess(7001), 'stat'));
  // 7002: stat is a FIFO a writer holds open and never writes to (a read would wait for ever).
  const held = join(fakeProcess(7002), 'stat');
  mkfifo(held);
  holders.push(
    spawn('python3', ['-c', 'import os, sys, time; os.open(sys.argv[1], os.O_RDWR); time.sleep(600)', held], {
      stdio: 'ignore',
    }),
  );
  // 7003: stat is /dev/zero.
  const zero = join(fakeProcess(7003), 'stat');
  rmSync(zero);
  symlinkSync('/dev/zero', zero);
  // 7004: a good stat, but cmdline is a FIFO; 7005: cmdline is /dev/urandom.
  mkfifo(join(fakeProcess(7004), 'cmdline'));
  const random = join(fakeProcess(7005), 'cmdline');
  rmSync(random);
  symlinkSync('/dev/urandom', random);
  // The machine's load: a FIFO too.
  mkfifo(join(procfs, 'loadavg'));
});

after(() => {
  for (const holder of holders) holder.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Runs vigil without blocking, killed (and so failing the test) if it has not finished in 60 s. */
function vigil(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [VIGIL_BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: dir, VIGIL_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(deadline);
      resolve({ status, stdout, stderr: signal ? `killed by ${signal} (it hung)\n${stderr}` : stderr });
    }),
  );
}

const statusArgs = [
  'status',
  '--sample',
  '0',
  '--procfs',
  procfs,
  '--sysfs',
  FIXTURE_PATHS.sysfs,
  '--rootfs',
  FIXTURE_PATHS.rootfs,
  '--nvidia-smi',
  '/nonexistent',
  '--journal-dir',
  dir,
];

describe('a --procfs tree holding FIFOs and devices', () => {
  it('vigil status --json finishes, skips each with a reason, and shows the other processes', async () => {
    const run = await vigil([...statusArgs, '--json']);
    assert.equal(run.status, 0, run.stderr);
    const status = JSON.parse(run.stdout) as {
      processes: Array<{ pid: number; cmdline: string }>;
      collectors: Array<{ name: string; skipped?: string[] }>;
    };
    const pids = status.processes.map((p) => p.pid);
    for (const pid of [1, 1020, 27079, 7004, 7005]) assert.ok(pids.includes(pid), `pid ${pid} is shown`);
    for (const pid of [7001, 7002, 7003]) assert.ok(!pids.includes(pid), `pid ${pid} is skipped`);
    const skipped = status.collectors.find((c) => c.name === 'processes')?.skipped ?? [];
    assert.ok(
      skipped.some((s) => /7001\/stat: a FIFO that gives nothing/.test(s)),
      skipped.join('\n'),
    );
    assert.ok(
      skipped.some((s) => /7002\/stat: a FIFO that would make vigil wait/.test(s)),
      skipped.join('\n'),
    );
    assert.ok(
      skipped.some((s) => /7003\/stat: a character device that gives more than 16 MiB/.test(s)),
      skipped.join('\n'),
    );
    const fromUrandom = status.processes.find((p) => p.pid === 7005)!;
    assert.ok(fromUrandom.cmdline.length < 1024 * 1024, 'no megabytes of /dev/urandom as a cmdline');
  });

  it('vigil status says what it skipped', async () => {
    const run = await vigil(statusArgs);
    assert.equal(run.status, 0, run.stderr);
    // The fixture's own two garbled stat files, and the three special ones.
    const count = Number(run.stdout.match(/Skipped (\d+) unreadable item\(s\)/)?.[1]);
    assert.ok(count >= 5, run.stdout);
    assert.match(
      run.stdout,
      /Collectors failing: .*cpu \(cannot read \S+\/loadavg: a FIFO that gives nothing\)/,
    );
  });
});
