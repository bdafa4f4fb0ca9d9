import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Registry from 'prom-client/lib/registry.js';
import { isLoopback, listenError, parseListen } from '../../src/config/listen.js';
import { defaultConfig } from '../../src/config/schema.js';
import { type MetricsInput, VigilMetrics } from '../../src/metrics/registry.js';
import { configuredListen } from '../../src/metrics/server.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import type { Finding } from '../../src/rules/types.js';

const GiB = 1024 ** 3;

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    takenAt: Date.UTC(2026, 10, 21, 12, 0, 0),
    host: { hostname: 'ws1', kernel: '6.1.0', uptimeSecs: 1000 },
    memory: {
      totalBytes: 16 * GiB,
      availableBytes: 4 * GiB,
      availableEstimated: false,
      freeBytes: 1 * GiB,
      buffersBytes: 0,
      cachedBytes: 2 * GiB,
      usedPercent: 75,
      swapTotalBytes: 2 * GiB,
      swapFreeBytes: 1.5 * GiB,
      swapUsedBytes: 0.5 * GiB,
      swapUsedPercent: 25,
      pressure: {
        some: { avg10: 12.5, avg60: 3, avg300: 1, totalMicros: 4_500_000 },
        full: null,
      },
    },
    cpu: {
      cores: 8,
      load: [3.5, 2.25, 1],
      runnable: 2,
      tasks: 400,
      usagePercent: 40,
      iowaitPercent: 1,
      perCore: [],
      pressure: null,
      bootTime: 0,
    },
    temperatures: [
      {
        chip: 'coretemp',
        label: 'Package id 0',
        tempCelsius: 61,
        maxCelsius: 100,
        critCelsius: 100,
        source: 'hwmon',
        path: '/sys/class/hwmon/hwmon3',
        input: 'temp1',
      },
    ],
    disks: [
      {
        mount: '/home',
        device: '/dev/nvme0n1p2',
        fsType: 'ext4',
        totalBytes: 500 * GiB,
        availableBytes: 20 * GiB,
        usedPercent: 96,
        inodesUsedPercent: 10,
        io: {
          name: 'nvme0n1p2',
          readBytesPerSec: 1000,
          writeBytesPerSec: 2000,
          utilizationPercent: 50,
          awaitMs: 1,
        },
      },
    ],
    gpus: [
      {
        index: 0,
        uuid: 'GPU-1',
        name: 'NVIDIA GeForce RTX 4090',
        temperatureCelsius: 70,
        utilizationPercent: 90,
        memoryUtilizationPercent: 50,
        memoryUsedBytes: 8 * GiB,
        memoryTotalBytes: 24 * GiB,
        powerWatts: 300,
        powerLimitWatts: 450,
        fanPercent: null,
      },
    ],
    collectors: [
      { name: 'memory', ok: true, durationMs: 2, error: null, unsupported: null },
      { name: 'gpu', ok: false, durationMs: 1500, error: 'nvidia-smi timed out', unsupported: null },
    ],
    ...overrides,
  };
}

function finding(rule: string, subject: string, severity: Finding['severity'] = 'high'): Finding {
  return {
    fingerprint: `${rule}|${subject}`,
    rule,
    title: rule,
    severity,
    scope: 'disk',
    subject,
    summary: `${subject} is almost full`,
    pids: [],
    since: 0,
    suggest: [],
    event: false,
  };
}

function metrics(): VigilMetrics {
  return new VigilMetrics({ Registry, Gauge, Counter }, '9.9.9');
}

/** The value of one sample line (`name{labels} value`) in an exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const RULES: MetricsInput['rules'] = [
  { id: 'disk_low', event: false, spec: { severity: 'medium' } },
  { id: 'oom_kill', event: true, spec: { severity: 'high' } },
];

describe('[metrics] listen', () => {
  it('takes HOST:PORT, [IPv6]:PORT and a bare port, which means loopback', () => {
    assert.deepEqual(parseListen('127.0.0.1:9633'), { host: '127.0.0.1', port: 9633 });
    assert.deepEqual(parseListen('[::1]:9633'), { host: '::1', port: 9633 });
    assert.deepEqual(parseListen('localhost:9000'), { host: 'localhost', port: 9000 });
    assert.deepEqual(parseListen('9633'), { host: '127.0.0.1', port: 9633 });
    assert.deepEqual(parseListen(':9633'), { host: '127.0.0.1', port: 9633 });
    assert.equal(isLoopback(parseListen(':9633')), true);
    assert.equal(isLoopback(parseListen('0.0.0.0:9633')), false);
  });

  it('says what is wrong with a bad address and what to write instead', () => {
    assert.match(listenError('127.0.0.1') ?? '', /has no port: write HOST:PORT/);
    assert.match(listenError('127.0.0.1:99999') ?? '', /port 99999 is out of range/);
    assert.match(listenError('::1:9633') ?? '', /IPv6 address needs brackets: "\[::1\]:9633"/);
    assert.match(listenError('300.1.1.1:9633') ?? '', /neither an IP address nor a host name/);
    assert.match(listenError('my host:9633') ?? '', /neither an IP address nor a host name/);
    assert.equal(listenError(''), null);
  });

  it('reports a bad value as file:line: metrics.listen', () => {
    const text = '[general]\nmode = "observe"\n\n[metrics]\nlisten = "127.0.0.1:70000"\n';
    const config = { ...defaultConfig(), metrics: { listen: '127.0.0.1:70000' } };
    const { address, problem } = configuredListen({
      config,
      path: '/home/u/.config/vigil/config.toml',
      text,
    });
    assert.equal(address, null);
    assert.equal(
      problem,
      '/home/u/.config/vigil/config.toml:5: metrics.listen: port 70000 is out of range (1 to 65535)',
    );
    assert.deepEqual(configuredListen({ config: defaultConfig(), path: 'x', text: '' }), {
      address: null,
      problem: null,
    });
  });
});

describe('the metrics of one cycle', () => {
  it('exposes memory, swap, PSI, load, temperatures, disks and GPUs in base units', async () => {
    const m = metrics();
    m.update({ snapshot: snapshot(), firing: [], rules: RULES, mode: 'observe' });
    const text = await m.text();
    assert.equal(sample(text, 'vigil_build_info{version="9.9.9"}'), 1);
    assert.equal(sample(text, 'vigil_mode_info{mode="observe"}'), 1);
    assert.equal(sample(text, 'vigil_memory_total_bytes'), 16 * GiB);
    assert.equal(sample(text, 'vigil_memory_used_ratio'), 0.75);
    assert.equal(sample(text, 'vigil_swap_used_bytes'), 0.5 * GiB);
    assert.equal(sample(text, 'vigil_pressure_avg_ratio{resource="memory",kind="some",window="10s"}'), 0.125);
    assert.equal(sample(text, 'vigil_pressure_stalled_seconds_total{resource="memory",kind="some"}'), 4.5);
    assert.equal(sample(text, 'vigil_load1'), 3.5);
    assert.equal(sample(text, 'vigil_cpu_usage_ratio'), 0.4);
    assert.equal(
      sample(text, 'vigil_temperature_celsius{chip="coretemp",sensor="Package id 0",device="hwmon3/temp1"}'),
      61,
    );
    assert.equal(
      sample(
        text,
        'vigil_filesystem_available_bytes{mountpoint="/home",device="/dev/nvme0n1p2",fstype="ext4"}',
      ),
      20 * GiB,
    );
    assert.equal(sample(text, 'vigil_disk_busy_ratio{device="nvme0n1p2"}'), 0.5);
    assert.equal(sample(text, 'vigil_gpu_utilization_ratio{gpu="0",name="NVIDIA GeForce RTX 4090"}'), 0.9);
    assert.equal(
      sample(text, 'vigil_gpu_memory_used_bytes{gpu="0",name="NVIDIA GeForce RTX 4090"}'),
      8 * GiB,
    );
    assert.equal(sample(text, 'vigil_last_cycle_timestamp_seconds'), snapshot().takenAt / 1000);
  });

  it('says which collector failed and how long each took', async () => {
    const m = metrics();
    m.update({ snapshot: snapshot(), firing: [], mode: 'observe' });
    const text = await m.text();
    assert.equal(sample(text, 'vigil_collector_success{collector="memory"}'), 1);
    assert.equal(sample(text, 'vigil_collector_success{collector="gpu"}'), 0);
    assert.equal(sample(text, 'vigil_collector_duration_seconds{collector="gpu"}'), 1.5);
  });

  it('leaves out what the machine does not have, and drops a disk that went away', async () => {
    const m = metrics();
    m.update({ snapshot: snapshot(), firing: [], mode: 'observe' });
    m.update({ snapshot: snapshot({ disks: [], gpus: undefined }), firing: [], mode: 'auto' });
    const text = await m.text();
    assert.doesNotMatch(text, /^vigil_filesystem_size_bytes\{/m);
    assert.doesNotMatch(text, /^vigil_gpu_/m);
    assert.doesNotMatch(text, /vigil_mode_info\{mode="observe"\}/);
    assert.equal(sample(text, 'vigil_mode_info{mode="auto"}'), 1);
  });

  it('counts firing findings by rule and severity, 0 for a quiet rule, none for event rules', async () => {
    const m = metrics();
    const firing = [finding('disk_low', '/home', 'critical'), finding('disk_low', '/var', 'critical')];
    m.update({ snapshot: snapshot(), firing, rules: RULES, mode: 'observe' });
    let text = await m.text();
    assert.equal(sample(text, 'vigil_findings_firing{rule="disk_low",severity="critical"}'), 2);
    assert.equal(sample(text, 'vigil_findings_firing{rule="disk_low",severity="medium"}'), 0);
    assert.doesNotMatch(text, /rule="oom_kill"/);
    m.update({ snapshot: snapshot(), firing: [], rules: RULES, mode: 'observe' });
    text = await m.text();
    assert.equal(sample(text, 'vigil_findings_firing{rule="disk_low",severity="critical"}'), undefined);
  });

  it('counts alerts raised and actions by action and outcome', async () => {
    const m = metrics();
    m.countRaised([finding('disk_low', '/home')]);
    m.countRaised([finding('disk_low', '/var'), finding('ram_high', 'system', 'critical')]);
    m.countAction('kill_group', 'success');
    m.countAction('kill_group', 'success');
    m.countAction('renice', 'refused');
    const text = await m.text();
    assert.equal(sample(text, 'vigil_alerts_total{rule="disk_low",severity="high"}'), 2);
    assert.equal(sample(text, 'vigil_alerts_total{rule="ram_high",severity="critical"}'), 1);
    assert.equal(sample(text, 'vigil_actions_total{action="kill_group",outcome="success"}'), 2);
    assert.equal(sample(text, 'vigil_actions_total{action="renice",outcome="refused"}'), 1);
  });

  it('reports its own cost under the usual process_* names', async () => {
    const text = await metrics().text();
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 1024 * 1024);
    assert.ok((sample(text, 'process_cpu_seconds_total') ?? 0) > 0);
    assert.ok((sample(text, 'process_start_time_seconds') ?? 0) > 1.6e9);
    assert.ok((sample(text, 'process_open_fds') ?? 0) > 0);
  });

  it('moves a PSI counter only forward', async () => {
    const m = metrics();
    const at = (totalMicros: number) =>
      snapshot({
        memory: {
          ...snapshot().memory!,
          pressure: { some: { avg10: 0, avg60: 0, avg300: 0, totalMicros }, full: null },
        },
      });
    m.update({ snapshot: at(2_000_000), firing: [], mode: 'observe' });
    m.update({ snapshot: at(5_000_000), firing: [], mode: 'observe' });
    m.update({ snapshot: at(1_000_000), firing: [], mode: 'observe' });
    const text = await m.text();
    assert.equal(sample(text, 'vigil_pressure_stalled_seconds_total{resource="memory",kind="some"}'), 5);
  });
});
