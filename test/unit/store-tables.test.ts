/**
 * The repositories of acting and telling — actions and snoozes, the advisor's calls, the notification
 * queue — on a real SQLite file in a temporary directory, reached as the daemon and the CLI reach them:
 * from the opened store. A store opened again on the same file (another process: `vigil fix`, `veto`,
 * `report`, a restarted daemon) sees what the first wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { adviceForAlerts, adviceStoreOf } from '../../src/advisor/store.js';
import type { ActionResult } from '../../src/respond/execute.js';
import { type ActionLog, actionLogOf } from '../../src/respond/log.js';
import type { ActionPlan } from '../../src/respond/plan.js';
import { type OpenedStore, openStore } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-tables-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 14, 9, 0, 0);
const MINUTE = 60_000;
const SECRET = 'sk-ant-api03-QWERTYUIOPASDFGHJKLZXCVBNM0123456789abcdef';

let files = 0;
/** A new database file; `again()` opens a second store on it, as another vigil process would. */
function fresh(): { store: OpenedStore; again: () => OpenedStore; path: string } {
  const path = join(dir, `db${files++}`, 'vigil.db');
  const stores: OpenedStore[] = [];
  const open = () => {
    const store = openStore(path, { log: () => {} });
    stores.push(store);
    return store;
  };
  after(() => {
    for (const s of stores) s.close();
  });
  return { store: open(), again: open, path };
}

function logOf(store: OpenedStore): ActionLog {
  const log = actionLogOf(store);
  assert.ok(log, 'an opened store has an action log');
  return log;
}

function plan(pid: number, over: Partial<ActionPlan> = {}): ActionPlan {
  return {
    action: 'kill_process',
    targets: [{ pid, startTicks: 1000 + pid, cmdline: `node server.js --port ${pid}` }],
    kept: [],
    unit: null,
    command: `vigil kill ${pid}`,
    reason: `node server.js (pid ${pid}) holds 3.1 GiB`,
    ...over,
  };
}

function result(over: Partial<ActionResult> = {}): ActionResult {
  return {
    outcome: 'success',
    refused: [],
    acted: [4242],
    gone: [4242],
    survived: [],
    freedBytes: 3 * 1024 ** 3,
    detail: 'stopped 1 process',
    ...over,
  };
}

describe('the actions table', () => {
  it('keeps an action from proposal to outcome, read back whole by another process, each step in the audit chain', () => {
    const { store, again } = fresh();
    const log = logOf(store);
    const added = log.add({
      alertId: 7,
      fingerprint: 'memory_hog|4242',
      plan: plan(4242),
      mode: 'suggest',
      state: 'proposed',
      now: T0,
    });
    assert.equal(added.state, 'proposed');
    assert.deepEqual(added.plan, plan(4242));
    log.setState(added.id, 'started', T0 + 1000);
    log.finish(added.id, result(), T0 + 2000);

    const other = logOf(again());
    const read = other.get(added.id)!;
    assert.equal(read.state, 'finished');
    assert.equal(read.outcome, 'success');
    assert.deepEqual(read.result, result());
    assert.deepEqual(
      read.plan,
      plan(4242),
      'the plan comes back with its targets bound to pid and start time',
    );
    assert.equal(read.mode, 'suggest');
    assert.equal(read.createdAt, T0);
    assert.equal(read.updatedAt, T0 + 2000);
    assert.equal(other.latestForAlert(7)?.id, added.id);
    assert.equal(other.latestForAlert(8), null);
    const again7 = other.add({
      alertId: 7,
      fingerprint: 'memory_hog|4242',
      plan: plan(4243),
      mode: 'manual',
      state: 'started',
      now: T0 + 3000,
    });
    assert.equal(log.latestForAlert(7)?.id, again7.id, 'the newest, whoever stored it');

    const audit = store.audit!;
    assert.deepEqual(
      audit
        .list()
        .filter((e) => e.data.action === added.id)
        .map((e) => [e.kind, e.data.action, e.data.alert]),
      [
        ['action_proposed', added.id, 7],
        ['action_started', added.id, 7],
        ['action_finished', added.id, 7],
      ],
    );
    assert.deepEqual(audit.list({ until: T0 + 2000 }).at(-1)!.data.targets, [4242]);
    assert.equal(audit.verify().ok, true);
  });

  it('vetoes only the pending actions of the alert named, and says how many', () => {
    const { store } = fresh();
    const log = logOf(store);
    const common = { fingerprint: 'ghost_process_storm|npm', mode: 'auto' as const, now: T0 };
    const scheduled = log.add({ ...common, alertId: 3, plan: plan(11), state: 'scheduled', notBefore: T0 });
    const proposed = log.add({ ...common, alertId: 3, plan: plan(12), state: 'proposed' });
    const done = log.add({ ...common, alertId: 3, plan: plan(13), state: 'started' });
    const elsewhere = log.add({ ...common, alertId: 4, plan: plan(14), state: 'scheduled', notBefore: T0 });

    assert.equal(log.veto(3, T0 + 5000), 2);
    assert.equal(log.get(scheduled.id)!.state, 'vetoed');
    assert.equal(log.get(proposed.id)!.state, 'vetoed');
    assert.equal(log.get(scheduled.id)!.reason, 'vetoed by the user');
    assert.equal(log.get(done.id)!.state, 'started');
    assert.equal(log.get(elsewhere.id)!.state, 'scheduled');
    assert.equal(log.veto(3, T0 + 6000), 0, 'nothing left to veto');
    assert.equal(store.audit!.list().filter((e) => e.kind === 'action_vetoed').length, 2);
  });

  it('runs a scheduled action only once its veto window has passed', () => {
    const { store } = fresh();
    const log = logOf(store);
    const common = {
      alertId: 1,
      fingerprint: 'f',
      mode: 'auto' as const,
      state: 'scheduled' as const,
      now: T0,
    };
    const soon = log.add({ ...common, plan: plan(21), notBefore: T0 + 30_000 });
    const later = log.add({ ...common, plan: plan(22), notBefore: T0 + 90_000 });
    log.add({ ...common, plan: plan(23), state: 'proposed' });

    assert.deepEqual(
      log.due(T0 + 29_999).map((a) => a.id),
      [],
    );
    assert.deepEqual(
      log.due(T0 + 30_000).map((a) => a.id),
      [soon.id],
    );
    assert.deepEqual(
      log.due(T0 + 90_000).map((a) => a.id),
      [soon.id, later.id],
    );
    assert.deepEqual(
      log.scheduled().map((a) => a.id),
      [soon.id, later.id],
      'every scheduled action, due or not: what leaving auto mode cancels',
    );
  });

  it('counts the processes automatic actions stopped in the last hour, not those a person stopped', () => {
    const { store } = fresh();
    const log = logOf(store);
    const finished = (mode: 'auto' | 'manual', gone: number[], at: number) => {
      const a = log.add({
        alertId: null,
        fingerprint: 'f',
        plan: plan(gone[0]!),
        mode,
        state: 'started',
        now: at,
      });
      log.finish(a.id, result({ gone, acted: gone }), at);
    };
    finished('auto', [1, 2, 3], T0);
    finished('auto', [4], T0 + 30 * MINUTE);
    finished('manual', [5, 6], T0 + 40 * MINUTE);
    log.add({ alertId: null, fingerprint: 'f', plan: plan(7), mode: 'auto', state: 'scheduled', now: T0 });

    assert.equal(log.autoKillsSince(T0), 4);
    assert.equal(log.autoKillsSince(T0 + 1), 1, 'the older action is out of the window');
    assert.equal(log.autoKillsSince(T0 + 31 * MINUTE), 0);
  });

  it('counts an automatic action as failed when it did not succeed or its finding did not clear', () => {
    const { store } = fresh();
    const log = logOf(store);
    const act = (fingerprint: string, outcome: ActionResult['outcome'], cleared: boolean | null) => {
      const a = log.add({ alertId: 1, fingerprint, plan: plan(31), mode: 'auto', state: 'started', now: T0 });
      log.finish(a.id, result({ outcome }), T0 + 1000);
      if (cleared !== null) log.verified(a.id, cleared, T0 + 2000);
      return a.id;
    };
    act('leak|a', 'success', true);
    assert.equal(log.failuresFor('leak|a'), 0, 'a success that cleared its finding is no failure');
    const notCleared = act('leak|a', 'success', false);
    assert.equal(log.failuresFor('leak|a'), 1);
    assert.equal((log.get(notCleared)!.result as ActionResult & { cleared?: boolean }).cleared, false);
    act('leak|a', 'failed', null);
    assert.equal(log.failuresFor('leak|a'), 2);
    assert.equal(log.failuresFor('leak|b'), 0, 'counted per finding');
    const manual = log.add({
      alertId: 1,
      fingerprint: 'leak|b',
      plan: plan(32),
      mode: 'manual',
      state: 'started',
      now: T0,
    });
    log.finish(manual.id, result({ outcome: 'failed' }), T0);
    assert.equal(log.failuresFor('leak|b'), 0, 'what a person did is not the daemon failing');
  });

  it('records a refusal as a policy refusal in the audit chain', () => {
    const { store } = fresh();
    const log = logOf(store);
    log.add({
      alertId: 2,
      fingerprint: 'f',
      plan: plan(1),
      mode: 'auto',
      state: 'refused',
      reason: 'pid 1 is never acted on',
      now: T0,
    });
    const [entry] = store.audit!.list();
    assert.equal(entry?.kind, 'policy_refusal');
    assert.equal(entry?.data.reason, 'pid 1 is never acted on');
  });

  it('lists the actions of a window for the report, and their rows as stored for a support bundle', () => {
    const { store } = fresh();
    const log = logOf(store);
    const common = { alertId: 1, fingerprint: 'f', mode: 'auto' as const, state: 'proposed' as const };
    const before = log.add({ ...common, plan: plan(41), now: T0 - 10 * MINUTE });
    const inside = log.add({ ...common, plan: plan(42), now: T0 + MINUTE });
    log.add({ ...common, plan: plan(43), now: T0 + 10 * MINUTE });
    log.setState(before.id, 'vetoed', T0 + 2 * MINUTE, 'vetoed by the user');

    assert.deepEqual(
      log.between(T0, T0 + 5 * MINUTE).map((a) => a.id),
      [inside.id],
      'created in the window',
    );
    const rows = log.rowsTouchedBetween(T0, T0 + 5 * MINUTE);
    assert.deepEqual(
      rows.map((r) => r.id),
      [before.id, inside.id],
      'alive in the window: created before its end and changed after its start',
    );
    assert.equal(rows[0]!.state, 'vetoed');
    assert.equal(typeof rows[0]!.target, 'string', 'as stored: the plan is JSON text');
    assert.deepEqual(JSON.parse(rows[1]!.target as string), plan(42));
  });

  it('snoozes a rule until a time, and a second snooze moves that time', () => {
    const { store, again } = fresh();
    const log = logOf(store);
    log.snooze('disk_full', T0 + 60 * MINUTE);
    log.snooze('memory_hog', T0 + 5 * MINUTE);
    const other = logOf(again());
    assert.deepEqual([...other.snoozed(T0)].sort(), ['disk_full', 'memory_hog']);
    assert.deepEqual([...other.snoozed(T0 + 5 * MINUTE)], ['disk_full'], 'a snooze ends at its time');
    log.snooze('disk_full', T0 + 2 * MINUTE);
    assert.deepEqual([...other.snoozed(T0 + 3 * MINUTE)], ['memory_hog'], 'disk_full woke up sooner');
  });
});

describe('the advice table', () => {
  const entry = (over: Record<string, unknown> = {}) => ({
    at: T0,
    fingerprint: 'memory_hog|4242',
    alertId: 7,
    pid: 4242,
    cacheKey: 'model-x|abc',
    model: 'model-x',
    outcome: 'ok' as const,
    advice: {
      model: 'model-x',
      at: T0,
      diagnostic: 'a dev server left behind by an editor',
      severity: 'medium' as const,
      prevention: 'stop it with the editor',
      suggestions: [],
    },
    ...over,
  });

  it('counts calls to the model for the budget and cooldown, not answers reused from the cache', () => {
    const { store } = fresh();
    const table = store.advice!;
    table.record(entry({ at: T0 }));
    table.record(entry({ at: T0 + MINUTE, outcome: 'timeout', advice: null }));
    table.record(entry({ at: T0 + 2 * MINUTE, outcome: 'cached', alertId: 8 }));
    assert.equal(table.callsSince(T0), 2);
    assert.equal(table.callsSince(T0 + 1), 1);
    assert.equal(table.lastCallAt(), T0 + MINUTE, 'the cached reuse is not a call');
    assert.equal(fresh().store.advice!.lastCallAt(), null, 'no call yet');
  });

  it('reuses the newest good answer for the same situation within the window, and knows which alerts have advice', () => {
    const { store, again } = fresh();
    store.advice!.record(entry({ at: T0, advice: { ...entry().advice, diagnostic: 'first' } }));
    store.advice!.record(entry({ at: T0 + MINUTE, advice: { ...entry().advice, diagnostic: 'second' } }));
    store.advice!.record(entry({ at: T0 + 2 * MINUTE, outcome: 'malformed', advice: null }));
    const advisor = adviceStoreOf(again())!;
    assert.equal(advisor.cached('model-x|abc', T0)?.diagnostic, 'second');
    assert.equal(advisor.cached('model-x|abc', T0 + 2 * MINUTE), null, 'older than the window');
    assert.equal(advisor.cached('model-y|abc', T0), null, 'another situation');
    assert.equal(advisor.hasAdviceFor(7), true);
    store.advice!.record(entry({ alertId: 9, outcome: 'timeout', advice: null }));
    assert.equal(advisor.hasAdviceFor(9), false, 'a call that failed gave no advice');
    assert.equal(advisor.hasAdviceFor(1), false);
  });

  it('gives each alert its newest advice for the report, and masks secrets in command lines on disk', () => {
    const { store, path } = fresh();
    const withTarget = (diagnostic: string) => ({
      ...entry().advice,
      diagnostic,
      suggestions: [
        {
          type: 'kill',
          target: 'pid 4242',
          explanation: 'it holds 3 GiB and nothing owns it',
          modelRisk: 'safe',
          status: 'mapped',
          reason: null,
          modelCommand: null,
          action: 'kill_process',
          risk: 'safe',
          consent: 'notice',
          lowerConfidence: false,
          command: 'vigil kill 4242',
          plan: plan(4242, {
            targets: [{ pid: 4242, startTicks: 99, cmdline: `python3 server.py --api-key ${SECRET}` }],
          }),
        },
      ],
    });
    store.advice!.record(entry({ alertId: 7, at: T0, advice: withTarget('older') }));
    store.advice!.record(entry({ alertId: 7, at: T0 + MINUTE, advice: withTarget('newer') }));
    store.advice!.record(entry({ alertId: 8, at: T0, outcome: 'auth', advice: null }));
    const advice = adviceForAlerts(store, [7, 8, 9]);
    assert.deepEqual([...advice.keys()], [7]);
    assert.equal(advice.get(7)?.diagnostic, 'newer');
    const recent = adviceStoreOf(store)!.recent(10);
    assert.deepEqual(
      recent.map((r) => [r.alertId, r.outcome]),
      [
        [7, 'ok'],
        [8, 'auth'],
        [7, 'ok'],
      ],
      'newest first; at the same time, the later call first',
    );
    store.close();
    for (const file of [path, `${path}-wal`]) {
      let bytes = '';
      try {
        bytes = readFileSync(file, 'latin1');
      } catch {
        continue;
      }
      assert.ok(!bytes.includes(SECRET), `${file} holds the key`);
    }
    const reopened = openStore(path, { log: () => {} });
    try {
      const stored = JSON.stringify(reopened.advice!.recent(1));
      assert.match(stored, /--api-key ‹redacted›/);
    } finally {
      reopened.close();
    }
  });

  it('forgets the oldest calls first, a few at a time', () => {
    const { store } = fresh();
    for (let i = 0; i < 5; i++) store.advice!.record(entry({ at: T0 + i * MINUTE }));
    assert.equal(store.advice!.prune(T0 + 3 * MINUTE, 2), 2);
    assert.deepEqual(
      store.advice!.recent(10).map((r) => r.at),
      [T0 + 4 * MINUTE, T0 + 3 * MINUTE, T0 + 2 * MINUTE],
    );
    assert.equal(store.advice!.prune(T0 + 3 * MINUTE, 2), 1);
    assert.equal(store.advice!.prune(T0 + 3 * MINUTE, 2), 0);
  });
});

describe('the outbox table', () => {
  const row = (channel: string, payload: string, createdAt = T0) => ({ channel, payload, createdAt });

  it('keeps notices in order per channel across a restart, and moves past each one delivered', () => {
    const { store, again } = fresh();
    const table = store.outbox!;
    assert.equal(table.present(), true);
    table.add([row('webhook', 'a'), row('webhook', 'b'), row('alertmanager', 'x')], 100, () => {});
    const head = table.head('webhook', 0)!;
    assert.equal(head.payload, 'a');
    assert.equal(head.attempts, 0);
    assert.equal(head.nextAttemptAt, T0);
    table.markDelivered(head.id, T0 + 1000);

    const restarted = again().outbox!;
    assert.equal(restarted.head('webhook', 0)?.payload, 'b', 'a delivered notice is not sent again');
    assert.equal(restarted.head('webhook', restarted.head('webhook', 0)!.id), undefined);
    assert.equal(restarted.pending('webhook'), 1);
    assert.deepEqual(
      restarted.pendingByChannel().sort((a, b) => a.channel.localeCompare(b.channel)),
      [
        { channel: 'alertmanager', pending: 1 },
        { channel: 'webhook', pending: 1 },
      ],
    );
  });

  it('remembers a failed attempt, its retry time and why, and closes a notice given up', () => {
    const { store } = fresh();
    const table = store.outbox!;
    table.add([row('webhook', 'a'), row('webhook', 'b')], 100, () => {});
    const first = table.head('webhook', 0)!;
    table.markFailed(first.id, 1, T0 + 2000, `HTTP 503 ${'x'.repeat(600)}`);
    const failed = table.head('webhook', 0)!;
    assert.equal(failed.id, first.id, 'still the head: order holds');
    assert.equal(failed.attempts, 1);
    assert.equal(failed.nextAttemptAt, T0 + 2000);
    assert.equal(failed.lastError?.length, 500, 'the reason is kept short');
    assert.match(failed.lastError!, /^HTTP 503/);
    table.markGivenUp(first.id, 5, T0 + 9000, 'given up: HTTP 400');
    assert.equal(table.head('webhook', 0)?.payload, 'b');
    assert.equal(table.pending('webhook'), 1);
  });

  it('drops the oldest waiting notices of a full channel, and says how many', () => {
    const { store } = fresh();
    const table = store.outbox!;
    const dropped: Array<[string, number]> = [];
    table.add([row('webhook', 'a'), row('webhook', 'b'), row('webhook', 'c')], 3, (c, n) =>
      dropped.push([c, n]),
    );
    assert.equal(dropped.length, 0, 'room for three');
    table.add([row('webhook', 'd'), row('other', 'z')], 3, (c, n) => dropped.push([c, n]));
    assert.deepEqual(dropped, [['webhook', 1]]);
    assert.equal(table.head('webhook', 0)?.payload, 'b', 'the oldest went');
    assert.equal(table.pending('webhook'), 3);
  });

  it('keeps only the newest delivered notices', () => {
    const { store, path } = fresh();
    const table = store.outbox!;
    table.add(
      ['a', 'b', 'c', 'd'].map((p) => row('webhook', p)),
      100,
      () => {},
    );
    for (let after = 0, i = 0; i < 4; i++) {
      const head = table.head('webhook', after)!;
      table.markDelivered(head.id, T0);
      after = head.id;
    }
    table.add([row('webhook', 'e')], 100, () => {});
    table.pruneDelivered(2);
    assert.equal(table.head('webhook', 0)?.payload, 'e', 'what waits is never pruned');
    const db = new Database(path, { readonly: true });
    try {
      const kept = db.prepare('SELECT payload FROM outbox ORDER BY id').pluck().all();
      assert.deepEqual(kept, ['c', 'd', 'e']);
    } finally {
      db.close();
    }
  });
});
