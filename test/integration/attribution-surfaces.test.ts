import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { initialUiState } from '../../src/watch/model.js';
import { buildScreen, lineText } from '../../src/watch/screen.js';
import { LiveSource } from '../../src/watch/source.js';
import { runVigil } from '../helpers/cli.js';
import { fixtureStatusArgs, liveSampling } from '../helpers/context.js';
import { type DaemonHome, daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { type AgentStorm, memTotalBytes, spawnAgentStorm, waitUntil } from '../helpers/procs.js';

const SESSION = '3f2a9c1e-1b2c-4d5e-8f90-1234567890ab';
const SERVERS = 6;
const MIB = 8;

/**
 * A user's own rule that holds for a while (one look cannot judge it: `vigil status` alone lists it among
 * the rules that need the daemon's history) and says who left the group, through the attribution facts.
 */
const LASTING_RULE = `
[[rule]]
id = "left_by_claude"
title = "Servers left by an agent"
severity = "medium"
scope = "group"
when = "group.left_by == 'claude' && group.orphans >= 3.0 && group.owner_gone_secs >= 0.0"
for = "2s"
summary = "{{ fixed(group.count) }} servers {{ group.attribution }}"
`;

describe('who left a storm, wherever its finding is shown (a real daemon saw the agent die)', () => {
  let h: DaemonHome;
  let d: RunningDaemon;
  let storm: AgentStorm;
  let project: string;
  const line = () => new RegExp(`left by claude \\(session 3f2a9c1e…, in ~/${basename(project)}, `);

  before(async () => {
    project = mkdtempSync(join(homedir(), 'vigil-project-'));
    h = daemonHome();
    const share = ((SERVERS * MIB * 2 ** 20) / memTotalBytes()) * 100;
    writeFileSync(
      join(h.configDir, 'config.toml'),
      `[thresholds]\nghost_storm_min_ram_percent = ${(share / 4).toFixed(4)}\n\n[notifications]\ndesktop = false\nmin_severity = "low"\n`,
    );
    writeFileSync(join(h.configDir, 'rules', 'mine.toml'), LASTING_RULE);
    d = new RunningDaemon(h, ['--interval', '1']);
    await d.waitFor(/started \(pid/);
    // The daemon sees the agent and its servers first, then the agent dies.
    storm = await spawnAgentStorm(SERVERS, MIB, { cwd: project, session: SESSION });
    await new Promise((r) => setTimeout(r, 2500));
    await storm.leave();
    await d.waitFor(/MEDIUM\s+left_by_claude: /, 30_000, 'stdout');
  });

  after(async () => {
    storm?.stop();
    if (d && d.child.exitCode === null) await d.stop();
    h?.cleanup();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('the notification names claude, its session, the project directory and how long ago it died', () => {
    const told = d.stdout.split('\n').find((l) => /MEDIUM\s+left_by_claude: /.test(l));
    assert.match(told ?? '', new RegExp(`left_by_claude: ${SERVERS} servers ${line().source}\\d+ s ago\\)`));
  });

  it('vigil status shows the daemon’s open alerts, the lasting rule included, findings first', () => {
    const run = runVigil(['status', '--sample', '100'], h.env);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n');
    const first = lines.findIndex((l) => /^(CRITICAL|HIGH|MEDIUM|LOW|INFO)\s/.test(l));
    assert.equal(first, 2, `findings right under the title line:\n${run.stdout}`);
    assert.match(
      run.stdout,
      new RegExp(`^MEDIUM\\s+left_by_claude: ${SERVERS} servers ${line().source}`, 'm'),
    );
    // The shipped storm rule says who left it too (its summary ends with group.attribution).
    assert.match(run.stdout, new RegExp(`^HIGH\\s+ghost_process_storm: .*: ${line().source}`, 'm'));
    assert.match(run.stdout, new RegExp(`Open alerts of the running daemon \\(pid ${d.pid}\\)`));
    assert.doesNotMatch(run.stdout, /Need the daemon's history/);
    const json = JSON.parse(runVigil(['status', '--json', '--sample', '0'], h.env).stdout);
    assert.equal(json.findingsFrom, 'daemon');
    assert.deepEqual(json.rulesNeedingHistory, []);
    const lasting = json.findings.find((f: { rule: string }) => f.rule === 'left_by_claude');
    assert.deepEqual([...lasting.pids].sort(), [...storm.servers].sort());
    // A look at another /proc (a fixture, a container's) is judged there, not by this machine's daemon.
    const other = JSON.parse(runVigil([...fixtureStatusArgs(), '--journal-dir', project], h.env).stdout);
    assert.equal(other.findingsFrom, 'local');
  });

  it('vigil explain <pid> shows the daemon’s finding and the group the server belongs to', () => {
    const run = runVigil(['explain', String(storm.servers[0]), '--no-ai'], h.env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`left_by_claude.*: ${SERVERS} servers ${line().source}`));
    // Its own fresh look never saw the agent: it knows the directory, not the owner.
    assert.match(
      run.stdout,
      new RegExp(
        `^group +${SERVERS} × python3 mcp_server_fake, left behind \\(in ~/${basename(project)}, before vigil started`,
        'm',
      ),
    );
    const json = JSON.parse(
      runVigil(['explain', String(storm.servers[0]), '--no-ai', '--json'], h.env).stdout,
    );
    assert.equal(json.group.cwd, `~/${basename(project)}`);
  });

  it('vigil watch lists it from the daemon and its 80-column alert line keeps who left it', async () => {
    const runtime = loadRulesRuntime({ env: h.env });
    const live = new LiveSource({ runtime, sampling: liveSampling(), intervalMs: 1000, env: h.env });
    try {
      const frame = await live.frame();
      assert.equal(frame.alertsFrom, 'daemon');
      // Other alerts may be open on this machine: the lasting one is selected in the alerts panel.
      const at = frame.alerts.findIndex((a) => a.rule === 'left_by_claude');
      const ui = { ...initialUiState(), focus: 'alerts' as const, alertIndex: at };
      const screen = buildScreen(frame, ui, [], { columns: 80, rows: 40 }).lines.map(lineText).join('\n');
      const joined = screen.replace(/\n +/g, ' ');
      assert.match(joined, new RegExp(`left_by_claude: ${SERVERS} servers ${line().source}`));
      assert.match(joined, new RegExp(`ghost_process_storm: ⚠️ ${SERVERS} identical .*: ${line().source}`));
      for (const l of screen.split('\n')) assert.ok([...l].length <= 80, `wider than 80: ${l}`);
    } finally {
      live.stop();
    }
  });

  it('vigil report keeps it once the servers are gone', async () => {
    storm.stop();
    await d.waitFor(/RESOLVED\s+left_by_claude/, 30_000, 'stdout');
    await waitUntil(
      () => runVigil(['report', '--since', '1h'], h.env).stdout.includes('left_by_claude'),
      'the report',
    );
    const text = runVigil(['report', '--since', '1h'], h.env).stdout;
    assert.match(text, new RegExp(`left_by_claude: ${SERVERS} servers ${line().source}`));
    const md = runVigil(['report', '--markdown', '--since', '1h'], h.env).stdout;
    assert.match(md, /`left_by_claude` \| \d+ servers left by claude \(session 3f2a9c1e…, in \\~\//);
  });
});
