import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readProcessDetails } from '../../src/collectors/processes.js';
import { defaultConfig } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import { hourOf } from '../../src/rules/baseline.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { BASELINE_METRICS, FactBuilder, sensorKind } from '../../src/rules/facts.js';
import { loadRules } from '../../src/rules/load.js';

const config = defaultConfig();
const names = Object.keys(config.thresholds);

function machine(takenAt: number, memUsedPercent: number): Snapshot {
  const total = 16 * 2 ** 30;
  return {
    takenAt,
    host: { hostname: 'h', kernel: 'k', uptimeSecs: 1000 },
    processes: [],
    memory: {
      totalBytes: total,
      availableBytes: total * (1 - memUsedPercent / 100),
      availableEstimated: false,
      freeBytes: 0,
      buffersBytes: 0,
      cachedBytes: 0,
      usedPercent: memUsedPercent,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
      swapUsedBytes: 0,
      swapUsedPercent: 0,
      pressure: null,
    },
    cpu: {
      cores: 8,
      load: [0.5, 0.5, 0.5],
      runnable: 1,
      tasks: 300,
      usagePercent: 5,
      iowaitPercent: 0,
      perCore: [],
      pressure: null,
      bootTime: 0,
    },
    collectors: [],
  };
}

describe('baseline_anomaly', () => {
  it('fires on a metric far from what was learnt for this hour, only once enough samples were seen', () => {
    const now = Date.now();
    const hour = hourOf(now);
    const builder = new FactBuilder({ procfs: '/nonexistent', kinds: [], uid: 0 });
    const engine = new RuleEngine(
      loadRules({ thresholdNames: names }).rules.filter((r) => r.id === 'baseline_anomaly'),
    );
    const learn = (n: number) => {
      for (let i = 0; i < n; i++) {
        for (const metric of BASELINE_METRICS)
          builder.baselines.observe(metric, hour, metric === 'mem_used_percent' ? 20 + (i % 3) : 1);
      }
    };
    learn(10);
    assert.equal(builder.build(machine(now, 80), config).sys.anomaly_z, -1, 'not enough samples yet');
    learn(30);
    const facts = builder.build(machine(now, 80), config);
    assert.equal(facts.sys.anomaly_metric, 'mem_used_percent');
    assert.ok(facts.sys.anomaly_z > 50);
    const { firing } = engine.evaluate(facts, { ignoreDurations: true });
    assert.equal(firing.length, 1);
    assert.match(
      firing[0]!.summary,
      /^mem_used_percent is 80, far from its usual 21(\.0)? at this hour \(\d+(\.\d)? σ\)$/,
    );
    assert.equal(
      engine.evaluate(builder.build(machine(now + 1000, 21), config), { ignoreDurations: true }).firing
        .length,
      1,
      'hysteresis: clears only after clear_for',
    );
  });
});

describe('sensors', () => {
  it('tells CPU, GPU and disk sensors apart by chip name', () => {
    assert.deepEqual(
      ['coretemp', 'k10temp', 'cpu_thermal', 'amdgpu', 'nvme', 'acpitz', 'iwlwifi_1'].map(sensorKind),
      ['cpu', 'cpu', 'cpu', 'gpu', 'disk', 'other', 'other'],
    );
  });
});

describe('expensive per-process facts, read on demand', () => {
  it('counts open file descriptors and reads the OOM score of a live process', () => {
    const details = readProcessDetails(LIVE_PATHS, process.pid);
    assert.ok((details.openFds ?? 0) >= 3, `${details.openFds} fds`);
    assert.equal(typeof details.oomScore, 'number');
    assert.equal(details.oomScoreAdj, Number(readFileSync(`/proc/${process.pid}/oom_score_adj`, 'utf8')));
  });
});
