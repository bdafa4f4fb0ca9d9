import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SdNotify, watchdogIntervalMs } from '../../src/daemon/sdnotify.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { havePython, haveSystemdNotify, NotifyReceiver } from '../helpers/notify-receiver.js';

const skip = !havePython
  ? 'needs python3 for a datagram socket (Debian package python3)'
  : !haveSystemdNotify
    ? 'needs systemd-notify (Debian package systemd)'
    : false;

describe('telling systemd how vigil is doing (sd_notify)', { skip }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-notify-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says READY=1 with its pid, feeds the watchdog while alive, and says STOPPING=1 last', async () => {
    const receiver = new NotifyReceiver(mkdtempSync(join(dir, 'a-')));
    try {
      await receiver.bound();
      const logs: string[] = [];
      const notify = new SdNotify(
        { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) },
        { log: (line) => logs.push(line) },
      );
      assert.equal(notify.enabled, true);
      assert.equal(notify.watchdogPeriodMs, 400);
      const beat = setInterval(() => notify.alive(), 50);
      notify.ready('watching');
      await receiver.waitFor((r) => r.filter((m) => m === 'WATCHDOG=1').length >= 2, 'two watchdog pings');
      clearInterval(beat);
      await notify.stop();
      const received = receiver.received;
      assert.equal(received[0], `READY=1\nMAINPID=${process.pid}\nSTATUS=watching`);
      assert.equal(received.at(-1), 'STOPPING=1');
      assert.deepEqual(logs, []);
    } finally {
      receiver.close();
    }
  });

  it('stops feeding the watchdog when the loop stops going round, so systemd restarts a hung vigil', async () => {
    const receiver = new NotifyReceiver(mkdtempSync(join(dir, 'b-')));
    try {
      await receiver.bound();
      const notify = new SdNotify(
        { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '300000' },
        { log: () => {} },
      );
      const beat = setInterval(() => notify.alive(), 30);
      notify.ready();
      await receiver.waitFor((r) => r.includes('WATCHDOG=1'), 'a watchdog ping');
      clearInterval(beat); // the loop hangs from here on
      const pings = () => receiver.received.filter((m) => m === 'WATCHDOG=1').length;
      // Pings already queued may still arrive; wait until the count settles, then see it stay.
      let settled = pings();
      for (;;) {
        await sleep(1500);
        if (pings() === settled) break;
        settled = pings();
      }
      await sleep(1500);
      assert.equal(pings(), settled, 'no ping once the loop is stuck');
      await notify.stop();
    } finally {
      receiver.close();
    }
  });

  it('does nothing at all without NOTIFY_SOCKET', async () => {
    const logs: string[] = [];
    const notify = new SdNotify(
      {},
      { log: (line) => logs.push(line), program: join(dir, 'no-such-program') },
    );
    assert.equal(notify.enabled, false);
    notify.ready();
    notify.alive();
    await notify.stop();
    assert.deepEqual(logs, []);
  });

  it('ignores a watchdog meant for another process', () => {
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '1' }, 4242), null);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 4242), 60_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 4242), null);
  });

  it('the real daemon is READY under a notify socket, pings its watchdog, and says STOPPING=1 on SIGTERM', async () => {
    const receiver = new NotifyReceiver(mkdtempSync(join(dir, 'c-')));
    const home = daemonHome();
    try {
      await receiver.bound();
      const daemon = new RunningDaemon(
        { ...home, env: { ...home.env, NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '2000000' } },
        ['--interval', '1'],
      );
      await receiver.waitFor((r) => r.some((m) => m.startsWith('READY=1')), 'READY=1', 60_000);
      assert.ok(receiver.received[0]!.includes(`MAINPID=${daemon.pid}`), JSON.stringify(receiver.received));
      await receiver.waitFor((r) => r.includes('WATCHDOG=1'), 'WATCHDOG=1', 60_000);
      const { code } = await daemon.stop('SIGTERM');
      assert.equal(code, 0, daemon.stderr);
      await receiver.waitFor((r) => r.includes('STOPPING=1'), 'STOPPING=1');
      assert.equal(receiver.received.at(-1), 'STOPPING=1');
      // Nothing from the programs vigil runs (systemd tools report ERRNO= to an inherited socket).
      assert.deepEqual(
        receiver.received.filter((m) => !/^(READY=1\n|WATCHDOG=1$|STOPPING=1$)/.test(m)),
        [],
      );
      assert.doesNotMatch(daemon.stderr, /systemd notification/);
    } finally {
      receiver.close();
      home.cleanup();
    }
  });
});
