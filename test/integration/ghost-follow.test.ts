import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { alive, killGhostLeftovers, spawnAgentWithServers } from '../helpers/ghost-kill.js';
import { killAll, memTotalBytes, waitUntil } from '../helpers/procs.js';

const started = new Set<number>();
const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
after(() => {
  for (const h of homes) h.cleanup();
});
afterEach(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  killAll(started);
  killGhostLeftovers();
  await waitUntil(() => ![...started].some(alive), 'the test’s processes gone');
  started.clear();
});

const SERVERS = 8;
const MIB = 24;
/** Half the share of RAM the eight servers hold: the storm weighs enough. */
const threshold = () => (((SERVERS * MIB * 1024 * 1024) / memTotalBytes()) * 100) / 2;
const GROUP = 'python3 mcp_follow_server';

function home(config: string, rules = '') {
  const h = daemonHome();
  homes.push(h);
  writeFileSync(
    join(h.configDir, 'config.toml'),
    `[thresholds]\nghost_storm_min_ram_percent = ${threshold().toFixed(4)}\n\n${config}`,
  );
  if (rules) writeFileSync(join(h.configDir, 'rules', 'follow.toml'), rules);
  return h;
}

async function agentStorm() {
  const storm = await spawnAgentWithServers(SERVERS, MIB);
  started.add(storm.agent);
  for (const pid of storm.servers) started.add(pid);
  return storm;
}

/** The stored alert of this test's group, as `vigil report --json` shows it. */
function storedAlert(h: ReturnType<typeof daemonHome>) {
  const report = JSON.parse(runVigil(['report', '--json', '--since', '1h'], h.env).stdout);
  const alerts = report.alerts.filter(
    (a: { rule: string; summary: string }) => a.rule === 'ghost_process_storm' && a.summary.includes(GROUP),
  );
  assert.equal(alerts.length, 1, JSON.stringify(report.alerts, null, 2));
  return alerts[0] as { id: number; severity: string; summary: string; pids: number[] };
}

const sorted = (pids: readonly number[]) => [...pids].sort((a, b) => a - b);

describe('the finding follows the situation', () => {
  it('a storm raised while its agent lives is medium and kept; once the agent dies it is high, says all are orphaned, is suggested again, and vigil fix stops them', async () => {
    const h = home('');
    const { agent, servers } = await agentStorm();
    const d = new RunningDaemon(h, ['--mode', 'suggest', '--interval', '1']);
    daemons.push(d);
    const owned = new RegExp(
      `MEDIUM\\s+ghost_process_storm: ⚠️ 8 identical ${GROUP} processes \\([^)]+\\) — none orphaned yet, all 8 still have a live owner(: started by [^\\n]*still running[^\\n]*)?\\n`,
    );
    await d.waitFor(owned, 30_000, 'stdout');
    const before = storedAlert(h);
    assert.equal(before.severity, 'medium');
    assert.deepEqual(sorted(before.pids), sorted(servers));
    // Nothing to stop while the agent owns them: said so, not "for a person to look at".
    const early = runVigil(['fix', String(before.id), '--yes'], h.env);
    assert.equal(early.status, 1, early.stdout + early.stderr);
    assert.match(
      early.stderr,
      new RegExp(
        `nothing to stop for alert ${before.id} now: its 8 members still have a live owner .*; vigil proposes a kill once they are orphaned`,
      ),
    );
    assert.ok(servers.every(alive), 'vigil fix left the owned servers alone');
    // (Other storms on this machine may be suggested: none of these servers is.)
    assert.doesNotMatch(d.stdout, new RegExp(`SUGGEST\\s+ghost_process_storm: kill .*\\b${servers[0]}\\b`));

    process.kill(agent, 'SIGKILL');
    // The same alert, told again at once: escalated, with the summary it has now.
    await d.waitFor(
      new RegExp(
        `HIGH\\s+ghost_process_storm: ⚠️ 8 identical ${GROUP} processes \\([^)]+\\) — MCP servers, all 8 orphaned: (left by|left behind)[^\\n]*\\(escalated\\)`,
      ),
      30_000,
      'stdout',
    );
    await d.waitFor(
      new RegExp(`SUGGEST\\s+ghost_process_storm: kill [\\d ]+ \\(run: vigil fix ${before.id}\\)`),
      30_000,
      'stdout',
    );
    const [, suggested] = d.stdout.match(
      new RegExp(`SUGGEST\\s+ghost_process_storm: kill ([\\d ]+) \\(run: vigil fix ${before.id}\\)`),
    )!;
    assert.deepEqual(sorted(suggested!.trim().split(' ').map(Number)), sorted(servers));
    const now = storedAlert(h);
    assert.equal(now.id, before.id, 'one alert, followed');
    assert.equal(now.severity, 'high');
    assert.match(now.summary, /all 8 orphaned/);
    assert.doesNotMatch(now.summary, /live owner/);

    const fix = runVigil(['fix', String(before.id), '--yes'], h.env);
    assert.equal(fix.status, 0, fix.stdout + fix.stderr);
    assert.match(fix.stdout, /success: 8 of 8 gone/);
    assert.ok(
      servers.every((pid) => !alive(pid)),
      'every orphaned server is gone',
    );
    await d.waitFor(
      /RESOLVED ghost_process_storm: ⚠️ 8 identical python3 mcp_follow_server/,
      30_000,
      'stdout',
    );
    await d.stop();
    const audit = JSON.parse(runVigil(['audit', '--json', '--since', '1h'], h.env).stdout).entries as Array<{
      kind: string;
      data: Record<string, unknown>;
    }>;
    assert.deepEqual(
      audit
        .filter(
          (e) =>
            e.kind === 'notification' &&
            e.data['rule'] === 'ghost_process_storm' &&
            String(e.data['subject']).includes('mcp_follow_server'),
        )
        .map((e) => [e.data['what'], e.data['severity'] ?? null]),
      [
        ['new', 'medium'],
        ['escalated', 'high'],
        ['resolved', null],
      ],
    );
  });

  it('in auto mode, schedules nothing while the agent lives and stops the servers once it died', async () => {
    // Narrowed to this test's servers: a daemon in auto mode must not act on what other tests run.
    const h = home(
      '[actions]\nveto_secs = 1\ngrace_secs = 1\n',
      [
        '[[rule]]',
        'id = "ghost_process_storm"',
        `when = "group.name == '${GROUP}' && group.count > 5.0"`,
        'clear_when = "group.count <= 5.0"',
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
    const { agent, servers } = await agentStorm();
    const d = new RunningDaemon(h, ['--mode', 'auto', '--interval', '1']);
    daemons.push(d);
    await d.waitFor(/MEDIUM\s+ghost_process_storm: .* none orphaned yet/, 30_000, 'stdout');
    // A few cycles with the agent alive: nothing is announced or done.
    await new Promise((r) => setTimeout(r, 2500));
    assert.doesNotMatch(d.stdout, /NOTICE|ACTED/);
    assert.ok(servers.every(alive));
    process.kill(agent, 'SIGKILL');
    await d.waitFor(
      /NOTICE\s+ghost_process_storm: Stop a group of identical processes \([\d, ]+\) in 1 s unless: vigil veto \d+/,
      30_000,
      'stdout',
    );
    await d.waitFor(/ACTED\s+ghost_process_storm: .*: success, 8 of 8 gone/, 30_000, 'stdout');
    await d.waitFor(
      /VERIFIED ghost_process_storm: the finding cleared \(action \d+\); none of its 8 processes is left/,
      30_000,
      'stdout',
    );
    assert.ok(servers.every((pid) => !alive(pid)));
    await d.stop();
  });
});
