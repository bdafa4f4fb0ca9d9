import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import {
  ALERTMANAGER_MISSING,
  eventually,
  freePort,
  http,
  type RealServer,
  startAlertmanager,
  which,
} from '../helpers/prometheus.js';

/**
 * vigil against the real Alertmanager (Debian's prometheus-alertmanager): a daemon whose rule fires
 * posts the alert, Alertmanager lists it and notifies a webhook receiver of this test; the rule stops
 * holding, vigil posts the end, Alertmanager notifies "resolved". And an outage loses nothing.
 */

const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
const servers: RealServer[] = [];
const receivers: Server[] = [];
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  for (const s of servers) await s.cleanup();
  for (const r of receivers) {
    r.closeAllConnections();
    r.close();
  }
  for (const h of homes) h.cleanup();
});

interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

interface ApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** What Alertmanager's webhook notifications (send_resolved) told this test. */
async function receiver(): Promise<{ url: string; alerts: WebhookAlert[] }> {
  const alerts: WebhookAlert[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts: WebhookAlert[] };
      alerts.push(...body.alerts);
      res.writeHead(200).end();
    });
  });
  receivers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/alerts`, alerts };
}

const RULE = (when: string) =>
  `[[rule]]\nid = "fleet_probe"\ntitle = "Fleet probe"\nseverity = "high"\nscope = "system"\nwhen = "${when}"\nsummary = "probe holds on {{ fixed(sys.cores) }} cores"\n`;

/** A daemon home whose one extra rule holds (until told otherwise), telling Alertmanager at `amUrl`. */
function home(amUrl: string) {
  const h = daemonHome();
  homes.push(h);
  writeFileSync(
    join(h.configDir, 'config.toml'),
    `[notifications]\ndesktop = false\nlog = false\nalertmanager_url = "${amUrl}"\n`,
  );
  writeFileSync(join(h.configDir, 'rules', 'probe.toml'), RULE('sys.cores > 0.0'));
  return h;
}

async function activeAlerts(am: RealServer): Promise<ApiAlert[]> {
  const answer = await http(
    `${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="fleet_probe"')}`,
  );
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body) as ApiAlert[];
}

describe('the Alertmanager channel against the real Alertmanager', () => {
  it('raises the alert with its labels and summary, then resolves it', async (t) => {
    if (!which('prometheus-alertmanager', 'alertmanager')) return t.skip(ALERTMANAGER_MISSING);
    const hook = await receiver();
    const am = await startAlertmanager(hook.url);
    servers.push(am);
    const h = home(am.url);
    const d = new RunningDaemon(h, ['--interval', '1']);
    daemons.push(d);
    await d.waitFor(/HIGH\s+fleet_probe: probe holds/, 20_000, 'stdout');

    const [alert] = await eventually(async () => {
      const alerts = await activeAlerts(am);
      return alerts.length > 0 ? alerts : undefined;
    }, 'the alert in /api/v2/alerts');
    assert.equal(alert!.labels['alertname'], 'fleet_probe');
    assert.equal(alert!.labels['severity'], 'high');
    assert.equal(alert!.labels['instance'], hostname());
    assert.match(alert!.annotations['summary'] ?? '', /^probe holds on \d+ cores$/);
    assert.equal(alert!.status.state, 'active');
    const firing = await eventually(
      () => hook.alerts.find((a) => a.status === 'firing' && a.labels['alertname'] === 'fleet_probe'),
      'Alertmanager to notify the firing alert',
    );
    assert.equal(firing.labels['instance'], hostname());

    writeFileSync(join(h.configDir, 'rules', 'probe.toml'), RULE('sys.cores < 0.0'));
    d.child.kill('SIGHUP');
    await d.waitFor(/RESOLVED fleet_probe/, 30_000, 'stdout');
    const resolved = await eventually(
      () => hook.alerts.find((a) => a.status === 'resolved' && a.labels['alertname'] === 'fleet_probe'),
      'Alertmanager to notify the resolution',
    );
    assert.equal(resolved.startsAt, firing.startsAt);
    assert.ok(Date.parse(resolved.endsAt) >= Date.parse(resolved.startsAt), resolved.endsAt);
    assert.ok(Date.parse(resolved.endsAt) <= Date.now());
    await eventually(
      async () => ((await activeAlerts(am)).length === 0 ? true : undefined),
      'the alert gone from /api/v2/alerts',
    );
    assert.equal((await d.stop()).code, 0);
  });

  it('keeps the alert queued while Alertmanager is down and delivers it once it is up', async (t) => {
    if (!which('prometheus-alertmanager', 'alertmanager')) return t.skip(ALERTMANAGER_MISSING);
    const hook = await receiver();
    const port = await freePort();
    const h = home(`http://127.0.0.1:${port}`);
    const d = new RunningDaemon(h, ['--interval', '1']);
    daemons.push(d);
    await d.waitFor(/HIGH\s+fleet_probe: probe holds/, 20_000, 'stdout');
    await d.waitFor(
      new RegExp(`alertmanager failing: cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
    );

    const am = await startAlertmanager(hook.url, port);
    servers.push(am);
    const [alert] = await eventually(async () => {
      const alerts = await activeAlerts(am);
      return alerts.length > 0 ? alerts : undefined;
    }, 'the queued alert in /api/v2/alerts');
    assert.equal(alert!.labels['instance'], hostname());
    await d.waitFor(/alertmanager works again/);
    // Delivered from the persistent outbox, after failed attempts (not by a later repeat).
    const db = new Database(join(h.stateDir, 'vigil.db'), { readonly: true });
    try {
      const rows = db
        .prepare("SELECT attempts, delivered_at AS deliveredAt FROM outbox WHERE channel = 'alertmanager'")
        .all() as Array<{ attempts: number; deliveredAt: number | null }>;
      assert.ok(rows.length >= 1);
      assert.ok(rows[0]!.deliveredAt !== null, 'the queued notice was delivered');
      assert.ok(rows[0]!.attempts >= 2, `it failed first (${rows[0]!.attempts} attempts)`);
    } finally {
      db.close();
    }
    assert.equal((await d.stop()).code, 0);
  });
});
