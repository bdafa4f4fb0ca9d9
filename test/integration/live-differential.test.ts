import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createCpuCollector } from '../../src/collectors/cpu.js';
import { createMemoryCollector } from '../../src/collectors/memory.js';
import { createProcessCollector } from '../../src/collectors/processes.js';
import type { ProcessSample } from '../../src/model/snapshot.js';
import { liveContext } from '../helpers/context.js';

const live = liveContext({ monoMs: 0 });
const noop = { skip: () => {} };

function have(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const procps = have('ps') && have('free') ? false : 'needs ps and free (Debian package procps)';

interface PsRow {
  pid: number;
  ppid: number;
  pgid: number;
  stat: string;
  rssKiB: number;
  comm: string;
}

function psTable(): Map<number, PsRow> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,pgid=,stat=,rss=,comm='], { encoding: 'utf8' });
  const rows = new Map<number, PsRow>();
  for (const line of out.split('\n')) {
    const m = line.match(/^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s(.*)$/);
    if (!m) continue;
    rows.set(Number(m[1]), {
      pid: Number(m[1]),
      ppid: Number(m[2]),
      pgid: Number(m[3]),
      stat: m[4]!,
      rssKiB: Number(m[5]),
      comm: m[6]!,
    });
  }
  return rows;
}

describe('the live machine, read by vigil and by procps', { skip: procps }, () => {
  it('agrees with ps on the process table, allowing for processes born or gone between the reads', () => {
    const before = psTable();
    const ours = new Map<number, ProcessSample>(
      createProcessCollector()
        .collect(live, noop)
        .map((p) => [p.pid, p]),
    );
    const after = psTable();
    // Processes present in both ps reads existed throughout: vigil must have seen every one.
    const stable = [...before.keys()].filter((pid) => after.has(pid) && pid !== process.pid);
    assert.ok(stable.length > 5, `ps listed ${stable.length} stable processes`);
    const rssKept: number[] = [];
    const rssDiffers: string[] = [];
    for (const pid of stable) {
      const ps = after.get(pid)!;
      const p = ours.get(pid);
      assert.ok(p, `vigil missed pid ${pid} (${ps.comm}) that ps listed before and after`);
      assert.equal(p.ppid, ps.ppid, `ppid of ${pid}`);
      assert.equal(p.pgid, ps.pgid, `pgid of ${pid}`);
      // A kernel worker renames itself after the workqueue it serves (kworker/1:0-events → -mm_percpu_wq).
      if (!p.kernelThread) assert.equal(p.comm, ps.comm, `comm of ${pid}`);
      // Running, sleeping, disk wait and idle (a kernel thread) change from one instant to the next.
      if (!'RSDI'.includes(ps.stat[0]!) || !'RSDI'.includes(p.state)) {
        assert.equal(p.state, ps.stat[0], `state of ${pid}`);
      }
      // RSS moves for running processes; ps says KiB. Allow 10 % or 2 MiB.
      const diffKiB = Math.abs(p.rssBytes / 1024 - ps.rssKiB);
      assert.ok(
        diffKiB <= Math.max(2048, ps.rssKiB * 0.1),
        `rss of ${pid} (${ps.comm}): vigil ${p.rssBytes / 1024} KiB, ps ${ps.rssKiB} KiB`,
      );
      // Where ps read the same RSS before and after vigil, vigil must have read it too, to the KiB: ps
      // takes VmRSS from status, vigil statm's resident pages, one counter. (stat's rss field, an
      // approximate per-CPU sum, was 100–300 KiB low on most processes.)
      if (ps.rssKiB > 0 && before.get(pid)!.rssKiB === ps.rssKiB) {
        rssKept.push(pid);
        if (p.rssBytes / 1024 !== ps.rssKiB)
          rssDiffers.push(`${pid} (${ps.comm}): vigil ${p.rssBytes / 1024} KiB, ps ${ps.rssKiB} KiB`);
      }
    }
    // A busy process can move and come back between the reads: allow a few of those.
    assert.ok(rssKept.length > 5, `only ${rssKept.length} processes kept their RSS between the ps reads`);
    assert.ok(
      rssDiffers.length <= rssKept.length / 10,
      `vigil's RSS differs from ps's on ${rssDiffers.length} of ${rssKept.length} processes whose RSS held still:\n${rssDiffers.join('\n')}`,
    );
  });

  it('agrees with free -b on memory and swap', () => {
    const out = execFileSync('free', ['-b'], { encoding: 'utf8' });
    const mem = out.match(/^Mem:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m);
    const swap = out.match(/^Swap:\s+(\d+)\s+(\d+)\s+(\d+)/m);
    assert.ok(mem && swap, `unexpected free output:\n${out}`);
    const m = createMemoryCollector().collect(live, noop);
    const total = Number(mem[1]);
    assert.equal(m.totalBytes, total);
    // Memory moves between the two reads: allow 1 % of total.
    assert.ok(Math.abs(m.availableBytes - Number(mem[6])) < total * 0.01, 'available');
    assert.ok(
      Math.abs(m.totalBytes - m.availableBytes - Number(mem[2])) < total * 0.01,
      'used = total - available',
    );
    assert.equal(m.swapTotalBytes, Number(swap[1]));
    assert.ok(
      Math.abs(m.swapUsedBytes - Number(swap[2])) < Math.max(1, Number(swap[1])) * 0.01 + 1,
      'swap used',
    );
  });

  it('reads the same load average and core count as the kernel reports', () => {
    const cpu = createCpuCollector().collect(live, noop);
    const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(cpu.load[i]! - loadavg[i]!) <= 0.05, `load[${i}]`);
    const nproc = Number(execFileSync('nproc', ['--all'], { encoding: 'utf8' }));
    assert.equal(cpu.cores, nproc);
  });
});
