import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import {
  cmdlineOf,
  killAll,
  memTotalBytes,
  spawnOrphanedStorm,
  stateOf,
  waitUntil,
} from '../helpers/procs.js';

const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
const started = new Set<number>();
after(() => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  killAll(started);
  for (const h of homes) h.cleanup();
});

const alive = (pid: number) => ['R', 'S', 'D'].includes(stateOf(pid) ?? '');
const storms: number[][] = [];
/** Ends a test's storm so it does not join the next test's group. */
async function endStorms(): Promise<void> {
  for (const storm of storms.splice(0)) {
    killAll(storm);
    await waitUntil(() => !storm.some(alive), 'the storm gone');
  }
}
// A test that failed half-way leaves its daemon in auto mode: it must not act on the next test's storm.
afterEach(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await endStorms();
});
const STORM_MIB = 24;
const share = () => (((8 * STORM_MIB * 1024 * 1024) / memTotalBytes()) * 100) / 2;

async function stormHome(extra = '', options: { execOnUsr1?: boolean } = {}) {
  const h = daemonHome();
  homes.push(h);
  const storm = spawnOrphanedStorm(8, STORM_MIB, options);
  storms.push(storm);
  for (const pid of storm) started.add(pid);
  await waitUntil(() => storm.every(alive), 'the storm');
  writeFileSync(
    join(h.configDir, 'config.toml'),
    `[thresholds]\nghost_storm_min_ram_percent = ${share().toFixed(4)}\n\n[actions]\nveto_secs = 1\ngrace_secs = 1\n${extra}`,
  );
  return { h, storm };
}
function daemon(h: ReturnType<typeof daemonHome>, args: string[]) {
  const d = new RunningDaemon(h, args);
  daemons.push(d);
  return d;
}

describe('auto mode', () => {
  it('clears a real ghost storm after announcing it, sparing a protected member, another user’s process and pid 1', async () => {
    // Another user's process, where this user may start one (root); an ordinary user's suite has none.
    const nobody =
      process.getuid?.() === 0
        ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '600'], {
            stdio: 'ignore',
          })
        : null;
    if (nobody) started.add(nobody.pid!);
    const { h, storm } = await stormHome();
    const protectedPid = storm[3]!;
    const config = join(h.configDir, 'config.toml');
    writeFileSync(
      config,
      `${readFileSync(config, 'utf8')}\n[allowlist]\nprotected_pids = [${protectedPid}]\n`,
    );
    const d = daemon(h, ['--mode', 'auto', '--interval', '1']);
    await d.waitFor(
      /NOTICE\s+ghost_process_storm: Stop a group of identical processes \([\d, ]+\) in 1 s unless: vigil veto (\d+)/,
      20_000,
      'stdout',
    );
    await d.waitFor(
      /ACTED\s+ghost_process_storm: .*: partial, 7 of 8 gone, 1 refused, \d+ MiB freed/,
      20_000,
      'stdout',
    );
    assert.match(
      d.stderr,
      new RegExp(
        `policy refused kill_matching on pid ${protectedPid}: .*listed in \\[allowlist\\] protected_pids`,
      ),
    );
    await d.waitFor(/VERIFIED ghost_process_storm: the finding cleared \(action \d+\)/, 20_000, 'stdout');
    for (const pid of storm) assert.equal(alive(pid), pid === protectedPid, `pid ${pid}`);
    if (nobody) assert.ok(alive(nobody.pid!), 'another user’s process survives');
    assert.ok(alive(1), 'pid 1 survives');
    await d.stop();
    // The action steps reach the other channels too: here the notifications log.
    const logged = readFileSync(join(h.stateDir, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((n) => n.kind === 'action');
    assert.deepEqual(
      logged.map((n) => [n.action.step, n.action.rule, n.action.severity]),
      [
        ['notice', 'ghost_process_storm', 'high'],
        ['acted', 'ghost_process_storm', 'high'],
        ['verified', 'ghost_process_storm', 'high'],
      ],
    );
    assert.match(logged[0].title, /^vigil will act: ghost_process_storm$/);
    assert.match(logged[1].text, /partial, 7 of 8 gone, 1 refused/);
    const verify = runVigil(['audit', 'verify'], h.env);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /^\d+ entries, chain intact/);
    const entries: Array<{ kind: string; data: Record<string, unknown> }> = JSON.parse(
      runVigil(['audit', '--json', '--since', '1h'], h.env).stdout,
    ).entries;
    // What was told, once: the storm as new (dedupe), then its resolution.
    assert.deepEqual(
      entries
        .filter((e) => e.kind === 'notification' && e.data['rule'] === 'ghost_process_storm')
        .map((e) => e.data['what']),
      ['new', 'resolved'],
    );
    const kinds = entries.map((e: { kind: string }) => e.kind);
    for (const kind of [
      'alert_raised',
      'action_proposed',
      'action_started',
      'policy_refusal',
      'action_finished',
      'notification',
    ]) {
      assert.ok(kinds.includes(kind), `the audit chain records ${kind}: ${kinds.join(' ')}`);
    }
  });

  it('does not run an action vetoed within its window', async () => {
    const { h, storm } = await stormHome().then(async (x) => {
      writeFileSync(
        join(x.h.configDir, 'config.toml'),
        `[thresholds]\nghost_storm_min_ram_percent = ${share().toFixed(4)}\n\n[actions]\nveto_secs = 4\n`,
      );
      return x;
    });
    const d = daemon(h, ['--mode', 'auto', '--interval', '1']);
    await d.waitFor(/NOTICE\s+ghost_process_storm: .* in 4 s unless: vigil veto \d+/, 20_000, 'stdout');
    const id = d.stdout.match(/vigil veto (\d+)/)![1]!;
    const veto = runVigil(['veto', id], h.env);
    assert.equal(veto.status, 0, veto.stderr);
    assert.match(veto.stdout, new RegExp(`vetoed 1 pending action\\(s\\) for alert ${id}`));
    await new Promise((r) => setTimeout(r, 5500));
    assert.doesNotMatch(d.stdout, /ACTED/);
    assert.deepEqual(
      storm.filter((pid) => !alive(pid)).map((pid) => `${pid}:${stateOf(pid)}`),
      [],
      'the storm is untouched',
    );
    await d.stop();
  });
});

describe('processes that changed since the finding', () => {
  it('does not act on a pid whose program changed during the veto window, and records the refusal', async () => {
    const { h, storm } = await stormHome('', { execOnUsr1: true });
    const config = join(h.configDir, 'config.toml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('veto_secs = 1', 'veto_secs = 4'));
    // Once exec'd, the eight are eight identical orphaned `sleep 600`: duplicate_processes may judge them
    // a group of their own (and rightly propose to stop it). This test is about the first action only.
    writeFileSync(
      join(h.configDir, 'rules', 'quiet.toml'),
      '[[rule]]\nid = "duplicate_processes"\nenabled = false\n',
    );
    const d = daemon(h, ['--mode', 'auto', '--interval', '1']);
    await d.waitFor(/NOTICE\s+ghost_process_storm: .* in 4 s unless: vigil veto \d+/, 20_000, 'stdout');
    // Every member becomes another program under the same pid and start time before the window ends.
    for (const pid of storm) process.kill(pid, 'SIGUSR1');
    await waitUntil(
      () => storm.every((pid) => cmdlineOf(pid) === 'sleep 600'),
      'every member exec’d sleep 600',
    );
    await d.waitFor(/ACTED\s+ghost_process_storm: .*: refused/, 20_000, 'stdout');
    for (const pid of storm) {
      assert.match(
        d.stderr,
        new RegExp(`policy refused kill_matching on pid ${pid}: pid ${pid} now runs another command line`),
      );
      assert.ok(alive(pid), `pid ${pid} is alive: ${stateOf(pid)}`);
    }
    await d.stop();
    const report = JSON.parse(runVigil(['report', '--since', '1h', '--json'], h.env).stdout);
    assert.deepEqual(
      report.actions.map((a: { action: string; outcome: string }) => [a.action, a.outcome.split(':')[0]]),
      [['kill_matching (auto)', 'refused']],
    );
  });
});

describe('fail closed', () => {
  it('stays in observe mode, naming the file, when a rules file is writable by others', async () => {
    const { h, storm } = await stormHome();
    const rules = join(h.configDir, 'rules', 'mine.toml');
    writeFileSync(rules, '[[rule]]\nid = "load_high"\nenabled = false\n');
    chmodSync(rules, 0o666);
    const d = daemon(h, ['--mode', 'auto', '--interval', '1']);
    await d.waitFor(
      new RegExp(
        `refusing ${rules}, holding observe mode until vigil can trust it: ${rules} is writable by group \\S+ and others: chmod go-w`,
      ),
    );
    await d.waitFor(new RegExp(`running in observe mode instead of auto: vigil refused ${rules}`));
    await d.waitFor(/HIGH\s+ghost_process_storm/, 20_000, 'stdout');
    await new Promise((r) => setTimeout(r, 2500));
    assert.doesNotMatch(d.stdout, /NOTICE|ACTED|SUGGEST/);
    assert.ok(storm.every(alive));
    await d.stop();
  });
});

describe('suggest mode and vigil fix', () => {
  it('shows the exact command, and vigil fix --yes runs it through the policy', async () => {
    const { h, storm } = await stormHome();
    const d = daemon(h, ['--mode', 'suggest', '--interval', '1']);
    await d.waitFor(/SUGGEST\s+ghost_process_storm: kill [\d ]+ \(run: vigil fix (\d+)\)/, 20_000, 'stdout');
    const [, pids, id] = d.stdout.match(
      /SUGGEST\s+ghost_process_storm: kill ([\d ]+) \(run: vigil fix (\d+)\)/,
    )!;
    assert.deepEqual(pids!.trim().split(' ').map(Number).sort(), [...storm].sort());
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(storm.every(alive), 'suggest mode does nothing by itself');
    const noTty = runVigil(['fix', id!], h.env);
    assert.match(noTty.stderr, /not a terminal, so nothing was done: add --yes/);
    const fix = runVigil(['fix', id!, '--yes'], h.env);
    assert.equal(fix.status, 0, fix.stderr);
    assert.match(fix.stdout, /the same by hand: kill /);
    assert.match(fix.stdout, /success: 8 of 8 gone/);
    assert.ok(storm.every((pid) => !alive(pid)));
    await d.stop();
    const report = JSON.parse(runVigil(['report', '--json', '--since', '1h'], h.env).stdout);
    assert.deepEqual(
      report.actions.map((a: { action: string; outcome: string }) => [a.action, a.outcome.split(':')[0]]),
      [['kill_matching (suggest)', 'success']],
    );
  });
});

describe('vigil kill', () => {
  it('stops the user’s own process and refuses pid 1 with the reason', () => {
    const h = daemonHome();
    homes.push(h);
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    started.add(child.pid!);
    const ok = runVigil(['kill', String(child.pid), '--yes'], h.env);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(
      ok.stdout,
      new RegExp(`^pid ${child.pid} sleep, ${userInfo().username}, up \\d+s, .* resident, 0 children`),
    );
    assert.match(ok.stdout, /success: 1 of 1 gone/);
    const one = runVigil(['kill', '1', '--yes'], h.env);
    assert.equal(one.status, 1);
    assert.match(one.stderr, /^vigil: refused: pid 1 \(.*\): pid 1 is never touched\n$/);
    assert.equal(one.stdout, '', 'refused before anything is shown');
  });
});
