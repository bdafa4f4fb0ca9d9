import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  JournalFollower,
  type JournalFollowerOptions,
  type JournalFollowerState,
} from '../../src/collectors/journal-follower.js';
import type { JournalSource } from '../../src/collectors/types.js';
import type { JournalEntry } from '../../src/model/snapshot.js';
import {
  appendJournalEntries,
  buildJournalFile,
  type ExportEntry,
  JOURNAL_REMOTE_MISSING,
  journalRemoteAvailable,
} from '../helpers/journal.js';
import { childrenOf, waitUntil } from '../helpers/procs.js';

/**
 * These tests follow real journal files with the real journalctl. systemd-journal-remote appends to an
 * existing output file, so a file grows while it is followed; `journalctl --file X -f` and
 * `journalctl --directory D -f` both notice appended entries (inotify), and both are exercised here.
 */

const BOOT_A = '1b2c3d4e5f60718293a4b5c6d7e8f901';
const BOOT_B = '2c3d4e5f60718293a4b5c6d7e8f90112';

/** Realtime and monotonic clocks that only move forward across every entry the tests write. */
let realtimeMicros = Date.now() * 1000;
let monotonicMicros = 5_000_000;

/** A warning (priority 4) from a test program unless `fields` says otherwise. */
function entry(message: string, fields: ExportEntry = {}): ExportEntry {
  realtimeMicros += 1_000;
  monotonicMicros += 1_000;
  return {
    __REALTIME_TIMESTAMP: String(realtimeMicros),
    __MONOTONIC_TIMESTAMP: String(monotonicMicros),
    _BOOT_ID: BOOT_A,
    _TRANSPORT: 'journal',
    SYSLOG_IDENTIFIER: 'vigil-test',
    PRIORITY: '4',
    MESSAGE: message,
    ...fields,
  };
}

/** journalctl processes this test process started and that still exist (zombies included). */
function journalctlChildren(): number[] {
  return childrenOf(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'journalctl';
    } catch {
      return false;
    }
  });
}

/** What a follower reported, in order. */
interface Recording {
  readonly entries: JournalEntry[];
  readonly batches: JournalEntry[][];
  readonly cursors: string[];
  readonly states: Array<[JournalFollowerState, string | null]>;
  readonly skips: string[];
}

const followers: JournalFollower[] = [];

/** A follower with short backoffs that records every callback; stopped after each test. */
function follow(
  source: JournalSource,
  options: Partial<Omit<JournalFollowerOptions, 'source'>> = {},
): { follower: JournalFollower; seen: Recording } {
  const seen: Recording = { entries: [], batches: [], cursors: [], states: [], skips: [] };
  const follower = new JournalFollower({
    source,
    cursor: null,
    backoffMs: { initial: 100, max: 2_000 },
    onEntries: (entries) => {
      seen.batches.push(entries);
      seen.entries.push(...entries);
    },
    onCursor: (cursor) => seen.cursors.push(cursor),
    onState: (state, detail) => seen.states.push([state, detail]),
    onSkip: (reason) => seen.skips.push(reason),
    ...options,
  });
  followers.push(follower);
  return { follower, seen };
}

function messages(entries: readonly JournalEntry[]): string[] {
  return entries.map((e) => e.message);
}

async function waitForMessage(seen: Recording, message: string): Promise<void> {
  await waitUntil(() => seen.entries.some((e) => e.message === message), `"${message}" to be delivered`);
}

async function waitForState(seen: Recording, state: JournalFollowerState, count = 1): Promise<void> {
  await waitUntil(
    () => seen.states.filter(([s]) => s === state).length >= count,
    `state ${state} ${count} time(s)`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.stop()));
  assert.deepEqual(journalctlChildren(), [], 'no journalctl outlives a test');
});

const skip = journalRemoteAvailable() ? false : JOURNAL_REMOTE_MISSING;

describe('the journal follower on a real journal file', { skip }, () => {
  let dir = '';
  let file = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-follow-'));
    file = buildJournalFile(dir, [entry('history 1'), entry('history 2')]);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('delivers entries appended while following once, in order, and reports the last cursor', async () => {
    const { follower, seen } = follow({ kind: 'file', path: file });
    follower.start();
    await waitForState(seen, 'following');
    appendJournalEntries(file, [entry('disk error 1'), entry('disk error 2'), entry('disk error 3')]);
    await waitForMessage(seen, 'disk error 3');
    appendJournalEntries(file, [entry('disk error 4'), entry('disk error 5')]);
    await waitForMessage(seen, 'disk error 5');
    appendJournalEntries(file, [entry('disk error 6')]);
    await waitForMessage(seen, 'disk error 6');

    assert.deepEqual(
      messages(seen.entries),
      [1, 2, 3, 4, 5, 6].map((n) => `disk error ${n}`),
    );
    assert.equal(seen.entries[0]!.identifier, 'vigil-test');
    assert.equal(seen.entries[0]!.priority, 4);
    assert.equal(seen.entries[0]!.time, Math.floor(Number(realtimeMicros - 5_000) / 1000));
    // One cursor per batch: the cursor of the batch's last entry, which is also what the follower keeps.
    assert.deepEqual(
      seen.cursors,
      seen.batches.map((batch) => batch[batch.length - 1]!.cursor),
    );
    assert.equal(seen.cursors.at(-1), seen.entries.at(-1)!.cursor);
    assert.equal(follower.cursor, seen.entries.at(-1)!.cursor);
    assert.match(seen.cursors.at(-1)!, /^s=[0-9a-f]+;i=[0-9a-f]+;b=1b2c3d4e5f60718293a4b5c6d7e8f901;/);
    assert.deepEqual(seen.skips, []);
    assert.deepEqual(seen.states, [['following', `journal file ${file}`]]);

    const pid = follower.childPid!;
    assert.deepEqual(journalctlChildren(), [pid], 'one journalctl, a child of this process');
    await follower.stop();
    assert.equal(follower.childPid, null);
    assert.equal(existsSync(`/proc/${pid}`), false, 'journalctl is gone once stop() resolves');
    assert.deepEqual(seen.states.at(-1), ['off', null]);
  });

  it('resumes a new follower after the last cursor: nothing written meanwhile is missed or repeated', async () => {
    const first = follow({ kind: 'directory', path: dir });
    first.follower.start();
    await waitForState(first.seen, 'following');
    appendJournalEntries(file, [entry('before restart 1'), entry('before restart 2')]);
    await waitForMessage(first.seen, 'before restart 2');
    await first.follower.stop();
    const cursor = first.seen.cursors.at(-1)!;

    // Twelve entries, more than the ten `journalctl -f` shows by default, and a reboot among them: the
    // last entries of a boot are the ones a watchdog must not lose.
    const meanwhile = Array.from({ length: 12 }, (_, i) =>
      entry(`while stopped ${i + 1}`, i < 6 ? {} : { _BOOT_ID: BOOT_B }),
    );
    appendJournalEntries(file, meanwhile);
    const second = follow({ kind: 'directory', path: dir }, { cursor });
    second.follower.start();
    await waitForMessage(second.seen, 'while stopped 12');
    appendJournalEntries(file, [entry('after restart', { _BOOT_ID: BOOT_B })]);
    await waitForMessage(second.seen, 'after restart');

    assert.deepEqual(messages(first.seen.entries), ['before restart 1', 'before restart 2']);
    assert.deepEqual(messages(second.seen.entries), [
      ...meanwhile.map((e) => e['MESSAGE'] as string),
      'after restart',
    ]);
    assert.equal(second.seen.entries[0]!.cursor === cursor, false);
  });

  it('restarts a journalctl killed with SIGKILL, with backoff, and delivers what was written meanwhile once', async () => {
    const { follower, seen } = follow(
      { kind: 'file', path: file },
      { backoffMs: { initial: 400, max: 2_000 } },
    );
    follower.start();
    await waitForState(seen, 'following');
    appendJournalEntries(file, [entry('before kill')]);
    await waitForMessage(seen, 'before kill');

    const killed = follower.childPid!;
    process.kill(killed, 'SIGKILL');
    await waitForState(seen, 'restarting');
    appendJournalEntries(file, [entry('while dead 1'), entry('while dead 2')]);
    await waitForState(seen, 'following', 2);
    appendJournalEntries(file, [entry('after restart')]);
    await waitForMessage(seen, 'after restart');

    assert.deepEqual(messages(seen.entries), [
      'before kill',
      'while dead 1',
      'while dead 2',
      'after restart',
    ]);
    assert.notEqual(follower.childPid, killed);
    assert.equal(existsSync(`/proc/${killed}`), false);
    const restarting = seen.states.find(([state]) => state === 'restarting')!;
    assert.equal(restarting[1], 'journalctl exited (killed by SIGKILL); restarting in 400 ms');
    assert.deepEqual(seen.skips, []);
  });

  it('doubles the wait after each failure in a row, up to the maximum', async () => {
    const { follower, seen } = follow(
      { kind: 'file', path: join(dir, 'absent.journal') },
      { backoffMs: { initial: 50, max: 200 } },
    );
    follower.start();
    await waitForState(seen, 'restarting', 4);
    await follower.stop();
    const details = seen.states.filter(([state]) => state === 'restarting').map(([, detail]) => detail);
    assert.deepEqual(details.slice(0, 4), [
      'journalctl failed (exit 1): Failed to open files: No such file or directory; restarting in 50 ms',
      'journalctl failed (exit 1): Failed to open files: No such file or directory; restarting in 100 ms',
      'journalctl failed (exit 1): Failed to open files: No such file or directory; restarting in 200 ms',
      'journalctl failed (exit 1): Failed to open files: No such file or directory; restarting in 200 ms',
    ]);
  });

  it('starts at the end of the journal when no cursor is known, and never replays history', async () => {
    const { follower, seen } = follow({ kind: 'file', path: file });
    follower.start();
    await waitForState(seen, 'following');
    appendJournalEntries(file, [entry('first new entry')]);
    await waitForMessage(seen, 'first new entry');
    assert.deepEqual(messages(seen.entries), ['first new entry']);
  });

  it('delivers earlyoom (info) and systemd-oomd (notice) kills but not other info and notice entries', async () => {
    const { follower, seen } = follow({ kind: 'file', path: file });
    follower.start();
    await waitForState(seen, 'following');
    appendJournalEntries(file, [
      entry('usb 7-2.4: new high-speed USB device number 9', { SYSLOG_IDENTIFIER: 'kernel', PRIORITY: '6' }),
      entry('Started Session 4 of User ana.', { SYSLOG_IDENTIFIER: 'systemd-logind', PRIORITY: '5' }),
      entry('sending SIGTERM to process 7378 uid 1000 "tail": oom_score 156, VmRSS 4962 MiB', {
        SYSLOG_IDENTIFIER: 'earlyoom',
        _TRANSPORT: 'stdout',
        PRIORITY: '6',
      }),
      entry(
        'Killed /user.slice/user-1000.slice/user@1000.service/app.slice/code.scope due to memory pressure',
        {
          SYSLOG_IDENTIFIER: 'systemd-oomd',
          PRIORITY: '5',
        },
      ),
      entry('debug chatter', { PRIORITY: '7' }),
      entry('Out of memory: Killed process 1811 (stress-ng)', { SYSLOG_IDENTIFIER: 'kernel', PRIORITY: '3' }),
    ]);
    await waitForMessage(seen, 'Out of memory: Killed process 1811 (stress-ng)');
    assert.deepEqual(
      seen.entries.map((e) => [e.identifier, e.priority]),
      [
        ['earlyoom', 6],
        ['systemd-oomd', 5],
        ['kernel', 3],
      ],
    );
  });

  it('delivers the entries again after onEntries threw, since they were not stored', async () => {
    let failures = 1;
    const stored: string[] = [];
    const { follower, seen } = follow(
      { kind: 'file', path: file },
      {
        onEntries: (entries) => {
          if (failures-- > 0) throw new Error('database is locked');
          stored.push(...messages(entries));
        },
      },
    );
    follower.start();
    await waitForState(seen, 'following');
    appendJournalEntries(file, [entry('kept 1'), entry('kept 2')]);
    await waitUntil(() => stored.includes('kept 2'), 'the second delivery');
    assert.deepEqual(stored, ['kept 1', 'kept 2']);
    const restarting = seen.states.find(([state]) => state === 'restarting')!;
    assert.equal(restarting[1], 'onEntries failed: database is locked; restarting in 100 ms');
  });

  it('drops a saved cursor journalctl rejects and follows from the end of the journal', async () => {
    const { follower, seen } = follow({ kind: 'file', path: file }, { cursor: 'not a cursor' });
    follower.start();
    await waitForState(seen, 'following', 2);
    appendJournalEntries(file, [entry('after a bad cursor')]);
    await waitForMessage(seen, 'after a bad cursor');
    assert.deepEqual(messages(seen.entries), ['after a bad cursor']);
    const restarting = seen.states.find(([state]) => state === 'restarting')!;
    assert.equal(
      restarting[1],
      'journalctl exited (exit 1): Failed to seek to cursor: Invalid argument; ' +
        'cursor not a cursor is unusable, following from the end of the journal instead; restarting in 100 ms',
    );
  });
});

describe('the journal follower where there is nothing to follow', () => {
  it('is unsupported, for good, when journalctl is not installed', async () => {
    const { follower, seen } = follow({ kind: 'system' }, { journalctl: '/nonexistent/bin/journalctl' });
    follower.start();
    await waitForState(seen, 'unsupported');
    await sleep(400);
    assert.deepEqual(seen.states, [['unsupported', 'journalctl not found (Debian package systemd)']]);
    assert.equal(follower.childPid, null);
  });

  const probe = spawnSync('journalctl', ['--no-pager', '-n', '0'], { encoding: 'utf8' });
  const noJournal = probe.error === undefined && /No journal files were found/.test(probe.stderr);
  it("is unsupported on this machine's live system journal, probing again rarely rather than restarting", {
    skip: noJournal ? false : 'this machine has a systemd journal (or no journalctl)',
  }, async () => {
    // `journalctl -f` here prints nothing and waits forever; only the probe can tell.
    const { follower, seen } = follow({ kind: 'system' }, { reprobeMs: 200 });
    follower.start();
    await waitForState(seen, 'unsupported');
    await sleep(700);
    assert.deepEqual(seen.states, [
      ['unsupported', 'no systemd journal on this machine; looking again every 200 ms'],
    ]);
    assert.equal(follower.childPid, null);
  });
});

describe('the journal follower reading journalctl output in pieces', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-follow-fake-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A stand-in journalctl: the probe gets a tail cursor; `-f` writes entries split mid-line and
   * mid-character across writes, with a garbled line between them, then waits to be killed.
   */
  function fakeJournalctl(): string {
    const line = (n: number, message: string) =>
      JSON.stringify({
        __CURSOR: `c${n}`,
        __REALTIME_TIMESTAMP: `${1_767_225_600_000_000 + n}`,
        PRIORITY: '3',
        MESSAGE: message,
      });
    const output = `${line(1, 'Résumé 1')}\n${line(2, 'Résumé 2')}\n{"__CURSOR": garbled\n${line(3, 'Résumé 3')}\n`;
    const bytes = Buffer.from(output, 'utf8');
    const cut1 = bytes.indexOf(Buffer.from('sumé 2')) + 4; // inside the two bytes of "é"
    const cut2 = bytes.indexOf(Buffer.from('Résumé 3')) - 5;
    const path = join(dir, 'journalctl');
    writeFileSync(
      path,
      `#!${process.execPath}
const argv = process.argv.slice(2);
if (argv.includes('--show-cursor')) { console.log('-- cursor: c0'); process.exit(0); }
const bytes = Buffer.from(${JSON.stringify(bytes.toString('base64'))}, 'base64');
const pieces = [bytes.subarray(0, ${cut1}), bytes.subarray(${cut1}, ${cut2}), bytes.subarray(${cut2})];
let i = 0;
const next = () => { if (i < pieces.length) { process.stdout.write(pieces[i++]); setTimeout(next, 150); } };
next();
setInterval(() => {}, 1000);
`,
    );
    chmodSync(path, 0o755);
    return path;
  }

  it('joins lines split across chunks, keeps split characters whole, and skips a garbled line', async () => {
    const { follower, seen } = follow({ kind: 'system' }, { journalctl: fakeJournalctl() });
    follower.start();
    await waitForMessage(seen, 'Résumé 3');
    assert.deepEqual(messages(seen.entries), ['Résumé 1', 'Résumé 2', 'Résumé 3']);
    assert.ok(seen.batches.length >= 2, 'the entries came in more than one batch');
    assert.deepEqual(seen.cursors.at(-1), 'c3');
    assert.equal(seen.skips.length, 1);
    assert.match(seen.skips[0]!, /^journalctl -f: journal line \d+: not JSON/);
  });
});
