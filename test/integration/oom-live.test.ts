import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { VIGIL_BIN } from '../helpers/cli.js';
import { waitUntil } from '../helpers/procs.js';
import { causeOomKill, journalOomLines, startJournald } from '../helpers/realsys.js';
import { type TestUser, type UserHome, userHome, victimUser } from '../helpers/users.js';

/**
 * A real kernel OOM kill, read from the live journal as it happens: systemd-journald runs (realsys.ts
 * starts one where none does), the kernel kills a python in a small memory cgroup, and vigil, running
 * as the victim user in the `systemd-journal` group (as a desktop's first user reads the system journal,
 * often through `adm`), says so. The journal-file tests (oom-journal, daemon) cover the parsing; this one
 * covers the live path: journald, `journalctl -f` as an ordinary user, the kernel's own words.
 */
const victim = victimUser();
const journald = typeof victim === 'string' ? victim : startJournald();
const journalGid = (() => {
  const out = spawnSync('getent', ['group', 'systemd-journal'], { encoding: 'utf8' });
  return out.status === 0 ? Number(out.stdout.split(':')[2]) : null;
})();
const skip =
  typeof journald === 'string'
    ? journald
    : journalGid === null
      ? 'no systemd-journal group to read the system journal with (Debian package systemd)'
      : false;

const homes: UserHome[] = [];
const daemons: ChildProcess[] = [];
after(async () => {
  for (const d of daemons) {
    if (d.exitCode !== null) continue;
    d.kill('SIGTERM');
    await new Promise((resolve) => d.once('exit', resolve));
  }
  for (const h of homes) h.cleanup();
  if (typeof journald !== 'string') journald.stop();
});

describe('a kernel OOM kill, from the live journal', { skip }, () => {
  it('says which process the kernel killed, as the journal records it', async (t) => {
    const user = victim as TestUser;
    const h = userHome(user, 'oom-live');
    homes.push(h);
    // As the victim, with the journal group besides its own (node's uid/gid options drop every group).
    const d = spawn(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        `--groups=${journalGid}`,
        '--',
        process.execPath,
        VIGIL_BIN,
        'run',
        '--interval',
        '1',
        '--mode',
        'observe',
      ],
      { env: h.env, cwd: h.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    daemons.push(d);
    let stdout = '';
    let stderr = '';
    d.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    d.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const running = () => {
      if (d.exitCode !== null) throw new Error(`vigil exited (${d.exitCode}):\n${stderr}`);
      return true;
    };
    await waitUntil(
      () => running() && /journal: following/.test(stderr),
      `vigil following the journal:\n${stderr}`,
    );

    const kill = causeOomKill(40);
    if (typeof kill === 'string') return t.skip(kill);
    assert.match(journalOomLines(kill.pid), new RegExp(`Killed process ${kill.pid} \\(python3\\)`));
    await waitUntil(
      () => running() && new RegExp(`HIGH\\s+oom_kill: .*killed python3 \\(pid ${kill.pid}\\)`).test(stdout),
      `vigil's oom_kill finding for pid ${kill.pid}:\n${stdout}\n${stderr}`,
      30_000,
    );
  });
});
