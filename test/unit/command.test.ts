import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommandNotFound, type CommandResult, runCommand } from '../../src/host/command.js';
import { killAll, stateOf, waitUntil } from '../helpers/procs.js';

const scratch = mkdtempSync(join(tmpdir(), 'vigil-command-'));
const strays = new Set<number>();
after(() => {
  killAll(strays);
  rmSync(scratch, { recursive: true, force: true });
});

/** runCommand, or a failure saying it hung (generous: every case here ends in well under a second). */
function runOrHang(script: string, timeoutMs: number, signal?: AbortSignal): Promise<CommandResult> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    runCommand(['sh', '-c', script], { timeoutMs, ...(signal ? { signal } : {}) }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('runCommand hung: still waiting after 10 s')), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The pid a script wrote to a file (the grandchild it started). */
function pidFrom(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').trim());
  strays.add(pid);
  return pid;
}

const dead = (pid: number) => {
  const state = stateOf(pid);
  return state === null || state === 'Z';
};

describe('runCommand', () => {
  it('answers with the output and exit status of a program that ends', async () => {
    const result = await runOrHang('echo out; echo err >&2; exit 3', 5000);
    assert.deepEqual(result, {
      exitCode: 3,
      signal: null,
      stdout: 'out\n',
      stderr: 'err\n',
      timedOut: false,
    });
  });

  it('keeps every byte a program wrote just before it exited', async () => {
    const result = await runOrHang('head -c 3000000 /dev/zero | tr "\\0" x', 5000);
    assert.equal(result.stdout.length, 3_000_000);
  });

  it('says a missing program is not installed', async () => {
    await assert.rejects(
      runCommand(['/nonexistent/nvidia-smi'], { timeoutMs: 1000 }),
      (error: Error) => error instanceof CommandNotFound && error.code === 'ENOENT',
    );
  });

  it('cuts a hung program at its deadline and keeps what it said before', async () => {
    const result = await runOrHang('echo started; exec sleep 30', 300);
    assert.equal(result.timedOut, true);
    assert.equal(result.stdout, 'started\n');
  });

  it('kills the whole group at the deadline: a grandchild holding stdout dies too', async () => {
    const file = join(scratch, 'held.pid');
    const result = await runOrHang(`sleep 30 & echo $! > ${file}; wait`, 300);
    assert.equal(result.timedOut, true);
    const grandchild = pidFrom(file);
    await waitUntil(() => dead(grandchild), `grandchild ${grandchild} to be killed with its group`, 5000);
  });

  it('does not wait for a grandchild that keeps stdout open after the program exited, and kills it', async () => {
    const file = join(scratch, 'left.pid');
    const result = await runOrHang(`sleep 30 & echo $! > ${file}; echo done`, 60_000);
    assert.equal(result.timedOut, false, 'the program itself ended: not a timeout');
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'done\n');
    const grandchild = pidFrom(file);
    await waitUntil(() => dead(grandchild), `grandchild ${grandchild} to be killed with its group`, 5000);
  });

  it('is freed from a grandchild that left the group with setsid and holds stdout', async () => {
    const file = join(scratch, 'escaped.pid');
    const result = await runOrHang(`setsid sleep 30 & echo $! > ${file}; echo done`, 60_000);
    assert.equal(result.stdout, 'done\n');
    assert.equal(result.exitCode, 0);
    killAll([pidFrom(file)]);
  });

  it('ends at once, group and all, when its caller aborts (the daemon stopping)', async () => {
    const file = join(scratch, 'aborted.pid');
    const controller = new AbortController();
    const running = runOrHang(`sleep 30 & echo $! > ${file}; wait`, 60_000, controller.signal);
    await waitUntil(() => {
      try {
        return readFileSync(file, 'utf8').trim() !== '';
      } catch {
        return false;
      }
    }, 'the script to start its grandchild');
    controller.abort();
    const result = await running;
    assert.equal(result.timedOut, true);
    const grandchild = pidFrom(file);
    await waitUntil(() => dead(grandchild), `grandchild ${grandchild} to be killed with its group`, 5000);
  });
});
