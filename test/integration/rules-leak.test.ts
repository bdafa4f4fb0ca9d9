import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Finding } from '../../src/rules/types.js';
import { liveSampling } from '../helpers/context.js';

const MIB = 1024 * 1024;
const RATE_MIB_PER_SEC = 4;
let leaker: ChildProcess | undefined;
after(() => leaker?.kill('SIGKILL'));

describe('memory_leak on a real process', () => {
  it('flags a process leaking 4 MiB/s within 3 minutes, with its pid and time to exhaustion', async () => {
    // Touches a new 1 MiB buffer every 250 ms and keeps it: RSS grows ~4 MiB/s, capped at 700 MiB.
    leaker = spawn(
      process.execPath,
      [
        '-e',
        `const keep = []; const t = setInterval(() => { keep.push(Buffer.alloc(${MIB}, 1)); if (keep.length >= 700) clearInterval(t); }, ${1000 / RATE_MIB_PER_SEC}); setTimeout(() => process.exit(0), 240000);`,
        'leaky-server',
      ],
      { stdio: 'ignore' },
    );
    const pid = leaker.pid!;
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: '/nonexistent-vigil' } });
    const watcher = new Watcher(runtime, liveSampling());
    const t0 = Date.now();
    let finding: Finding | undefined;
    while (!finding && Date.now() - t0 < 180_000) {
      const { evaluation } = await watcher.cycle();
      finding = evaluation.raised.find((f) => f.rule === 'memory_leak' && f.pids.includes(pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const elapsedSecs = (Date.now() - t0) / 1000;
    assert.ok(finding, 'memory_leak fired within 3 minutes');
    assert.deepEqual(finding.pids, [pid]);
    const available = Number(readFileSync('/proc/meminfo', 'utf8').match(/MemAvailable:\s+(\d+)/)![1]) * 1024;
    // Escalates to high when memory would run out within the hour at this rate.
    assert.equal(finding.severity, available / (RATE_MIB_PER_SEC * MIB) < 3600 ? 'high' : 'medium');
    const rate = finding.summary.match(/grows ([\d.]+) MiB\/s/);
    assert.ok(rate, finding.summary);
    assert.ok(Math.abs(Number(rate[1]) - RATE_MIB_PER_SEC) < 1.5, `slope ${rate[1]} MiB/s`);
    assert.match(finding.summary, /^node \(pid \d+\) grows [\d.]+ MiB\/s, now \d+ MiB; memory runs out in ~/);
    assert.ok(elapsedSecs < 180, `${elapsedSecs} s`);
  });
});
