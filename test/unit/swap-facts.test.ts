import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/schema.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { FactBuilder } from '../../src/understand/facts.js';
import type { GroupFacts, ProcessFacts } from '../../src/understand/facts-schema.js';
import { processSample } from '../helpers/snapshots.js';

const MiB = 1024 * 1024;

const proc = (pid: number, rssBytes: number, swapBytes: number | null) =>
  processSample(pid, ['python3', 'mcp_server.py', '--port', String(4000 + pid)], {
    user: 'alice',
    rssBytes,
    swapBytes,
  });

describe('facts of memory out in swap', () => {
  it("counts a group's memory as resident plus swap, as a share of RAM", () => {
    const total = 16 * 1024 * MiB;
    const snapshot: Snapshot = {
      takenAt: 1_000_000,
      host: { hostname: 'h', kernel: 'k', uptimeSecs: 1 },
      processes: [proc(101, 2 * MiB, 398 * MiB), proc(102, 2 * MiB, 398 * MiB), proc(103, 4 * MiB, null)],
      memory: {
        totalBytes: total,
        availableBytes: total / 2,
        availableEstimated: false,
        freeBytes: 0,
        buffersBytes: 0,
        cachedBytes: 0,
        usedPercent: 50,
        swapTotalBytes: 2 * 1024 * MiB,
        swapFreeBytes: 1024 * MiB,
        swapUsedBytes: 1024 * MiB,
        swapUsedPercent: 50,
        pressure: null,
      },
      collectors: [],
    };
    const facts = new FactBuilder({ procfs: '/nonexistent', kinds: [], uid: 0 }).build(
      snapshot,
      defaultConfig(),
    );
    const procs = facts.subjects.process!.map((s) => s.facts as ProcessFacts);
    assert.deepEqual(
      procs.map((p) => p.swap_bytes),
      [398 * MiB, 398 * MiB, -1],
      'unknown swap is -1',
    );
    const group = facts.subjects.group![0]!.facts as GroupFacts;
    assert.equal(group.rss_bytes, 8 * MiB);
    assert.equal(group.swap_bytes, 796 * MiB);
    assert.equal(group.mem_bytes, 804 * MiB);
    assert.ok(Math.abs(group.mem_percent - (804 / (16 * 1024)) * 100) < 1e-9);
  });
});
