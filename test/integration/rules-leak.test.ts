/**
 * memory_leak through the daemon's pipeline, on a fake clock: the machine's real process table (and a real
 * child of the test's) sampled once, then replayed second after second while the child's resident memory
 * grows 4 MiB/s. Three minutes of leak take milliseconds; leak-live.test.ts measures real processes'
 * growth in real time.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { assembleSnapshot, CollectorSet, makeContext } from '../../src/collectors/index.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { FakeClock } from '../../src/pipeline/clock.js';
import { SnapshotSource } from '../../src/pipeline/source.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Finding } from '../../src/rules/types.js';
import { liveSampling } from '../helpers/context.js';

const MIB = 1024 * 1024;
const RATE_MIB_PER_SEC = 4;
let child: ChildProcess | undefined;
after(() => child?.kill('SIGKILL'));

describe('memory_leak on a real process table, on a fake clock', () => {
  it('flags a process growing 4 MiB/s within 90 s of its growth, with its pid, slope and time to exhaustion', async () => {
    child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', 'leaky-server'], {
      stdio: 'ignore',
    });
    const pid = child.pid!;
    const sampling = liveSampling();
    const ctx = makeContext(sampling);
    let real: Snapshot | undefined;
    while (!real?.processes?.some((p) => p.pid === pid && p.argv.includes('leaky-server'))) {
      real = assembleSnapshot(await new CollectorSet().run(['processes', 'memory', 'cpu'], ctx), ctx);
    }
    const base = real.processes!.find((p) => p.pid === pid)!;
    const available = real.memory!.availableBytes;

    const clock = new FakeClock(Date.now());
    const start = clock.now();
    const grown = (now: number): Snapshot => ({
      ...real!,
      takenAt: now,
      processes: real!.processes!.map((p) =>
        p.pid === pid
          ? { ...p, rssBytes: base.rssBytes + ((now - start) / 1000) * RATE_MIB_PER_SEC * MIB }
          : p,
      ),
    });
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: '/nonexistent-vigil' } });
    const watcher = new Watcher(runtime, null, {
      clock,
      source: new SnapshotSource(({ nowMs }) => grown(nowMs), { paths: LIVE_PATHS }),
    });
    let finding: Finding | undefined;
    let firedAfterMs = -1;
    for (let i = 0; i <= 180 && !finding; i++) {
      const { evaluation } = await watcher.cycle();
      finding = evaluation.raised.find((f) => f.rule === 'memory_leak' && f.pids.includes(pid));
      if (finding) firedAfterMs = clock.now() - start;
      clock.advance(1000);
    }
    assert.ok(finding, 'memory_leak fired within 3 minutes of growth');
    // The rule's own promise: a leak of 1 MiB/s or more is flagged within about 90 s.
    assert.ok(firedAfterMs <= 90_000, `fired after ${firedAfterMs / 1000} s of growth`);
    assert.deepEqual(finding.pids, [pid]);
    // Escalates to high when memory would run out within the hour at this rate.
    assert.equal(finding.severity, available / (RATE_MIB_PER_SEC * MIB) < 3600 ? 'high' : 'medium');
    const rate = finding.summary.match(/grows ([\d.]+) MiB\/s/);
    assert.ok(rate, finding.summary);
    assert.ok(Math.abs(Number(rate[1]) - RATE_MIB_PER_SEC) < 0.05, `slope ${rate[1]} MiB/s`);
    assert.match(finding.summary, /^node \(pid \d+\) grows [\d.]+ MiB\/s, now \d+ MiB; memory runs out in ~/);
  });
});
