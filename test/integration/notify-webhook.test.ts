import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { type Config, defaultConfig } from '../../src/config/schema.js';
import type { NoticeRecord } from '../../src/notify/channel.js';
import { Notifier } from '../../src/notify/notifier.js';
import type { Finding } from '../../src/rules/types.js';
import { type OpenedStore, openStore } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-webhook-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

/**
 * A webhook receiver on 127.0.0.1: `down` answers 503, `hang` never answers, `up` takes the notice.
 * It can also be stopped altogether (connection refused) and started again on the same port.
 */
class Receiver {
  mode: 'down' | 'hang' | 'up' = 'down';
  readonly received: NoticeRecord[] = [];
  requests = 0;
  port = 0;
  private server: Server | null = null;

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests++;
      if (this.mode === 'hang') return;
      if (this.mode === 'down') {
        res.writeHead(503).end('maintenance');
        return;
      }
      this.received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as NoticeRecord);
      res.writeHead(204).end();
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/vigil`;
  }
}

function configFor(url: string): Config {
  const base = defaultConfig();
  return {
    ...base,
    notifications: {
      ...base.notifications,
      terminal: false,
      desktop: false,
      log: false,
      webhook_url: url,
      webhook_format: 'json',
      webhook_min_severity: 'medium',
    },
  };
}

function alert(n: number): Finding {
  return {
    fingerprint: `disk_low|/mnt/data${n}`,
    rule: 'disk_low',
    title: 'Disk almost full',
    severity: 'high',
    scope: 'disk',
    subject: `/mnt/data${n}`,
    summary: `/mnt/data${n} has 3% free`,
    pids: [],
    since: T0,
    suggest: [],
    event: false,
  };
}

/** One daemon's worth of notifier on a real SQLite file; `clock` is shared across restarts. */
function start(
  store: OpenedStore | null,
  url: string,
  clock: { now: number },
  logs: string[],
  timeoutMs?: number,
  fetchImpl?: typeof fetch,
) {
  return new Notifier({
    config: configFor(url),
    store,
    stateDir: dir,
    log: (line) => logs.push(line),
    write: () => {},
    now: () => clock.now,
    hostname: 'devbox',
    ...(timeoutMs ? { webhookTimeoutMs: timeoutMs } : {}),
    ...(fetchImpl ? { fetchImpl } : {}),
  });
}

function outboxRows(
  path: string,
): Array<{ delivered_at: number | null; attempts: number; last_error: string | null }> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT delivered_at, attempts, last_error FROM outbox ORDER BY id').all() as Array<{
      delivered_at: number | null;
      attempts: number;
      last_error: string | null;
    }>;
  } finally {
    db.close();
  }
}

describe('webhook delivery through the persistent queue', () => {
  it('a webhook down for several cycles, then refused, then back receives every alert once, in order — across a restart', async (t) => {
    const receiver = new Receiver();
    t.after(() => receiver.stop());
    await receiver.start();
    const dbPath = join(dir, 'restart', 'vigil.db');
    const clock = { now: T0 };
    const logs: string[] = [];
    let store = openStore(dbPath, { log: (m) => logs.push(m) });
    let notifier = start(store, receiver.url, clock, logs);
    const firing: Finding[] = [];

    // Five alerts, one per 5-second cycle, while the receiver answers 503; a restart after the third.
    for (let i = 0; i < 5; i++) {
      if (i === 3) {
        await notifier.close();
        store.close();
        assert.equal(
          outboxRows(dbPath).filter((r) => r.delivered_at === null).length,
          3,
          'three wait on disk',
        );
        store = openStore(dbPath, { log: (m) => logs.push(m) });
        notifier = start(store, receiver.url, clock, logs);
      }
      firing.push(alert(i));
      notifier.announce([alert(i)], [], firing);
      await notifier.tick();
      clock.now += 5000;
    }
    assert.equal(receiver.received.length, 0);
    assert.ok(receiver.requests >= 3, `retried while down (${receiver.requests} requests)`);
    const [webhook] = notifier.status().channels;
    assert.equal(webhook!.state, 'failing');
    assert.match(webhook!.detail!, new RegExp(`^http://127\\.0\\.0\\.1:${receiver.port} answered HTTP 503$`));
    assert.equal(webhook!.pending, 5);

    // Now nobody listens at all.
    await receiver.stop();
    clock.now += 10 * 60_000;
    await notifier.tick();
    assert.match(
      notifier.status().channels[0]!.detail!,
      /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );

    // It comes back on the same port.
    receiver.mode = 'up';
    await receiver.start();
    for (let i = 0; i < 10 && receiver.received.length < 5; i++) {
      clock.now += 5 * 60_000;
      notifier.announce([], [], firing);
      await notifier.tick();
    }
    for (let i = 0; i < 3; i++) {
      clock.now += 5 * 60_000;
      await notifier.tick();
    }

    assert.deepEqual(
      receiver.received.map((r) => r.findings[0]!.subject),
      ['/mnt/data0', '/mnt/data1', '/mnt/data2', '/mnt/data3', '/mnt/data4'],
      'each alert once, in the order raised',
    );
    assert.equal(new Set(receiver.received.map((r) => r.id)).size, 5);
    assert.ok(
      receiver.received.every((r) => r.kind === 'raised' && r.reason === 'new' && r.host === 'devbox'),
    );
    assert.equal(notifier.status().channels[0]!.state, 'ok');
    assert.equal(notifier.status().channels[0]!.pending, 0);
    assert.ok(
      logs.some((l) => /notifications: webhook works again/.test(l)),
      'the recovery is logged',
    );
    assert.ok(
      logs.filter((l) => /answered HTTP 503/.test(l)).length <= 2,
      `a failure is logged once per process, not per retry:\n${logs.join('\n')}`,
    );
    await notifier.close();
    store.close();
    const rows = outboxRows(dbPath);
    assert.equal(rows.length, 5);
    assert.ok(rows.every((r) => r.delivered_at !== null && r.last_error === null));
    await receiver.stop();
  });

  for (const via of ['node:http', 'fetch'] as const) {
    it(`a webhook that hangs is cut by the timeout and the notice is retried (${via})`, async (t) => {
      const receiver = new Receiver();
      t.after(() => receiver.stop());
      receiver.mode = 'hang';
      await receiver.start();
      const dbPath = join(dir, `hang-${via}`, 'vigil.db');
      const clock = { now: T0 };
      const logs: string[] = [];
      const store = openStore(dbPath, { log: (m) => logs.push(m) });
      const notifier = start(store, receiver.url, clock, logs, 300, via === 'fetch' ? fetch : undefined);

      notifier.announce([alert(1)], [], [alert(1)]);
      const began = performance.now();
      await notifier.tick();
      const tookMs = performance.now() - began;
      assert.ok(tookMs >= 250 && tookMs < 3000, `cut after about 0.3 s (took ${Math.round(tookMs)} ms)`);
      assert.match(notifier.status().channels[0]!.detail!, /did not answer within 0\.3 s/);

      receiver.mode = 'up';
      clock.now += 3000;
      await notifier.tick();
      assert.deepEqual(
        receiver.received.map((r) => r.findings[0]!.subject),
        ['/mnt/data1'],
      );
      assert.equal(receiver.requests, 2, 'one cut attempt, one delivery');
      await notifier.close();
      store.close();
      await receiver.stop();
    });
  }

  it('without a writable store, the queue still delivers in order, from memory, and says so', async (t) => {
    const receiver = new Receiver();
    t.after(() => receiver.stop());
    await receiver.start();
    const clock = { now: T0 };
    const logs: string[] = [];
    const notifier = start(null, receiver.url, clock, logs);
    for (let i = 0; i < 3; i++) notifier.announce([alert(i)], [], [alert(i)]);
    await notifier.tick();
    receiver.mode = 'up';
    clock.now += 60_000;
    await notifier.tick();
    assert.deepEqual(
      receiver.received.map((r) => r.findings[0]!.subject),
      ['/mnt/data0', '/mnt/data1', '/mnt/data2'],
    );
    assert.equal(notifier.status().queuePersistent, false);
    assert.match(
      logs.join('\n'),
      /notification queue kept in memory only \(a restart loses what waits\): no history store/,
    );
    await notifier.close();
    await receiver.stop();
  });
});
