import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memTotalBytes } from '../helpers/procs.js';
import { type SwappedStorm, spawnSwappedStorm } from '../helpers/swap.js';
import {
  runVigilAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * Shape 6 of issue 13: orphans get paged out, so their RSS falls to almost nothing while their swap grows
 * (#26658: 80 processes filling 13 GB of swap). A storm in swap is still a storm. Root makes the swap file
 * and the memory cgroup that pushes the storm out (swapon and cgroups need CAP_SYS_ADMIN); the storm and
 * vigil run as the victim, an ordinary user, as on a developer's machine.
 */
const STORM = 8;
const MIB = 64;
const MiB = 1024 * 1024;

const victim = victimUser();
const isRoot = process.getuid?.() === 0;
const skipReason =
  typeof victim === 'string'
    ? victim
    : isRoot
      ? false
      : 'needs root: a swap file (swapon) and a memory cgroup to push the storm out';
const user = victim as TestUser;

interface StatusJson {
  findings: Array<{ rule: string; severity: string; pids: number[]; summary: string }>;
  processes: Array<{ pid: number; rssBytes: number; swapBytes: number | null }>;
}

describe('a ghost storm paged out to swap', { skip: skipReason }, () => {
  let storm: SwappedStorm | null = null;
  let why: string | null = null;
  let home: UserHome;
  // The storm holds STORM × MIB in all; ask for half that share of RAM, far above what stays resident.
  const thresholdBytes = (STORM * MIB * MiB) / 2;
  const share = (thresholdBytes / memTotalBytes()) * 100;

  before(async () => {
    home = userHome(user, 'swap');
    writeFileAs(
      user,
      join(home.configDir, 'config.toml'),
      `[thresholds]\nghost_storm_min_ram_percent = ${share.toFixed(4)}\n`,
    );
    const made = await spawnSwappedStorm(user, STORM, MIB);
    if (typeof made === 'string') why = made;
    else storm = made;
  });
  after(() => {
    storm?.cleanup();
    home?.cleanup();
  });

  it('is still raised as a ghost storm, naming every server, its size counting what is in swap', (t) => {
    if (why !== null || storm === null) return t.skip(why ?? 'no storm');
    assert.ok(
      storm.rssBytes < thresholdBytes / 2,
      `the storm is paged out: ${storm.rssBytes / MiB} MiB resident, ${storm.swapBytes / MiB} MiB in swap`,
    );
    const run = runVigilAs(user, ['status', '--json', '--sample', '300'], home.env);
    assert.equal(run.status, 0, run.stderr);
    const status = JSON.parse(run.stdout) as StatusJson;
    const ghosts = status.findings.filter((f) => f.rule === 'ghost_process_storm');
    assert.equal(ghosts.length, 1, JSON.stringify(status.findings, null, 2));
    assert.deepEqual(
      ghosts[0]!.pids,
      [...storm.pids].sort((a, b) => a - b),
    );
    // What vigil shows of each server: resident as ps says, and the rest out in swap.
    const members = status.processes.filter((p) => storm!.pids.includes(p.pid));
    assert.equal(members.length, STORM);
    const swap = members.reduce((sum, p) => sum + (p.swapBytes ?? 0), 0);
    const rss = members.reduce((sum, p) => sum + p.rssBytes, 0);
    assert.ok(rss < thresholdBytes, `vigil saw ${rss / MiB} MiB resident: too little for a storm alone`);
    assert.ok(
      rss + swap >= thresholdBytes && swap >= 0.7 * STORM * MIB * MiB,
      `vigil saw ${swap / MiB} MiB of the storm in swap (the kernel says ${storm.swapBytes / MiB} MiB)`,
    );
    // The finding states the group's size as resident plus swap, not its few resident MiB.
    const size = ghosts[0]!.summary.match(/\((\d+(?:\.\d+)?) (MiB|GiB)\)/);
    assert.ok(size, ghosts[0]!.summary);
    const stated = Number(size[1]) * (size[2] === 'GiB' ? 1024 : 1) * MiB;
    assert.ok(stated >= 0.9 * (rss + swap), `${ghosts[0]!.summary}: the size leaves out the swap`);
  });

  it('explains a server as holding a few MiB resident and the rest in swap', (t) => {
    if (why !== null || storm === null) return t.skip(why ?? 'no storm');
    const pid = storm.pids[0]!;
    const run = runVigilAs(user, ['explain', String(pid), '--no-ai'], home.env);
    assert.equal(run.status, 0, run.stderr);
    const line = run.stdout.split('\n').find((l) => l.startsWith('memory'));
    assert.match(
      line ?? '',
      /^memory\s+\d+(\.\d+)? MiB \(\d+\.\d% of RAM\), swap \d+(\.\d+)? MiB$/,
      run.stdout,
    );
    const json = runVigilAs(user, ['explain', String(pid), '--no-ai', '--json'], home.env);
    const known = JSON.parse(json.stdout).process as { rssBytes: number; swapBytes: number };
    assert.ok(known.swapBytes >= 0.7 * MIB * MiB, `explain --json: ${known.swapBytes} bytes in swap`);
  });
});
