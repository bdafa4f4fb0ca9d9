import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createProcessCollector } from '../../src/collectors/processes.js';
import { defaultConfig } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import { executePlan } from '../../src/respond/execute.js';
import { type ProcessIdentity, readExe, readLiveProcess } from '../../src/respond/identity.js';
import type { ActionPlan } from '../../src/respond/plan.js';
import { liveOwnerIn, planFor } from '../../src/respond/plan.js';
import { checkTarget, policyContext } from '../../src/respond/policy.js';
import type { Finding } from '../../src/rules/types.js';
import { liveContext } from '../helpers/context.js';
import { childrenOf, killAll, spawnOrphanedStorm, stateOf, waitUntil } from '../helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-actions-'));
const children: ChildProcess[] = [];
after(() => {
  killAll(children.map((c) => c.pid!).filter(Boolean));
  rmSync(dir, { recursive: true, force: true });
});

function start(argv: string[], options: { ignoreTerm?: boolean } = {}): ChildProcess {
  const stubborn = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')";
  const child = options.ignoreTerm
    ? spawn(process.execPath, ['-e', stubborn, ...argv], { stdio: ['ignore', 'pipe', 'ignore'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  children.push(child);
  return child;
}
async function identityOf(pid: number): Promise<ProcessIdentity> {
  await waitUntil(
    () =>
      (readLiveProcess(LIVE_PATHS, pid)?.cmdline ?? '').length > 0 &&
      !/pyenv/.test(readLiveProcess(LIVE_PATHS, pid)!.cmdline),
    `pid ${pid} running`,
  );
  const live = readLiveProcess(LIVE_PATHS, pid)!;
  return { pid, startTicks: live.startTicks, cmdline: live.cmdline, exe: live.exe };
}
const plan = (action: ActionPlan['action'], targets: ProcessIdentity[]): ActionPlan => ({
  action,
  targets,
  kept: [],
  unit: null,
  command: '',
  reason: 'test',
});
const ctx = (over: Partial<ReturnType<typeof defaultConfig>['allowlist']> = {}) => {
  const config = defaultConfig();
  return policyContext(LIVE_PATHS, { ...config, allowlist: { ...config.allowlist, ...over } });
};

describe('kill_process on real processes', () => {
  it('stops the user’s own process with SIGTERM and checks it is gone', async () => {
    const child = start(['sleep', '600']);
    const result = await executePlan(plan('kill_process', [await identityOf(child.pid!)]), ctx());
    assert.equal(result.outcome, 'success');
    assert.deepEqual(result.gone, [child.pid]);
    assert.ok(stateOf(child.pid!) === null || stateOf(child.pid!) === 'Z');
  });

  it('escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const child = start(['stubborn'], { ignoreTerm: true });
    await new Promise((resolve) => child.stdout!.once('data', resolve)); // its SIGTERM handler is in place
    const t0 = Date.now();
    const result = await executePlan(plan('kill_process', [await identityOf(child.pid!)]), ctx(), {
      graceMs: 600,
    });
    assert.equal(result.outcome, 'success');
    assert.ok(Date.now() - t0 >= 600, 'waited the grace period');
    assert.ok(result.freedBytes > 1024 * 1024, `freed ${result.freedBytes} bytes`);
  });

  it('does not touch a pid reused since the finding (another start time)', async () => {
    const child = start(['sleep', '600']);
    const real = await identityOf(child.pid!);
    const result = await executePlan(
      plan('kill_process', [{ ...real, startTicks: real.startTicks - 1 }]),
      ctx(),
    );
    assert.equal(result.outcome, 'refused');
    assert.match(result.refused[0]!.reason, /now belongs to another process/);
    assert.ok(['R', 'S'].includes(stateOf(child.pid!) ?? ''), 'still alive');
  });

  it('refuses pid 1, kernel threads, itself, its parent, protected pids and protected commands', async () => {
    const live = (pid: number) => {
      const p = readLiveProcess(LIVE_PATHS, pid)!;
      return { pid, startTicks: p.startTicks, cmdline: p.cmdline };
    };
    const sshdBin = join(dir, 'sshd');
    copyFileSync('/bin/sleep', sshdBin);
    const sshd = start([sshdBin, '600']);
    const guarded = start(['sleep', '601']);
    for (const c of [sshd, guarded]) await identityOf(c.pid!);
    const policy = ctx({ protected_pids: [guarded.pid!] });
    const reasons = [1, 2, process.pid, process.ppid, sshd.pid!, guarded.pid!].map((pid) => {
      const verdict = checkTarget(live(pid), policy);
      return verdict.ok ? 'allowed' : verdict.reason.replace(/^pid \d+ \([^)]*\): /, '');
    });
    assert.deepEqual(reasons, [
      'pid 1 is never touched',
      'a kernel thread is never touched',
      'vigil does not act on itself',
      'vigil does not act on its own parent',
      'matches [allowlist] protected_commands',
      'listed in [allowlist] protected_pids',
    ]);
    for (const c of [sshd, guarded]) assert.ok(['R', 'S'].includes(stateOf(c.pid!) ?? ''));
  });

  it('refuses a process the kernel protects from the OOM killer (oom_score_adj -1000)', async (t) => {
    const child = start(['sleep', '602']);
    const target = await identityOf(child.pid!);
    try {
      writeFileSync(`/proc/${child.pid}/oom_score_adj`, '-1000');
    } catch (error) {
      return t.skip(
        `cannot lower oom_score_adj here (${(error as NodeJS.ErrnoException).code}): needs CAP_SYS_RESOURCE`,
      );
    }
    const verdict = checkTarget(target, ctx());
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? '' : verdict.reason, /oom_score_adj -1000/);
  });

  const otherUser =
    process.getuid?.() !== 0
      ? 'needs root to start a process as nobody'
      : spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0
        ? 'needs setpriv (Debian package util-linux)'
        : false;
  it('refuses a process of another user', { skip: otherUser }, async () => {
    const child = start(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '600']);
    await waitUntil(() => readLiveProcess(LIVE_PATHS, child.pid!)?.uid === 65534, 'the process as nobody');
    const target = await identityOf(child.pid!);
    const result = await executePlan(plan('kill_process', [target]), ctx());
    assert.equal(result.outcome, 'refused');
    assert.match(
      result.refused[0]!.reason,
      /belongs to another user, nobody \(uid 65534\); vigil only acts on \S+ \(uid \d+\)'s processes/,
    );
    assert.ok(['R', 'S'].includes(stateOf(child.pid!) ?? ''));
  });
});

describe('the other catalog actions', () => {
  it('renices with setpriority, not a shell', async () => {
    const child = start(['sleep', '600']);
    const result = await executePlan(plan('renice', [await identityOf(child.pid!)]), ctx());
    assert.equal(result.outcome, 'success');
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    assert.equal(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16], '10', 'nice is 10');
  });

  it('stops a whole process group, member by member, and nothing outside it', async () => {
    const leader = spawn('setsid', ['sh', '-c', 'sleep 600 & sleep 601 & wait'], { stdio: 'ignore' });
    const outsider = start(['sleep', '602']);
    children.push(leader);
    await waitUntil(() => childrenOf(leader.pid!).length === 2, 'the group’s two sleepers');
    const members = [leader.pid!, ...childrenOf(leader.pid!)];
    const processes = createProcessCollector().collect(liveContext(), { skip: () => {} });
    const finding: Finding = {
      fingerprint: 'x|g',
      rule: 'orphan_cpu',
      title: 't',
      severity: 'high',
      scope: 'process',
      subject: 'g',
      summary: 'a group',
      pids: [members[1]!],
      since: 0,
      suggest: ['kill_process_group'],
      event: false,
    };
    const group = planFor(finding, 'kill_process_group', processes, {
      liveOwner: () => false,
      exeOf: (pid) => readExe(LIVE_PATHS, pid),
    })!;
    assert.equal(group.command, `kill -- -${leader.pid}`);
    assert.deepEqual(group.targets.map((t) => t.pid).sort(), [...members].sort());
    const result = await executePlan(group, ctx(), { graceMs: 1000 });
    assert.equal(result.outcome, 'success', result.detail);
    assert.deepEqual([...result.gone].sort(), [...members].sort());
    for (const pid of members) assert.ok(['Z', null].includes(stateOf(pid)), `pid ${pid} gone`);
    assert.ok(['R', 'S'].includes(stateOf(outsider.pid!) ?? ''), 'the process outside the group lives');
  });

  it('restarts a user unit with systemctl --user as an argv, never a shell, and reports its failure', async () => {
    // No user manager here: a stand-in systemctl on PATH records its argv (a unit name with shell syntax
    // in it must arrive as one argument) and fails for the unit named "broken.service".
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const record = join(dir, 'systemctl.argv');
    writeFileSync(
      join(bin, 'systemctl'),
      `#!/bin/sh\nprintf '%s\\n' "$@" >> ${JSON.stringify(record)}\n[ "$3" = broken.service ] && { echo 'Unit broken.service failed.' >&2; exit 1; }\nexit 0\n`,
      { mode: 0o755 },
    );
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path}`;
    try {
      const unit = (name: string): ActionPlan => ({ ...plan('restart_user_unit', []), unit: name });
      const ok = await executePlan(unit('app-x.service; touch /tmp/pwned'), ctx());
      assert.equal(ok.outcome, 'success', ok.detail);
      assert.deepEqual(readFileSync(record, 'utf8').trim().split('\n'), [
        '--user',
        'restart',
        'app-x.service; touch /tmp/pwned',
      ]);
      const failed = await executePlan(unit('broken.service'), ctx());
      assert.equal(failed.outcome, 'failed');
      assert.match(failed.detail, /systemctl failed: Unit broken\.service failed\./);
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('plans kill_matching for a storm, keeping the members a live process still owns', async () => {
    // One member this test process owns, one orphaned (its parent exited): only the orphan is stopped.
    const owned = start(['sleep', '603']);
    const [orphan] = spawnOrphanedStorm(1, 1);
    children.push({ pid: orphan } as ChildProcess);
    await waitUntil(() => stateOf(orphan!) !== null && stateOf(owned.pid!) !== null, 'both members');
    const collector = createProcessCollector();
    const processes = collector.collect(liveContext(), { skip: () => {} });
    const kept = processes.find((p) => p.pid === owned.pid)!;
    const left = processes.find((p) => p.pid === orphan)!;
    const finding: Finding = {
      fingerprint: 'x|y',
      rule: 'ghost_process_storm',
      title: 't',
      severity: 'high',
      scope: 'group',
      subject: 'y',
      summary: '8 identical',
      pids: [kept.pid, left.pid],
      since: 0,
      suggest: ['kill_matching'],
      event: false,
    };
    const storm = planFor(finding, 'kill_matching', processes, { liveOwner: liveOwnerIn(processes) });
    assert.deepEqual(
      storm?.targets.map((t) => t.pid),
      [left.pid],
    );
    assert.deepEqual(
      storm?.kept.map((t) => t.pid),
      [kept.pid],
    );
    assert.equal(storm?.command, `kill ${left.pid}`);
  });
});
