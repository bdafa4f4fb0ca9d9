import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BaselineRow, Baselines, hourOf } from '../../src/understand/baseline.js';

/** Deterministic values in [0, 1) (xorshift32). */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function direct(values: number[]): { mean: number; stddev: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, stddev: Math.sqrt(ss / (values.length - 1)) };
}

describe('baseline_anomaly: learned per-hour baselines', () => {
  it('learns the same mean and standard deviation as a direct two-pass computation', () => {
    const next = uniform(5);
    const values = Array.from({ length: 500 }, () => 8e9 + next() * 2e9); // bytes in use, around 9 GB
    const baselines = new Baselines();
    for (const v of values) baselines.observe('memory.usedBytes', 14, v);
    const stats = baselines.stats('memory.usedBytes', 14)!;
    const want = direct(values);
    assert.equal(stats.count, 500);
    assert.ok(Math.abs(stats.mean - want.mean) / want.mean < 1e-12);
    assert.ok(Math.abs(stats.stddev - want.stddev) / want.stddev < 1e-9);
  });

  it('keeps each hour of the day apart', () => {
    const baselines = new Baselines();
    for (let i = 0; i < 40; i++) {
      baselines.observe('cpu.percent', 3, 5 + (i % 2));
      baselines.observe('cpu.percent', 15, 70 + (i % 2));
    }
    assert.equal(baselines.stats('cpu.percent', 3)!.mean, 5.5);
    assert.equal(baselines.stats('cpu.percent', 15)!.mean, 70.5);
    assert.equal(baselines.stats('cpu.percent', 4), null);
    assert.equal(baselines.stats('gpu.percent', 3), null);
  });

  it('gives no z-score until the hour has 30 observations', () => {
    const baselines = new Baselines();
    for (let i = 0; i < 29; i++) baselines.observe('cpu.percent', 9, 20 + (i % 5));
    assert.equal(baselines.zScore('cpu.percent', 9, 95), null);
    baselines.observe('cpu.percent', 9, 22);
    assert.equal(typeof baselines.zScore('cpu.percent', 9, 95), 'number');
  });

  it('gives no z-score for a metric that has never varied', () => {
    const baselines = new Baselines();
    for (let i = 0; i < 100; i++) baselines.observe('disk.usedPercent', 10, 42);
    assert.equal(baselines.stats('disk.usedPercent', 10)!.stddev, 0);
    assert.equal(baselines.zScore('disk.usedPercent', 10, 43), null);
  });

  it('scores 95 % CPU at an hour that usually idles near 20 % as a large outlier, and 22 % as ordinary', () => {
    const next = uniform(9);
    const baselines = new Baselines();
    for (let i = 0; i < 200; i++) baselines.observe('cpu.percent', 2, 15 + next() * 10);
    const outlier = baselines.zScore('cpu.percent', 2, 95)!;
    assert.ok(outlier > 20, `z = ${outlier}`);
    assert.ok(Math.abs(baselines.zScore('cpu.percent', 2, 22)!) < 1);
    assert.ok(baselines.zScore('cpu.percent', 2, -60)! < -20);
  });

  it('round-trips through rows, including through JSON, and keeps learning identically', () => {
    const next = uniform(11);
    const original = new Baselines();
    for (let i = 0; i < 300; i++) {
      original.observe('cpu.percent', i % 24, next() * 100);
      original.observe('memory.usedBytes', (i * 7) % 24, 4e9 + next() * 1e9);
    }
    const rows: BaselineRow[] = JSON.parse(JSON.stringify(original.toRows()));
    assert.equal(rows.length, 48);
    assert.deepEqual(rows[0], { ...rows[0], metric: 'cpu.percent', hour: 0 });
    const restored = Baselines.fromRows(rows);
    assert.deepEqual(restored.toRows(), original.toRows());
    original.observe('cpu.percent', 5, 77);
    restored.observe('cpu.percent', 5, 77);
    assert.deepEqual(restored.stats('cpu.percent', 5), original.stats('cpu.percent', 5));
    assert.equal(restored.zScore('cpu.percent', 5, 99), original.zScore('cpu.percent', 5, 99));
  });

  it('refuses a corrupt row and says which one', () => {
    const good = { metric: 'cpu.percent', hour: 1, count: 3, mean: 2, m2: 1 };
    assert.throws(() => Baselines.fromRows([good, { ...good, hour: 24 }]), /baseline row 1 .*hour must be/);
    assert.throws(
      () => Baselines.fromRows([{ ...good, m2: -1 }]),
      /baseline row 0 \("cpu.percent", hour 1\)/,
    );
    assert.throws(() => Baselines.fromRows([good, good]), /repeats an earlier row/);
  });

  it('follows a machine whose use changed, once an hour has more observations than its memory', () => {
    const baselines = new Baselines({ memory: 100 });
    for (let i = 0; i < 1000; i++) baselines.observe('cpu.percent', 20, 10 + (i % 3));
    for (let i = 0; i < 1000; i++) baselines.observe('cpu.percent', 20, 60 + (i % 3));
    const stats = baselines.stats('cpu.percent', 20)!;
    assert.equal(stats.count, 100);
    assert.ok(Math.abs(stats.mean - 61) < 0.5, `mean ${stats.mean}`);
    assert.ok(stats.stddev < 2, `stddev ${stats.stddev}`);
    const forever = new Baselines({ memory: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 1000; i++) forever.observe('cpu.percent', 20, 10);
    for (let i = 0; i < 1000; i++) forever.observe('cpu.percent', 20, 60);
    assert.ok(Math.abs(forever.stats('cpu.percent', 20)!.mean - 35) < 1e-9);
  });

  it('reads the hour of the day in local time', () => {
    assert.equal(hourOf(new Date(2024, 6, 1, 13, 59, 59).getTime()), 13);
    assert.equal(hourOf(new Date(2024, 0, 1, 0, 0, 0).getTime()), 0);
    assert.equal(hourOf(new Date(2024, 0, 1, 23, 30).getTime()), 23);
  });

  it('rejects an hour outside 0–23 as a programming error', () => {
    assert.throws(
      () => new Baselines().observe('cpu.percent', 24, 1),
      /hour must be an integer 0–23, got 24/,
    );
  });
});
