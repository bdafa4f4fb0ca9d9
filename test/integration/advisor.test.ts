import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AdviceEvent, Advisor } from '../../src/advisor/advisor.js';
import { AdviceStore, adviceForAlerts } from '../../src/advisor/store.js';
import { defaultConfig } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Finding } from '../../src/rules/types.js';
import { type OpenedStore, openStore } from '../../src/store/store.js';
import type { FactSet } from '../../src/understand/facts-schema.js';
import { liveSampling } from '../helpers/context.js';
import { answer, FakeAnthropic } from '../helpers/fake-anthropic.js';
import { killAll, stateOf, waitUntil } from '../helpers/procs.js';

const SECRET = 'sk-ant-api03-VIGILTESTSECRETxyz123';
const PASSWORD = 'hunter2-vigil-secret';
const dir = mkdtempSync(join(tmpdir(), 'vigil-advisor-'));
const canary = join(dir, 'canary');
const started = new Set<number>();
let fake: FakeAnthropic;
let victim = 0;
let snapshot: Snapshot;
let facts: FactSet;
let storeCount = 0;
const stores: OpenedStore[] = [];

before(async () => {
  fake = await FakeAnthropic.start();
  // A real process with secrets and a home path in its cmdline; its own process group.
  const child = spawn(
    'python3',
    [
      '-c',
      'import time; time.sleep(600)',
      'mcp-victim',
      `--api-key=${SECRET}`,
      '--password',
      PASSWORD,
      '--config',
      join(homedir(), '.config', 'victim.json'),
    ],
    { stdio: 'ignore', detached: true },
  );
  victim = child.pid!;
  started.add(victim);
  await waitUntil(() => stateOf(victim) !== null, 'the victim process');
  writeFileSync(join(dir, 'config.toml'), '');
  const runtime = loadRulesRuntime({ configPath: join(dir, 'config.toml'), env: { XDG_CONFIG_HOME: dir } });
  const watcher = new Watcher(runtime, liveSampling(), { collectors: ['processes', 'memory', 'cpu'] });
  await watcher.cycle();
  await new Promise((r) => setTimeout(r, 300));
  ({ snapshot, facts } = await watcher.cycle());
  assert.ok(
    snapshot.processes?.some((p) => p.pid === victim),
    'the victim is in the snapshot',
  );
});

after(async () => {
  killAll(started);
  for (const s of stores) s.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function finding(rule: string, severity: Finding['severity'] = 'high', pids = [victim]): Finding {
  return {
    fingerprint: `${rule}|pid:${pids.join(',')}`,
    rule,
    title: rule,
    severity,
    scope: 'process',
    subject: `pid:${pids.join(',')}`,
    summary: `${rule} on mcp-victim --api-key=${SECRET}`,
    pids,
    since: Date.now() - 60_000,
    suggest: ['kill_process'],
    event: false,
  };
}

interface Harness {
  advisor: Advisor;
  store: OpenedStore;
  log: string[];
  events: AdviceEvent[];
  env: NodeJS.ProcessEnv;
  clock: { now: number };
  cycle(findings: Finding[], raised?: Finding[], alertIds?: Map<string, number>): Promise<void>;
  rows(): Array<{ outcome: string; alert_id: number | null; advice: string | null }>;
}

function harness(ai: Partial<ReturnType<typeof defaultConfig>['ai']> = {}): Harness {
  const config = defaultConfig();
  const store = openStore(join(dir, `vigil-${++storeCount}.db`), { log: () => {} });
  stores.push(store);
  const log: string[] = [];
  const events: AdviceEvent[] = [];
  const env: NodeJS.ProcessEnv = { VIGIL_TEST_KEY: 'sk-ant-test-key-000000000000' };
  const clock = { now: Date.now() };
  const full = {
    ...config,
    ai: {
      ...config.ai,
      enabled: true,
      api_key_env: 'VIGIL_TEST_KEY',
      base_url: fake.url,
      cooldown_secs: 0,
      timeout_secs: 20,
      ...ai,
    },
  };
  const advisor = new Advisor({
    config: full,
    env,
    store,
    paths: LIVE_PATHS,
    log: (line) => log.push(line),
    onAdvice: (event) => events.push(event),
    now: () => clock.now,
  });
  return {
    advisor,
    store,
    log,
    events,
    env,
    clock,
    async cycle(firing, raised = [], alertIds) {
      advisor.afterCycle({ snapshot, facts, firing, raised, ...(alertIds ? { alertIds } : {}) });
      await advisor.idle();
    },
    rows: () =>
      store.raw()!.prepare('SELECT outcome, alert_id, advice FROM advice ORDER BY id').all() as Array<{
        outcome: string;
        alert_id: number | null;
        advice: string | null;
      }>,
  };
}

describe('the advisor against a fake Messages API', () => {
  it('shows and stores a valid answer with its alert, mapping a catalog action onto a process in the context', async () => {
    fake.reply({
      answer: answer([
        {
          type: 'kill_process',
          target: String(victim),
          command: '',
          risk: 'safe',
          explanation: 'left behind',
        },
      ]),
    });
    const h = harness();
    const f = finding('ghost_process_storm');
    const before = fake.calls;
    await h.cycle([f], [f], new Map([[f.fingerprint, 41]]));
    assert.equal(fake.calls, before + 1);
    assert.equal(h.events.length, 1, h.log.join('\n'));
    const advice = h.events[0]!.advice;
    assert.match(advice.diagnostic, /MCP servers were left behind/);
    assert.equal(advice.suggestions[0]!.status, 'mapped');
    assert.equal(advice.suggestions[0]!.action, 'kill_process');
    assert.equal(advice.suggestions[0]!.command, `kill ${victim}`);
    assert.deepEqual(
      h.rows().map((r) => [r.outcome, r.alert_id]),
      [['ok', 41]],
    );
    assert.match(adviceForAlerts(h.store, [41]).get(41)!.diagnostic, /left behind/);
    assert.ok(!h.rows()[0]!.advice!.includes(SECRET), 'what is stored has its secrets masked');
    assert.notEqual(stateOf(victim), null, 'advice never runs anything');
    // The request asked for structured output with the JSON schema.
    const body = JSON.parse(fake.requests.at(-1)!.body);
    assert.equal(body.output_config.format.type, 'json_schema');
    assert.deepEqual(body.output_config.format.schema.required, [
      'diagnostic',
      'severity',
      'actions',
      'prevention',
    ]);
    assert.match(body.system, /DATA collected from the machine/);
  });

  it('never sends a secret from a cmdline, nor a home path, nor logs one', async () => {
    fake.reply({ text: 'not json' }, { answer: answer() });
    const h = harness();
    const f = finding('orphan_cpu');
    await h.cycle([f], [f]);
    const bodies = fake.allBodies;
    assert.ok(bodies.length > 0);
    assert.match(
      bodies,
      /mcp-victim --api-key=‹redacted› --password ‹redacted›/,
      'the victim is in the context',
    );
    for (const secret of [SECRET, PASSWORD, 'VIGILTESTSECRET', `${homedir()}/.config/victim.json`]) {
      assert.ok(!bodies.includes(secret), `${secret} left the machine`);
      assert.ok(!h.log.join('\n').includes(secret), `${secret} was logged`);
    }
    assert.match(bodies, /~\/\.config\/victim\.json/);
    // The key travels in a header only (this SDK sends it as a bearer token).
    const headers = fake.requests.at(-1)!.headers;
    assert.ok(
      headers['x-api-key'] === 'sk-ant-test-key-000000000000' ||
        headers.authorization === 'Bearer sk-ant-test-key-000000000000',
      JSON.stringify(headers),
    );
    assert.ok(!bodies.includes('sk-ant-test-key'));
  });

  it('ignores a malformed answer: logged, stored as malformed, rules only', async () => {
    fake.reply({ text: '{"diagnostic": 42}' });
    const h = harness();
    const f = finding('memory_leak');
    await h.cycle([f], [f]);
    assert.equal(h.events.length, 0);
    assert.deepEqual(
      h.rows().map((r) => r.outcome),
      ['malformed'],
    );
    assert.match(h.log.join('\n'), /ignored a malformed answer about memory_leak/);
  });

  it('does nothing with hostile answers: custom commands, pid 1, pids outside the context, a "safe" label on a riskier action', async () => {
    const notInContext = 4_000_000 + (process.pid % 1000);
    fake.reply({
      answer: answer([
        {
          type: 'custom',
          target: 'home',
          command: `touch ${canary} && rm -rf ~`,
          risk: 'safe',
          explanation: 'trust me',
        },
        {
          type: 'kill_process',
          target: '1',
          command: `touch ${canary}`,
          risk: 'safe',
          explanation: 'init is stuck',
        },
        { type: 'kill_process', target: String(notInContext), command: '', risk: 'safe', explanation: 'x' },
        {
          type: 'kill_process_group',
          target: String(victim),
          command: `touch ${canary}`,
          risk: 'safe',
          explanation: 'y',
        },
        { type: 'renice', target: String(victim), command: '', risk: 'dangerous', explanation: 'z' },
        { type: 'shell', target: String(victim), command: `touch ${canary}`, risk: 'safe', explanation: 'z' },
      ]),
    });
    const h = harness();
    const f = finding('ghost_process_storm', 'critical');
    await h.cycle([f], [f]);
    assert.equal(h.events.length, 1, h.log.join('\n'));
    const [custom, init, outside, group, renice, shell] = h.events[0]!.advice.suggestions;
    assert.equal(custom!.status, 'text');
    assert.match(custom!.reason!, /custom command/);
    assert.equal(init!.status, 'text');
    assert.match(init!.reason!, /pid 1|not in the context/);
    assert.equal(outside!.status, 'text');
    assert.match(outside!.reason!, /not in the context/);
    assert.equal(group!.status, 'mapped');
    assert.equal(group!.risk, 'moderate', 'the model cannot make an action safer than the catalog says');
    assert.equal(group!.consent, 'confirm');
    assert.equal(group!.command, `kill -- -${victim}`, 'vigil’s own command, never the model’s');
    assert.equal(renice!.risk, 'dangerous');
    assert.equal(renice!.lowerConfidence, true);
    assert.equal(shell!.status, 'text');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!existsSync(canary), 'nothing ran');
    assert.notEqual(stateOf(victim), null, 'the victim is alive');
    assert.notEqual(stateOf(1), null);
  });

  it('asks at most once per cooldown, whatever fires meanwhile', async () => {
    fake.reply({ answer: answer() });
    const h = harness({ cooldown_secs: 600 });
    const a = finding('ram_high');
    const b = finding('swap_high');
    const before = fake.calls;
    await h.cycle([a], [a]);
    await h.cycle([a, b], [b]);
    h.clock.now += 599_000;
    await h.cycle([a, b]);
    assert.equal(fake.calls, before + 1);
    h.clock.now += 2000;
    await h.cycle([a, b]);
    assert.equal(fake.calls, before + 2, 'the finding that waited is asked once the cooldown is over');
    assert.equal(h.events.length, 2);
  });

  it('reuses a cached answer for the same situation instead of asking again', async () => {
    fake.reply({ answer: answer() });
    const h = harness();
    const f = finding('load_high', 'medium');
    const before = fake.calls;
    await h.cycle([f], [f], new Map([[f.fingerprint, 7]]));
    await h.cycle([]); // resolved
    await h.cycle([f], [f], new Map([[f.fingerprint, 8]])); // raised again: a new alert
    assert.equal(fake.calls, before + 1);
    assert.deepEqual(
      h.rows().map((r) => [r.outcome, r.alert_id]),
      [
        ['ok', 7],
        ['cached', 8],
      ],
    );
    assert.equal(h.events[1]!.cached, true);
  });

  it('stops at the daily call budget, with one notice', async () => {
    fake.reply({ answer: answer() });
    const h = harness({ daily_call_budget: 2 });
    const before = fake.calls;
    const fs = ['disk_low', 'zombie_processes', 'failed_user_unit'].map((r) => finding(r, 'medium'));
    for (const f of fs) await h.cycle([f], [f]);
    await h.cycle(fs);
    assert.equal(fake.calls, before + 2);
    assert.equal(h.log.filter((l) => /daily budget of 2 calls is spent/.test(l)).length, 1);
    h.clock.now += 24 * 3_600_000 + 1000;
    await h.cycle(fs);
    assert.equal(fake.calls, before + 3, 'calls older than 24 h age out of the budget');
  });
});

describe('the advisor when the API fails', () => {
  it('is off with one notice when there is no key, and sends nothing', async () => {
    const h = harness();
    delete h.env['VIGIL_TEST_KEY'];
    const before = fake.calls;
    await h.cycle([finding('ram_high')], [finding('ram_high')]);
    await h.cycle([finding('ram_high'), finding('swap_high')], [finding('swap_high')]);
    assert.equal(fake.calls, before);
    assert.equal(h.log.filter((l) => /advisor off: VIGIL_TEST_KEY is not set/.test(l)).length, 1);
  });

  it('turns off on 401 until the key changes', async () => {
    fake.reply({ status: 401 });
    const h = harness();
    const before = fake.calls;
    await h.cycle([finding('ram_high')], [finding('ram_high')]);
    await h.cycle([finding('ram_high'), finding('swap_high')], [finding('swap_high')]);
    assert.equal(fake.calls, before + 1);
    assert.match(h.log.join('\n'), /API key in VIGIL_TEST_KEY was refused/);
    fake.reply({ answer: answer() });
    h.env['VIGIL_TEST_KEY'] = 'sk-ant-test-key-111111111111';
    await h.cycle([finding('ram_high'), finding('swap_high'), finding('load_high')], [finding('load_high')]);
    assert.equal(fake.calls, before + 2, 'a new key is tried');
    assert.equal(h.events.length, 1);
  });

  it('honours retry-after on 429', async () => {
    fake.reply({ status: 429, headers: { 'retry-after': '120' } }, { answer: answer() });
    const h = harness();
    const f = finding('ram_high');
    const before = fake.calls;
    await h.cycle([f], [f]);
    assert.match(h.log.join('\n'), /rate limited \(429\); next try in 120 s/);
    h.clock.now += 60_000;
    await h.cycle([f]);
    assert.equal(fake.calls, before + 1, 'not before retry-after');
    h.clock.now += 61_000;
    await h.cycle([f]);
    assert.equal(fake.calls, before + 2);
    assert.equal(h.events.length, 1);
  });

  it('backs off exponentially on 500', async () => {
    fake.reply({ status: 500 });
    const h = harness();
    const f = finding('ram_high');
    const before = fake.calls;
    await h.cycle([f], [f]);
    assert.match(h.log.join('\n'), /server error .*next try in 30 s/);
    h.clock.now += 20_000;
    await h.cycle([f]);
    assert.equal(fake.calls, before + 1);
    h.clock.now += 11_000;
    await h.cycle([f]);
    assert.equal(fake.calls, before + 2);
    assert.match(h.log.at(-1)!, /next try in 60 s/);
    assert.deepEqual(
      h.rows().map((r) => r.outcome),
      ['server', 'server'],
    );
  });

  it('gives up on a call that does not answer within timeout_secs, and backs off', async () => {
    fake.reply({ hang: true });
    const h = harness({ timeout_secs: 1 });
    const f = finding('ram_high');
    await h.cycle([f], [f]);
    assert.match(h.log.join('\n'), /no answer in time.*next try in 30 s/);
    assert.deepEqual(
      h.rows().map((r) => r.outcome),
      ['timeout'],
    );
    assert.equal(h.events.length, 0);
  });

  it('counts every call in the advice table', () => {
    const h = harness();
    const store = new AdviceStore(h.store.advice!);
    assert.equal(store.callsSince(0), 0);
  });
});
