import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runVigil } from '../helpers/cli.js';
import { type DaemonHome, daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { answer, FakeAnthropic } from '../helpers/fake-anthropic.js';
import { killAll, memTotalBytes, spawnOrphanedStorm, stateOf, waitUntil } from '../helpers/procs.js';

const STORM = 8;
const MIB = 24;
const SECRET = 'ghp_VIGILdaemonTESTsecret0123456789abcd';
const started = new Set<number>();
let fake: FakeAnthropic;
let home: DaemonHome;
let daemon: RunningDaemon | null = null;

before(async () => {
  const build = runVigil(['--version']);
  assert.equal(build.status, 0, 'the CLI is built (npm run build)');
  fake = await FakeAnthropic.start();
  home = daemonHome();
});

after(async () => {
  if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
  killAll(started);
  await fake.close();
  home.cleanup();
});

function query<T>(sql: string): T[] {
  const db = new Database(join(home.stateDir, 'vigil.db'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('the daemon with the advisor on', () => {
  it('asks when a real ghost storm fires, stores the advice with its alert, and runs none of a hostile answer', async () => {
    const canary = join(home.dir, 'canary');
    // A bystander with a secret in its cmdline, which the hostile answer aims at.
    const bystander = spawn(
      'python3',
      ['-c', 'import time; time.sleep(600)', 'bystander', `--token=${SECRET}`],
      {
        stdio: 'ignore',
        detached: true,
      },
    );
    started.add(bystander.pid!);
    const storm = spawnOrphanedStorm(STORM, MIB);
    for (const pid of storm) started.add(pid);
    fake.reply({
      answer: answer([
        {
          type: 'custom',
          target: '~',
          command: `touch ${canary} && rm -rf ~`,
          risk: 'safe',
          explanation: 'cleanup',
        },
        { type: 'kill_process', target: '1', command: '', risk: 'safe', explanation: 'restart init' },
        {
          type: 'kill_process_group',
          target: String(bystander.pid),
          command: '',
          risk: 'safe',
          explanation: 'x',
        },
        {
          type: 'kill_process',
          target: String(storm[0]),
          command: `touch ${canary}`,
          risk: 'safe',
          explanation: 'y',
        },
      ]),
    });
    const share = ((STORM * MIB * 1024 * 1024) / memTotalBytes()) * 100;
    writeFileSync(
      join(home.configDir, 'config.toml'),
      [
        '[thresholds]',
        `ghost_storm_min_ram_percent = ${(share / 2).toFixed(4)}`,
        '[actions]',
        'veto_secs = 3600',
        '[ai]',
        'enabled = true',
        'api_key_env = "VIGIL_FAKE_KEY"',
        `base_url = "${fake.url}"`,
        'cooldown_secs = 0',
        'timeout_secs = 20',
        '',
      ].join('\n'),
    );
    const env = home.env as Record<string, string>;
    env['VIGIL_FAKE_KEY'] = 'sk-ant-fake-daemon-key-0000';
    daemon = new RunningDaemon(home, ['--mode', 'auto', '--interval', '1']);
    await waitUntil(
      () =>
        existsSync(join(home.stateDir, 'vigil.db')) &&
        query<{ n: number }>("SELECT count(*) AS n FROM advice WHERE outcome = 'ok'")[0]!.n > 0,
      `advice in the database; log:\n${daemon.stderr}`,
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${daemon!.stderr}`);
    });
    const rows = query<{ alert_id: number; fingerprint: string; advice: string }>(
      "SELECT alert_id, fingerprint, advice FROM advice WHERE outcome = 'ok'",
    );
    const alerts = query<{ id: number; rule: string }>('SELECT id, rule FROM alerts');
    const alert = alerts.find((a) => a.id === rows[0]!.alert_id);
    assert.equal(alert?.rule, 'ghost_process_storm', JSON.stringify({ rows, alerts }));
    assert.match(rows[0]!.fingerprint, /^ghost_process_storm\|/);
    const stored = JSON.parse(rows[0]!.advice) as {
      suggestions: Array<{ status: string; reason: string | null }>;
    };
    assert.deepEqual(
      stored.suggestions.map((s) => s.status),
      ['text', 'text', stored.suggestions[2]!.status, 'mapped'],
    );
    await daemon.waitFor(/ADVICE\s+ghost_process_storm \(alert \d+\)/, 20_000, 'stdout');
    assert.match(daemon.stdout, /text only, never run by vigil: touch .*canary && rm -rf ~/);
    // Give a would-be executor every chance, then check nothing ran.
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(!existsSync(canary), 'no model command ran');
    for (const pid of [bystander.pid!, ...storm]) assert.notEqual(stateOf(pid), null, `pid ${pid} is alive`);
    assert.ok(!fake.allBodies.includes(SECRET), 'the secret never left the machine');
    assert.ok(!daemon.stderr.includes(SECRET) && !daemon.stdout.includes(SECRET), 'nor was it logged');
    assert.doesNotMatch(daemon.stderr, /deprecated/, 'the default model is a current one');
    const stop = await daemon.stop();
    assert.equal(stop.code, 0);
    // vigil report shows the advice with its alert.
    const report = runVigil(['report', '--json', '--since', '1h'], home.env);
    assert.equal(report.status, 0, report.stderr);
    const stormAlert = (
      JSON.parse(report.stdout) as { alerts: Array<{ rule: string; advice?: { diagnostic: string } }> }
    ).alerts.find((a) => a.rule === 'ghost_process_storm');
    assert.match(stormAlert?.advice?.diagnostic ?? '', /MCP servers were left behind/);
    const text = runVigil(['report', '--since', '1h'], home.env);
    assert.match(text.stdout, /Advice\n {2}alert \d+ \(claude-sonnet-5-5\): Eight MCP servers/);
  });

  it('starts asking once a SIGHUP reload turns the advisor on', async () => {
    const second = daemonHome();
    try {
      const storm = spawnOrphanedStorm(STORM, MIB);
      for (const pid of storm) started.add(pid);
      fake.reply({ answer: answer([]) });
      const share = ((STORM * MIB * 1024 * 1024) / memTotalBytes()) * 100;
      const config = (enabled: boolean) =>
        [
          '[thresholds]',
          `ghost_storm_min_ram_percent = ${(share / 2).toFixed(4)}`,
          '[ai]',
          `enabled = ${enabled}`,
          'api_key_env = "VIGIL_FAKE_KEY"',
          `base_url = "${fake.url}"`,
          'cooldown_secs = 0',
          '',
        ].join('\n');
      writeFileSync(join(second.configDir, 'config.toml'), config(false));
      (second.env as Record<string, string>)['VIGIL_FAKE_KEY'] = 'sk-ant-fake-daemon-key-0000';
      const d = new RunningDaemon(second, ['--interval', '1']);
      try {
        await d.waitFor(/HIGH\s+ghost_process_storm/, 20_000, 'stdout');
        await new Promise((r) => setTimeout(r, 1500));
        const before = fake.calls;
        writeFileSync(join(second.configDir, 'config.toml'), config(true));
        d.child.kill('SIGHUP');
        await d.waitFor(/ADVICE\s+ghost_process_storm \(alert \d+\)/, 30_000, 'stdout');
        assert.equal(fake.calls, before + 1, 'one call, after the reload only');
      } finally {
        await d.stop();
        killAll(storm);
      }
    } finally {
      second.cleanup();
    }
  });
});
