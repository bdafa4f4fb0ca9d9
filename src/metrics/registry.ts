import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import type { Counter, Gauge, Registry } from 'prom-client';
import type { Mode, Severity } from '../config/schema.js';
import type { Pressure, Snapshot } from '../model/snapshot.js';
import type { Finding } from '../rules/types.js';

/**
 * What `/metrics` exposes, and how a snapshot becomes it. Names follow the Prometheus conventions:
 * `vigil_` prefix, base units in the name (bytes, seconds, celsius, ratios from 0 to 1), `_total` for
 * counters. vigil's own process uses the names every client library uses (`process_*`, `nodejs_*`), so
 * the dashboards that know them work unchanged.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | vigil_build_info | gauge (1) | version |
 * | vigil_mode_info | gauge (1) | mode |
 * | vigil_last_cycle_timestamp_seconds | gauge | |
 * | vigil_memory_total_bytes, vigil_memory_available_bytes | gauge | |
 * | vigil_memory_used_ratio | gauge | |
 * | vigil_swap_total_bytes, vigil_swap_used_bytes | gauge | |
 * | vigil_pressure_stalled_seconds_total | counter | resource (cpu, memory, io), kind (some, full) |
 * | vigil_pressure_avg_ratio | gauge | resource, kind, window (10s, 60s, 300s) |
 * | vigil_load1, vigil_load5, vigil_load15 | gauge | |
 * | vigil_cpu_cores | gauge | |
 * | vigil_cpu_usage_ratio | gauge | |
 * | vigil_temperature_celsius | gauge | chip, sensor, device |
 * | vigil_filesystem_size_bytes, vigil_filesystem_available_bytes | gauge | mountpoint, device, fstype |
 * | vigil_filesystem_inodes_used_ratio | gauge | mountpoint, device, fstype |
 * | vigil_disk_read_bytes_per_second, vigil_disk_write_bytes_per_second | gauge | device |
 * | vigil_disk_busy_ratio | gauge | device |
 * | vigil_gpu_temperature_celsius, vigil_gpu_utilization_ratio | gauge | gpu, name |
 * | vigil_gpu_memory_used_bytes, vigil_gpu_memory_total_bytes, vigil_gpu_power_watts | gauge | gpu, name |
 * | vigil_findings_firing | gauge | rule, severity |
 * | vigil_alerts_total | counter | rule, severity |
 * | vigil_actions_total | counter | action, outcome |
 * | vigil_collector_duration_seconds | gauge | collector |
 * | vigil_collector_success | gauge (0/1) | collector |
 * | process_cpu_seconds_total, process_resident_memory_bytes, process_heap_bytes | | |
 * | process_start_time_seconds, process_open_fds | gauge | |
 * | nodejs_heap_size_used_bytes, nodejs_heap_size_total_bytes, nodejs_external_memory_bytes | gauge | |
 *
 * A slice the snapshot lacks (no GPU, no PSI) leaves its series out rather than at zero; series of a
 * disk, sensor or GPU that disappeared are dropped at the next cycle. `vigil_findings_firing` is 0 for
 * every loaded rule at its own severity, so `vigil_findings_firing > 0` needs no `absent()`.
 */

/** The prom-client classes, loaded by the server only when metrics are on. */
export interface PromClasses {
  Registry: typeof Registry;
  Gauge: typeof Gauge;
  Counter: typeof Counter;
}

/** What one full cycle hands to the metrics. */
export interface MetricsInput {
  readonly snapshot: Snapshot;
  /** Every finding firing after the cycle. */
  readonly firing: readonly Finding[];
  /** The loaded rules, so a rule that is not firing shows 0 rather than nothing. */
  readonly rules?: readonly {
    readonly id: string;
    readonly event: boolean;
    readonly spec: { readonly severity: Severity };
  }[];
  readonly mode: Mode;
}

const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
const WINDOWS = [
  ['10s', 'avg10'],
  ['60s', 'avg60'],
  ['300s', 'avg300'],
] as const;

const ratio = (percent: number) => percent / 100;

export class VigilMetrics {
  readonly registry: Registry;
  private readonly gauges = new Map<string, Gauge<string>>();
  private readonly counters = new Map<string, Counter<string>>();
  /** Last kernel totals mirrored into counters (key: metric + labels). */
  private readonly mirrored = new Map<string, number>();
  private cpuMark = process.cpuUsage();

  constructor(
    private readonly prom: PromClasses,
    version: string,
  ) {
    this.registry = new prom.Registry();
    const g = (name: string, help: string, labelNames: readonly string[] = []) =>
      this.gauge(name, help, labelNames);
    const c = (name: string, help: string, labelNames: readonly string[]) =>
      this.counter(name, help, labelNames);

    g('vigil_build_info', 'Always 1; the version of vigil running.', ['version']).set({ version }, 1);
    g('vigil_mode_info', 'Always 1; the mode vigil runs in (observe, suggest, auto).', ['mode']);
    g('vigil_last_cycle_timestamp_seconds', 'When the last full cycle completed (seconds since the epoch).');
    g('vigil_memory_total_bytes', 'Physical memory (MemTotal).');
    g(
      'vigil_memory_available_bytes',
      'Memory available to start new programs without swapping (MemAvailable).',
    );
    g('vigil_memory_used_ratio', 'Used memory, (total - available) / total, as free(1) counts it.');
    g('vigil_swap_total_bytes', 'Swap space (SwapTotal).');
    g('vigil_swap_used_bytes', 'Swap in use (SwapTotal - SwapFree).');
    c('vigil_pressure_stalled_seconds_total', 'Time tasks stalled on a resource (PSI total).', [
      'resource',
      'kind',
    ]);
    g(
      'vigil_pressure_avg_ratio',
      'Share of wall time tasks stalled on a resource, averaged over a window (PSI).',
      ['resource', 'kind', 'window'],
    );
    g('vigil_load1', '1-minute load average.');
    g('vigil_load5', '5-minute load average.');
    g('vigil_load15', '15-minute load average.');
    g('vigil_cpu_cores', 'Logical CPUs.');
    g('vigil_cpu_usage_ratio', 'Busy share of all CPUs since the previous full cycle.');
    g('vigil_temperature_celsius', 'Temperature of a hardware sensor.', ['chip', 'sensor', 'device']);
    const fs = ['mountpoint', 'device', 'fstype'];
    g('vigil_filesystem_size_bytes', 'File system size.', fs);
    g('vigil_filesystem_available_bytes', 'File system space available to unprivileged users.', fs);
    g('vigil_filesystem_inodes_used_ratio', 'Share of the file system inodes in use.', fs);
    g('vigil_disk_read_bytes_per_second', 'Bytes read from a block device per second, over the last cycle.', [
      'device',
    ]);
    g(
      'vigil_disk_write_bytes_per_second',
      'Bytes written to a block device per second, over the last cycle.',
      ['device'],
    );
    g('vigil_disk_busy_ratio', 'Share of the last cycle a block device was busy doing I/O.', ['device']);
    const gpu = ['gpu', 'name'];
    g('vigil_gpu_temperature_celsius', 'GPU core temperature.', gpu);
    g('vigil_gpu_utilization_ratio', 'Share of time the GPU was busy.', gpu);
    g('vigil_gpu_memory_used_bytes', 'GPU memory in use.', gpu);
    g('vigil_gpu_memory_total_bytes', 'GPU memory.', gpu);
    g('vigil_gpu_power_watts', 'GPU power draw.', gpu);
    g('vigil_findings_firing', 'Findings firing now, by rule and severity.', ['rule', 'severity']);
    c('vigil_alerts_total', 'Findings raised (alerts opened, events included).', ['rule', 'severity']);
    c('vigil_actions_total', 'Actions vigil ran, by catalog action and outcome.', ['action', 'outcome']);
    g('vigil_collector_duration_seconds', 'How long a collector took in the last full cycle.', ['collector']);
    g(
      'vigil_collector_success',
      '1 when a collector worked (or is unsupported here) in the last full cycle.',
      ['collector'],
    );
    this.ownProcess();
  }

  private gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
    const gauge = new this.prom.Gauge({ name, help, labelNames, registers: [this.registry] });
    this.gauges.set(name, gauge);
    return gauge;
  }

  private counter(name: string, help: string, labelNames: readonly string[]): Counter<string> {
    const counter = new this.prom.Counter({ name, help, labelNames, registers: [this.registry] });
    this.counters.set(name, counter);
    return counter;
  }

  private g(name: string): Gauge<string> {
    return this.gauges.get(name)!;
  }

  /** vigil's own cost, read when scraped. */
  private ownProcess(): void {
    const { Gauge, Counter } = this.prom;
    const registers = [this.registry];
    const self = this;
    new Counter({
      name: 'process_cpu_seconds_total',
      help: 'User and system CPU time vigil spent.',
      registers,
      collect() {
        const now = process.cpuUsage();
        const micros = now.user + now.system - (self.cpuMark.user + self.cpuMark.system);
        self.cpuMark = now;
        if (micros > 0) this.inc(micros / 1e6);
      },
    });
    // Counted from the start of the process, not from the first scrape.
    this.cpuMark = { user: 0, system: 0 };
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory of vigil.',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'process_heap_bytes',
      help: 'V8 heap of vigil (total).',
      registers,
      collect() {
        this.set(process.memoryUsage().heapTotal);
      },
    });
    new Gauge({
      name: 'process_start_time_seconds',
      help: 'When vigil started (seconds since the epoch).',
      registers,
    }).set(Math.round((Date.now() - process.uptime() * 1000) / 1000));
    new Gauge({
      name: 'process_open_fds',
      help: 'File descriptors vigil holds open.',
      registers,
      collect() {
        try {
          this.set(readdirSync('/proc/self/fd').length);
        } catch {
          // not Linux's procfs: the series is left as it was
        }
      },
    });
    for (const [name, help, field] of [
      ['nodejs_heap_size_used_bytes', 'V8 heap in use.', 'heapUsed'],
      ['nodejs_heap_size_total_bytes', 'V8 heap allocated.', 'heapTotal'],
      [
        'nodejs_external_memory_bytes',
        'Memory of C++ objects bound to JavaScript (buffers, SQLite).',
        'external',
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(process.memoryUsage()[field]);
        },
      });
    }
  }

  /** A kernel total (monotonic) into a counter: it moves by the increase, never back. */
  private mirror(name: string, labels: Record<string, string>, total: number): void {
    const key = `${name}${JSON.stringify(labels)}`;
    const last = this.mirrored.get(key) ?? 0;
    this.mirrored.set(key, total);
    this.counters.get(name)!.inc(labels, Math.max(0, total - last));
  }

  private pressure(resource: string, pressure: Pressure | null | undefined): void {
    if (!pressure) return;
    for (const kind of ['some', 'full'] as const) {
      const line = pressure[kind];
      if (!line) continue;
      this.mirror('vigil_pressure_stalled_seconds_total', { resource, kind }, line.totalMicros / 1e6);
      for (const [window, field] of WINDOWS)
        this.g('vigil_pressure_avg_ratio').set({ resource, kind, window }, ratio(line[field]));
    }
  }

  /** One full cycle's picture. Series of things no longer there (a disk unmounted) are dropped. */
  update(input: MetricsInput): void {
    const { snapshot } = input;
    for (const name of [
      'vigil_mode_info',
      'vigil_pressure_avg_ratio',
      'vigil_temperature_celsius',
      'vigil_filesystem_size_bytes',
      'vigil_filesystem_available_bytes',
      'vigil_filesystem_inodes_used_ratio',
      'vigil_disk_read_bytes_per_second',
      'vigil_disk_write_bytes_per_second',
      'vigil_disk_busy_ratio',
      'vigil_gpu_temperature_celsius',
      'vigil_gpu_utilization_ratio',
      'vigil_gpu_memory_used_bytes',
      'vigil_gpu_memory_total_bytes',
      'vigil_gpu_power_watts',
      'vigil_findings_firing',
      'vigil_collector_duration_seconds',
      'vigil_collector_success',
    ])
      this.g(name).reset();
    this.g('vigil_mode_info').set({ mode: input.mode }, 1);
    this.g('vigil_last_cycle_timestamp_seconds').set(snapshot.takenAt / 1000);

    const memory = snapshot.memory;
    if (memory) {
      this.g('vigil_memory_total_bytes').set(memory.totalBytes);
      this.g('vigil_memory_available_bytes').set(memory.availableBytes);
      this.g('vigil_memory_used_ratio').set(ratio(memory.usedPercent));
      this.g('vigil_swap_total_bytes').set(memory.swapTotalBytes);
      this.g('vigil_swap_used_bytes').set(memory.swapUsedBytes);
    }
    const pressures = { cpu: snapshot.cpu?.pressure, memory: memory?.pressure, io: snapshot.ioPressure };
    for (const resource of PRESSURE_RESOURCES) this.pressure(resource, pressures[resource]);

    const cpu = snapshot.cpu;
    if (cpu) {
      this.g('vigil_load1').set(cpu.load[0]);
      this.g('vigil_load5').set(cpu.load[1]);
      this.g('vigil_load15').set(cpu.load[2]);
      this.g('vigil_cpu_cores').set(cpu.cores);
      if (cpu.usagePercent !== null) this.g('vigil_cpu_usage_ratio').set(ratio(cpu.usagePercent));
    }

    for (const t of snapshot.temperatures ?? []) {
      const labels = { chip: t.chip, sensor: t.label, device: `${basename(t.path)}/${t.input}` };
      this.g('vigil_temperature_celsius').set(labels, t.tempCelsius);
    }

    for (const disk of snapshot.disks ?? []) {
      const labels = { mountpoint: disk.mount, device: disk.device, fstype: disk.fsType };
      this.g('vigil_filesystem_size_bytes').set(labels, disk.totalBytes);
      this.g('vigil_filesystem_available_bytes').set(labels, disk.availableBytes);
      if (disk.inodesUsedPercent !== null)
        this.g('vigil_filesystem_inodes_used_ratio').set(labels, ratio(disk.inodesUsedPercent));
      const io = disk.io;
      if (!io) continue;
      const device = { device: io.name };
      if (io.readBytesPerSec !== null)
        this.g('vigil_disk_read_bytes_per_second').set(device, io.readBytesPerSec);
      if (io.writeBytesPerSec !== null)
        this.g('vigil_disk_write_bytes_per_second').set(device, io.writeBytesPerSec);
      if (io.utilizationPercent !== null)
        this.g('vigil_disk_busy_ratio').set(device, Math.min(1, ratio(io.utilizationPercent)));
    }

    for (const gpu of snapshot.gpus ?? []) {
      const labels = { gpu: String(gpu.index), name: gpu.name };
      const set = (name: string, value: number | null) => {
        if (value !== null) this.g(name).set(labels, value);
      };
      set('vigil_gpu_temperature_celsius', gpu.temperatureCelsius);
      set(
        'vigil_gpu_utilization_ratio',
        gpu.utilizationPercent === null ? null : ratio(gpu.utilizationPercent),
      );
      set('vigil_gpu_memory_used_bytes', gpu.memoryUsedBytes);
      set('vigil_gpu_memory_total_bytes', gpu.memoryTotalBytes);
      set('vigil_gpu_power_watts', gpu.powerWatts);
    }

    const firing = this.g('vigil_findings_firing');
    for (const rule of input.rules ?? [])
      if (!rule.event) firing.set({ rule: rule.id, severity: rule.spec.severity }, 0);
    for (const finding of input.firing) {
      if (finding.event) continue;
      firing.inc({ rule: finding.rule, severity: finding.severity });
    }

    for (const collector of snapshot.collectors) {
      const labels = { collector: collector.name };
      this.g('vigil_collector_duration_seconds').set(labels, collector.durationMs / 1000);
      this.g('vigil_collector_success').set(labels, collector.ok || collector.unsupported !== null ? 1 : 0);
    }
  }

  /** Findings just raised (both the full cycle and the one-second fast path raise). */
  countRaised(findings: readonly Finding[]): void {
    for (const f of findings)
      this.counters.get('vigil_alerts_total')!.inc({ rule: f.rule, severity: f.severity });
  }

  countAction(action: string, outcome: string): void {
    this.counters.get('vigil_actions_total')!.inc({ action, outcome });
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
