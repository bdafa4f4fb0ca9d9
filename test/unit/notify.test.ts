import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Config, defaultConfig, type Severity } from '../../src/config/schema.js';
import type { DirectChannel, Notice, NoticeRecord } from '../../src/notify/channel.js';
import { DeliveryError, noticeLines, noticeTitle } from '../../src/notify/channel.js';
import { createDesktopChannel, type DesktopPopup, desktopUnsupported } from '../../src/notify/desktop.js';
import { createLogChannel, NOTIFICATIONS_LOG } from '../../src/notify/log.js';
import {
  digestTitle,
  duration,
  raisedTitle,
  resolvedTitle,
  severityName,
  stillFiring,
} from '../../src/notify/messages.js';
import { DIGEST_AFTER, Notifier } from '../../src/notify/notifier.js';
import { Outbox } from '../../src/notify/outbox.js';
import { terminalLines } from '../../src/notify/terminal.js';
import { webhookBody } from '../../src/notify/webhook.js';
import type { Finding } from '../../src/rules/types.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-notify-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 21, 9, 58, 12);
const MINUTE = 60_000;

function finding(over: Partial<Finding> & { rule: string }): Finding {
  return {
    fingerprint: `${over.rule}|${over.subject ?? 'system'}`,
    title: over.rule.replace(/_/g, ' '),
    severity: 'high',
    scope: 'system',
    subject: 'system',
    summary: `${over.rule} holds`,
    pids: [],
    since: T0,
    suggest: [],
    event: false,
    ...over,
  };
}

function notice(over: Partial<Notice> = {}): Notice {
  return {
    id: 'n-1',
    kind: 'raised',
    reason: 'new',
    findings: [finding({ rule: 'ram_high', summary: 'RAM 93% used' })],
    resolved: [],
    host: 'devbox',
    at: T0,
    language: 'en',
    ...over,
  };
}

/** A channel that keeps what it is told. */
function listChannel(name: string, minSeverity: Severity): DirectChannel & { notices: Notice[] } {
  const notices: Notice[] = [];
  return {
    name,
    queued: false,
    minSeverity,
    unsupported: null,
    notices,
    async deliver(n) {
      notices.push(n);
    },
  };
}

function config(over: Partial<Config['notifications']> = {}, language: 'en' | 'fr' = 'en'): Config {
  const base = defaultConfig();
  return {
    ...base,
    general: { ...base.general, language },
    notifications: { ...base.notifications, renotify_after_secs: 3600, ...over },
  };
}

/** A Notifier over list channels, with a clock the test moves. */
function harness(channels: DirectChannel[], cfg = config()) {
  const clock = { now: T0 };
  const logs: string[] = [];
  const notifier = new Notifier({
    config: cfg,
    store: null,
    stateDir: dir,
    log: (line) => logs.push(line),
    write: () => {},
    now: () => clock.now,
    hostname: 'devbox',
    channels: () => channels,
  });
  return { notifier, clock, logs };
}

describe('notification texts', () => {
  it('names severities in English and French', () => {
    assert.equal(severityName('high', 'en'), 'high');
    assert.equal(severityName('high', 'fr'), 'élevée');
    assert.equal(severityName('medium', 'fr'), 'moyenne');
    assert.equal(severityName('low', 'fr'), 'faible');
    assert.equal(severityName('critical', 'fr'), 'critique');
  });

  it('words raised, resolved, reminders and digests in both languages', () => {
    assert.equal(raisedTitle('critical', 'Ghost process storm', 'en'), 'Critical: Ghost process storm');
    assert.equal(raisedTitle('critical', 'Ghost process storm', 'fr'), 'Critique : Ghost process storm');
    assert.equal(resolvedTitle('Disk low', 'en'), 'Resolved: Disk low');
    assert.equal(resolvedTitle('Disk low', 'fr'), 'Résolue : Disk low');
    assert.equal(digestTitle(7, 'en'), '7 findings at once');
    assert.equal(digestTitle(7, 'fr'), '7 alertes à la fois');
    assert.equal(stillFiring(2 * 3_600_000 + 5 * MINUTE, 'en'), 'still firing after 2h 5m');
    assert.equal(stillFiring(2 * 3_600_000 + 5 * MINUTE, 'fr'), 'toujours active après 2 h 5 min');
  });

  it('writes durations a person reads at a glance', () => {
    assert.equal(duration(45_000, 'en'), '45s');
    assert.equal(duration(12 * MINUTE, 'fr'), '12 min');
    assert.equal(duration(3 * 86_400_000 + 4 * 3_600_000, 'en'), '3d 4h');
    assert.equal(duration(3 * 86_400_000, 'fr'), '3 j');
  });
});

describe('terminal lines', () => {
  it('keep the daemon’s shape: time, severity padded to 8, rule: summary', () => {
    assert.deepEqual(terminalLines(notice(), false), ['2026-11-21 09:58:12 HIGH     ram_high: RAM 93% used']);
  });

  it('say RESOLVED with how long it lasted, in French RÉSOLUE', () => {
    const cleared = notice({
      kind: 'resolved',
      reason: null,
      at: T0 + 6 * MINUTE,
      findings: [finding({ rule: 'disk_low', summary: '/ has 4% free' })],
    });
    assert.deepEqual(terminalLines(cleared, false), [
      '2026-11-21 10:04:12 RESOLVED disk_low: / has 4% free (lasted 6m)',
    ]);
    assert.match(
      terminalLines({ ...cleared, language: 'fr' }, false)[0]!,
      / RÉSOLUE {2}disk_low: .* \(a duré 6 min\)$/,
    );
  });

  it('colour only the tag, and only when asked', () => {
    const [line] = terminalLines(notice(), true);
    const esc = String.fromCharCode(27);
    assert.equal(line, `2026-11-21 09:58:12 ${esc}[31mHIGH    ${esc}[0m ram_high: RAM 93% used`);
  });

  it('open a digest with one line, then list every finding', () => {
    const many = Array.from({ length: 7 }, (_, i) => finding({ rule: `rule_${i}`, severity: 'medium' }));
    const lines = terminalLines(notice({ kind: 'digest', reason: null, findings: many }), false);
    assert.equal(lines.length, 8);
    assert.equal(lines[0], '2026-11-21 09:58:12 DIGEST   7 findings at once');
    assert.equal(lines[1], '2026-11-21 09:58:12 MEDIUM   rule_0: rule_0 holds');
  });
});

describe('alert hygiene', () => {
  it('tells a finding once while it keeps firing', () => {
    const channel = listChannel('list', 'info');
    const { notifier, clock } = harness([channel]);
    const f = finding({ rule: 'ram_high' });
    notifier.announce([f], [], [f]);
    for (let i = 0; i < 10; i++) {
      clock.now += MINUTE;
      notifier.announce([], [], [f]);
    }
    notifier.announce([f], [], [f]); // raised again by mistake: still one notice
    assert.equal(channel.notices.length, 1);
    assert.equal(channel.notices[0]!.reason, 'new');
  });

  it('reminds of a finding still firing after renotify_after_secs, then waits again', () => {
    const channel = listChannel('list', 'info');
    const { notifier, clock } = harness([channel]);
    const f = finding({ rule: 'swap_high' });
    notifier.announce([f], [], [f]);
    clock.now += 59 * MINUTE;
    notifier.announce([], [], [f]);
    assert.equal(channel.notices.length, 1, 'not before the hour');
    clock.now += MINUTE;
    notifier.announce([], [], [f]);
    assert.equal(channel.notices.length, 2);
    assert.equal(channel.notices[1]!.reason, 'reminder');
    assert.equal(noticeTitle(channel.notices[1]!), 'High: swap high (still firing after 1h)');
    clock.now += 30 * MINUTE;
    notifier.announce([], [], [f]);
    assert.equal(channel.notices.length, 2, 'the next reminder is an hour after the last one');
  });

  it('never reminds when renotify_after_secs is 0', () => {
    const channel = listChannel('list', 'info');
    const { notifier, clock } = harness([channel], config({ renotify_after_secs: 0 }));
    const f = finding({ rule: 'swap_high' });
    notifier.announce([f], [], [f]);
    clock.now += 48 * 3_600_000;
    notifier.announce([], [], [f]);
    assert.equal(channel.notices.length, 1);
  });

  it('tells an escalation at once, to the channels the new severity reaches', () => {
    const all = listChannel('all', 'low');
    const urgent = listChannel('urgent', 'critical');
    const { notifier, clock } = harness([all, urgent]);
    const f = finding({ rule: 'ram_high', severity: 'high' });
    notifier.announce([f], [], [f]);
    clock.now += MINUTE;
    const worse = { ...f, severity: 'critical' as const, summary: 'RAM 97% used' };
    notifier.announce([], [], [worse]);
    assert.deepEqual(
      all.notices.map((n) => n.reason),
      ['new', 'escalated'],
    );
    assert.equal(urgent.notices.length, 1);
    assert.equal(noticeTitle(urgent.notices[0]!), 'Critical: ram high (escalated)');
  });

  it(`sends one digest when more than ${DIGEST_AFTER} fire at once, most severe first`, () => {
    const channel = listChannel('list', 'info');
    const { notifier } = harness([channel]);
    const many = [
      ...Array.from({ length: 6 }, (_, i) => finding({ rule: `dup_${i}`, severity: 'low' })),
      finding({ rule: 'oom_kill', severity: 'critical' }),
    ];
    notifier.announce(many, [], many);
    assert.equal(channel.notices.length, 1);
    const [digest] = channel.notices;
    assert.equal(digest!.kind, 'digest');
    assert.equal(digest!.findings.length, 7);
    assert.equal(digest!.findings[0]!.rule, 'oom_kill');
    assert.equal(noticeTitle(digest!), '7 findings at once');
  });

  it('tells each finding apart when only a few fire at once', () => {
    const channel = listChannel('list', 'info');
    const { notifier } = harness([channel]);
    const few = Array.from({ length: DIGEST_AFTER }, (_, i) => finding({ rule: `rule_${i}` }));
    notifier.announce(few, [], few);
    assert.deepEqual(
      channel.notices.map((n) => n.kind),
      Array(DIGEST_AFTER).fill('raised'),
    );
  });

  it('tells a resolve only for a finding that was told, with its last summary', () => {
    const channel = listChannel('list', 'info');
    const { notifier, clock } = harness([channel]);
    const told = finding({ rule: 'disk_low', subject: '/', summary: '/ has 4% free' });
    notifier.announce([told], [], [told]);
    clock.now += 10 * MINUTE;
    // The engine's resolved finding after a restart may carry no summary: the told one is used.
    notifier.announce([], [{ ...told, summary: '' }, finding({ rule: 'never_told' })], []);
    assert.equal(channel.notices.length, 2);
    const resolved = channel.notices[1]!;
    assert.equal(resolved.kind, 'resolved');
    assert.equal(resolved.findings[0]!.summary, '/ has 4% free');
    assert.equal(noticeTitle(resolved), 'Resolved: disk low');
  });

  it('keeps each channel to its minimum severity, resolves included', () => {
    const terminal = listChannel('terminal', 'medium');
    const webhook = listChannel('webhook', 'high');
    const { notifier, clock } = harness([terminal, webhook]);
    const medium = finding({ rule: 'load_high', severity: 'medium' });
    const high = finding({ rule: 'ram_high', severity: 'high' });
    const low = finding({ rule: 'duplicate_processes', severity: 'low' });
    notifier.announce([medium, high, low], [], [medium, high, low]);
    clock.now += MINUTE;
    notifier.announce([], [medium, high, low], []);
    assert.deepEqual(
      terminal.notices.map((n) => `${n.kind} ${n.findings[0]!.rule}`),
      ['raised load_high', 'raised ram_high', 'resolved load_high', 'resolved ram_high'],
    );
    assert.deepEqual(
      webhook.notices.map((n) => `${n.kind} ${n.findings[0]!.rule}`),
      ['raised ram_high', 'resolved ram_high'],
    );
  });

  it('tells an event (an OOM kill) once and never resolves it', () => {
    const channel = listChannel('list', 'info');
    const { notifier } = harness([channel]);
    const kill = finding({ rule: 'oom_kill', subject: 'journal:abc', event: true });
    notifier.announce([kill], [], []);
    notifier.announce([kill], [], []);
    notifier.announce([], [kill], []);
    assert.deepEqual(
      channel.notices.map((n) => n.kind),
      ['raised'],
    );
  });

  it('after a restart, neither repeats what fires already nor forgets to resolve it', () => {
    const channel = listChannel('list', 'info');
    const { notifier, clock } = harness([channel]);
    const f = finding({ rule: 'ghost_process_storm', subject: 'group:python3' });
    notifier.announce([], [], [f]); // restored by the daemon: firing, not raised
    assert.equal(channel.notices.length, 0);
    clock.now += 5 * MINUTE;
    notifier.announce([], [f], []);
    assert.deepEqual(
      channel.notices.map((n) => n.kind),
      ['resolved'],
    );
  });

  it('redacts secrets before any channel sees them', () => {
    const channel = listChannel('list', 'info');
    const { notifier } = harness([channel]);
    const f = finding({
      rule: 'orphan_cpu',
      summary: 'node mcp.js --api-key sk-ant-api03-AAAABBBBCCCCDDDD at 90%',
    });
    notifier.announce([f], [], [f]);
    assert.equal(channel.notices[0]!.findings[0]!.summary, 'node mcp.js --api-key ‹redacted› at 90%');
  });

  it('carries on when a channel fails, saying so once', async () => {
    const good = listChannel('good', 'info');
    const broken: DirectChannel = {
      name: 'broken',
      queued: false,
      minSeverity: 'info',
      unsupported: null,
      deliver: () => Promise.reject(new Error('bus gone')),
    };
    const throwing: DirectChannel = {
      ...broken,
      name: 'throwing',
      deliver: () => {
        throw new Error('synchronously');
      },
    };
    const { notifier, logs } = harness([broken, throwing, good]);
    const a = finding({ rule: 'a' });
    const b = finding({ rule: 'b' });
    notifier.announce([a], [], [a]);
    notifier.announce([b], [], [a, b]);
    await notifier.close();
    assert.equal(good.notices.length, 2);
    assert.deepEqual(
      logs.filter((l) => l.includes('failing')),
      ['notifications: broken failing: bus gone', 'notifications: throwing failing: synchronously'],
    );
    assert.deepEqual(
      notifier.status().channels.map((c) => c.state),
      ['failing', 'failing', 'ok'],
    );
  });

  it('skips an unsupported channel and says why once', () => {
    const missing: DirectChannel & { notices: Notice[] } = {
      ...listChannel('desktop', 'info'),
      unsupported: 'no display',
    };
    const { notifier, logs } = harness([missing]);
    const f = finding({ rule: 'a' });
    notifier.announce([f], [], [f]);
    assert.equal(missing.notices.length, 0);
    assert.deepEqual(logs, ['notifications: desktop unsupported here: no display']);
  });

  it('words notices in French when general.language = "fr"', () => {
    const lines: string[] = [];
    const notifier = new Notifier({
      config: config({ desktop: false, log: false }, 'fr'),
      store: null,
      stateDir: dir,
      log: () => {},
      write: (line) => lines.push(line),
      now: () => T0,
      color: false,
    });
    const f = finding({ rule: 'ram_high', severity: 'critical', summary: 'RAM à 97 %' });
    notifier.announce([f], [], [f]);
    assert.deepEqual(lines, ['2026-11-21 09:58:12 CRITIQUE ram_high: RAM à 97 %']);
  });
});

describe('action notices', () => {
  it('go to the channels the finding’s severity reaches, never to the terminal, redacted, in both languages', async () => {
    const terminal = listChannel('terminal', 'info');
    const desktop = listChannel('desktop', 'high');
    const log = listChannel('log', 'medium');
    const { notifier } = harness([terminal, desktop, log]);
    notifier.announceAction({
      step: 'notice',
      rule: 'ghost_process_storm',
      severity: 'medium',
      text: 'Stop 8 processes in 10 s unless: vigil veto 4 (mcp --token=hunter2secret)',
      alertId: 4,
    });
    await notifier.close();
    assert.equal(terminal.notices.length, 0, 'the daemon prints its own action lines');
    assert.equal(desktop.notices.length, 0, 'medium is below the desktop’s high');
    assert.equal(log.notices.length, 1);
    const [n] = log.notices;
    assert.equal(n!.kind, 'action');
    assert.equal(noticeTitle(n!), 'vigil will act: ghost_process_storm');
    assert.doesNotMatch(noticeLines(n!).join(' '), /hunter2secret/);
    const record = webhookBody(n!, 'json') as NoticeRecord;
    assert.equal(record.action?.step, 'notice');
    assert.equal(record.action?.alertId, 4);
    assert.equal(noticeTitle({ ...n!, language: 'fr' }), 'vigil va agir : ghost_process_storm');
  });
});

describe('the notifications log', () => {
  it('appends one JSON object per notice and rotates by size, keeping 3', async () => {
    const logDir = join(dir, 'log-rotation');
    const channel = createLogChannel({ dir: logDir, minSeverity: 'info', maxBytes: 2000, keep: 3 });
    for (let i = 0; i < 40; i++)
      await channel.deliver(
        notice({ id: `n-${i}`, findings: [finding({ rule: 'ram_high', summary: `n-${i}` })] }),
      );
    const files = readdirSync(logDir).sort();
    assert.deepEqual(files, [
      NOTIFICATIONS_LOG,
      `${NOTIFICATIONS_LOG}.1`,
      `${NOTIFICATIONS_LOG}.2`,
      `${NOTIFICATIONS_LOG}.3`,
    ]);
    for (const file of files) assert.ok(statSync(join(logDir, file)).size <= 2000, `${file} under the size`);
    const live = readFileSync(join(logDir, NOTIFICATIONS_LOG), 'utf8').trim().split('\n');
    const records = live.map((line) => JSON.parse(line) as NoticeRecord);
    assert.equal(records.at(-1)!.id, 'n-39', 'the newest notice is in the live file');
    const older = JSON.parse(readFileSync(join(logDir, `${NOTIFICATIONS_LOG}.1`), 'utf8').split('\n')[0]!);
    assert.ok(Number(older.id.slice(2)) < Number(records[0]!.id.slice(2)), '.1 holds older notices');
    assert.equal(statSync(join(logDir, NOTIFICATIONS_LOG)).mode & 0o777, 0o600);
  });

  it('reports a state directory it cannot write as a failure naming the file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const channel = createLogChannel({ dir: join(file, 'vigil'), minSeverity: 'info' });
    await assert.rejects(
      channel.deliver(notice()),
      /cannot write .*a-file\/vigil\/notifications\.jsonl: ENOTDIR/,
    );
  });
});

describe('webhook payloads', () => {
  const raised = notice({ findings: [finding({ rule: 'ram_high', summary: 'RAM 93% <used> & more' })] });

  it('json: the documented object', () => {
    const body = webhookBody(raised, 'json') as NoticeRecord;
    assert.deepEqual(Object.keys(body), [
      'version',
      'id',
      'kind',
      'reason',
      'host',
      'at',
      'language',
      'title',
      'text',
      'findings',
      'resolved',
    ]);
    assert.equal(body.version, 1);
    assert.equal(body.title, 'High: ram high');
    assert.equal(body.text, 'RAM 93% <used> & more');
    assert.deepEqual(body.findings[0], {
      fingerprint: 'ram_high|system',
      rule: 'ram_high',
      title: 'ram high',
      severity: 'high',
      severityName: 'high',
      scope: 'system',
      subject: 'system',
      summary: 'RAM 93% <used> & more',
      pids: [],
      since: T0,
      suggest: [],
      event: false,
    });
  });

  it('slack: { text, blocks } with control characters escaped', () => {
    const body = webhookBody(raised, 'slack') as {
      text: string;
      blocks: Array<{ type: string; text?: { type: string; text: string } }>;
    };
    assert.equal(body.text, 'High: ram high (on devbox)\nRAM 93% &lt;used&gt; &amp; more');
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ['header', 'section', 'context'],
    );
    assert.deepEqual(body.blocks[0]!.text, { type: 'plain_text', text: 'High: ram high', emoji: true });
    assert.equal(body.blocks[1]!.text!.text, 'RAM 93% &lt;used&gt; &amp; more');
  });

  it('discord: { content, embeds } coloured by severity, mentions off', () => {
    const body = webhookBody(raised, 'discord') as {
      content: string;
      embeds: Array<{ title: string; description: string; color: number; timestamp: string }>;
      allowed_mentions: { parse: string[] };
    };
    assert.equal(body.content, '**High: ram high** (on devbox)');
    assert.equal(body.embeds[0]!.description, 'RAM 93% \\<used> & more', 'a < cannot open a mention');
    assert.equal(body.embeds[0]!.color, 0xf57c00);
    assert.equal(body.embeds[0]!.timestamp, '2026-11-21T09:58:12.000Z');
    assert.deepEqual(body.allowed_mentions, { parse: [] });
  });

  it('a long digest stays within Slack’s and Discord’s limits', () => {
    const many = Array.from({ length: 400 }, (_, i) =>
      finding({ rule: `rule_${i}`, summary: 'x'.repeat(200) }),
    );
    const digest = notice({ kind: 'digest', reason: null, findings: many });
    const slack = webhookBody(digest, 'slack') as {
      text: string;
      blocks: Array<{ text?: { text: string } }>;
    };
    assert.ok([...slack.text].length <= 3000);
    assert.ok([...slack.blocks[1]!.text!.text].length <= 3000);
    assert.match(slack.blocks[1]!.text!.text, /…and 381 more$|…$/);
    const discord = webhookBody(digest, 'discord') as { embeds: Array<{ description: string }> };
    assert.ok([...discord.embeds[0]!.description].length <= 4096);
  });
});

describe('the desktop channel', () => {
  it('is unsupported without a display or session bus, and never loads node-notifier', async () => {
    let loads = 0;
    const channel = createDesktopChannel({
      env: { PATH: process.env['PATH'] },
      minSeverity: 'info',
      load: async () => {
        loads++;
        return async () => {};
      },
    });
    assert.match(channel.unsupported!, /no display or session bus/);
    await channel.deliver(notice());
    assert.equal(loads, 0);
  });

  it('says which piece is missing: notify-send, then node-notifier', () => {
    const env = { DISPLAY: ':0', PATH: '/nonexistent' };
    assert.match(desktopUnsupported(env)!, /notify-send is not on PATH/);
    assert.match(
      desktopUnsupported(env, { hasProgram: () => true, hasPackage: () => false })!,
      /node-notifier is not installed/,
    );
    assert.equal(desktopUnsupported(env, { hasProgram: () => true, hasPackage: () => true }), null);
  });

  it('loads its backend on the first pop-up only, with urgency and escaped markup', async () => {
    const popups: DesktopPopup[] = [];
    let loads = 0;
    const channel = createDesktopChannel({
      env: { WAYLAND_DISPLAY: 'wayland-0' },
      minSeverity: 'info',
      probe: { hasProgram: () => true, hasPackage: () => true },
      load: async () => {
        loads++;
        return async (popup) => {
          popups.push(popup);
        };
      },
    });
    assert.equal(channel.unsupported, null);
    assert.equal(loads, 0, 'nothing loaded before a pop-up is due');
    const critical = finding({ rule: 'oom_kill', severity: 'critical', summary: 'killed <java>' });
    await channel.deliver(notice({ findings: [critical] }));
    await channel.deliver(notice());
    assert.equal(loads, 1);
    assert.deepEqual(popups[0], {
      title: 'Critical: oom kill',
      message: 'killed &lt;java&gt;',
      urgency: 'critical',
    });
    assert.equal(popups[1]!.urgency, 'normal');
  });

  it('turns unsupported when node-notifier cannot be loaded', async () => {
    const channel = createDesktopChannel({
      env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' },
      minSeverity: 'info',
      probe: { hasProgram: () => true, hasPackage: () => true },
      load: () => Promise.reject(new Error("Cannot find package 'node-notifier'")),
    });
    await channel.deliver(notice());
    assert.match(channel.unsupported!, /node-notifier cannot be loaded: Cannot find package/);
  });

  it('on this machine (no display), a Notifier with desktop on starts and tells without throwing', () => {
    const env = { ...process.env };
    delete env['DISPLAY'];
    delete env['WAYLAND_DISPLAY'];
    delete env['DBUS_SESSION_BUS_ADDRESS'];
    const logs: string[] = [];
    const notifier = new Notifier({
      config: config({ terminal: false, log: false, desktop: true, desktop_min_severity: 'info' }),
      store: null,
      stateDir: dir,
      log: (line) => logs.push(line),
      write: () => {},
      env,
    });
    const f = finding({ rule: 'ram_high' });
    notifier.announce([f], [], [f]);
    const [desktop] = notifier.status().channels;
    assert.equal(desktop!.state, 'unsupported');
    assert.match(logs.join('\n'), /desktop unsupported here: no display or session bus/);
  });
});

describe('the outbox', () => {
  const outbox = (over: Partial<ConstructorParameters<typeof Outbox>[1]> = {}) => {
    const clock = { now: T0 };
    const logs: string[] = [];
    const box = Outbox.inMemory({ log: (l) => logs.push(l), now: () => clock.now, ...over });
    return { box, clock, logs };
  };

  it('backs off from 2 s, doubling up to 5 min, and keeps the head of the line', async () => {
    const { box, clock } = outbox();
    box.enqueue('hook', 'first');
    box.enqueue('hook', 'second');
    const tries: string[] = [];
    let up = false;
    const sender = {
      send: async (payload: string) => {
        tries.push(payload);
        if (!up) throw new DeliveryError('HTTP 503');
      },
    };
    const senders = new Map([['hook', sender]]);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      const outcome = (await box.deliverDue(senders)).get('hook')!;
      waits.push(outcome.nextAttemptAt! - clock.now);
      clock.now = outcome.nextAttemptAt!;
    }
    assert.deepEqual(waits, [2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]);
    assert.ok(
      tries.every((t) => t === 'first'),
      'the second is never tried before the first',
    );
    up = true;
    const outcome = (await box.deliverDue(senders)).get('hook')!;
    assert.equal(outcome.delivered, 2);
    assert.equal(outcome.pending, 0);
    assert.deepEqual(tries.slice(-2), ['first', 'second']);
    await box.close();
  });

  it('gives up a payload the far end rejects as such after 5 tries, and goes on', async () => {
    const { box, clock, logs } = outbox();
    box.enqueue('hook', 'malformed');
    box.enqueue('hook', 'fine');
    const sent: string[] = [];
    const senders = new Map([
      [
        'hook',
        {
          send: async (payload: string) => {
            if (payload === 'malformed') throw new DeliveryError('HTTP 400', true);
            sent.push(payload);
          },
        },
      ],
    ]);
    for (let i = 0; i < 6; i++) {
      await box.deliverDue(senders);
      clock.now += 60_000;
    }
    assert.deepEqual(sent, ['fine']);
    assert.match(logs.join('\n'), /gave up a notice after 5 attempts: HTTP 400/);
    await box.close();
  });

  it('caps what waits, dropping the oldest with a log line', async () => {
    const { box, logs } = outbox({ maxPending: 3 });
    for (const p of ['a', 'b', 'c', 'd', 'e']) box.enqueue('hook', p);
    const sent: string[] = [];
    await box.deliverDue(new Map([['hook', { send: async (p: string) => void sent.push(p) }]]));
    assert.deepEqual(sent, ['c', 'd', 'e']);
    assert.match(logs[0]!, /notification queue for hook is full \(3 waiting\): dropping the oldest/);
    assert.match(logs[1]!, /hook: delivering again; 2 older notices were dropped/);
    await box.close();
  });

  it('never sends twice when deliveries overlap', async () => {
    const { box } = outbox();
    box.enqueue('hook', 'once');
    let calls = 0;
    const senders = new Map([
      [
        'hook',
        {
          send: async () => {
            calls++;
            await new Promise((r) => setTimeout(r, 20));
          },
        },
      ],
    ]);
    await Promise.all([box.deliverDue(senders), box.deliverDue(senders), box.deliverDue(senders)]);
    await box.deliverDue(senders);
    assert.equal(calls, 1);
    await box.close();
  });

  it('keeps channels apart: one failing does not hold another back', async () => {
    const { box } = outbox();
    box.enqueue('down', 'x');
    box.enqueue('up', 'y');
    const sent: string[] = [];
    const outcomes = await box.deliverDue(
      new Map([
        ['down', { send: () => Promise.reject(new DeliveryError('refused')) }],
        ['up', { send: async (p: string) => void sent.push(p) }],
      ]),
    );
    assert.deepEqual(sent, ['y']);
    assert.equal(outcomes.get('down')!.error, 'refused');
    assert.equal(box.pendingByChannel().get('down'), 1);
    await box.close();
  });
});
