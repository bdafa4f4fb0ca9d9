import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertmanagerUnsupported,
  alertsEndpoint,
  createAlertmanagerChannel,
  noticeAlerts,
} from '../../src/notify/alertmanager.js';
import type { DeliveryError, Notice } from '../../src/notify/channel.js';
import type { Finding } from '../../src/rules/types.js';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

function finding(overrides: Partial<Finding> = {}): Finding {
  return {
    fingerprint: 'disk_low|/home',
    rule: 'disk_low',
    title: 'Disk almost full',
    severity: 'medium',
    scope: 'disk',
    subject: '/home',
    summary: '/home has 2.1 GiB free (4.2%)',
    pids: [],
    since: T0,
    suggest: [],
    event: false,
    ...overrides,
  };
}

function notice(kind: Notice['kind'], findings: Finding[], resolved: Finding[] = []): Notice {
  return {
    id: 'n1',
    kind,
    reason: kind === 'raised' ? 'new' : null,
    findings,
    resolved,
    host: 'ws1',
    at: T0 + 600_000,
    language: 'en',
  };
}

describe('the Alertmanager channel', () => {
  it('posts to the v2 alerts API under the URL given, a route prefix included', () => {
    assert.equal(alertsEndpoint('http://am:9093'), 'http://am:9093/api/v2/alerts');
    assert.equal(alertsEndpoint('http://am:9093/'), 'http://am:9093/api/v2/alerts');
    assert.equal(
      alertsEndpoint('https://ops.example/alertmanager'),
      'https://ops.example/alertmanager/api/v2/alerts',
    );
    assert.equal(alertsEndpoint('http://am:9093/api/v2/alerts'), 'http://am:9093/api/v2/alerts');
    assert.equal(
      alertmanagerUnsupported('am:9093'),
      'alertmanager_url must be http:// or https://, not am://',
    );
    assert.equal(alertmanagerUnsupported('not a url'), 'alertmanager_url is not a URL');
  });

  it('turns a raised finding into a firing alert named after its rule, with host and summary', () => {
    const [alert] = noticeAlerts(notice('raised', [finding({ pids: [41, 42] })]));
    assert.deepEqual(alert, {
      labels: {
        alertname: 'disk_low',
        severity: 'medium',
        instance: 'ws1',
        job: 'vigil',
        scope: 'disk',
        subject: '/home',
      },
      annotations: { summary: '/home has 2.1 GiB free (4.2%)', title: 'Disk almost full', pids: '41 42' },
      startsAt: '2026-11-21T09:00:00.000Z',
    });
  });

  it('ends a resolved finding with the same labels, so Alertmanager closes that very alert', () => {
    const [firing] = noticeAlerts(notice('raised', [finding()]));
    const [resolved] = noticeAlerts(notice('resolved', [finding()]));
    assert.deepEqual(resolved!.labels, firing!.labels);
    assert.equal(resolved!.startsAt, '2026-11-21T09:00:00.000Z');
    assert.equal(resolved!.endsAt, '2026-11-21T09:10:00.000Z');
  });

  it('sends a digest as one array: the raised firing, the resolved ended', () => {
    const alerts = noticeAlerts(
      notice(
        'digest',
        [finding({ subject: '/a' }), finding({ subject: '/b' })],
        [finding({ subject: '/c' })],
      ),
    );
    assert.deepEqual(
      alerts.map((a) => [a.labels['subject'], a.endsAt ?? null]),
      [
        ['/a', null],
        ['/b', null],
        ['/c', '2026-11-21T09:10:00.000Z'],
      ],
    );
  });

  it('treats 2xx as delivered, 400 as a payload to give up, 503 and a refused connection as retry', async () => {
    const statuses = [200, 400, 503];
    const channel = createAlertmanagerChannel({
      url: 'http://127.0.0.1:1',
      minSeverity: 'low',
      post: async () => {
        const status = statuses.shift();
        if (status === undefined)
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return status;
      },
    });
    await channel.send('[]');
    await assert.rejects(channel.send('[]'), (e: DeliveryError) => e.permanent && /HTTP 400/.test(e.message));
    await assert.rejects(
      channel.send('[]'),
      (e: DeliveryError) => !e.permanent && /HTTP 503/.test(e.message),
    );
    await assert.rejects(
      channel.send('[]'),
      (e: DeliveryError) => !e.permanent && e.message === 'cannot reach http://127.0.0.1:1: ECONNREFUSED',
    );
  });

  it('repeats the alerts still firing once a minute, events left out', async () => {
    const bodies: string[] = [];
    const channel = createAlertmanagerChannel({
      url: 'http://am:9093',
      minSeverity: 'low',
      post: async (url, body) => {
        assert.equal(url, 'http://am:9093/api/v2/alerts');
        bodies.push(body);
        return 200;
      },
    });
    const firing = [finding(), finding({ rule: 'oom_kill', fingerprint: 'oom_kill|x', event: true })];
    await channel.refresh(firing, 'ws1', T0);
    await channel.refresh(firing, 'ws1', T0 + 30_000);
    await channel.refresh(firing, 'ws1', T0 + 60_000);
    await channel.refresh([], 'ws1', T0 + 120_000);
    assert.equal(bodies.length, 2);
    const alerts = JSON.parse(bodies[0]!) as Array<{ labels: Record<string, string>; endsAt?: string }>;
    assert.deepEqual(
      alerts.map((a) => [a.labels['alertname'], a.endsAt]),
      [['disk_low', undefined]],
    );
  });
});
