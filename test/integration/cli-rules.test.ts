import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { fixtureStatusArgs } from '../helpers/context.js';
import { buildJournalFile, JOURNAL_REMOTE_MISSING, journalRemoteAvailable } from '../helpers/journal.js';
import { fixturePath, sampleBlock } from '../helpers/samples.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { XDG_CONFIG_HOME: join(dir, 'xdg') };

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('vigil rules', () => {
  it('lists the shipped rule pack with its public ids', () => {
    const run = runVigil(['rules', 'list', '--json'], env);
    assert.equal(run.status, 0, run.stderr);
    const ids = JSON.parse(run.stdout).map((r: { id: string }) => r.id);
    for (const id of [
      'ram_high',
      'swap_high',
      'zombie_processes',
      'orphan_cpu',
      'duplicate_processes',
      'ghost_process_storm',
      'disk_low',
      'oom_kill',
      'load_high',
      'temperature_high',
      'memory_leak',
      'failed_user_unit',
      'baseline_anomaly',
    ]) {
      assert.ok(ids.includes(id), `missing ${id}`);
    }
  });

  it('checks the shipped and user rules clean', () => {
    const run = runVigil(['rules', 'check'], env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^13 rules OK/);
  });

  it('exits 1 naming file, line and rule id for an unknown field and a CEL type error, and loads the rest', () => {
    const file = write(
      'broken.toml',
      [
        '[[rule]]',
        'id = "fine_one"',
        'title = "Fine"',
        'severity = "low"',
        'scope = "system"',
        'when = "sys.load1 > 100.0"',
        'summary = "load {{ fixed(sys.load1) }}"',
        '',
        '[[rule]]',
        'id = "typo_field"',
        'title = "Typo"',
        'severity = "low"',
        'scope = "system"',
        'when = "sys.load1 > 1.0"',
        'sumary = "oops"',
        '',
        '[[rule]]',
        'id = "bad_cel"',
        'title = "Bad"',
        'severity = "low"',
        'scope = "process"',
        'when = "proc.rss_bytes > \'big\'"',
        'summary = "x"',
        '',
      ].join('\n'),
    );
    const run = runVigil(['rules', 'check', file], env);
    assert.equal(run.status, 1);
    const lines = run.stderr.trim().split('\n');
    assert.ok(lines.includes(`${file}:15: rule[1].sumary: rule "typo_field": unknown key`), run.stderr);
    assert.ok(
      lines.some((l) => l.startsWith(`${file}:14:`) || l.includes('summary')),
      run.stderr,
    );
    assert.ok(
      lines.some((l) =>
        l.startsWith(`${file}:22: rule[2].when: rule "bad_cel": no such overload: double > string`),
      ),
      run.stderr,
    );
    assert.match(run.stderr, /3 problem\(s\); 14 rule\(s\) loaded fine/);
  });

  it('names the line of a TOML syntax error', () => {
    const file = write('syntax.toml', '[[rule]]\nid = "x\n');
    const run = runVigil(['rules', 'check', file], env);
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`^${file}:2: TOML syntax`));
  });

  it('tries a rule against a saved snapshot of a hot CPU, taking its duration as elapsed', () => {
    const sys = join(dir, 'sys');
    cpSync(fixturePath('sys'), sys, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(sys, 'devices/platform/coretemp.0/hwmon/hwmon0/temp1_input'), '97000\n');
    const snap = runVigil(fixtureStatusArgs({ sysfs: sys }), env);
    assert.equal(snap.status, 0, snap.stderr);
    const file = write('snap.json', snap.stdout);
    const run = runVigil(['rules', 'test', fixturePath('../../rules/system.toml'), '--snapshot', file], env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /temperature_high: 1 match\(es\) \(its for = 30s is taken as elapsed\)/);
    assert.match(run.stdout, /HIGH {5}coretemp Physical id 0 at 97°C/);
    assert.match(run.stdout, /load_high: no match/);
  });
});

describe('OOM kills in a real journal file, judged by vigil status', () => {
  const skip = journalRemoteAvailable() ? false : JOURNAL_REMOTE_MISSING;
  it('reports each victim once with its pid, name and memory', { skip }, () => {
    const base = 1_767_312_000_000_000;
    const entry = (offset: number, fields: Record<string, string>) => ({
      __REALTIME_TIMESTAMP: String(base + offset),
      __MONOTONIC_TIMESTAMP: String(52_000_000_000 + offset),
      _BOOT_ID: '7b1e4c2a9d3f4e5a8c6b0d2e4f6a8c1e',
      ...fields,
    });
    const kernel = (offset: number, priority: string, message: string) =>
      entry(offset, {
        _TRANSPORT: 'kernel',
        SYSLOG_IDENTIFIER: 'kernel',
        PRIORITY: priority,
        MESSAGE: message,
      });
    const killed = sampleBlock('oom-kill-kernel-lines.txt', '1.')
      .split('\n')
      .find((l) => l.includes('Killed process 1811'))!;
    const journal = buildJournalFile(dir, [
      kernel(
        0,
        '4',
        'systemd-journal invoked oom-killer: gfp_mask=0x1100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=-250',
      ),
      kernel(100, '3', killed.slice(killed.indexOf('Out of memory'))),
      entry(2_000_000, {
        _TRANSPORT: 'stdout',
        SYSLOG_IDENTIFIER: 'earlyoom',
        PRIORITY: '6',
        _PID: '10231',
        MESSAGE: 'sending SIGTERM to process 7378 uid 1000 "tail": oom_score 156, VmRSS 4962 MiB',
      }),
      entry(3_000_000, {
        _TRANSPORT: 'journal',
        SYSLOG_IDENTIFIER: 'systemd-oomd',
        PRIORITY: '5',
        MESSAGE:
          'Killed /user.slice/user-1000.slice/user@1000.service/app.slice/app-code-1234.scope due to memory pressure for /user.slice/user-1000.slice/user@1000.service being 51.07% > 50.00% for > 20s with reclaim activity',
      }),
      entry(4_000_000, {
        _TRANSPORT: 'syslog',
        SYSLOG_IDENTIFIER: 'cron',
        PRIORITY: '6',
        MESSAGE: 'nothing to see',
      }),
    ]);
    const run = runVigil(
      ['status', '--json', '--sample', '0', '--journal-file', journal, '--config', write('empty.toml', '')],
      env,
    );
    assert.equal(run.status, 0, run.stderr);
    const ooms = JSON.parse(run.stdout).findings.filter((f: { rule: string }) => f.rule === 'oom_kill');
    assert.deepEqual(
      ooms.map((f: { severity: string; pids: number[]; summary: string }) => [f.severity, f.pids, f.summary]),
      [
        ['high', [1811], 'kernel killed stress-ng (pid 1811) using 64 KiB'],
        ['high', [7378], 'earlyoom killed tail (pid 7378) using 4.8 GiB'],
        [
          'high',
          [],
          'systemd-oomd killed the cgroup /user.slice/user-1000.slice/user@1000.service/app.slice/app-code-1234.scope',
        ],
      ],
    );
  });
});

describe('the threshold rules on a saved snapshot of a machine in trouble', () => {
  it('flags RAM, swap, load and a full disk at the seed thresholds, with their severities', () => {
    const snap = runVigil(fixtureStatusArgs(), env);
    const s = JSON.parse(snap.stdout);
    s.memory = {
      ...s.memory,
      usedPercent: 93,
      availableBytes: s.memory.totalBytes * 0.07,
      swapTotalBytes: 8 * 2 ** 30,
      swapUsedBytes: 4.4 * 2 ** 30,
      swapUsedPercent: 55,
    };
    s.cpu = { ...s.cpu, load: [9.5, 8, 6] };
    s.disks = [
      {
        ...s.disks[0],
        mount: '/',
        usedPercent: 96.5,
        availableBytes: 3.5 * 2 ** 30,
        totalBytes: 100 * 2 ** 30,
        inodesUsedPercent: 10,
      },
      { ...s.disks[1], mount: '/var', usedPercent: 50, inodesUsedPercent: 93 },
      { ...s.disks[2], mount: '/home', usedPercent: 40, inodesUsedPercent: null },
    ];
    const file = write('trouble.json', JSON.stringify(s));
    const memory = runVigil(
      ['rules', 'test', fixturePath('../../rules/memory.toml'), '--snapshot', file, '--json'],
      env,
    );
    const system = runVigil(
      ['rules', 'test', fixturePath('../../rules/system.toml'), '--snapshot', file, '--json'],
      env,
    );
    const findings = [...JSON.parse(memory.stdout).findings, ...JSON.parse(system.stdout).findings].map(
      (f: { rule: string; severity: string; summary: string }) => `${f.rule} ${f.severity} ${f.summary}`,
    );
    assert.deepEqual(findings.sort(), [
      'disk_low critical / has 3.5 GiB free (3.5%)',
      'disk_low medium /var has only 7% of its inodes free',
      'load_high medium Load 9.5 on 4 cores for 5 minutes',
      'ram_high critical RAM 93% used, 1.1 GiB available, tasks stalled on memory 3.5% of the last minute',
      'swap_high critical Swap 55% used (4.4 GiB of 8.0 GiB)',
    ]);
  });
});
