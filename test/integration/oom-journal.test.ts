import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createJournalCollector, type JournalPriority } from '../../src/collectors/journal.js';
import {
  MESSAGE_ID_UNIT_OOMD_KILL,
  MESSAGE_ID_UNIT_OUT_OF_MEMORY,
  oomKillsFromJournal,
} from '../../src/collectors/oom.js';
import type { CollectContext } from '../../src/collectors/types.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { JournalEntry } from '../../src/model/snapshot.js';
import {
  buildJournalFile,
  type ExportEntry,
  JOURNAL_REMOTE_MISSING,
  journalRemoteAvailable,
} from '../helpers/journal.js';
import { sampleBlock } from '../helpers/samples.js';

/** The text of the one line of a sample block containing `marker`, from `from` on (prefixes cut off). */
function sampleMessage(name: string, header: string, marker: string, from: string): string {
  const line = sampleBlock(name, header)
    .split('\n')
    .find((l) => l.includes(marker));
  assert.ok(line !== undefined, `no "${marker}" in ${name} ${header}`);
  return line.slice(line.indexOf(from));
}

const OOM = 'oom-kill-kernel-lines.txt';
const TRIGGER = sampleMessage(OOM, '1.', 'invoked oom-killer', 'systemd-journal invoked');
const SUMMARY = sampleMessage(OOM, '1.', 'oom-kill:constraint', 'oom-kill:');
const KILLED = sampleMessage(OOM, '1.', 'Killed process 1811', 'Out of memory');
const REAPED = sampleMessage(OOM, '1.', 'oom_reaper', 'oom_reaper');
const OOMD_MARKED = sampleMessage('systemd-oomd-lines.txt', '4.', 'Marked /system.slice', 'Marked');
const EARLYOOM_STATUS = sampleMessage('earlyoom-lines.txt', 'C.', 'mem avail:   165', 'mem avail');
const EARLYOOM_LOW = sampleMessage('earlyoom-lines.txt', 'C.', 'low memory!', 'low memory!');

/** earlyoom's current kill line (kill.c format string), for a SIGTERM and the SIGKILL that follows it. */
const EARLYOOM_TERM =
  'sending SIGTERM to process 7378 uid 1000 "tail": oom_score 156, oom_score_adj 0, VmRSS 4962 MiB, cmdline "tail -f /dev/zero"';
const EARLYOOM_KILL = EARLYOOM_TERM.replace('SIGTERM', 'SIGKILL');
const EARLYOOM_WEB =
  'sending SIGTERM to process 8123 uid 1000 "Web Content": oom_score 901, oom_score_adj 100, VmRSS 2100 MiB, cmdline "/usr/lib/firefox/firefox -contentproc"';

const BOOT_ID = '7b1e4c2a9d3f4e5a8c6b0d2e4f6a8c1e';
/** 2026-01-02T00:00:00Z in microseconds. */
const BASE_MICROS = 1_767_312_000_000_000;
const BASE_MS = BASE_MICROS / 1000;

function at(offsetMicros: number): Pick<ExportEntry, string> {
  return {
    __REALTIME_TIMESTAMP: String(BASE_MICROS + offsetMicros),
    __MONOTONIC_TIMESTAMP: String(52_000_000_000 + offsetMicros),
    _BOOT_ID: BOOT_ID,
    _HOSTNAME: 'workstation',
  };
}

/** mm/oom_kill.c: trigger pr_warn (4), summary and reaper pr_info (6), kill line pr_err (3). */
function kernel(offsetMicros: number, priority: number, message: string): ExportEntry {
  return {
    ...at(offsetMicros),
    _TRANSPORT: 'kernel',
    SYSLOG_FACILITY: '0',
    SYSLOG_IDENTIFIER: 'kernel',
    PRIORITY: String(priority),
    MESSAGE: message,
  };
}

/** src/core/cgroup.c: both follow-ups are log_unit_struct(u, LOG_NOTICE, ...), priority 5. */
function pid1(offsetMicros: number, unit: string, messageId: string, message: string): ExportEntry {
  return {
    ...at(offsetMicros),
    _TRANSPORT: 'journal',
    _PID: '1',
    _COMM: 'systemd',
    SYSLOG_FACILITY: '3',
    SYSLOG_IDENTIFIER: 'systemd',
    PRIORITY: '5',
    UNIT: unit,
    MESSAGE_ID: messageId,
    MESSAGE: message,
  };
}

/** src/oom/oomd-manager.c: `Killed ...` (older) and `Marked ... for killing ...` (newer) are log_notice, 5. */
function oomd(offsetMicros: number, message: string): ExportEntry {
  return {
    ...at(offsetMicros),
    _TRANSPORT: 'journal',
    _PID: '659',
    _COMM: 'systemd-oomd',
    _SYSTEMD_UNIT: 'systemd-oomd.service',
    SYSLOG_FACILITY: '3',
    SYSLOG_IDENTIFIER: 'systemd-oomd',
    PRIORITY: '5',
    MESSAGE: message,
  };
}

/**
 * earlyoom prints everything, kills included, with plain fprintf(stderr) and no `<N>` level prefix
 * (msg.c), and earlyoom.service sets no SyslogLevel=, so journald files each line at the unit's default
 * level, info (6), with _TRANSPORT=stdout (the stream transport, for stderr too).
 */
function earlyoom(offsetMicros: number, message: string): ExportEntry {
  return {
    ...at(offsetMicros),
    _TRANSPORT: 'stdout',
    _PID: '10231',
    _COMM: 'earlyoom',
    _SYSTEMD_UNIT: 'earlyoom.service',
    SYSLOG_FACILITY: '3',
    SYSLOG_IDENTIFIER: 'earlyoom',
    PRIORITY: '6',
    MESSAGE: message,
  };
}

function entries(): ExportEntry[] {
  return [
    kernel(0, 4, TRIGGER),
    kernel(100, 6, SUMMARY),
    kernel(200, 3, KILLED),
    kernel(2_500, 6, REAPED),
    pid1(
      3_000,
      'session-1.scope',
      MESSAGE_ID_UNIT_OUT_OF_MEMORY,
      'session-1.scope: A process of this unit has been killed by the OOM killer.',
    ),
    earlyoom(4_000_000, EARLYOOM_STATUS),
    earlyoom(4_000_100, EARLYOOM_LOW),
    earlyoom(4_000_200, EARLYOOM_TERM),
    earlyoom(6_000_200, EARLYOOM_KILL),
    earlyoom(6_100_000, 'process exited after 2.1 seconds'),
    earlyoom(8_000_000, EARLYOOM_WEB),
    oomd(10_000_000, OOMD_MARKED),
    pid1(
      10_002_000,
      'systemd-journald.service',
      MESSAGE_ID_UNIT_OOMD_KILL,
      'systemd-journald.service: systemd-oomd killed 1 process(es) in this unit.',
    ),
  ];
}

function context(path: string): CollectContext {
  return {
    paths: LIVE_PATHS,
    nowMs: Date.now(),
    monoMs: performance.now(),
    nvidiaSmi: 'nvidia-smi',
    journal: { kind: 'file', path },
    journalSince: '-1h',
    commandTimeoutMs: 20_000,
  };
}

async function read(path: string, priority?: JournalPriority): Promise<JournalEntry[]> {
  const skips: string[] = [];
  const collector = createJournalCollector(priority === undefined ? {} : { priority });
  const result = await collector.collect(context(path), { skip: (reason) => skips.push(reason) });
  assert.deepEqual(skips, []);
  return result;
}

/** The kernel kill as every read sees it, whatever the cgroup. */
const KERNEL_VICTIM = {
  source: 'kernel',
  pid: 1811,
  name: 'stress-ng',
  rssBytes: 64 * 1024,
  uid: 1000,
  signal: 'SIGKILL',
  time: BASE_MS,
  message: KILLED,
};

const skip = journalRemoteAvailable() ? false : JOURNAL_REMOTE_MISSING;

describe('OOM kills read from a real journal file through the journal collector', { skip }, () => {
  let dir = '';
  let file = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-oom-journal-'));
    file = buildJournalFile(dir, entries());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('returns each of the four victims once, with pid, name, RSS and cgroup, when read at info level', async () => {
    const kills = await read(file, 'info');
    const found = oomKillsFromJournal(kills);
    assert.deepEqual(
      found.map(({ cursor: _cursor, ...kill }) => kill),
      [
        { ...KERNEL_VICTIM, cgroup: '/user.slice/user-1000.slice/session-1.scope', unit: 'session-1.scope' },
        {
          source: 'earlyoom',
          pid: 7378,
          name: 'tail',
          rssBytes: 4962 * 1024 * 1024,
          uid: 1000,
          cgroup: null,
          unit: null,
          signal: 'SIGTERM',
          time: BASE_MS + 4_000,
          message: EARLYOOM_TERM,
        },
        {
          source: 'earlyoom',
          pid: 8123,
          name: 'Web Content',
          rssBytes: 2100 * 1024 * 1024,
          uid: 1000,
          cgroup: null,
          unit: null,
          signal: 'SIGTERM',
          time: BASE_MS + 8_000,
          message: EARLYOOM_WEB,
        },
        {
          source: 'systemd-oomd',
          pid: null,
          name: null,
          rssBytes: null,
          uid: null,
          cgroup: '/system.slice/systemd-journald.service',
          unit: 'systemd-journald.service',
          signal: 'SIGKILL',
          time: BASE_MS + 10_000,
          message: OOMD_MARKED,
        },
      ],
    );
    for (const kill of found) assert.match(kill.cursor ?? '', new RegExp(`;b=${BOOT_ID};`));
  });

  it('at the default level, also counts each victim once: earlyoom and systemd-oomd are read whatever their priority', async () => {
    const kills = oomKillsFromJournal(await read(file));
    assert.deepEqual(
      kills.map((k) => [k.source, k.pid, k.name, k.rssBytes, k.pid === null ? k.unit : k.uid]),
      [
        ['kernel', 1811, 'stress-ng', 64 * 1024, 1000],
        ['earlyoom', 7378, 'tail', 4962 * 1024 * 1024, 1000],
        ['earlyoom', 8123, 'Web Content', 2100 * 1024 * 1024, 1000],
        ['systemd-oomd', null, null, null, 'systemd-journald.service'],
      ],
    );
  });

  it('at the default level, gives the kernel kill no cgroup: its oom-kill: summary is info (6) and is not read', async () => {
    const entries = await read(file);
    assert.ok(!entries.some((e) => e.message.startsWith('oom-kill:')));
    assert.deepEqual(
      oomKillsFromJournal(entries)
        .filter((k) => k.source === 'kernel')
        .map(({ cursor: _cursor, ...kill }) => kill),
      [{ ...KERNEL_VICTIM, cgroup: null, unit: null }],
    );
  });

  it("leaves systemd's follow-ups (notice) uncounted when they are read", async () => {
    const entries = await read(file, 'notice');
    assert.equal(entries.filter((e) => e.messageId === MESSAGE_ID_UNIT_OUT_OF_MEMORY).length, 1);
    assert.equal(entries.filter((e) => e.messageId === MESSAGE_ID_UNIT_OOMD_KILL).length, 1);
    assert.equal(oomKillsFromJournal(entries).length, 4);
  });
});
