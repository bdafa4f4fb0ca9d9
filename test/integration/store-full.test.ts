import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { waitUntil } from '../helpers/procs.js';
import {
  runVigilAs,
  spawnVigilAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * A full disk under the daemon's history, for real: the victim's state directory is a small tmpfs,
 * filled to the last byte while vigil runs, then freed. vigil must say the store is failing once (not
 * once per cycle, not "writable again" whenever a read succeeds), `vigil health` must say so and exit 1,
 * and once space is back it must say "writable again" once and be healthy.
 */

const victim = victimUser();
const isRoot = process.getuid?.() === 0;
const skip: string | false =
  typeof victim === 'string'
    ? victim
    : !isRoot
      ? 'needs root to mount a small tmpfs as the full disk (mount -t tmpfs)'
      : false;

const homes: UserHome[] = [];
const mounts: string[] = [];
let daemon: ChildProcess | null = null;

after(() => {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  for (const mount of mounts) spawnSync('umount', ['-l', mount]);
  for (const home of homes) home.cleanup();
});

/** Mounts a tmpfs of `size` at `dir` owned by the user (0700); or why it cannot. */
function mountSmallDisk(user: TestUser, dir: string, size: string): string | null {
  const out = spawnSync(
    'mount',
    ['-t', 'tmpfs', '-o', `size=${size},mode=0700,uid=${user.uid},gid=${user.gid}`, 'vigil-test-full', dir],
    { encoding: 'utf8' },
  );
  if (out.status !== 0)
    return `cannot mount a tmpfs here (${(out.stderr || out.error?.message || '').trim()})`;
  mounts.push(dir);
  return null;
}

/** Writes zeros into `path` until the file system has no byte left. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, block, 0, block.length);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ENOSPC') throw error;
        // The last partial block: byte by byte is not needed, smaller blocks are.
        for (let size = 32 * 1024; size >= 1; size = Math.floor(size / 2)) {
          try {
            for (;;) written += writeSync(fd, block, 0, size);
          } catch {
            // next smaller size
          }
        }
        return written;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function lastCycleAt(home: UserHome): number {
  try {
    return (
      JSON.parse(readFileSync(join(home.runtimeDir, 'heartbeat.json'), 'utf8')) as { lastCycleAt: number }
    ).lastCycleAt;
  } catch {
    return 0;
  }
}

/** Waits for `n` more completed cycles (the heartbeat beside the pid file moves on). */
async function cycles(home: UserHome, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const at = lastCycleAt(home);
    await waitUntil(() => lastCycleAt(home) > at, 'a cycle', 30_000);
  }
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

describe('a history store on a full disk', { skip }, () => {
  it('is said failing once, vigil health exits 1 saying so, and writable again once space is freed', async (t) => {
    assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
    const user = victim as TestUser;
    const home = userHome(user, 'full');
    homes.push(home);
    // PATH without root's own directories, which the victim cannot search (nvidia-smi would be EACCES).
    home.env['PATH'] = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const stateRoot = home.env['XDG_STATE_HOME']!;
    const why = mountSmallDisk(user, stateRoot, '3m');
    if (why) return t.skip(why);
    // A webhook that takes every notice, so the notification queue (in the same database) is written too:
    // each marker process started while the disk is full raises a finding that goes to it.
    const received: string[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push(body);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    t.after(() => hook.close());
    writeFileAs(
      user,
      join(home.configDir, 'config.toml'),
      `[notifications]\nwebhook_url = "http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook"\nwebhook_min_severity = "low"\ndesktop = false\n`,
    );
    writeFileAs(
      user,
      join(home.configDir, 'rules', 'always.toml'),
      [
        '[[rule]]\nid = "always_on"\ntitle = "Always"\nseverity = "medium"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "still judging"\n',
        `[[rule]]\nid = "marker"\ntitle = "Marker"\nseverity = "medium"\nscope = "process"\nwhen = "proc.cmdline.contains('vigil-full-marker')"\nsummary = "marker {{ fixed(proc.pid) }}"\n`,
      ].join('\n'),
    );
    const markers: ChildProcess[] = [];
    t.after(() => {
      for (const m of markers) m.kill('SIGKILL');
    });
    /** A new marker process (the previous one ends): a new finding, a new notice for the webhook. */
    const marker = () => {
      markers.at(-1)?.kill('SIGKILL');
      markers.push(
        spawn('python3', ['-c', 'import time; time.sleep(600)', 'vigil-full-marker'], { stdio: 'ignore' }),
      );
    };
    daemon = spawnVigilAs(user, ['run', '--mode', 'observe', '--interval', '1'], home.env);
    let log = '';
    daemon.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
    });
    daemon.stdout!.resume();
    const logged = (pattern: RegExp, what: string) =>
      waitUntil(
        () => {
          if (daemon!.exitCode !== null) throw new Error(`the daemon exited (${daemon!.exitCode}):\n${log}`);
          return pattern.test(log);
        },
        `${what}; log:\n${log}`,
        60_000,
      );
    await logged(/vigil: started/, 'the start');
    await cycles(home, 2);
    const fine = runVigilAs(user, ['health'], home.env);
    assert.equal(fine.status, 0, `healthy before the disk fills: ${fine.stdout}${fine.stderr}\n${log}`);

    const filler = join(stateRoot, 'filler');
    fillUp(filler);
    await logged(/history store failing/, 'the store failing');
    for (let i = 0; i < 6; i++) {
      marker();
      await cycles(home, 2);
    }
    const health = runVigilAs(user, ['health'], home.env);
    assert.equal(health.status, 1, `${health.stdout}\n${log}`);
    assert.match(health.stdout.split('\n')[0]!, /^the history store is failing: .*disk is full/);
    assert.doesNotMatch(health.stdout, /^healthy/);
    assert.equal(count(log, /history store failing/), 1, `said once, not every cycle:\n${log}`);
    assert.equal(count(log, /writable again/), 0, `no flapping back to writable:\n${log}`);
    assert.ok(count(log, /notification queue cannot be written/) <= 1, log);

    rmSync(filler);
    await logged(/history store writable again/, 'the store recovering');
    // One more notice, so the log channel (a file in the same directory) writes again too.
    marker();
    await cycles(home, 3);
    const healed = runVigilAs(user, ['health'], home.env);
    assert.equal(healed.status, 0, `${healed.stdout}\n${log}`);
    assert.match(healed.stdout, /^healthy/);
    assert.equal(count(log, /history store failing/), 1, log);
    assert.equal(count(log, /history store writable again/), 1, log);
    assert.ok(count(log, /notification queue writable again/) <= 1, log);
    assert.equal(daemon.exitCode, null, 'the daemon kept running throughout');
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
  });
});
