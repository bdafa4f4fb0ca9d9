import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assessLeak,
  FAST_LEAK,
  type LeakVerdict,
  leakVerdict,
  SeriesRing,
  SLOW_LEAK,
  type TimedValue,
  timeToExhaustionSecs,
} from '../../src/understand/trend.js';

const MB = 1_000_000;
const MiB = 1024 * 1024;
const BASE_RSS = 800 * MB;

/** Deterministic uniform noise in [−1, 1) (xorshift32), so every run sees the same samples. */
function noiseSource(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

interface Run {
  /** Seconds at which the default policy first said "leaking", or null. */
  readonly firstFlagSecs: number | null;
  readonly firstFlag: LeakVerdict | null;
  readonly flaggedCycles: number;
  readonly last: LeakVerdict;
  readonly ring: SeriesRing;
}

/**
 * Feeds rssAt(t) + uniform noise of ±noiseBytes into a ring every stepSecs for secs seconds, judging it
 * with the default policy after every sample, as the daemon does every cycle.
 */
function simulate(
  rssAt: (secs: number) => number,
  secs: number,
  noiseBytes: number,
  seed = 7,
  stepSecs = 5,
): Run {
  const noise = noiseSource(seed);
  const ring = new SeriesRing();
  let firstFlagSecs: number | null = null;
  let firstFlag: LeakVerdict | null = null;
  let flaggedCycles = 0;
  let last: LeakVerdict | undefined;
  for (let t = 0; t <= secs; t += stepSecs) {
    ring.push(t * 1000, rssAt(t) + noise() * noiseBytes);
    last = assessLeak(ring);
    if (last.leaking) {
      flaggedCycles++;
      if (firstFlag === null) {
        firstFlag = last;
        firstFlagSecs = t;
      }
    }
  }
  return { firstFlagSecs, firstFlag, flaggedCycles, last: last!, ring };
}

describe('memory_leak: the default policy on simulated RSS', () => {
  it('flags a steady 4 MB/s leak sampled every 5 s with ±2 MB noise within 3 minutes of its start, slope within 10 %', () => {
    const onset = 600;
    for (const seed of [1, 2, 3, 4, 5]) {
      const run = simulate((t) => BASE_RSS + Math.max(0, t - onset) * 4 * MB, onset + 300, 2 * MB, seed);
      assert.ok(run.firstFlagSecs !== null, `seed ${seed}: never flagged; last said ${run.last.reason}`);
      const after = run.firstFlagSecs - onset;
      assert.ok(after <= 180, `seed ${seed}: flagged ${after} s after the leak began`);
      assert.ok(after >= 60, `seed ${seed}: flagged after only ${after} s of leaking`);
      const slope = run.firstFlag!.slopeBytesPerSec;
      assert.ok(Math.abs(slope / (4 * MB) - 1) <= 0.1, `seed ${seed}: slope ${slope} B/s, real 4e6 B/s`);
      assert.match(run.firstFlag!.reason, /^fast leak: grows steadily at 3\.\d MiB\/s/);
      assert.ok(run.firstFlag!.confidence > 0.999);
    }
  });

  it('flags a process that leaks 4 MB/s from its first sample once it has a minute of samples', () => {
    const run = simulate((t) => BASE_RSS + t * 4 * MB, 300, 2 * MB);
    assert.equal(run.firstFlagSecs, 60);
  });

  it('never flags a flat process with ±20 MB noise over an hour', () => {
    for (const seed of [11, 12, 13]) {
      const run = simulate(() => BASE_RSS, 3600, 20 * MB, seed);
      assert.equal(run.flaggedCycles, 0, `seed ${seed}: ${run.firstFlag?.reason}`);
      assert.match(run.last.reason, /^slow leak: no steady climb/);
    }
  });

  it('does not flag a GC sawtooth that climbs 50 MB over 30 s and drops, at any phase, over an hour', () => {
    for (const phase of [0, 5, 10, 15, 20, 25]) {
      const run = simulate((t) => BASE_RSS + (((t + phase) % 30) / 30) * 50 * MB, 3600, 2 * MB, phase + 1);
      assert.equal(run.flaggedCycles, 0, `phase ${phase}: ${run.firstFlag?.reason}`);
    }
  });

  it('flags only the first climb of a big allocate-and-free cycle (750 MB over 5 minutes), whose repeats never pass the earlier peak', () => {
    const noise = noiseSource(3);
    const ring = new SeriesRing();
    const flaggedAt: number[] = [];
    for (let t = 0; t <= 3 * 3600; t += 5) {
      ring.push(t * 1000, BASE_RSS + ((t % 300) / 300) * 750 * MB + noise() * 2 * MB);
      const v = assessLeak(ring);
      if (v.leaking) flaggedAt.push(t);
      else if (t === 300 + 200) assert.match(v.reason, /not above its peak of/);
    }
    assert.ok(
      flaggedAt.length > 0 && flaggedAt.every((t) => t <= 300),
      `flagged at ${flaggedAt.join(', ')} s`,
    );
  });

  it('does not flag a one-off 500 MB step (a cache filling once) followed by a flat line, at any time over an hour', () => {
    for (const stepAt of [300, 302]) {
      const run = simulate((t) => BASE_RSS + (t >= stepAt ? 500 * MB : 0), 3600, 2 * MB);
      assert.equal(run.flaggedCycles, 0, `step at ${stepAt} s: ${run.firstFlag?.reason}`);
    }
    const fresh = simulate((t) => BASE_RSS + (t >= 300 ? 500 * MB : 0), 345, 2 * MB);
    assert.match(fresh.last.reason, /step or burst/);
  });

  it('does not flag a 40 s burst of 4 MB/s that then stops', () => {
    const run = simulate((t) => BASE_RSS + Math.min(40, Math.max(0, t - 600)) * 4 * MB, 1200, 2 * MB);
    assert.equal(run.flaggedCycles, 0, run.firstFlag?.reason);
  });

  it('flags a slow 30 KB/s leak with ±5 MB noise after 45 minutes, but not after only 5 minutes', () => {
    const rss = (t: number) => BASE_RSS + t * 30_000;
    const early = simulate(rss, 5 * 60, 5 * MB);
    assert.equal(early.flaggedCycles, 0);
    assert.equal(early.last.leaking, false);
    const late = simulate(rss, 45 * 60, 5 * MB);
    assert.equal(late.last.leaking, true, late.last.reason);
    assert.match(late.last.reason, /^slow leak: grows steadily at 29\.\d KiB\/s/);
    assert.ok(Math.abs(late.last.slopeBytesPerSec / 30_000 - 1) <= 0.1);
    assert.ok(late.last.growthBytes >= 64 * MiB);
    // 64 MiB at 30 KB/s takes 37 minutes; the slow test needs at least 30 of them.
    assert.ok(late.firstFlagSecs! >= 30 * 60 && late.firstFlagSecs! <= 40 * 60, `at ${late.firstFlagSecs} s`);
  });

  it('judges a plain array of samples as it judges the ring', () => {
    const samples: TimedValue[] = [];
    for (let t = 0; t <= 120; t += 5) samples.push({ tMs: t * 1000, value: BASE_RSS + t * 4 * MB });
    const ring = new SeriesRing();
    for (const s of samples) ring.push(s.tMs, s.value);
    assert.deepEqual(leakVerdict(samples, FAST_LEAK), leakVerdict(ring, FAST_LEAK));
    assert.equal(leakVerdict(samples, FAST_LEAK).slopeBytesPerSec, 4 * MB);
    assert.equal(leakVerdict(samples, FAST_LEAK).windowSecs, 90);
  });

  it('says how much history it still needs when a process is young', () => {
    const v = leakVerdict([{ tMs: 0, value: 1 }], SLOW_LEAK);
    assert.equal(v.leaking, false);
    assert.match(v.reason, /^slow leak: not enough history yet \(1 points over 0 s; needs 20 over 30 min\)/);
  });
});

describe('time until memory runs out', () => {
  it('is the available memory divided by the growth rate', () => {
    assert.equal(timeToExhaustionSecs(4 * MiB, 4096 * MiB), 1024);
    assert.equal(timeToExhaustionSecs(30_000, 3_000_000_000), 100_000);
    assert.equal(timeToExhaustionSecs(1 * MiB, 0), 0);
  });

  it('is null when the series is flat or shrinking', () => {
    assert.equal(timeToExhaustionSecs(0, 1e9), null);
    assert.equal(timeToExhaustionSecs(-5, 1e9), null);
    assert.equal(timeToExhaustionSecs(Number.NaN, 1e9), null);
  });
});

describe('the series ring', () => {
  it('keeps its memory bounded after 100,000 pushes and still reaches back about an hour', () => {
    const ring = new SeriesRing();
    const bytes = ring.byteLength;
    assert.equal(bytes, 2 * 128 * 8);
    for (let i = 0; i < 100_000; i++) ring.push(i * 5000, i);
    assert.equal(ring.byteLength, bytes);
    assert.ok(ring.length <= ring.capacity);
    const points = ring.toArray();
    const newest = points[points.length - 1]!;
    assert.deepEqual(newest, { tMs: 99_999 * 5000, value: 99_999 });
    const reachMs = newest.tMs - points[0]!.tMs;
    assert.ok(reachMs >= 60 * 60_000 && reachMs <= ring.horizonMs + 320_000, `reaches back ${reachMs} ms`);
    for (let i = 1; i < points.length; i++) assert.ok(points[i]!.tMs > points[i - 1]!.tMs);
  });

  it('averages samples closer than the fine spacing into one point', () => {
    const ring = new SeriesRing({ fineMinSpacingMs: 2000 });
    ring.push(0, 10);
    ring.push(1000, 20);
    ring.push(2000, 30);
    assert.deepEqual(ring.toArray(), [
      { tMs: 500, value: 15 },
      { tMs: 2000, value: 30 },
    ]);
  });

  it('shows one-minute means for samples older than the fine tier', () => {
    const ring = new SeriesRing({ fineCapacity: 4, coarseStepMs: 60_000 });
    for (let t = 0; t < 300; t += 10) ring.push(t * 1000, t);
    const points = ring.toArray();
    assert.deepEqual(points.slice(0, 4), [
      { tMs: 25_000, value: 25 },
      { tMs: 85_000, value: 85 },
      { tMs: 145_000, value: 145 },
      { tMs: 205_000, value: 205 },
    ]);
    assert.deepEqual(
      points.slice(4).map((p) => p.value),
      [260, 270, 280, 290],
    );
  });

  it('starts over when the clock steps backwards, and ignores non-finite samples', () => {
    const ring = new SeriesRing();
    ring.push(10_000, 1);
    ring.push(20_000, 2);
    ring.push(15_000, 3);
    ring.push(16_000, Number.NaN);
    assert.deepEqual(ring.toArray(), [{ tMs: 15_000, value: 3 }]);
  });
});
