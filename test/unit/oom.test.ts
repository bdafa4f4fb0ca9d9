import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type OomKill,
  oomKillsFromJournal,
  parseOomFollowUp,
  parseOomKillConstraint,
  parseOomLine,
} from '../../src/collectors/oom.js';
import type { JournalEntry } from '../../src/model/snapshot.js';
import { sampleBlock, sampleText } from '../helpers/samples.js';

const KERNEL = 'oom-kill-kernel-lines.txt';
const SEQUENCES = 'oom-kill-kernel-sequences-cadvisor.txt';
const OOMD = 'systemd-oomd-lines.txt';
const EARLYOOM = 'earlyoom-lines.txt';

/** The log lines of a sample or of one of its blocks, without blank lines and `## ` headers. */
function logLines(name: string, header?: string): string[] {
  const text = header === undefined ? sampleText(name) : sampleBlock(name, header);
  return text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('## '));
}

/** The one line of a sample that contains `marker`. */
function lineWith(name: string, marker: string): string {
  const found = logLines(name).filter((line) => line.includes(marker));
  assert.equal(found.length, 1, `expected one line with "${marker}" in ${name}, found ${found.length}`);
  return found[0]!;
}

function killsIn(lines: readonly string[]): OomKill[] {
  return lines.map((line) => parseOomLine(line)).filter((kill): kill is OomKill => kill !== null);
}

/** An expected kill: every field the line does not carry is null. */
function kill(fields: Partial<OomKill> & Pick<OomKill, 'source'>): OomKill {
  return {
    pid: null,
    name: null,
    rssBytes: null,
    uid: null,
    cgroup: null,
    unit: null,
    signal: null,
    ...fields,
  };
}

const KIB = 1024;
const MIB = 1024 * 1024;

/** Journal entries 1 ms apart from 2026-01-01T00:00:00Z, as the journal collector would return them. */
function journal(
  messages: readonly string[],
  identifier = 'kernel',
  startMs = 1_767_225_600_000,
): JournalEntry[] {
  return messages.map((message, i) => ({
    time: startMs + i,
    priority: 3,
    identifier,
    unit: null,
    pid: null,
    transport: identifier === 'kernel' ? 'kernel' : 'journal',
    message,
    messageId: null,
    cursor: `s=test;i=${(startMs + i).toString(16)}`,
  }));
}

describe('parseOomLine on kernel OOM lines from real reports', () => {
  it('reads the victim of a modern global OOM kill: pid, name, RSS as the sum of anon, file and shmem', () => {
    assert.deepEqual(parseOomLine(lineWith(KERNEL, 'Killed process 1811')), {
      source: 'kernel',
      pid: 1811,
      name: 'stress-ng',
      rssBytes: 64 * KIB,
      uid: 1000,
      cgroup: null,
      unit: null,
      signal: 'SIGKILL',
    });
  });

  it('finds exactly the four kills of oom-kill-kernel-lines.txt, across 5.x, 5.4, 4.x and 3.10 wording', () => {
    assert.deepEqual(killsIn(logLines(KERNEL)), [
      kill({
        source: 'kernel',
        pid: 1811,
        name: 'stress-ng',
        rssBytes: 64 * KIB,
        uid: 1000,
        signal: 'SIGKILL',
      }),
      kill({
        source: 'kernel',
        pid: 401,
        name: 'systemd-journal',
        rssBytes: (1112 + 8888 + 4) * KIB,
        signal: 'SIGKILL',
      }),
      kill({
        source: 'kernel',
        pid: 27541,
        name: 'bash',
        rssBytes: (8098448 + 3264) * KIB,
        signal: 'SIGKILL',
      }),
      kill({ source: 'kernel', pid: 7748, name: 'python', rssBytes: 11500204 * KIB, signal: 'SIGKILL' }),
    ]);
  });

  it('reads the 5.4 kill line behind a syslog and dmesg prefix, which has no UID and so no uid', () => {
    const victim = parseOomLine(lineWith(KERNEL, 'Killed process 401'));
    assert.equal(victim?.uid, null);
    assert.equal(victim?.rssBytes, 10_244_096);
  });

  it('reads the 3.10 kill line that lacks shmem-rss', () => {
    assert.equal(parseOomLine(lineWith(KERNEL, 'Killed process 7748'))?.rssBytes, 11_776_208_896);
  });

  it('does not count the 4.x "Kill process ... or sacrifice child" choice, only the Killed line after it', () => {
    assert.equal(parseOomLine(lineWith(KERNEL, 'Kill process 27541 (bash) score 572')), null);
    assert.equal(parseOomLine(lineWith(KERNEL, 'Killed process 27541'))?.pid, 27541);
  });

  it('takes comm between the parenthesis after the pid and ") total-vm", spaces, slashes and parentheses included', () => {
    const tail =
      'total-vm:1024kB, anon-rss:512kB, file-rss:256kB, shmem-rss:128kB, UID:998 pgtables:64kB oom_score_adj:0';
    assert.equal(
      parseOomLine(`Out of memory: Killed process 2210 (Plex Media Server) ${tail}`)?.name,
      'Plex Media Server',
    );
    assert.equal(parseOomLine(`Out of memory: Killed process 3120 (ZMQbg/IO/0) ${tail}`)?.name, 'ZMQbg/IO/0');
    assert.equal(parseOomLine(`Out of memory: Killed process 77 (a (b) c) ${tail}`)?.name, 'a (b) c');
    assert.equal(parseOomLine(`Out of memory: Killed process 77 (a (b) c) ${tail}`)?.rssBytes, 896 * KIB);
  });

  it('marks a memory-cgroup kill line as memcg', () => {
    const line =
      'Memory cgroup out of memory: Killed process 51947 (tail) total-vm:459896kB, anon-rss:458176kB, ' +
      'file-rss:772kB, shmem-rss:0kB, UID:0 pgtables:948kB oom_score_adj:0';
    assert.deepEqual(
      parseOomLine(line, 'kernel'),
      kill({ source: 'memcg', pid: 51947, name: 'tail', rssBytes: 458948 * KIB, uid: 0, signal: 'SIGKILL' }),
    );
  });

  it('returns null for the trigger, task table, oom-kill summary, oom_reaper and systemd lines around a kill', () => {
    for (const marker of [
      'systemd-journal invoked oom-killer: gfp_mask=0x1100cca',
      'python3 invoked oom-killer',
      'oom_kill_process: 70 callbacks suppressed',
      'CPU: 25 PID: 3143648',
      '[   1818]  1000  1818',
      '[ 7747]     0  7748',
      'Tasks state (memory values in pages)',
      'rss_anon rss_file rss_shmem',
      'mm_test',
      'oom-kill:constraint=CONSTRAINT_NONE',
      'oom-kill:constraint=CONSTRAINT_MEMCG',
      'oom_reaper: reaped process 1811',
      'networkd-dispatcher.service: Main process exited',
      "networkd-dispatcher.service: Failed with result 'signal'",
      'user-1021.slice: A process of this unit has been killed by the OOM killer.',
    ]) {
      assert.equal(parseOomLine(lineWith(KERNEL, marker)), null, marker);
    }
  });

  it('ignores kernel wording logged by a program that is not the kernel', () => {
    const spoof = lineWith(KERNEL, 'Killed process 1811').slice('[44178.537897] '.length);
    assert.equal(parseOomLine(spoof, 'backup'), null);
    assert.equal(parseOomLine(spoof, 'kernel')?.pid, 1811);
  });
});

describe('parseOomLine on the cadvisor kernel sequences', () => {
  it('finds exactly the four kills among all the lines of the four OOM bursts', () => {
    assert.deepEqual(killsIn(logLines(SEQUENCES)), [
      kill({
        source: 'kernel',
        pid: 1381,
        name: 'gunpowder-memho',
        rssBytes: (18624 + 2140) * KIB,
        signal: 'SIGKILL',
      }),
      kill({
        source: 'kernel',
        pid: 13536,
        name: 'memorymonster',
        rssBytes: (920 + 452) * KIB,
        signal: 'SIGKILL',
      }),
      kill({
        source: 'kernel',
        pid: 1532,
        name: 'badsysprogram',
        rssBytes: (1595164 + 76) * KIB,
        signal: 'SIGKILL',
      }),
      kill({
        source: 'kernel',
        pid: 19667,
        name: 'evil-program2',
        rssBytes: (1414008 + 4) * KIB,
        signal: 'SIGKILL',
      }),
    ]);
  });

  it('returns null for stack dumps, memcg statistics, "Task in" and the memcg "Kill process" choice', () => {
    for (const marker of [
      ' [<ffffffff8137ad47>] dump_stack+0x4d/0x63',
      'Task in /docker/2e088fe462e25e60be1dafafe2c05c47bda1a97978648d10ad2b7484fc0b8f50 killed',
      'memory: usage 20480kB, limit 20480kB',
      'Memory cgroup stats for /mem2:',
      'Memory cgroup out of memory: Kill process 1381',
      'oom_reaper: reaped process 1381',
      'docker0: port 2(vethcd0dbfb) entered disabled state',
    ]) {
      assert.equal(parseOomLine(lineWith(SEQUENCES, marker)), null, marker);
    }
  });
});

describe('parseOomKillConstraint', () => {
  it('reads the constraint, victim and task cgroup of a global OOM summary', () => {
    assert.deepEqual(parseOomKillConstraint(lineWith(KERNEL, 'oom-kill:constraint=CONSTRAINT_NONE')), {
      constraint: 'CONSTRAINT_NONE',
      task: 'stress-ng',
      pid: 1811,
      uid: 1000,
      taskMemcg: '/user.slice/user-1000.slice/session-1.scope',
      oomMemcg: null,
    });
  });

  it('reads both cgroups of a Kubernetes memcg summary behind a journal short-precise prefix', () => {
    const summary = parseOomKillConstraint(lineWith(KERNEL, 'oom-kill:constraint=CONSTRAINT_MEMCG'));
    assert.equal(summary?.constraint, 'CONSTRAINT_MEMCG');
    assert.equal(summary?.task, 'pt_main_thread');
    assert.equal(summary?.pid, 461754);
    assert.equal(summary?.uid, 0);
    assert.equal(
      summary?.oomMemcg,
      '/lxc.payload....-lxc/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice',
    );
    assert.equal(
      summary?.taskMemcg,
      '/lxc.payload.ny2g2r5hh3-lxc/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice/cri-containerd-ec9ee26695deb4cc72bc665efff1cf3a03fdfb12f1303e02fe9252985e084a95.scope',
    );
  });

  it('does not split on the stray space inside an oom_memcg path', () => {
    const summary = parseOomKillConstraint(lineWith(SEQUENCES, 'oom-kill:constraint=CONSTRAINT_MEMCG'));
    assert.equal(summary?.oomMemcg, '/kubepods/burstable/podfbdfe8e3-1c87-4ff2-907 c-b2ec8e25d012');
    assert.equal(summary?.task, 'manager');
    assert.equal(summary?.pid, 966);
  });

  it('reads the padded pid and uid of the first kernels with the summary, and a comma in the nodemask', () => {
    const summary = parseOomKillConstraint(
      'oom-kill:constraint=CONSTRAINT_MEMORY_POLICY,nodemask=0-1,3,task=a,b,pid=  812,uid=    0',
    );
    assert.deepEqual(summary, {
      constraint: 'CONSTRAINT_MEMORY_POLICY',
      task: 'a,b',
      pid: 812,
      uid: 0,
      taskMemcg: null,
      oomMemcg: null,
    });
  });

  it('returns null for the kill line itself', () => {
    assert.equal(parseOomKillConstraint(lineWith(KERNEL, 'Killed process 1811')), null);
  });
});

describe('parseOomLine on systemd-oomd lines', () => {
  it('finds the seven cgroup kills, older "Killed" and newer "Marked ... for killing" wording alike', () => {
    const cgroups = killsIn(logLines(OOMD)).map((k) => [k.source, k.cgroup, k.unit, k.pid, k.rssBytes]);
    assert.deepEqual(cgroups, [
      [
        'systemd-oomd',
        '/user.slice/user-1001.slice/user@1001.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope',
        'vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope',
        null,
        null,
      ],
      [
        'systemd-oomd',
        '/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/tmux',
        null,
        null,
        null,
      ],
      [
        'systemd-oomd',
        '/testsuite.slice/testsuite-55.slice/testsuite-55-workload.slice/testsuite-55-testbloat.service',
        'testsuite-55-testbloat.service',
        null,
        null,
      ],
      ['systemd-oomd', '/system.slice/systemd-journald.service', 'systemd-journald.service', null, null],
      [
        'systemd-oomd',
        '/user.slice/user-1002.slice/user@1002.service/app.slice/app-chrome\\x2diidheibmjbpieikekgapdklcblnmllmh\\x2dDefault@8fdcfdb58bff44a786afdfbe01c7edf7.service',
        'app-chrome\\x2diidheibmjbpieikekgapdklcblnmllmh\\x2dDefault@8fdcfdb58bff44a786afdfbe01c7edf7.service',
        null,
        null,
      ],
      [
        'systemd-oomd',
        '/user.slice/user-1002.slice/user@1002.service/app.slice/app-org.chromium.Chromium-3905462.scope',
        'app-org.chromium.Chromium-3905462.scope',
        null,
        null,
      ],
      ['systemd-oomd', '/system.slice/httpd.service', 'httpd.service', null, null],
    ]);
  });

  it('keeps the \\x2d escapes of a cgroup literally, as one backslash', () => {
    const chrome = parseOomLine(
      lineWith(OOMD, 'Killed /user.slice/user-1002.slice/user@1002.service/app.slice/app-chrome'),
    );
    assert.ok(chrome?.cgroup?.includes('app-chrome\\x2diidheibmjbpieikekgapdklcblnmllmh\\x2dDefault@'));
    assert.ok(!chrome?.cgroup?.includes('\\\\'));
  });

  it('reads a kill from the message text alone when the identifier comes from the journal', () => {
    assert.deepEqual(
      parseOomLine(
        'Marked /system.slice/systemd-journald.service for killing due to memory pressure',
        'systemd-oomd',
      ),
      kill({
        source: 'systemd-oomd',
        cgroup: '/system.slice/systemd-journald.service',
        unit: 'systemd-journald.service',
        signal: 'SIGKILL',
      }),
    );
  });

  it('returns null for candidate listings, pressure notes, per-pid attempts and PID 1 follow-ups', () => {
    for (const marker of [
      'Considered 97 cgroups for killing',
      'Path: /user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-slack-96235.scope',
      'Memory Pressure Limit: 0.00%',
      'Current Memory Usage: 388.4M',
      'Memory pressure for /testsuite.slice/testsuite-55.slice/testsuite-55-workload.slice is 64.15%',
      'oomd attempting to kill 63 with KILL',
      'oomd attempting to kill 407 with KILL',
      'Swap Usage: 477.8M',
      'testsuite-55-testbloat.service: systemd-oomd killed 2 process(es) in this unit.',
      'testsuite-55-testbloat.service: Main process exited',
      'vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope: Consumed 5h 17min',
    ]) {
      assert.equal(parseOomLine(lineWith(OOMD, marker)), null, marker);
    }
  });

  it('does not take a "Killed /path" line from another program for an oomd kill', () => {
    assert.equal(parseOomLine('Killed /system.slice/httpd.service due to a typo', 'backup'), null);
  });
});

describe('parseOomLine on earlyoom lines', () => {
  it('finds every kill across the five historical wordings, with pid, name, uid, VmRSS and signal', () => {
    assert.deepEqual(killsIn(logLines(EARLYOOM)), [
      kill({
        source: 'earlyoom',
        pid: 7378,
        name: 'tail',
        rssBytes: 4962 * MIB,
        uid: 1000,
        signal: 'SIGTERM',
      }),
      kill({ source: 'earlyoom', pid: 57834, name: 'code', rssBytes: 5 * MIB, uid: 1000, signal: 'SIGTERM' }),
      kill({ source: 'earlyoom', pid: 696, name: 'ipfs', rssBytes: 637 * MIB, uid: 1001, signal: 'SIGTERM' }),
      kill({ source: 'earlyoom', pid: 12006, name: 'python3', rssBytes: 2891 * MIB, signal: 'SIGTERM' }),
      kill({ source: 'earlyoom', pid: 27541, name: 'bash', rssBytes: 7609 * MIB, signal: '15' }),
      kill({ source: 'earlyoom', pid: 5874, name: 'bash', rssBytes: 3160 * MIB, signal: '15' }),
    ]);
  });

  it('reads the current wording with oom_score_adj and a quoted cmdline, and a name with spaces', () => {
    const line =
      'sending SIGKILL to process 4242 uid 1000 "Web Content": oom_score 912, oom_score_adj 100, VmRSS 3071 MiB, ' +
      'cmdline "/usr/lib/firefox/firefox -contentproc -prefsLen \\"x\\": oom_score 1"';
    assert.deepEqual(
      parseOomLine(line, 'earlyoom'),
      kill({
        source: 'earlyoom',
        pid: 4242,
        name: 'Web Content',
        rssBytes: 3071 * MIB,
        uid: 1000,
        signal: 'SIGKILL',
      }),
    );
  });

  it('returns null for the banner, the mem avail status, low-memory notes, escalation and exit reports', () => {
    for (const marker of [
      'earlyoom v1.8',
      'mem total: 23890 MiB',
      'sending SIGTERM when mem avail <= 10.00%',
      'SIGKILL when mem avail <=  5.00%',
      'mem avail: 20012 of 21701 MiB',
      'mem avail:   165 of 31880 MiB',
      'low memory! at or below SIGTERM limits: mem  5.00%',
      'process exited after 0.1 seconds',
      'kill failed: Timer expired',
      'escalating to SIGKILL after 2.4 seconds',
      'process exited after 2.8 seconds',
      'process 27541 exited after 1.9 seconds',
      'Low Memory! At or below sigterm limits',
      'earlyoom v1.6.2-36-g7c17ac2',
      'sending SIGTERM when mem <=  4.00% and swap <= 10.00%,',
    ]) {
      assert.equal(parseOomLine(lineWith(EARLYOOM, marker)), null, marker);
    }
  });

  it("does not count earlyoom's start-up self test, which sends signal 0", () => {
    assert.equal(
      parseOomLine('sending 0 (no-op signal) to process 1 uid 0 "systemd": badness 0, VmRSS 12 MiB'),
      null,
    );
  });
});

describe('parseOomFollowUp', () => {
  it("reads the unit of PID 1's report after a kernel OOM kill, for each unit and slice it names", () => {
    const units = logLines(KERNEL, '8.')
      .map((line) => parseOomFollowUp(line))
      .map((f) => [f?.source, f?.killer, f?.unit, f?.pid]);
    assert.deepEqual(units, [
      ['systemd', 'kernel', 'user-1021.slice', null],
      ['systemd', 'kernel', 'system-postgresql.slice', null],
      ['systemd', 'kernel', 'user@1021.service', null],
    ]);
  });

  it("reads the unit and process count of systemd's report after a systemd-oomd kill", () => {
    const followUp = parseOomFollowUp(lineWith(OOMD, 'systemd-oomd killed 12 process(es)'));
    assert.equal(followUp?.unit, 'vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope');
    assert.equal(followUp?.killer, 'systemd-oomd');
    assert.equal(followUp?.processes, 12);
    assert.equal(
      parseOomFollowUp('app.slice: systemd-oomd killed some process(es) in this unit.')?.processes,
      null,
    );
  });

  it('returns null for the kills themselves and for unrelated unit messages', () => {
    assert.equal(parseOomFollowUp(lineWith(KERNEL, 'Killed process 1811')), null);
    assert.equal(parseOomFollowUp(lineWith(OOMD, 'Marked /system.slice/systemd-journald.service')), null);
    assert.equal(
      parseOomFollowUp(lineWith(OOMD, 'testsuite-55-testbloat.service: Main process exited')),
      null,
    );
  });
});

describe('oomKillsFromJournal', () => {
  const burst = logLines(KERNEL, '1.').map((line) => line.replace(/^\[[^\]]*\] /, ''));

  it('attaches the task cgroup and unit of the oom-kill summary to the kill of the same pid', () => {
    const kills = oomKillsFromJournal(journal(burst));
    assert.equal(kills.length, 1);
    assert.deepEqual(kills[0], {
      source: 'kernel',
      pid: 1811,
      name: 'stress-ng',
      rssBytes: 64 * KIB,
      uid: 1000,
      cgroup: '/user.slice/user-1000.slice/session-1.scope',
      unit: 'session-1.scope',
      signal: 'SIGKILL',
      time: 1_767_225_600_003,
      cursor: `s=test;i=${(1_767_225_600_003).toString(16)}`,
      message: burst[3],
    });
  });

  it('gives a 5.4 kill without UID the uid of its summary, and makes a CONSTRAINT_MEMCG kill memcg', () => {
    const kills = oomKillsFromJournal(
      journal([
        'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/db.service,task_memcg=/system.slice/db.service,task=postgres,pid=5120,uid=113',
        'Out of memory: Killed process 5120 (postgres) total-vm:900kB, anon-rss:600kB, file-rss:40kB, shmem-rss:8kB',
      ]),
    );
    assert.deepEqual(
      kills.map((k) => [k.source, k.pid, k.uid, k.cgroup, k.unit, k.rssBytes]),
      [['memcg', 5120, 113, '/system.slice/db.service', 'db.service', 648 * KIB]],
    );
  });

  it('does not attach a summary of another pid or one logged minutes apart', () => {
    const summary = burst[2]!;
    const killed = burst[3]!;
    const otherPid = oomKillsFromJournal(journal([summary.replace('pid=1811', 'pid=1812'), killed]));
    assert.equal(otherPid[0]?.cgroup, null);
    const late = oomKillsFromJournal([
      ...journal([summary]),
      ...journal([killed], 'kernel', 1_767_225_900_000),
    ]);
    assert.equal(late[0]?.cgroup, null);
  });

  it('counts exactly the four kills of the cadvisor sequences, with memcg source and cgroup from old kernels', () => {
    const kills = oomKillsFromJournal(journal(logLines(SEQUENCES)));
    assert.deepEqual(
      kills.map((k) => [k.source, k.pid, k.name, k.cgroup]),
      [
        [
          'memcg',
          1381,
          'gunpowder-memho',
          '/docker/2e088fe462e25e60be1dafafe2c05c47bda1a97978648d10ad2b7484fc0b8f50',
        ],
        ['memcg', 13536, 'memorymonster', '/mem2'],
        ['kernel', 1532, 'badsysprogram', null],
        ['kernel', 19667, 'evil-program2', null],
      ],
    );
  });

  it('counts the 4.x two-line kill once', () => {
    const kills = oomKillsFromJournal(journal(logLines(KERNEL, '4.')));
    assert.deepEqual(
      kills.map((k) => [k.source, k.pid, k.name]),
      [['kernel', 27541, 'bash']],
    );
  });

  it("counts earlyoom's SIGTERM and the SIGKILL that follows for the same process as one kill", () => {
    const kills = oomKillsFromJournal(
      journal(
        [
          'sending SIGTERM to process 7378 uid 1000 "tail": oom_score 156, oom_score_adj 0, VmRSS 4962 MiB, cmdline "tail"',
          'sending SIGKILL to process 7378 uid 1000 "tail": oom_score 156, oom_score_adj 0, VmRSS 4962 MiB, cmdline "tail"',
          'sending SIGTERM to process 7390 uid 1000 "tail": oom_score 150, oom_score_adj 0, VmRSS 4800 MiB, cmdline "tail"',
        ],
        'earlyoom',
      ),
    );
    assert.deepEqual(
      kills.map((k) => [k.pid, k.signal]),
      [
        [7378, 'SIGTERM'],
        [7390, 'SIGTERM'],
      ],
    );
  });

  it('counts an entry handed in twice (same cursor) once, and a later kill of a reused pid again', () => {
    const line = lineWith(KERNEL, 'Killed process 1811').replace(/^\[[^\]]*\] /, '');
    const entries = journal([line]);
    const muchLater = journal([line], 'kernel', 1_767_229_200_000);
    assert.equal(oomKillsFromJournal([...entries, ...entries]).length, 1);
    assert.equal(oomKillsFromJournal([...entries, ...muchLater]).length, 2);
  });

  it("leaves out systemd's follow-ups, which repeat a kill already counted", () => {
    const followUps = journal(
      [
        'session-1.scope: A process of this unit has been killed by the OOM killer.',
        'vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope: systemd-oomd killed 12 process(es) in this unit.',
      ],
      'systemd',
    );
    assert.deepEqual(oomKillsFromJournal(followUps), []);
  });

  it('returns kills oldest first whatever order the entries come in', () => {
    const kernel = journal([burst[3]!], 'kernel', 1_767_225_600_500);
    const earlyoom = journal([lineWith(EARLYOOM, 'process 7378')], 'earlyoom', 1_767_225_600_000);
    assert.deepEqual(
      oomKillsFromJournal([...kernel, ...earlyoom]).map((k) => k.source),
      ['earlyoom', 'kernel'],
    );
  });
});
