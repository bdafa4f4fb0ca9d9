import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createProcessCollector,
  parseCgroup,
  parseCmdline,
  parsePasswd,
  parseProcStat,
  parseStatusUid,
  ttyName,
} from '../../src/collectors/processes.js';
import { printable } from '../../src/model/text.js';
import { deriveProcesses } from '../../src/pipeline/derive.js';
import { fixtureContext } from '../helpers/context.js';
import { sampleBlock, sampleText } from '../helpers/samples.js';

const statLines = (name: string) => sampleText(name).split('\n').filter(Boolean);

describe('parsing /proc/[pid]/stat', () => {
  it('reads every field vigil uses from a real systemd stat line', () => {
    const [systemd] = statLines('proc-pid-stat-node-exporter.txt');
    const s = parseProcStat(systemd!);
    assert.deepEqual(
      [s.pid, s.comm, s.state, s.ppid, s.pgid, s.sid, s.threads, s.startTicks, s.virtualBytes, s.rssPages],
      [1, 'systemd', 'S', 0, 1, 1, 1, 29, 109604864, 2507],
    );
    assert.equal(s.utimeTicks + s.stimeTicks, 36 + 98);
  });

  it('keeps a name with spaces and parentheses whole by splitting at the last parenthesis', () => {
    const lines = statLines('proc-pid-stat-procfs.txt');
    const odd = parseProcStat(lines[lines.length - 1]!);
    assert.equal(odd.comm, '(a b ) ( c d) ');
    assert.equal(odd.pid, 1020);
    assert.equal(odd.state, 'R');
    assert.equal(odd.ppid, 28378);
    assert.equal(odd.rssPages, 155);
  });

  it('accepts the tmux comm with a colon and space as the kernel prints it', () => {
    const s = parseProcStat(
      '2723 (tmux: server) S 1 2723 2723 0 -1 4194624 1 0 0 0 5 3 0 0 20 0 1 0 777 9000000 300 18446744073709551615',
    );
    assert.equal(s.comm, 'tmux: server');
    assert.equal(s.ppid, 1);
  });

  it('reads kernel threads, the idle state I and negative 64-bit fields without losing the used ones', () => {
    const [, khungtaskd, rcu] = statLines('proc-pid-stat-node-exporter.txt');
    assert.equal(parseProcStat(rcu!).state, 'I');
    assert.equal(parseProcStat(khungtaskd!).flags & 0x00200000, 0x00200000);
    const ata = parseProcStat(statLines('proc-pid-stat-procfs.txt')[1]!);
    assert.equal(ata.comm, 'ata_sff');
    assert.equal(ata.nice, -20);
  });

  it('refuses a truncated or garbled line with a reason instead of returning nonsense', () => {
    assert.throws(() => parseProcStat('4242 (broken) S 1 2'), /truncated/);
    assert.throws(() => parseProcStat('garbage without parens'), /comm/);
  });
});

describe('parsing the other per-process files', () => {
  it('takes the real uid from status, with tabs or mixed spaces after the colon', () => {
    assert.equal(parseStatusUid(sampleText('proc-pid-status-running.txt')), 1000);
    assert.equal(parseStatusUid(sampleText('proc-pid-status-kube-proxy-mixed-whitespace.txt')), 0);
    assert.equal(parseStatusUid(sampleBlock('proc-pid-status-zombie.txt', 'A.')), 1000);
  });

  it('splits cmdline at NULs and keeps arguments that contain spaces', () => {
    assert.deepEqual(parseCmdline('python3\0-m\0my server\0'), ['python3', '-m', 'my server']);
    assert.deepEqual(parseCmdline(''), []);
  });

  it('writes out control characters in argv, and keeps a name with them whole for the collector to write out', () => {
    assert.deepEqual(parseCmdline('sh\0-c\0a\nb\u001b]0;title\u0007\0'), [
      'sh',
      '-c',
      'a\\nb\\e]0;title\\x07',
    ]);
    const stat = parseProcStat(
      '4242 (ev\nil\u001b[2J\u202e) S 1 4242 4242 0 -1 4194560 0 0 0 0 1 2 0 0 20 0 1 0 100 0 0',
    );
    assert.equal(stat.comm, 'ev\nil\u001b[2J\u202e');
    assert.equal(printable(stat.comm), 'ev\\nil\\e[2J\\u202e');
    assert.equal(stat.ppid, 1);
  });

  it('prefers the cgroup v2 path and falls back to the first v1 hierarchy', () => {
    assert.equal(
      parseCgroup('0::/user.slice/user-1000.slice/session-2.scope\n'),
      '/user.slice/user-1000.slice/session-2.scope',
    );
    assert.equal(parseCgroup('12:pids:/user.slice\n11:memory:/user.slice/x\n'), '/user.slice');
  });

  it('names pseudo-terminals and consoles from tty_nr', () => {
    assert.equal(ttyName(34816), 'pts/0');
    assert.equal(ttyName(34835), 'pts/19');
    assert.equal(ttyName(1025), 'tty1');
    assert.equal(ttyName(0), null);
  });

  it('maps uids to user names from a passwd file', () => {
    const users = parsePasswd('root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n');
    assert.equal(users.get(1000), 'alice');
  });
});

describe('the process collector on a fixture procfs', () => {
  it('lists every readable process with identity, owner, memory and terminal', () => {
    const skipped: string[] = [];
    const list = createProcessCollector().collect(fixtureContext(), { skip: (r) => skipped.push(r) });
    const byPid = new Map(list.map((p) => [p.pid, p]));
    assert.deepEqual(
      [...byPid.keys()].sort((a, b) => a - b),
      [1, 17, 1020, 11345, 12461, 26231, 27079],
    );
    const vim = byPid.get(26231)!;
    assert.equal(vim.comm, 'vim');
    assert.equal(vim.user, 'alice');
    assert.equal(vim.rssBytes, 1981 * 4096);
    assert.equal(vim.tty, 'pts/19');
    assert.equal(vim.cmdline, 'vim notes.md');
    // btime 1418183276 s + 82375 ticks of 10 ms
    assert.equal(vim.startTime, 1418183276_000 + 823_750);
    assert.equal(vim.cgroup, '/user.slice/user-1000.slice/session-2.scope');
    assert.equal(byPid.get(17)!.kernelThread, true);
    assert.equal(byPid.get(1)!.kernelThread, false);
    assert.equal(byPid.get(1020)!.argv[0], '/tmp/(a b ) ( c d) ');
    const zombie = byPid.get(12461)!;
    assert.equal(zombie.state, 'Z');
    assert.equal(zombie.cmdline, '');
    assert.equal(zombie.ppid, 12460);
    assert.equal(byPid.get(27079)!.threads, 5);
  });

  it('skips garbled stat files with the path and the reason, and keeps going', () => {
    const skipped: string[] = [];
    createProcessCollector().collect(fixtureContext(), { skip: (r) => skipped.push(r) });
    assert.equal(skipped.length, 2);
    assert.ok(skipped.some((r) => r.includes('4242/stat') && r.includes('truncated')));
    assert.ok(skipped.some((r) => r.includes('4243/stat')));
  });

  it('reports CPU % only from the second sample on, as a delta over wall time', () => {
    const collector = createProcessCollector();
    const noop = { skip: () => {} };
    const first = collector.collect(fixtureContext(1000), noop);
    assert.ok(first.every((p) => p.cpuPercent === null));
    const second = collector.collect(fixtureContext(2000), noop);
    assert.ok(
      second.every((p) => p.cpuPercent === null),
      'the collector reads counters; the pipeline derives CPU %',
    );
    // vim's utime 1677 + stime 44 ticks of 10 ms, as read.
    assert.equal(second.find((p) => p.pid === 26231)!.cpuSeconds, 17.21);
    assert.ok(
      deriveProcesses(first, second, 1000).every((p) => p.cpuPercent === 0),
      'nothing ran in the frozen fixture',
    );
  });
});
