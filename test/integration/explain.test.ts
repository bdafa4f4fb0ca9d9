import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { adviceFromExplain } from '../../src/cli/watch.js';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { answer, FakeAnthropic } from '../helpers/fake-anthropic.js';
import { killAll, stateOf, waitUntil } from '../helpers/procs.js';

const SECRET = 'sk-ant-api03-EXPLAINsecretVALUE42';
const dir = mkdtempSync(join(tmpdir(), 'vigil-explain-'));
const env = {
  XDG_CONFIG_HOME: join(dir, 'config'),
  XDG_STATE_HOME: join(dir, 'state'),
  VIGIL_CONFIG: '',
  VIGIL_FAKE_KEY: 'sk-ant-fake-explain-key-0000',
};
const started = new Set<number>();
let fake: FakeAnthropic;
let orphan = 0;

/** runVigil without blocking the event loop: the fake API lives in this process. */
function runVigilAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [VIGIL_BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function config(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

before(async () => {
  mkdirSync(join(env.XDG_CONFIG_HOME, 'vigil'), { recursive: true });
  fake = await FakeAnthropic.start();
  // An MCP-like server with a secret in its cmdline, left behind by a parent that exits.
  const script = `
    const { spawn } = require('node:child_process');
    const child = spawn('python3', ['-c', 'import time; time.sleep(600)', 'mcp_server_explain', '--api-key', ${JSON.stringify(SECRET)}], { stdio: ['pipe', 'ignore', 'ignore'] });
    setTimeout(() => { process.stdout.write(String(child.pid)); process.exit(0); }, 200);
  `;
  orphan = Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim());
  started.add(orphan);
  await waitUntil(() => stateOf(orphan) !== null, 'the orphan');
});

after(async () => {
  killAll(started);
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('vigil explain <pid>', () => {
  it('says what vigil knows, with no key and no call: kind, redacted cmdline, lineage, orphanhood', () => {
    const before = fake.calls;
    const run = runVigil(['explain', String(orphan), '--no-ai', '--config', config('plain.toml', '')], env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^process ${orphan} `));
    assert.match(run.stdout, /cmdline\s+\S*python3 -c .*mcp_server_explain --api-key ‹redacted›/);
    assert.ok(!run.stdout.includes(SECRET));
    assert.match(run.stdout, /lineage\s+.*\(\d+\) ← /);
    assert.match(run.stdout, /orphan\s+adopted by/);
    assert.match(run.stdout, /history\s+none kept/);
    assert.equal(fake.calls, before);
  });

  it('--json gives the same facts as data', () => {
    const run = runVigil(['explain', String(orphan), '--json', '--config', config('plain.toml', '')], env);
    assert.equal(run.status, 0, run.stderr);
    const doc = JSON.parse(run.stdout);
    assert.equal(doc.process.pid, orphan);
    assert.equal(doc.process.orphan, true);
    assert.ok(Array.isArray(doc.process.ancestors));
    assert.equal(doc.advice, null);
    assert.equal(doc.advisor.state, 'off');
  });

  it('says the advisor is off and why, so its silence is not taken for an answer; counts in words', () => {
    const off = runVigil(['explain', String(orphan), '--config', config('plain.toml', '')], env);
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stdout, /^advisor: off \(\[ai\] enabled = false\)$/m);
    assert.match(off.stdout, /^CPU\s+.*, 1 thread, nice/m, 'one thread, not "1 threads"');
    const asked = runVigil(['explain', String(orphan), '--no-ai', '--config', config('plain.toml', '')], env);
    assert.match(asked.stdout, /^advisor: off \(--no-ai\)$/m);
  });

  it('--json carries the findings its help promises, naming the process', () => {
    const run = runVigil(['explain', String(orphan), '--json', '--config', config('plain.toml', '')], env);
    assert.equal(run.status, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as { findings?: unknown };
    assert.ok(Array.isArray(doc.findings), `findings is a list: ${run.stdout.slice(0, 400)}`);
  });

  it('speaks French when general.language = "fr"', () => {
    const run = runVigil(
      ['explain', String(orphan), '--no-ai', '--config', config('fr.toml', '[general]\nlanguage = "fr"\n')],
      env,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^processus ${orphan} `));
    assert.match(run.stdout, /ascendance/);
  });

  const aiConfig = () =>
    config(
      'ai.toml',
      `[ai]\nenabled = true\napi_key_env = "VIGIL_FAKE_KEY"\nbase_url = "${fake.url}"\ntimeout_secs = 20\n`,
    );

  it('gives vigil watch’s e the advisor’s answer, asked through vigil explain', async () => {
    fake.reply({ answer: answer([]) });
    const before = fake.calls;
    // A state directory of its own: the answer cached there must not serve the tests below.
    const text = await adviceFromExplain(orphan, { config: aiConfig() }, 'en', {
      ...process.env,
      ...env,
      XDG_STATE_HOME: join(dir, 'watch-state'),
    });
    assert.equal(fake.calls, before + 1);
    assert.match(text, /MCP servers were left behind/);
    fake.reply({ status: 401 });
    await assert.rejects(
      adviceFromExplain(orphan, { config: config('ai2.toml', readFileSync(aiConfig(), 'utf8')) }, 'en', {
        ...process.env,
        ...env,
        XDG_STATE_HOME: join(dir, 'other-state'),
      }),
      /401|refused|key/i,
    );
  });

  it('--print-prompt prints the exact request, redacted, and sends nothing', () => {
    const before = fake.calls;
    const run = runVigil(['explain', String(orphan), '--print-prompt', '--config', aiConfig()], env);
    assert.equal(run.status, 0, run.stderr);
    const request = JSON.parse(run.stdout);
    assert.equal(request.model, 'claude-sonnet-5-5');
    assert.equal(request.output_config.format.type, 'json_schema');
    assert.match(request.system, /DATA collected from the machine/);
    assert.match(request.messages[0].content, new RegExp(`Explain process ${orphan}`));
    assert.match(request.messages[0].content, /mcp_server_explain --api-key ‹redacted›/);
    assert.ok(!run.stdout.includes(SECRET));
    assert.equal(fake.calls, before, 'nothing was sent');
  });

  it('adds the advisor’s explanation when enabled, stores it with the pid, and never runs its commands', async () => {
    fake.reply({
      answer: answer(
        [
          {
            type: 'kill_process',
            target: String(orphan),
            command: '',
            risk: 'safe',
            explanation: 'left behind',
          },
          {
            type: 'custom',
            target: 'x',
            command: 'pkill -f python',
            risk: 'safe',
            explanation: 'all of them',
          },
        ],
        'An MCP server whose agent exited; it holds memory for nothing.',
      ),
    });
    const before = fake.calls;
    const run = await runVigilAsync(['explain', String(orphan), '--config', aiConfig()]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(fake.calls, before + 1);
    assert.ok(!fake.allBodies.includes(SECRET), 'the secret never left the machine');
    assert.match(run.stdout, /^process \d+ /, 'the deterministic part comes first');
    assert.match(run.stdout, /advisor \(claude-sonnet-5-5, high\):\n {2}An MCP server whose agent exited/);
    assert.match(run.stdout, new RegExp(`- kill_process: kill ${orphan} \\[safe, notice\\]`));
    assert.match(run.stdout, /text only, never run by vigil: pkill -f python/);
    assert.notEqual(stateOf(orphan), null);
    const db = new Database(join(env.XDG_STATE_HOME, 'vigil', 'vigil.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT pid, outcome, alert_id FROM advice').all();
      assert.deepEqual(rows, [{ pid: orphan, outcome: 'ok', alert_id: null }]);
    } finally {
      db.close();
    }
    // Asked again within ten minutes, the stored answer is reused: no second call.
    const again = await runVigilAsync(['explain', String(orphan), '--config', aiConfig()]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(fake.calls, before + 1);
    assert.match(again.stdout, /An MCP server whose agent exited/);
  });

  it('says when the process does not exist (exit 1)', () => {
    const run = runVigil(['explain', '4194000', '--no-ai', '--config', config('plain.toml', '')], env);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /no process 4194000/);
  });
});
