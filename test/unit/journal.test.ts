import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createJournalCollector,
  type JournalCollectorOptions,
  journalctlArgs,
  parseJournalJson,
} from '../../src/collectors/journal.js';
import { type CollectContext, Unsupported } from '../../src/collectors/types.js';
import { liveContext } from '../helpers/context.js';

function sampleLines(name: string): string[] {
  return readFileSync(fileURLToPath(new URL(`../fixtures/samples/${name}`, import.meta.url)), 'utf8').split(
    '\n',
  );
}

/** One `## X.` block of a sample in test/fixtures/samples, without `#` notes. */
function block(name: string, header: string): string {
  const lines = sampleLines(name);
  const start = lines.findIndex((line) => line.startsWith(`## ${header}`));
  assert.ok(start >= 0, `no block "## ${header}" in ${name}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .filter((line) => !line.startsWith('#'))
    .join('\n');
}

const REAL = 'journald-json-kernel-records-real.txt';

/** A json-pretty record of the sample as one compact line, the way newer journalctl prints `-o json`. */
function compact(header: string): string {
  return JSON.stringify(JSON.parse(block(REAL, header)));
}

/** Runs one journal collection and returns its promise (collectors may answer synchronously). */
async function collectJournal(options: JournalCollectorOptions, ctx: CollectContext = context()) {
  return createJournalCollector(options).collect(ctx, { skip() {} });
}

const context = (overrides: Partial<CollectContext> = {}) =>
  liveContext({ commandTimeoutMs: 10_000, ...overrides });

describe('parseJournalJson on real journald records', () => {
  it('reads the old " : " spacing of older systemd (two ext4 errors, priority crit)', () => {
    const { entries, skipped } = parseJournalJson(block(REAL, 'B.'));
    assert.deepEqual(skipped, []);
    assert.equal(entries.length, 2);
    assert.deepEqual(entries[0], {
      time: 1599541804928,
      priority: 2,
      identifier: 'kernel',
      unit: null,
      pid: null,
      transport: 'kernel',
      message:
        'EXT4-fs error (device sdc2): ext4_wait_block_bitmap:519: comm Trash:store1: Cannot read block bitmap - block_group = 2571, block_bitmap = 83886091',
      messageId: null,
      cursor:
        's=2c2f7f3d64d844aa9bc1844a48026313;i=1f345;b=c4b33c96f240457abc130dcb73da2b24;m=192b58ccf5;t=5aec659160d52;x=eb931437dac873e3',
    });
    assert.equal(entries[1]!.message, 'EXT4-fs error (device sdc2) in ext4_free_blocks:4969: IO failure');
  });

  it('reads the compact form of newer systemd and turns microseconds into milliseconds', () => {
    const { entries, skipped } = parseJournalJson(`${compact('A.')}\n${compact('C.')}\n`);
    assert.deepEqual(skipped, []);
    assert.equal(entries[0]!.time, 1601471260802);
    assert.equal(new Date(entries[0]!.time).toISOString(), '2020-09-30T13:07:40.802Z');
    assert.equal(entries[0]!.priority, 3);
    assert.match(
      entries[0]!.message,
      /^blk_update_request: critical medium error, dev nvme0n1, sector 10000/,
    );
    assert.equal(entries[1]!.priority, 6);
    assert.equal(entries[1]!.message, 'usb 7-2.4: new high-speed USB device number 13 using xhci_hcd');
  });

  it('decodes a MESSAGE sent as bytes because it is not UTF-8, marking the bad bytes', () => {
    const record = JSON.parse(compact('A.')) as Record<string, unknown>;
    // "cannot open /home/ana/Résumé.pdf" with the é in Latin-1 (0xe9), as an old file name would be.
    record['MESSAGE'] = [
      ...Buffer.from('cannot open /home/ana/R'),
      0xe9,
      ...Buffer.from('sum'),
      0xe9,
      ...Buffer.from('.pdf'),
    ];
    const { entries } = parseJournalJson(JSON.stringify(record));
    assert.equal(entries[0]!.message, 'cannot open /home/ana/R\uFFFDsum\uFFFD.pdf');
  });

  it('decodes valid UTF-8 bytes as the text they are, with the bell written out', () => {
    const record = JSON.parse(compact('A.')) as Record<string, unknown>;
    record['MESSAGE'] = [...Buffer.from('Résumé saved\x07')];
    assert.equal(parseJournalJson(JSON.stringify(record)).entries[0]!.message, 'Résumé saved\\x07');
  });

  it('writes out the escape sequences and newlines any local program can log, in the message and the names', () => {
    const record = JSON.parse(compact('A.')) as Record<string, unknown>;
    record['MESSAGE'] = 'done\n\u001b[2J\u001b]0;pwned\u0007';
    record['SYSLOG_IDENTIFIER'] = 'app\u001b[31m';
    record['_SYSTEMD_UNIT'] = 'x\r.service';
    const entry = parseJournalJson(JSON.stringify(record)).entries[0]!;
    assert.equal(entry.message, 'done\\n\\e[2J\\e]0;pwned\\x07');
    assert.equal(entry.identifier, 'app\\e[31m');
    assert.equal(entry.unit, 'x\\r.service');
  });

  it("names the unit, pid and message id of systemd's OOM follow-up", () => {
    // The synthetic template's last record, placeholders filled in (its PRIORITY is left open there).
    const line = sampleLines('journald-json-oom-TEMPLATE-synthetic.txt').find(
      (l) => !l.startsWith('#') && l.includes('killed by the OOM killer'),
    );
    const filled = line!
      .replace('"<CURSOR>"', '"s=1;i=2"')
      .replace('"<USEC_EPOCH>"', '"1767225600123456"')
      .replace('"<USEC_BOOT_RECV>"', '"44178700000"')
      .replace(/"<[A-Z_0-9]+>"/g, '"5"');
    const { entries, skipped } = parseJournalJson(filled);
    assert.deepEqual(skipped, []);
    assert.equal(entries[0]!.unit, 'session-1.scope');
    assert.equal(entries[0]!.pid, 1);
    assert.equal(entries[0]!.identifier, 'systemd');
    assert.equal(entries[0]!.messageId, 'fe6faa94e7774663a0da52717891d8ef');
    assert.equal(entries[0]!.time, 1767225600123);
  });

  it('prefers _SYSTEMD_UNIT, and falls back to USER_UNIT for a user manager', () => {
    const base = { __REALTIME_TIMESTAMP: '1767225600000000', PRIORITY: '4', MESSAGE: 'x' };
    const text = [
      JSON.stringify({ ...base, _SYSTEMD_UNIT: 'earlyoom.service', UNIT: 'ignored.service' }),
      JSON.stringify({ ...base, USER_UNIT: 'app-gnome-firefox-2504.scope' }),
    ].join('\n');
    const { entries } = parseJournalJson(text);
    assert.equal(entries[0]!.unit, 'earlyoom.service');
    assert.equal(entries[1]!.unit, 'app-gnome-firefox-2504.scope');
  });

  it('shows a message too large to print (null) as empty rather than dropping the entry', () => {
    const text = JSON.stringify({
      __REALTIME_TIMESTAMP: '1767225600000000',
      PRIORITY: '3',
      MESSAGE: null,
      _PID: null,
    });
    const { entries, skipped } = parseJournalJson(text);
    assert.deepEqual(skipped, []);
    assert.equal(entries[0]!.message, '');
    assert.equal(entries[0]!.pid, null);
  });

  it('skips a garbled line with its line number and keeps the good ones around it', () => {
    const [first, second] = block(REAL, 'B.').split('\n');
    const cut = first!.slice(0, 80);
    const text = [second, cut, '-- No entries --', '"just a string"', compact('A.')].join('\n');
    const { entries, skipped } = parseJournalJson(text);
    assert.equal(entries.length, 2);
    assert.equal(skipped.length, 3);
    assert.match(skipped[0]!, /^journal line 2: not JSON/);
    assert.match(skipped[1]!, /^journal line 3: not JSON/);
    assert.match(skipped[2]!, /^journal line 4: not a JSON object/);
  });

  it('skips a record without a usable timestamp', () => {
    const { entries, skipped } = parseJournalJson('{"MESSAGE":"no time","PRIORITY":"3"}');
    assert.deepEqual(entries, []);
    assert.match(skipped[0]!, /no usable __REALTIME_TIMESTAMP/);
  });
});

describe('journalctlArgs', () => {
  const matches = ['PRIORITY=0', 'PRIORITY=1', 'PRIORITY=2', 'PRIORITY=3', 'PRIORITY=4'];
  const killers = ['+', 'SYSLOG_IDENTIFIER=systemd-oomd', '+', 'SYSLOG_IDENTIFIER=earlyoom'];

  it('reads warnings of the last hour from the live journal, plus every OOM killer report', () => {
    assert.deepEqual(journalctlArgs({ kind: 'system' }, '-1h', 500), [
      'journalctl',
      '-o',
      'json',
      '--no-pager',
      '-q',
      '--since',
      '-1h',
      '-n',
      '500',
      ...matches,
      ...killers,
    ]);
  });

  it("reads the most recent entries of another machine's journal file or directory, whatever their age", () => {
    assert.deepEqual(journalctlArgs({ kind: 'file', path: '/srv/copy/system.journal' }, '-1h'), [
      'journalctl',
      '-o',
      'json',
      '--no-pager',
      '-q',
      '--file',
      '/srv/copy/system.journal',
      '-n',
      '500',
      ...matches,
      ...killers,
    ]);
    const directory = journalctlArgs({ kind: 'directory', path: '/srv/copy/journal' }, '-1h', 50);
    assert.deepEqual(directory.slice(5, 9), ['--directory', '/srv/copy/journal', '-n', '50']);
    assert.ok(!directory.includes('--since'));
  });
});

describe('the journal collector when there is no journal', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'vigil-journal-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  /** A stand-in journalctl written for one test: a shell script with the given body. */
  function fakeJournalctl(name: string, body: string): string {
    const path = join(scratch, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  const haveJournalctl = spawnSync('journalctl', ['--version']).error === undefined;
  const needsJournalctl = haveJournalctl ? false : 'needs journalctl (Debian package systemd)';
  const liveProbe = spawnSync('journalctl', ['--no-pager', '-n', '0'], { encoding: 'utf8' });
  const liveHasNoJournal =
    liveProbe.error === undefined && /No journal files were found/.test(liveProbe.stderr);

  it('says this machine has no systemd journal (journalctl exits 0 and prints nothing for JSON)', {
    skip: liveHasNoJournal ? false : 'this machine has a journal (or no journalctl)',
  }, async () => {
    await assert.rejects(collectJournal({}, context()), (error: Error) => {
      assert.ok(error instanceof Unsupported);
      assert.equal(error.message, 'no systemd journal on this machine');
      return true;
    });
  });

  it('says unsupported when journalctl answers the way it does without a journal (systemd 252)', async () => {
    // What journalctl 252 did on a machine without systemd as pid 1 and no journal files: exit 0 and
    // silence for `-o json`; "-- No entries --" and a stderr notice for the default output.
    const journalctl = fakeJournalctl(
      'journalctl-no-journal',
      'case " $* " in *" -o json "*) exit 0;; esac\necho "-- No entries --"\necho "No journal files were found." >&2\nexit 0',
    );
    await assert.rejects(
      collectJournal({ journalctl }, context()),
      (error: Error) =>
        error instanceof Unsupported && error.message === 'no systemd journal on this machine',
    );
  });

  it('says unsupported when journalctl is not installed', async () => {
    await assert.rejects(
      collectJournal({ journalctl: join(scratch, 'no-such-journalctl') }, context()),
      (error: Error) =>
        error instanceof Unsupported && error.message === 'journalctl not found (Debian package systemd)',
    );
  });

  it("fails with journalctl's own words for a journal file that does not exist", {
    skip: needsJournalctl,
  }, async () => {
    const missing = join(scratch, 'gone.journal');
    await assert.rejects(
      collectJournal({}, context({ journal: { kind: 'file', path: missing } })),
      (error: Error) => {
        assert.ok(!(error instanceof Unsupported));
        assert.match(
          error.message,
          new RegExp(`journal file ${missing}: journalctl failed \\(exit 1\\): Failed to open`),
        );
        return true;
      },
    );
  });

  it('fails, naming the directory, when asked to read a directory without journal files', {
    skip: needsJournalctl,
  }, async () => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    await assert.rejects(
      collectJournal({}, context({ journal: { kind: 'directory', path: empty } })),
      new RegExp(`journal directory ${empty}: no journal files in ${empty}`),
    );
  });

  it('gives up on a journalctl that hangs', async () => {
    const journalctl = fakeJournalctl('journalctl-hang', 'exec sleep 30');
    const started = performance.now();
    await assert.rejects(
      collectJournal({ journalctl }, context({ commandTimeoutMs: 300 })),
      /journalctl did not answer within 300 ms/,
    );
    assert.ok(performance.now() - started < 5000);
  });
});
