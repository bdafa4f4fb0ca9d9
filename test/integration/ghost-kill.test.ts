import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createProcessCollector } from '../../src/collectors/processes.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import { readExe } from '../../src/respond/identity.js';
import { liveOwnerIn, planFor } from '../../src/respond/plan.js';
import type { Finding } from '../../src/rules/types.js';
import { runVigil } from '../helpers/cli.js';
import { liveContext } from '../helpers/context.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import {
  alive,
  killGhostLeftovers,
  pidsOf,
  spawnLeaderlessGroup,
  spawnLedGroupMember,
  spawnServerWithEscapee,
  spawnWrapperChains,
  type WrapperChain,
} from '../helpers/ghost-kill.js';
import { killAll, waitUntil } from '../helpers/procs.js';

const started = new Set<number>();
const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
after(() => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  killAll(started);
  killGhostLeftovers();
  for (const h of homes) h.cleanup();
});

/** The ghost tree every test here starts: what must go, and what must stay. */
async function ghostTree() {
  const chains = await spawnWrapperChains(4, 1, 4);
  const escaped = spawnServerWithEscapee(4);
  const led = await spawnLedGroupMember(4);
  const outsider = spawn('sleep', ['601'], { stdio: 'ignore' }).pid!;
  const owned: WrapperChain = chains.owned[0]!;
  const mustGo = [...pidsOf(chains.orphaned), escaped.server, escaped.escapee, led.member];
  const mustStay = [...pidsOf([owned]), led.leader, outsider];
  for (const pid of [...mustGo, ...mustStay]) started.add(pid);
  await waitUntil(
    () => [...mustGo, ...mustStay].every(alive),
    `the ghost tree: ${JSON.stringify({ chains, escaped, led, outsider })}`,
  );
  const members = [...chains.orphaned.map((c) => c.server), escaped.server, led.member, owned.server];
  return { chains, escaped, led, owned, outsider, mustGo, mustStay, members };
}

describe('a ghost group’s kill frees everything of the group', () => {
  it('plans wrappers, servers, their helpers and sleepers, and a process group that is the orphaned session’s, parents first; it keeps an owned copy and a living group leader', async () => {
    const tree = await ghostTree();
    const processes = createProcessCollector().collect(liveContext(), { skip: () => {} });
    const finding: Finding = {
      fingerprint: 'ghost_process_storm|0|python3 <tmp>/ghost_mcp_server.py --port <port>',
      rule: 'ghost_process_storm',
      title: 'Ghost-process storm',
      severity: 'high',
      scope: 'group',
      subject: '0|python3 <tmp>/ghost_mcp_server.py --port <port>',
      summary: '7 identical python3 ghost_mcp_server processes',
      pids: tree.members,
      since: 0,
      suggest: ['kill_matching'],
      event: false,
    };
    const plan = planFor(finding, 'kill_matching', processes, {
      liveOwner: liveOwnerIn(processes),
      exeOf: (pid) => readExe(LIVE_PATHS, pid),
    })!;
    const targets = plan.targets.map((t) => t.pid);
    assert.deepEqual([...targets].sort(), [...tree.mustGo].sort(), plan.command);
    assert.deepEqual(
      plan.kept.map((t) => t.pid),
      [tree.owned.server],
    );
    for (const pid of tree.mustStay) assert.ok(!targets.includes(pid), `pid ${pid} is not a target`);
    const at = (pid: number) => targets.indexOf(pid);
    for (const c of tree.chains.orphaned) {
      assert.equal(plan.roles?.[String(c.wrapper)], 'wrapper');
      assert.equal(plan.roles?.[String(c.server)], undefined, 'a server is a member');
      assert.equal(plan.roles?.[String(c.helper)], 'child');
      assert.equal(plan.roles?.[String(c.grandchild)], 'child');
      assert.ok(at(c.wrapper) < at(c.server), 'the wrapper is signalled before its server');
      assert.ok(at(c.server) < at(c.helper) && at(c.helper) < at(c.grandchild), 'then the children');
    }
    assert.equal(plan.roles?.[String(tree.escaped.escapee)], 'process group');
    // Bound to identity, the executable included, for every target.
    for (const t of plan.targets) assert.ok(t.exe, `pid ${t.pid} is bound to its executable`);
    // Ends the tree (wrappers first, so none starts its server again) before the next test's.
    killAll([...tree.mustGo, ...tree.mustStay]);
    await waitUntil(() => ![...tree.mustGo, ...tree.mustStay].some(alive), 'the tree gone');
  });

  it('takes no live script that shares a leaderless process group with a member, only the member', async () => {
    const group = await spawnLeaderlessGroup(4);
    for (const pid of Object.values(group)) started.add(pid);
    const processes = createProcessCollector().collect(liveContext(), { skip: () => {} });
    const pgid = (pid: number) => processes.find((p) => p.pid === pid)!.pgid;
    assert.equal(pgid(group.script), pgid(group.member), 'one process group');
    assert.ok(!processes.some((p) => p.pid === pgid(group.member)), 'its leader is gone');
    const finding: Finding = {
      fingerprint: 'ghost_process_storm|0|python3 <tmp>/ghost_mcp_server.py --port <port>',
      rule: 'ghost_process_storm',
      title: 'Ghost-process storm',
      severity: 'high',
      scope: 'group',
      subject: '0|python3 <tmp>/ghost_mcp_server.py --port <port>',
      summary: '1 identical python3 ghost_mcp_server process',
      pids: [group.member],
      since: 0,
      suggest: ['kill_matching'],
      event: false,
    };
    const plan = planFor(finding, 'kill_matching', processes, {
      liveOwner: liveOwnerIn(processes),
      exeOf: (pid) => readExe(LIVE_PATHS, pid),
    })!;
    assert.deepEqual(
      plan.targets.map((t) => t.pid),
      [group.member],
      plan.command,
    );
    killAll(Object.values(group));
  });

  it('in auto mode, stops every wrapper, server, helper and sleeper of the orphaned chains and verifies none is left, touching nothing outside the group', async () => {
    const h = daemonHome();
    homes.push(h);
    // The ghost rule is narrowed to this test's servers (its detection is tested elsewhere), and every other
    // rule that acts is off: a daemon in auto mode must not touch what other tests run.
    writeFileSync(
      join(h.configDir, 'config.toml'),
      '[actions]\nveto_secs = 1\ngrace_secs = 2\nmax_kills_per_hour = 100\n',
    );
    writeFileSync(
      join(h.configDir, 'rules', 'ghost-kill.toml'),
      [
        '[[rule]]',
        'id = "ghost_process_storm"',
        `when = "group.name == 'python3 ghost_mcp_server' && group.count > 3.0"`,
        'clear_when = "group.count <= 3.0"',
        ...[
          'duplicate_processes',
          'orphan_cpu',
          'zombie_processes',
          'memory_leak',
          'load_high',
          'failed_user_unit',
        ].flatMap((id) => ['', '[[rule]]', `id = "${id}"`, 'enabled = false']),
      ].join('\n'),
    );
    const tree = await ghostTree();
    const d = new RunningDaemon(h, ['--mode', 'auto', '--interval', '1']);
    daemons.push(d);
    await d.waitFor(
      /NOTICE\s+ghost_process_storm: Stop a group of identical processes \([\d, ]+\): 6 members, 4 wrappers, 8 children, 1 process of their process group, keeping 1 with a live owner in 1 s unless: vigil veto \d+/,
      30_000,
      'stdout',
    );
    await d.waitFor(/ACTED\s+ghost_process_storm: .*: success, 19 of 19 gone/, 30_000, 'stdout');
    await d.waitFor(
      /VERIFIED ghost_process_storm: the finding cleared \(action \d+\); none of its 19 processes is left/,
      30_000,
      'stdout',
    );
    await d.stop();
    for (const pid of tree.mustGo) assert.ok(!alive(pid), `pid ${pid} is gone`);
    for (const pid of tree.mustStay) assert.ok(alive(pid), `pid ${pid} outside the orphaned group lives`);
    const report = JSON.parse(runVigil(['report', '--json', '--since', '1h'], h.env).stdout);
    assert.deepEqual(
      report.actions.map((a: { action: string; outcome: string }) => [a.action, a.outcome.split(':')[0]]),
      [['kill_matching (auto)', 'success']],
    );
  });
});
