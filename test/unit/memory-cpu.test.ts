import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCpuCollector, parseLoadavg, parseProcStatSystem } from '../../src/collectors/cpu.js';
import { createMemoryCollector, memoryFromMeminfo, parseMeminfo } from '../../src/collectors/memory.js';
import { parsePressure, readPressure } from '../../src/collectors/pressure.js';
import type { HostPaths } from '../../src/host/paths.js';
import { deriveCpu } from '../../src/pipeline/derive.js';
import { fixtureContext } from '../helpers/context.js';
import { fixturePath, sampleBlock, sampleText } from '../helpers/samples.js';

const GiB = 1024 ** 3;
const noop = { skip: () => {} };

const context = (paths: HostPaths, monoMs = 0) => fixtureContext(monoMs, paths);

function tempTree(): { paths: HostPaths; procfs: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-proc-'));
  const procfs = join(dir, 'proc');
  cpSync(fixturePath('proc'), procfs, { recursive: true });
  return {
    paths: { procfs, sysfs: join(dir, 'sys'), etc: join(dir, 'etc'), rootfs: dir },
    procfs,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe('memory from /proc/meminfo', () => {
  it('uses MemAvailable on a modern kernel and computes used % like free(1)', () => {
    const m = memoryFromMeminfo(parseMeminfo(sampleText('meminfo-gopsutil-intel-core-i5.txt')));
    assert.equal(m.totalBytes, 16115528 * 1024);
    assert.equal(m.availableEstimated, false);
    assert.ok(Math.abs(m.usedPercent - ((m.totalBytes - m.availableBytes) / m.totalBytes) * 100) < 1e-9);
    assert.equal(m.swapUsedBytes, 0);
    assert.ok(m.swapTotalBytes > 7 * GiB);
  });

  it('estimates available memory on kernels without MemAvailable, and says it is an estimate', () => {
    const old = memoryFromMeminfo(parseMeminfo(sampleText('meminfo-node-exporter.txt')));
    assert.equal(old.availableEstimated, true);
    assert.ok(old.availableBytes > old.freeBytes, 'page cache counts as available');
    assert.ok(old.availableBytes <= old.totalBytes);
    assert.equal(old.swapUsedBytes, (4194300 - 3155360) * 1024);
  });

  it('tolerates a truncated meminfo and unknown keys', () => {
    const short = memoryFromMeminfo(parseMeminfo(sampleText('meminfo-gopsutil-256g-truncated.txt')));
    assert.equal(short.totalBytes, 260799420 * 1024);
    assert.equal(short.availableBytes, 127880216 * 1024);
    const zswap = parseMeminfo(sampleText('meminfo-procfs-zswap-no-memavailable.txt'));
    assert.equal(zswap.get('Zswapped'), 10502 * 1024);
    assert.equal(zswap.get('HugePages_Total'), 0);
  });

  it('refuses a meminfo with no MemTotal', () => {
    assert.throws(() => memoryFromMeminfo(parseMeminfo('garbage\n')), /MemTotal/);
  });

  it('combines meminfo with memory pressure in the collector, and reports PSI absent as null', () => {
    const tree = tempTree();
    try {
      const m = createMemoryCollector().collect(context(tree.paths), noop);
      assert.equal(m.pressure?.some?.avg10, 2.32);
      assert.equal(m.pressure?.full?.totalMicros, 1367);
      rmSync(join(tree.procfs, 'pressure'), { recursive: true });
      const without = createMemoryCollector().collect(context(tree.paths), noop);
      assert.equal(without.pressure, null);
    } finally {
      tree.done();
    }
  });
});

describe('pressure stall information', () => {
  it('reads some and full lines with their averages and totals', () => {
    const p = parsePressure(sampleText('pressure-io.txt'));
    assert.deepEqual(p.some, { avg10: 0.18, avg60: 0.34, avg300: 0.1, totalMicros: 159886802 });
    assert.equal(p.full?.totalMicros, 159229614);
  });

  it('accepts cpu pressure without a full line (kernels before 5.13) and irq with only full', () => {
    const cpu = parsePressure(sampleBlock('pressure-cpu-some-only.txt', 'B.'));
    assert.equal(cpu.full, null);
    assert.equal(cpu.some?.avg300, 3.85);
    const irq = parsePressure(sampleText('pressure-irq.txt'));
    assert.equal(irq.some, null);
    assert.equal(irq.full?.totalMicros, 8494);
  });

  it('treats a missing /proc/pressure as unavailable, not as an error', () => {
    const paths = { procfs: '/nonexistent-vigil', sysfs: '/sys', etc: '/etc', rootfs: '/' };
    assert.equal(readPressure(paths, 'memory'), null);
  });

  it('names the file when a pressure file is garbled', () => {
    const tree = tempTree();
    try {
      writeFileSync(join(tree.procfs, 'pressure/cpu'), 'nonsense\n');
      assert.throws(() => readPressure(tree.paths, 'cpu'), /pressure\/cpu/);
    } finally {
      tree.done();
    }
  });
});

describe('cpu from /proc/stat and /proc/loadavg', () => {
  it('reads per-core counters, boot time and load average', () => {
    const stat = parseProcStatSystem(
      `cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0\nbtime 1418183276\n`,
    );
    assert.equal(stat.cores.length, 1);
    assert.equal(stat.bootTimeSecs, 1418183276);
    assert.deepEqual(parseLoadavg('0.52 0.58 0.59 2/1036 27084\n'), {
      load: [0.52, 0.58, 0.59],
      runnable: 2,
      tasks: 1036,
    });
  });

  it('computes busy % between two samples, per core and in total', () => {
    const tree = tempTree();
    try {
      const cpu = createCpuCollector();
      const first = cpu.collect(context(tree.paths, 0), noop);
      assert.equal(first.usagePercent, null);
      assert.equal(first.cores, 4);
      // Add 100 ticks to every core: 50 busy (user), 50 idle → 50 %.
      const stat = `cpu  10132353 290696 3084719 46828683 16683 0 25195 0 175628 0
cpu0 1393330 32966 572056 13343342 6130 0 17875 0 23933 0
cpu1 1336046 22968 522040 13477701 3563 0 2993 0 39519 0
cpu2 3676599 126453 1106498 9976455 3591 0 2271 0 55987 0
cpu3 3726378 108309 884125 10031185 3399 0 2056 0 56189 0
btime 1418183276
`;
      writeFileSync(join(tree.procfs, 'stat'), stat);
      const raw = cpu.collect(context(tree.paths, 1000), noop);
      assert.equal(raw.usagePercent, null, 'the collector reads ticks; the pipeline derives the share');
      assert.deepEqual(raw.ticks, { totalTicks: 60378329, idleTicks: 46845366, iowaitTicks: 16683 });
      const second = deriveCpu(first, raw, 1000);
      assert.equal(second.usagePercent, 50);
      assert.deepEqual(
        second.perCore.map((c) => c.usagePercent),
        [50, 50, 50, 50],
      );
      assert.equal(second.perCore[0]!.frequencyMhz, null, 'no cpufreq in the fixture sysfs');
      assert.deepEqual(second.load, [0.52, 0.58, 0.59]);
    } finally {
      tree.done();
    }
  });

  it('fails with the path when /proc/stat is garbled', () => {
    const tree = tempTree();
    try {
      writeFileSync(join(tree.procfs, 'stat'), 'cpu x y z\n');
      assert.throws(() => createCpuCollector().collect(context(tree.paths), noop), /proc\/stat.*garbled/);
    } finally {
      tree.done();
    }
  });
});
