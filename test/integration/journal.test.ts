import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createJournalCollector, type JournalCollectorOptions } from '../../src/collectors/journal.js';
import type { CollectContext, JournalSource } from '../../src/collectors/types.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { JournalEntry } from '../../src/model/snapshot.js';
import {
  buildJournalFile,
  type ExportEntry,
  JOURNAL_REMOTE_MISSING,
  journalRemoteAvailable,
} from '../helpers/journal.js';

/** One `## X.` block of a sample in test/fixtures/samples, without `#` notes and blank lines. */
function block(name: string, header: string): string[] {
  const lines = readFileSync(
    fileURLToPath(new URL(`../fixtures/samples/${name}`, import.meta.url)),
    'utf8',
  ).split('\n');
  const start = lines.findIndex((line) => line.startsWith(`## ${header}`));
  assert.ok(start >= 0, `no block "## ${header}" in ${name}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/** The real kernel records, as journal fields (the journal writes its own cursor). */
function realKernelRecords(): ExportEntry[] {
  const name = 'journald-json-kernel-records-real.txt';
  const records = [
    JSON.parse(block(name, 'A.').join('\n')),
    ...block(name, 'B.').map((line) => JSON.parse(line)),
    JSON.parse(block(name, 'C.').join('\n')),
  ] as Record<string, string>[];
  return records.map(({ __CURSOR: _cursor, ...fields }) => fields);
}

/** A line of a sample whose text contains `marker`, with the dmesg/syslog prefix before `from` cut off. */
function sampleMessage(name: string, header: string, marker: string, from: string): string {
  const line = block(name, header).find((l) => l.includes(marker));
  assert.ok(line !== undefined, `no "${marker}" in ${name} ${header}`);
  return line.slice(line.indexOf(from));
}

const BOOT_ID = '5d2c4d0e8e0f4f6f9a1b3c5d7e9f1a2b';
/** 2026-01-01T00:00:00Z in microseconds: the OOM burst and the daemons' reactions follow it. */
const OOM_BASE_MICROS = 1_767_225_600_000_000;

function kernel(
  offsetMicros: number,
  priority: string,
  sourceMonotonic: string,
  message: string,
): ExportEntry {
  return {
    __REALTIME_TIMESTAMP: String(OOM_BASE_MICROS + offsetMicros),
    __MONOTONIC_TIMESTAMP: String(44_178_000_000 + offsetMicros),
    _BOOT_ID: BOOT_ID,
    _HOSTNAME: 'workstation',
    _TRANSPORT: 'kernel',
    SYSLOG_FACILITY: '0',
    SYSLOG_IDENTIFIER: 'kernel',
    PRIORITY: priority,
    _SOURCE_MONOTONIC_TIMESTAMP: sourceMonotonic,
    MESSAGE: message,
  };
}

const OOM = 'oom-kill-kernel-lines.txt';
const KILLED = sampleMessage(OOM, '1.', 'Out of memory: Killed process 1811', 'Out of memory');
const EARLYOOM_KILL = sampleMessage('earlyoom-lines.txt', 'B.', 'sending SIGTERM', 'sending SIGTERM');
const OOMD_KILL = sampleMessage(
  'systemd-oomd-lines.txt',
  '1.',
  'systemd-oomd[840]: Killed',
  'Killed /user.slice',
);
/** "cannot open /home/ana/Résumé.pdf: Permission denied", the file name in Latin-1: not UTF-8. */
const LATIN1_MESSAGE = [
  ...Buffer.from('cannot open /home/ana/R'),
  0xe9,
  ...Buffer.from('sum'),
  0xe9,
  ...Buffer.from('.pdf: Permission denied'),
];

/**
 * Priorities are the ones the programs really use: the kernel prints the kill line with pr_err (3), the
 * oom-killer trigger with pr_warn (4) and the oom-kill:/oom_reaper lines with pr_info (6); systemd-oomd
 * logs its kills with log_notice (5); earlyoom writes plain stderr, which journald files at a service's
 * default level, info (6).
 */
function journalEntries(): ExportEntry[] {
  return [
    ...realKernelRecords(),
    kernel(
      0,
      '4',
      '44178645848',
      sampleMessage(OOM, '1.', 'systemd-journal invoked oom-killer', 'systemd-journal invoked'),
    ),
    kernel(100, '6', '44178537749', sampleMessage(OOM, '1.', 'oom-kill:constraint', 'oom-kill:')),
    kernel(200, '3', '44178537897', KILLED),
    kernel(2_500, '6', '44178540183', sampleMessage(OOM, '1.', 'oom_reaper', 'oom_reaper')),
    {
      __REALTIME_TIMESTAMP: String(OOM_BASE_MICROS + 5_000_000),
      __MONOTONIC_TIMESTAMP: String(44_183_000_000),
      _BOOT_ID: BOOT_ID,
      _TRANSPORT: 'stdout',
      _SYSTEMD_UNIT: 'earlyoom.service',
      _PID: '10231',
      _COMM: 'earlyoom',
      SYSLOG_IDENTIFIER: 'earlyoom',
      SYSLOG_FACILITY: '3',
      PRIORITY: '6',
      MESSAGE: EARLYOOM_KILL,
    },
    {
      __REALTIME_TIMESTAMP: String(OOM_BASE_MICROS + 6_000_000),
      __MONOTONIC_TIMESTAMP: String(44_184_000_000),
      _BOOT_ID: BOOT_ID,
      _TRANSPORT: 'journal',
      _SYSTEMD_UNIT: 'systemd-oomd.service',
      _PID: '840',
      _COMM: 'systemd-oomd',
      SYSLOG_IDENTIFIER: 'systemd-oomd',
      PRIORITY: '5',
      MESSAGE: OOMD_KILL,
    },
    {
      __REALTIME_TIMESTAMP: String(OOM_BASE_MICROS + 7_000_000),
      __MONOTONIC_TIMESTAMP: String(44_185_000_000),
      _BOOT_ID: BOOT_ID,
      _TRANSPORT: 'syslog',
      _PID: '4242',
      SYSLOG_IDENTIFIER: 'backup',
      PRIORITY: '3',
      MESSAGE: LATIN1_MESSAGE,
    },
  ];
}

function context(journal: JournalSource): CollectContext {
  return {
    paths: LIVE_PATHS,
    nowMs: Date.now(),
    monoMs: performance.now(),
    nvidiaSmi: 'nvidia-smi',
    journal,
    journalSince: '-1h',
    commandTimeoutMs: 20_000,
  };
}

async function read(journal: JournalSource, options: JournalCollectorOptions = {}): Promise<JournalEntry[]> {
  const skips: string[] = [];
  const entries = await createJournalCollector(options).collect(context(journal), {
    skip: (reason) => skips.push(reason),
  });
  assert.deepEqual(skips, []);
  return entries;
}

const skip = journalRemoteAvailable() ? false : JOURNAL_REMOTE_MISSING;

describe('the journal collector reading a real journal file', { skip }, () => {
  let dir = '';
  let file = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-journal-'));
    file = buildJournalFile(dir, journalEntries());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The warnings of the file, in the journal's own order (the order they were written). */
  function assertWarnings(entries: JournalEntry[]): void {
    const expected: Array<[number, string, string]> = [
      [3, 'kernel', 'blk_update_request: critical medium error, dev nvme0n1'],
      [2, 'kernel', 'EXT4-fs error (device sdc2): ext4_wait_block_bitmap:519'],
      [2, 'kernel', 'EXT4-fs error (device sdc2) in ext4_free_blocks:4969: IO failure'],
      [4, 'kernel', 'systemd-journal invoked oom-killer: gfp_mask=0x1100cca'],
      [3, 'kernel', 'Out of memory: Killed process 1811 (stress-ng)'],
      [3, 'backup', 'cannot open /home/ana/R\uFFFDsum\uFFFD.pdf: Permission denied'],
    ];
    const warnings = entries.filter((e) => e.identifier !== 'systemd-oomd' && e.identifier !== 'earlyoom');
    assert.deepEqual(
      warnings.map((e, i) => [
        e.priority,
        e.identifier,
        e.message.startsWith(expected[i]?.[2] ?? '\0') ? expected[i]![2] : e.message,
      ]),
      expected,
    );
  }

  it('returns warnings and worse, and leaves info records out', async () => {
    const entries = await read({ kind: 'file', path: file });
    assertWarnings(entries);
    assert.ok(
      !entries.some((e) => e.message.startsWith('usb 7-2.4')),
      'the info-level USB record is filtered',
    );
    assert.ok(
      !entries.some((e) => e.message.startsWith('oom-kill:')),
      'the info-level oom-kill: line is filtered',
    );
  });

  it('gives the kernel OOM kill its time, transport and full text, and the journal its cursor', async () => {
    const entries = await read({ kind: 'file', path: file });
    const kill = entries.find((e) => e.message.startsWith('Out of memory: Killed process 1811'))!;
    assert.equal(kill.message, KILLED);
    assert.equal(kill.time, 1_767_225_600_000);
    assert.equal(new Date(kill.time).toISOString(), '2026-01-01T00:00:00.000Z');
    assert.equal(kill.transport, 'kernel');
    assert.equal(kill.pid, null);
    assert.equal(kill.unit, null);
    assert.match(kill.cursor ?? '', /^s=[0-9a-f]+;i=[0-9a-f]+;b=5d2c4d0e8e0f4f6f9a1b3c5d7e9f1a2b;/);
    const ext4 = entries.find((e) =>
      e.message.startsWith('EXT4-fs error (device sdc2): ext4_wait_block_bitmap'),
    )!;
    assert.equal(ext4.time, 1_599_541_804_928);
    assert.equal(ext4.priority, 2);
  });

  it('decodes the non-UTF-8 message, replacing only the bad bytes', async () => {
    const entries = await read({ kind: 'file', path: file });
    const backup = entries.find((e) => e.identifier === 'backup')!;
    assert.equal(backup.message, 'cannot open /home/ana/R\uFFFDsum\uFFFD.pdf: Permission denied');
    assert.equal(backup.pid, 4242);
    assert.equal(backup.transport, 'syslog');
  });

  it('reads the same entries from the directory holding the file', async () => {
    assertWarnings(await read({ kind: 'directory', path: dir }));
  });

  it('returns only the most recent entries when asked for fewer', async () => {
    const all = await read({ kind: 'file', path: file });
    const entries = await read({ kind: 'file', path: file }, { limit: 2 });
    assert.equal(entries.length, 2);
    assert.deepEqual(entries, all.slice(-2));
  });

  it('keeps the systemd-oomd (notice) and earlyoom (info) kills at the default warning level', async () => {
    const entries = await read({ kind: 'file', path: file });
    assert.ok(entries.some((e) => e.identifier === 'systemd-oomd' && e.priority === 5));
    assert.ok(entries.some((e) => e.identifier === 'earlyoom' && e.priority === 6));
    assert.ok(
      entries.every((e) => e.priority <= 4 || e.identifier === 'systemd-oomd' || e.identifier === 'earlyoom'),
      'other info and notice records stay out',
    );
  });

  it('sees the earlyoom and systemd-oomd kills, with their units and pids, when asked for info and worse', async () => {
    const entries = await read({ kind: 'directory', path: dir }, { priority: 'info' });
    assert.equal(entries.length, 11);
    const earlyoom = entries.find((e) => e.identifier === 'earlyoom')!;
    assert.equal(
      earlyoom.message,
      'sending SIGTERM to process 7378 uid 1000 "tail": oom_score 156, VmRSS 4962 MiB',
    );
    assert.equal(earlyoom.priority, 6);
    assert.equal(earlyoom.unit, 'earlyoom.service');
    assert.equal(earlyoom.pid, 10231);
    assert.equal(earlyoom.transport, 'stdout');
    assert.equal(earlyoom.time, 1_767_225_605_000);
    const oomd = entries.find((e) => e.identifier === 'systemd-oomd')!;
    assert.match(oomd.message, /^Killed \/user\.slice\/user-1001\.slice\/user@1001\.service\/app\.slice\//);
    assert.match(
      oomd.message,
      /due to memory pressure for \/user\.slice\/user-1001\.slice\/user@1001\.service being 51\.07%/,
    );
    assert.equal(oomd.priority, 5);
    assert.equal(oomd.unit, 'systemd-oomd.service');
    assert.equal(oomd.pid, 840);
  });
});
