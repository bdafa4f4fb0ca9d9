import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig, type Severity } from '../../src/config/schema.js';
import { type DirectChannel, type Notice, noticeTitle } from '../../src/notify/channel.js';
import { FLAP_MS, Notifier } from '../../src/notify/notifier.js';
import type { Finding } from '../../src/rules/types.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-ghost-notify-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);
const MINUTE = 60_000;

const storm = (severity: Severity, summary: string): Finding => ({
  fingerprint: 'ghost_process_storm|0|python3 <tmp>/mcp_server.py --port <port>',
  rule: 'ghost_process_storm',
  title: 'Ghost-process storm',
  severity,
  scope: 'group',
  subject: '0|python3 <tmp>/mcp_server.py --port <port>',
  summary,
  pids: [101, 102, 103, 104, 105, 106, 107, 108],
  since: T0,
  suggest: ['kill_matching'],
  event: false,
});

function listen(): { notifier: Notifier; clock: { now: number }; notices: Notice[] } {
  const notices: Notice[] = [];
  const channel: DirectChannel = {
    name: 'list',
    queued: false,
    minSeverity: 'info',
    unsupported: null,
    async deliver(n) {
      notices.push(n);
    },
  };
  const clock = { now: T0 };
  const base = defaultConfig();
  const notifier = new Notifier({
    config: { ...base, notifications: { ...base.notifications, renotify_after_secs: 3600 } },
    store: null,
    stateDir: dir,
    log: () => {},
    write: () => {},
    now: () => clock.now,
    hostname: 'devbox',
    channels: () => [channel],
  });
  return { notifier, clock, notices };
}

const told = (notices: readonly Notice[]) =>
  notices.map((n) => [n.reason, n.findings[0]?.severity, n.findings[0]?.summary]);

describe('a ghost storm’s notifications follow its severity', () => {
  it('tells the storm again, with its summary now, when its severity falls, as when it rises', () => {
    const { notifier, clock, notices } = listen();
    const owned = storm('medium', '8 identical … none orphaned yet, all 8 still have a live owner');
    notifier.announce([owned], [], [owned]);
    clock.now += MINUTE;
    const orphaned = storm('high', '8 identical … all 8 orphaned: left by claude (1 min ago)');
    notifier.announce([], [], [orphaned]);
    clock.now += MINUTE;
    const huge = storm('critical', '40 identical … all 40 orphaned: left by claude (2 min ago)');
    notifier.announce([], [], [huge]);
    // A person stopped most of them: still firing, smaller, said so at once.
    clock.now += FLAP_MS;
    const fewer = storm('high', '9 identical … all 9 orphaned: left by claude (12 min ago)');
    notifier.announce([], [], [fewer]);
    assert.deepEqual(told(notices), [
      ['new', 'medium', owned.summary],
      ['escalated', 'high', orphaned.summary],
      ['escalated', 'critical', huge.summary],
      ['eased', 'high', fewer.summary],
    ]);
    assert.equal(noticeTitle(notices[3]!), 'High: Ghost-process storm (eased)');
    assert.equal(noticeTitle({ ...notices[3]!, language: 'fr' }), 'Élevée : Ghost-process storm (atténuée)');
  });

  it('does not tell a group hovering at a threshold every time it crosses it', () => {
    const { notifier, clock, notices } = listen();
    const high = storm('high', '8 identical … all 8 orphaned');
    notifier.announce([high], [], [high]);
    for (let i = 0; i < 6; i++) {
      clock.now += MINUTE / 6;
      const now = storm(i % 2 === 0 ? 'critical' : 'high', '8 identical … all 8 orphaned');
      notifier.announce([], [], [now]);
    }
    assert.deepEqual(
      notices.map((n) => n.reason),
      ['new', 'escalated'],
    );
  });
});
