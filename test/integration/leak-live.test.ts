import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProcessCollector } from '../../src/collectors/processes.js';
import { type LeakOptions, type LeakVerdict, leakVerdict, SeriesRing } from '../../src/understand/trend.js';
import { liveContext } from '../helpers/context.js';

const MiB = 1024 * 1024;
const CHUNK_BYTES = 4 * MiB;
const EVERY_MS = 200;
/** 55 chunks: the leaker climbs ~11 s at ~20 MiB/s and stops near 220 MiB (plus Node's ~50 MiB). */
const CAP_BYTES = 220 * MiB;
const SAMPLE_EVERY_MS = 500;
const OBSERVE_MS = 20_000;

/**
 * Allocates CHUNK_BYTES every EVERY_MS with Buffer.alloc(n, 1), whose fill touches every page (an unfilled
 * Buffer.alloc may be backed by untouched zero pages and never count towards RSS), keeps them all, and
 * reports its own timeline on stdout. It exits on its own after a minute should the test die first.
 */
const LEAKER = `
const keep = [];
let first = 0;
console.log('ready');
const timer = setInterval(() => {
  keep.push(Buffer.alloc(${CHUNK_BYTES}, 1));
  const now = Date.now();
  if (keep.length === 1) first = now;
  if (keep.length * ${CHUNK_BYTES} >= ${CAP_BYTES}) {
    clearInterval(timer);
    console.log(JSON.stringify({ firstMs: first, lastMs: now, chunks: keep.length }));
  }
}, ${EVERY_MS});
setInterval(() => {}, 1000);
setTimeout(() => process.exit(0), 60_000);
`;

/** Allocates 150 MiB once, two seconds in (a cache filling), then holds it and does nothing. */
const ONE_OFF = `
let held;
console.log('ready');
setTimeout(() => { held = Buffer.alloc(${150 * MiB}, 1); }, 2000);
setInterval(() => {}, 1000);
setTimeout(() => process.exit(0), 60_000);
`;

/**
 * The fast-leak test scaled down to a 20 s run: an 8 s window (at least 5 s and 10 samples) instead of
 * 90 s, ≥ 4 MiB/s and ≥ 32 MiB instead of 1 MiB/s and 64 MiB. The ring keeps every 500 ms sample.
 */
const SHORT_RUN: LeakOptions = {
  name: 'short-run leak',
  maxWindowSecs: 8,
  minWindowSecs: 5,
  minSamples: 10,
  bucketSecs: 0,
  minSlopeBytesPerSec: 4 * MiB,
  minGrowthBytes: 32 * MiB,
  minZ: 3,
  minThirdGrowthRatio: 0.5,
  maxPairs: 2048,
  peakLookbackSecs: 60,
};

const noReport = { skip: () => {} };
/** Every child started, killed by handle in after(). */
const children: ChildProcess[] = [];

/** Starts `node -e script` and resolves once it printed its first line; later lines go to `lines`. */
async function startNode(script: string, lines: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let buffered = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited early with status ${code}`)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      buffered += text;
      let at = buffered.indexOf('\n');
      while (at >= 0) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        if (line === 'ready') resolve();
        else lines.push(line);
        at = buffered.indexOf('\n');
      }
    });
  });
  await ready;
  return child;
}

const unsupported = existsSync('/proc/self/stat') ? false : 'needs a Linux /proc';

describe('memory_leak on real processes', { skip: unsupported }, () => {
  const leakerLines: string[] = [];
  const leakerVerdicts: { atMs: number; verdict: LeakVerdict }[] = [];
  const oneOffVerdicts: LeakVerdict[] = [];
  let leakerPeakRssBytes = 0;

  before(async () => {
    const leaker = await startNode(LEAKER, leakerLines);
    const oneOff = await startNode(ONE_OFF, []);
    const collector = createProcessCollector();
    const rings = new Map([
      [leaker.pid!, new SeriesRing({ fineMinSpacingMs: 0 })],
      [oneOff.pid!, new SeriesRing({ fineMinSpacingMs: 0 })],
    ]);
    const startMs = performance.now();
    while (performance.now() - startMs < OBSERVE_MS) {
      const ctx = liveContext();
      for (const p of collector.collect(ctx, noReport)) {
        const ring = rings.get(p.pid);
        if (ring === undefined) continue;
        ring.push(ctx.monoMs, p.rssBytes);
        const verdict = leakVerdict(ring, SHORT_RUN);
        if (p.pid === leaker.pid) {
          leakerVerdicts.push({ atMs: ctx.monoMs - startMs, verdict });
          leakerPeakRssBytes = Math.max(leakerPeakRssBytes, p.rssBytes);
        } else {
          oneOffVerdicts.push(verdict);
        }
      }
      await sleep(SAMPLE_EVERY_MS - ((performance.now() - startMs) % SAMPLE_EVERY_MS));
    }
  });

  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('flags a child leaking 4 MiB every 200 ms, with the slope near its real allocation rate (short-run options)', (t) => {
    assert.ok(leakerVerdicts.length >= 30, `only ${leakerVerdicts.length} samples of the leaker`);
    assert.ok(leakerPeakRssBytes < 300 * 1e6, `leaker reached ${leakerPeakRssBytes} bytes`);
    const timeline = leakerLines.map(
      (line) => JSON.parse(line) as { firstMs: number; lastMs: number; chunks: number },
    );
    assert.equal(timeline.length, 1, 'the leaker reached its cap within the run');
    const { firstMs, lastMs, chunks } = timeline[0]!;
    const realBytesPerSec = ((chunks - 1) * CHUNK_BYTES) / ((lastMs - firstMs) / 1000);
    const flagged = leakerVerdicts.filter((v) => v.verdict.leaking);
    assert.ok(
      flagged.length > 0,
      `never flagged; verdicts: ${leakerVerdicts.map((v) => v.verdict.reason).join('\n')}`,
    );
    const first = flagged[0]!;
    assert.ok(first.atMs < 15_000, `first flagged ${first.atMs} ms into the run`);
    const ratio = first.verdict.slopeBytesPerSec / realBytesPerSec;
    t.diagnostic(
      `flagged ${(first.atMs / 1000).toFixed(1)} s in: ${first.verdict.reason}; real rate ${(realBytesPerSec / MiB).toFixed(1)} MiB/s`,
    );
    assert.ok(
      ratio > 0.75 && ratio < 1.25,
      `slope ${first.verdict.slopeBytesPerSec} B/s against a real ${realBytesPerSec} B/s: ${first.verdict.reason}`,
    );
  });

  it('does not flag a child that allocates 150 MiB once and then stays flat (short-run options)', () => {
    assert.ok(oneOffVerdicts.length >= 30, `only ${oneOffVerdicts.length} samples of the one-off child`);
    const flagged = oneOffVerdicts.filter((v) => v.leaking);
    assert.equal(flagged.length, 0, flagged[0]?.reason);
    assert.ok(
      oneOffVerdicts.some((v) => /step or burst/.test(v.reason)),
      'the step was seen and judged a step',
    );
  });
});
