import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createGpuCollector, parseComputeAppsCsv, parseGpuCsv } from '../../src/collectors/gpu.js';
import { type CollectContext, Unsupported } from '../../src/collectors/types.js';
import { LIVE_PATHS } from '../../src/host/paths.js';

const MIB = 1024 * 1024;
const FAKE_NVIDIA_SMI = fixture('bin/fake-nvidia-smi');

function fixture(relative: string): string {
  return fileURLToPath(new URL(`../fixtures/${relative}`, import.meta.url));
}

/** A real capture from test/fixtures/samples without its `#` provenance notes. */
function capture(name: string, section?: string): string {
  let lines = readFileSync(fixture(`samples/${name}`), 'utf8').split('\n');
  if (section !== undefined) {
    const start = lines.findIndex((line) => line.startsWith('#') && line.includes(section));
    assert.ok(start >= 0, `no section "${section}" in ${name}`);
    const end = lines.findIndex((line, i) => i > start && line.startsWith('##'));
    lines = lines.slice(start + 1, end < 0 ? undefined : end);
  }
  return lines.filter((line) => !line.startsWith('#')).join('\n');
}

/**
 * One block of nvidia-smi-noheader-nounits-issue-samples.txt: its noheader rows, preceded by a header made
 * from the `--query-gpu=` / `--query-compute-apps=` of the command line the reporter ran.
 */
function issueBlock(section: string): string {
  const lines = capture('nvidia-smi-noheader-nounits-issue-samples.txt', section)
    .split('\n')
    .filter((line) => line.trim() !== '');
  const command = lines.find((line) => line.includes('nvidia-smi '))!;
  const fields = /--query-[a-z-]+=(\S+)/.exec(command)![1]!;
  return [
    fields.replaceAll(',', ', '),
    ...lines.filter((line) => line !== command && !line.includes('nvidia-smi ')),
  ].join('\n');
}

describe('parseGpuCsv on real nvidia-smi captures', () => {
  it('reads an idle and a loaded H100, with power, memory in bytes and no fan', () => {
    const { gpus, skipped } = parseGpuCsv(capture('nvidia-smi-query-gpu-h100.csv'));
    assert.deepEqual(skipped, []);
    assert.equal(gpus.length, 2);
    assert.deepEqual(gpus[0], {
      index: 0,
      uuid: 'GPU-00000000-0000-0000-0000-000000000000',
      name: 'NVIDIA H100 80GB HBM3',
      temperatureCelsius: 41,
      utilizationPercent: 0,
      memoryUtilizationPercent: 0,
      memoryUsedBytes: 0,
      memoryTotalBytes: 81559 * MIB,
      powerWatts: 69.85,
      powerLimitWatts: 700,
      fanPercent: null,
    });
    assert.equal(gpus[1]!.utilizationPercent, 100);
    assert.equal(gpus[1]!.memoryUsedBytes, 19818 * MIB);
    assert.equal(gpus[1]!.powerWatts, 631.95);
  });

  it('keeps MIG utilisation unknown rather than calling a loaded H100 idle', () => {
    const { gpus } = parseGpuCsv(capture('nvidia-smi-query-gpu-h100-mig.csv'));
    const loaded = gpus[1]!;
    assert.equal(loaded.utilizationPercent, null);
    assert.equal(loaded.memoryUtilizationPercent, null);
    assert.equal(loaded.powerWatts, 433.78);
    assert.equal(loaded.memoryUsedBytes, 11125 * MIB);
  });

  it('reads the 143771 MiB of an H200 exactly, with and without MIG', () => {
    const { gpus } = parseGpuCsv(capture('nvidia-smi-query-gpu-h200.csv'));
    assert.equal(gpus.length, 4);
    for (const gpu of gpus) assert.equal(gpu.memoryTotalBytes, 143771 * MIB);
    assert.equal(gpus[0]!.memoryTotalBytes, 150_754_820_096);
    assert.equal(gpus[1]!.utilizationPercent, 100);
    assert.equal(gpus[3]!.utilizationPercent, null);
    assert.equal(gpus[3]!.memoryUsedBytes, 16959 * MIB);
  });

  it('lists all eight V100s of a multi-GPU host, the busy one and the odd memory total included', () => {
    const { gpus, skipped } = parseGpuCsv(capture('nvidia-smi-query-gpu-8x-v100-multigpu.csv'));
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      gpus.map((gpu) => gpu.index),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    assert.ok(gpus.every((gpu) => gpu.name === 'Tesla V100-SXM2-32GB'));
    assert.equal(gpus[5]!.memoryTotalBytes, 32764 * MIB);
    assert.equal(gpus[6]!.utilizationPercent, 100);
    assert.equal(gpus[6]!.memoryUsedBytes, 13928 * MIB);
    assert.equal(gpus[6]!.temperatureCelsius, 51);
    // This capture did not ask for power or a uuid: unknown, not zero.
    assert.equal(gpus[6]!.powerWatts, null);
    assert.equal(gpus[6]!.uuid, null);
  });

  it('tells a stopped fan (0 %) on a GeForce from a fanless L40S ([N/A])', () => {
    const { gpus, skipped } = parseGpuCsv(capture('nvidia-smi-query-gpu-consumer-and-l40s.csv'));
    assert.deepEqual(skipped, []);
    assert.equal(gpus.length, 10);
    const rtx4080 = gpus.filter((gpu) => gpu.name === 'NVIDIA GeForce RTX 4080 SUPER');
    const l40s = gpus.filter((gpu) => gpu.name === 'NVIDIA L40S');
    assert.equal(rtx4080.length, 2);
    assert.ok(rtx4080.every((gpu) => gpu.fanPercent === 0));
    assert.equal(l40s.length, 2);
    assert.ok(l40s.every((gpu) => gpu.fanPercent === null));
    assert.equal(l40s[0]!.utilizationPercent, 100);
    assert.equal(gpus[0]!.fanPercent, 38);
    assert.equal(gpus[0]!.powerWatts, 39.32);
  });

  it('reads a bare N/A (the spelling the L40S uses for temperature.memory) as unknown', () => {
    // The L40S load row of the capture, in the collector's column order, with the card's bare `N/A`
    // spelling in the temperature and fan columns.
    const row =
      '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA L40S, N/A, 9, 2, 1235, 46068, 110.23, 350.00, N/A';
    const [gpu] = parseGpuCsv(row).gpus;
    assert.equal(gpu!.temperatureCelsius, null);
    assert.equal(gpu!.fanPercent, null);
    assert.equal(gpu!.memoryUsedBytes, 1235 * MIB);
  });

  it('reads both the new [N/A] and the old [Not Supported] fan of the same card as unknown', () => {
    const { gpus, skipped } = parseGpuCsv(issueBlock('A.'));
    assert.deepEqual(skipped, []);
    assert.equal(gpus.length, 2);
    for (const gpu of gpus) {
      assert.equal(gpu.fanPercent, null);
      assert.equal(gpu.memoryTotalBytes, 2004 * MIB);
      assert.equal(gpu.temperatureCelsius, 44);
      assert.equal(gpu.utilizationPercent, 0);
    }
  });

  it('keeps a GPU name with spaces whole (GeForce RTX 2080)', () => {
    const [gpu] = parseGpuCsv(issueBlock('C.')).gpus;
    assert.equal(gpu!.name, 'GeForce RTX 2080');
    assert.equal(gpu!.uuid, 'GPU-22b2c6ac-2d49-4863-197c-9c469071178a');
    assert.equal(gpu!.powerWatts, 176.98);
    assert.equal(gpu!.powerLimitWatts, 200);
    assert.equal(gpu!.fanPercent, 100);
    assert.equal(gpu!.utilizationPercent, 86);
  });

  it('skips nvidia-smi error text instead of inventing a GPU from it', () => {
    const { gpus, skipped } = parseGpuCsv(capture('nvidia-smi-error-outputs.txt', '## 2.'));
    assert.deepEqual(gpus, []);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /Failed to initialize NVML: Driver\/library version mismatch/);
  });
});

describe('parseComputeAppsCsv on real nvidia-smi captures', () => {
  it('lists the three processes on a loaded H100 with their GPU memory in bytes', () => {
    const { processes, skipped } = parseComputeAppsCsv(
      capture('nvidia-smi-query-compute-apps.csv', 'h100-80gb-hbm3__590.48.01.txt load'),
    );
    assert.deepEqual(skipped, []);
    assert.deepEqual(processes, [
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        pid: 11327,
        name: '/root/tools/memhog',
        usedMemoryBytes: 2566 * MIB,
      },
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        pid: 11328,
        name: '/root/tools/memhog',
        usedMemoryBytes: 1542 * MIB,
      },
      {
        gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        pid: 11345,
        name: './gpu_burn',
        usedMemoryBytes: 15690 * MIB,
      },
    ]);
  });

  it('finds no process on an idle GPU, and nothing to complain about', () => {
    const idle = parseComputeAppsCsv(
      capture('nvidia-smi-query-compute-apps.csv', 'h100-80gb-hbm3__590.48.01.txt idle'),
    );
    assert.deepEqual(idle, { processes: [], skipped: [] });
    assert.deepEqual(parseComputeAppsCsv(''), { processes: [], skipped: [] });
  });

  it('keeps Windows paths with spaces and leaves WDDM memory unknown, not zero', () => {
    const { processes, skipped } = parseComputeAppsCsv(
      capture('nvidia-smi-query-compute-apps.csv', 'windows-x86_64'),
    );
    assert.deepEqual(skipped, []);
    assert.equal(processes.length, 12);
    assert.ok(processes.every((p) => p.usedMemoryBytes === null));
    assert.ok(processes.some((p) => p.name === 'C:\\Program Files\\NZXT CAM\\NZXT CAM.exe'));
  });

  it('reads the noheader rows of a vLLM host, process names with "::" included', () => {
    const rows = capture('nvidia-smi-noheader-nounits-issue-samples.txt', '## E.')
      .split('\n')
      .filter((line) => line.startsWith('GPU-9') && line.split(', ').length === 4)
      .join('\n');
    const { processes, skipped } = parseComputeAppsCsv(rows);
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      processes.map((p) => [p.pid, p.name, p.usedMemoryBytes]),
      [
        [1337099, 'VLLM::Worker_TP0', 44974 * MIB],
        [3177322, '/home/wenchang/asdasdsad/wjq/TTFL/.venv/bin/python', 1194 * MIB],
        [1337100, 'VLLM::Worker_TP1', 44974 * MIB],
      ],
    );
  });

  it('reads the three columns the collector asks for, leaving the name to be found elsewhere', () => {
    const { processes } = parseComputeAppsCsv('GPU-9de4332b-3b09-a3b4-5589-30229f0c14fe, 1337099, 44974\n');
    assert.deepEqual(processes, [
      {
        gpuUuid: 'GPU-9de4332b-3b09-a3b4-5589-30229f0c14fe',
        pid: 1337099,
        name: '',
        usedMemoryBytes: 44974 * MIB,
      },
    ]);
  });
});

describe('the gpu collector, with a fake nvidia-smi replaying real captures', () => {
  const FAKE_ENV = [
    'FAKE_NVIDIA_SMI_GPU',
    'FAKE_NVIDIA_SMI_APPS',
    'FAKE_NVIDIA_SMI_GPU_SECTION',
    'FAKE_NVIDIA_SMI_APPS_SECTION',
    'FAKE_NVIDIA_SMI_EXIT',
    'FAKE_NVIDIA_SMI_SLEEP',
  ];
  afterEach(() => {
    for (const name of FAKE_ENV) delete process.env[name];
  });

  function context(overrides: Partial<CollectContext> = {}): CollectContext {
    return {
      paths: LIVE_PATHS,
      nowMs: Date.now(),
      monoMs: performance.now(),
      nvidiaSmi: FAKE_NVIDIA_SMI,
      journal: { kind: 'system' },
      journalSince: '-1h',
      commandTimeoutMs: 10_000,
      ...overrides,
    };
  }

  async function collect(ctx: CollectContext = context()) {
    const skips: string[] = [];
    const slice = await createGpuCollector().collect(ctx, { skip: (reason) => skips.push(reason) });
    return { slice, skips };
  }

  it('reports the eight GPUs of a V100 host and the processes using GPU memory', async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-query-gpu-8x-v100-multigpu.csv');
    process.env['FAKE_NVIDIA_SMI_APPS'] = fixture('samples/nvidia-smi-query-compute-apps.csv');
    process.env['FAKE_NVIDIA_SMI_APPS_SECTION'] = 'h100-80gb-hbm3__590.48.01.txt load';
    const { slice, skips } = await collect();
    assert.deepEqual(skips, []);
    assert.equal(slice.gpus.length, 8);
    assert.equal(slice.gpus[6]!.utilizationPercent, 100);
    assert.equal(slice.gpus[6]!.memoryUsedBytes, 13928 * MIB);
    assert.equal(slice.gpus[5]!.memoryTotalBytes, 32764 * MIB);
    assert.deepEqual(
      slice.processes.map((p) => [p.pid, p.usedMemoryBytes]),
      [
        [11327, 2566 * MIB],
        [11328, 1542 * MIB],
        [11345, 15690 * MIB],
      ],
    );
  });

  it('reports no GPU process on an idle machine without calling it a failure', async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-query-gpu-h100.csv');
    const { slice, skips } = await collect();
    assert.deepEqual(skips, []);
    assert.deepEqual(slice.processes, []);
    assert.equal(slice.gpus[0]!.name, 'NVIDIA H100 80GB HBM3');
  });

  it("fails with nvidia-smi's own words when it cannot reach the driver (exit 9)", async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-error-outputs.txt');
    process.env['FAKE_NVIDIA_SMI_GPU_SECTION'] = '## 1. Driver';
    process.env['FAKE_NVIDIA_SMI_EXIT'] = '9';
    await assert.rejects(collect(), (error: Error) => {
      assert.ok(!(error instanceof Unsupported), 'a broken driver is an error, not "unsupported"');
      assert.match(error.message, /couldn't communicate with the NVIDIA driver/);
      assert.match(error.message, /exit 9/);
      return true;
    });
  });

  it('fails on a driver/library version mismatch even though nvidia-smi exits 0', async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-error-outputs.txt');
    process.env['FAKE_NVIDIA_SMI_GPU_SECTION'] = '## 2.';
    await assert.rejects(collect(), /Failed to initialize NVML: Driver\/library version mismatch/);
  });

  it('says unsupported, not failed, when nvidia-smi is not installed', async () => {
    await assert.rejects(collect(context({ nvidiaSmi: '/nonexistent/bin/nvidia-smi' })), (error: Error) => {
      assert.ok(error instanceof Unsupported);
      assert.equal(error.message, 'nvidia-smi not found: no NVIDIA driver installed');
      return true;
    });
  });

  it('gives up on a hung nvidia-smi within the command timeout', async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-query-gpu-h100.csv');
    process.env['FAKE_NVIDIA_SMI_SLEEP'] = '30';
    const started = performance.now();
    await assert.rejects(
      collect(context({ commandTimeoutMs: 500 })),
      /nvidia-smi did not answer within 500 ms/,
    );
    assert.ok(performance.now() - started < 5000, 'the hang was cut short');
  });

  it('keeps the GPUs and says why when only the process query fails', async () => {
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-query-gpu-h200.csv');
    process.env['FAKE_NVIDIA_SMI_APPS'] = fixture('samples/nvidia-smi-error-outputs.txt');
    process.env['FAKE_NVIDIA_SMI_APPS_SECTION'] = '## 3.';
    const { slice, skips } = await collect();
    assert.equal(slice.gpus.length, 4);
    assert.deepEqual(slice.processes, []);
    assert.equal(skips.length, 1);
    assert.match(skips[0]!, /GPU processes unknown: .*Failed to initialize NVML: Unknown Error/);
  });
});
