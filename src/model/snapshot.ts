/**
 * The Snapshot: one immutable picture of the machine. Field names carry their unit (`rssBytes`,
 * `tempCelsius`, `durationMs`). A slice is `undefined` when its collector failed or is unsupported here;
 * the `collectors` list says why. Names used by `vigil status --json` are a public contract (README).
 */

/** Pressure stall information for one resource, see Documentation/accounting/psi.rst. */
export interface PressureLine {
  /** Percentage of wall time stalled, averaged over 10 s, 60 s and 300 s. */
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Cumulative stall time in microseconds. */
  readonly totalMicros: number;
}

/** `some` and `full` lines; either may be absent (cpu lacks `full` before 5.13, irq lacks `some`). */
export interface Pressure {
  readonly some: PressureLine | null;
  readonly full: PressureLine | null;
}

export interface ProcessSample {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  /** One letter from /proc/[pid]/stat: R S D Z T t X I ... */
  readonly state: string;
  /** Kernel task name, at most 15 characters. */
  readonly comm: string;
  /** Full command line, arguments joined by spaces; empty for kernel threads and zombies. */
  readonly cmdline: string;
  /** The argv as the kernel holds it (NUL-separated in /proc/[pid]/cmdline). */
  readonly argv: readonly string[];
  /** Real uid. */
  readonly uid: number;
  readonly user: string | null;
  /** Start time in ms since the epoch (boot time + start ticks). */
  readonly startTime: number;
  /** Start time in clock ticks since boot: with the pid, the identity of a process (pids are reused). */
  readonly startTicks: number;
  readonly threads: number;
  /** Resident set as `ps -o rss` and `top` show it (statm's resident pages). */
  readonly rssBytes: number;
  /**
   * Memory of this process out in swap (`VmSwap` of status); 0 when no swap is in use, null when
   * unknown. Read at first sight, then in turns and when the resident set moves, so it may lag a cycle
   * or a few (see the process collector).
   */
  readonly swapBytes: number | null;
  readonly virtualBytes: number;
  readonly nice: number;
  /**
   * CPU use since the previous sample, 100 = one core: derived by the pipeline from `cpuSeconds` of this
   * process (same pid and start time) in two samples. null on the first sample, for a process new since
   * the previous one, and as the collector returns it.
   */
  readonly cpuPercent: number | null;
  /** utime + stime since the process started, in seconds: the raw counter `cpuPercent` comes from. */
  readonly cpuSeconds: number;
  /** cgroup v2 path (or the first v1 hierarchy), null when unreadable. */
  readonly cgroup: string | null;
  /** Controlling terminal (`pts/3`, `tty1`), null when none. */
  readonly tty: string | null;
  readonly kernelThread: boolean;
  /** GPU memory used by this process, from nvidia-smi; null when unknown. */
  readonly gpuMemoryBytes: number | null;
}

export interface MemorySlice {
  readonly totalBytes: number;
  readonly availableBytes: number;
  /** True when MemAvailable was missing and `availableBytes` is vigil's estimate. */
  readonly availableEstimated: boolean;
  readonly freeBytes: number;
  readonly buffersBytes: number;
  readonly cachedBytes: number;
  /** (total - available) / total, in percent; the same definition as procps `free`. */
  readonly usedPercent: number;
  readonly swapTotalBytes: number;
  readonly swapFreeBytes: number;
  readonly swapUsedBytes: number;
  readonly swapUsedPercent: number;
  /** /proc/pressure/memory, null when PSI is absent or disabled. */
  readonly pressure: Pressure | null;
}

/**
 * Cumulative jiffies of one `cpu` line of /proc/stat (USER_HZ, see proc(5)), the raw counters CPU use is
 * derived from: the busy share is 1 − Δidle / Δtotal between two samples.
 */
export interface CpuTicks {
  /** All time except guest and guest_nice, which are already counted in user and nice. */
  readonly totalTicks: number;
  /** idle + iowait. */
  readonly idleTicks: number;
  readonly iowaitTicks: number;
}

export interface CoreSample {
  /** `cpu0`, `cpu1` ... */
  readonly name: string;
  /** Busy share of this core since the previous sample; null on the first (derived from `ticks`). */
  readonly usagePercent: number | null;
  readonly frequencyMhz: number | null;
  /** Raw counters of this core (absent from stored and hand-made snapshots). */
  readonly ticks?: CpuTicks;
}

export interface CpuSlice {
  readonly cores: number;
  /** Load average over 1, 5 and 15 minutes. */
  readonly load: readonly [number, number, number];
  readonly runnable: number;
  readonly tasks: number;
  /** Busy share of all cores since the previous sample (100 = every core busy); null on the first. */
  readonly usagePercent: number | null;
  /** Share of all cores' time spent waiting for I/O since the previous sample; null on the first. */
  readonly iowaitPercent: number | null;
  readonly perCore: readonly CoreSample[];
  /** Raw counters of the `cpu` line, all cores together (absent from stored and hand-made snapshots). */
  readonly ticks?: CpuTicks;
  readonly pressure: Pressure | null;
  /** Boot time, ms since the epoch (from /proc/stat btime). */
  readonly bootTime: number;
}

export interface TemperatureSample {
  /** Chip or zone name (`coretemp`, `nvme`, `acpitz`); the hwmon directory name when the chip has none. */
  readonly chip: string;
  /** Sensor label (`Core 0`, `Composite`), or the input name (`temp1`) when unlabelled. */
  readonly label: string;
  readonly tempCelsius: number;
  readonly maxCelsius: number | null;
  readonly critCelsius: number | null;
  /** `hwmon` or `thermal_zone`. */
  readonly source: 'hwmon' | 'thermal_zone';
  /** sysfs path of the sensor directory (several chips can share a name). */
  readonly path: string;
  /** The input within that directory (`temp2`; `temp` for a thermal zone): with `path`, a unique key. */
  readonly input: string;
}

export interface DiskSample {
  readonly mount: string;
  readonly device: string;
  readonly fsType: string;
  readonly totalBytes: number;
  readonly availableBytes: number;
  readonly usedPercent: number;
  /** null for file systems without inode accounting (btrfs, vfat report 0 inodes). */
  readonly inodesUsedPercent: number | null;
  /** Block-device counters from /proc/diskstats, null when the device is not listed there. */
  readonly io: DiskIo | null;
}

/**
 * The cumulative counters of one /proc/diskstats row that I/O rates are derived from (see
 * Documentation/admin-guide/iostats.rst). They wrap at 2^32 on 32-bit kernels and start again from zero
 * when the device is re-created.
 */
export interface DiskIoCounters {
  readonly readsCompleted: number;
  readonly writesCompleted: number;
  /** 512-byte sectors, whatever the device's own sector size. */
  readonly sectorsRead: number;
  readonly sectorsWritten: number;
  /** Time spent on reads and on writes, ms (summed over requests in flight together). */
  readonly readMs: number;
  readonly writeMs: number;
  /** Time the device had I/O in flight, ms. */
  readonly ioMs: number;
}

export interface DiskIo {
  /** Kernel name of the block device (`sda`, `nvme0n1p2`, `dm-0`). */
  readonly name: string;
  /** Raw counters these rates come from (absent from stored and hand-made snapshots). */
  readonly counters?: DiskIoCounters;
  readonly readBytesPerSec: number | null;
  readonly writeBytesPerSec: number | null;
  /** Share of wall time the device was busy (ms doing I/O / elapsed), 0..100. */
  readonly utilizationPercent: number | null;
  /** Average time per completed I/O, ms. */
  readonly awaitMs: number | null;
}

export interface DisksSlice {
  readonly disks: readonly DiskSample[];
  readonly ioPressure: Pressure | null;
}

export interface NetworkInterfaceSample {
  readonly name: string;
  /** Cumulative bytes received and sent (the raw counters the rates are derived from). */
  readonly rxBytes: number;
  readonly txBytes: number;
  /** Bytes per second since the previous sample; null on the first, for a new interface, or a reset. */
  readonly rxBytesPerSec: number | null;
  readonly txBytesPerSec: number | null;
  readonly rxErrors: number;
  readonly txErrors: number;
  readonly rxDrops: number;
  readonly txDrops: number;
}

export interface NetworkSlice {
  readonly interfaces: readonly NetworkInterfaceSample[];
  /** TCP sockets (IPv4 and IPv6) by state name (`ESTABLISHED`, `LISTEN`, `TIME_WAIT` ...). */
  readonly tcp: Readonly<Record<string, number>>;
}

export interface JournalEntry {
  /** ms since the epoch. */
  readonly time: number;
  /** syslog priority 0 (emerg) .. 7 (debug). */
  readonly priority: number;
  readonly identifier: string | null;
  readonly unit: string | null;
  readonly pid: number | null;
  readonly transport: string | null;
  readonly message: string;
  readonly messageId: string | null;
  readonly cursor: string | null;
}

export interface GpuSample {
  readonly index: number;
  readonly uuid: string | null;
  readonly name: string;
  readonly temperatureCelsius: number | null;
  readonly utilizationPercent: number | null;
  readonly memoryUtilizationPercent: number | null;
  readonly memoryUsedBytes: number | null;
  readonly memoryTotalBytes: number | null;
  readonly powerWatts: number | null;
  readonly powerLimitWatts: number | null;
  readonly fanPercent: number | null;
}

export interface GpuProcessSample {
  readonly gpuUuid: string | null;
  readonly pid: number;
  readonly name: string;
  readonly usedMemoryBytes: number | null;
}

export interface GpuSlice {
  readonly gpus: readonly GpuSample[];
  readonly processes: readonly GpuProcessSample[];
}

/** A systemd user unit (only failed ones are collected), with systemctl's own state names. */
export interface UnitSample {
  readonly name: string;
  readonly description: string;
  readonly active_state: string;
  readonly sub_state: string;
  readonly failed: boolean;
}

export interface HostInfo {
  readonly hostname: string;
  readonly kernel: string;
  readonly uptimeSecs: number;
}

export interface CollectorStatus {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error: string | null;
  /** Set when the source does not exist here (no GPU, no PSI, no journal): not an error. */
  readonly unsupported: string | null;
  /** Items skipped because their files were garbled or truncated, with the reason. */
  readonly skipped?: readonly string[];
  /**
   * The monotonic clock (ms) of the sample this run read for: what rates between two samples divide by.
   * A slice kept from an earlier run keeps that run's time. Absent from stored and hand-made snapshots,
   * whose derived values are taken as given.
   */
  readonly readAtMonoMs?: number;
  /** The run behind this status was cut by its command's deadline (nvidia-smi, systemctl hung). */
  readonly timedOut?: boolean;
  /** Runs in a row cut by the deadline (absent after an answer). */
  readonly timeouts?: number;
  /** Backing off after those timeouts: asked again only this long after the last one (at most 10 min). */
  readonly backoffMs?: number;
  /**
   * A run started this long ago has not answered yet: the slice and the rest of this status are those of
   * the last completed run (none yet: no slice). Set by the daemon, which never waits on a slow command.
   */
  readonly inFlightMs?: number;
}

/**
 * What a collector's status says beyond ok or failing, for `vigil health` and `vigil status`: its
 * timeouts in a row and the backoff they earned, a run still waiting for its command.
 */
export function collectorNotes(c: CollectorStatus): string[] {
  const notes: string[] = [];
  if (c.timeouts) {
    const wait = c.backoffMs ? `; backing off, next run ${spanText(c.backoffMs)} after the last` : '';
    notes.push(`timed out ${c.timeouts === 1 ? 'once' : `${c.timeouts} times in a row`}${wait}`);
  }
  if (c.inFlightMs !== undefined) notes.push(`a run in flight for ${spanText(c.inFlightMs)}`);
  return notes;
}

function spanText(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 100) / 10} s`;
}

export interface Snapshot {
  /** ms since the epoch. */
  readonly takenAt: number;
  readonly host: HostInfo;
  readonly processes?: readonly ProcessSample[];
  readonly memory?: MemorySlice;
  readonly cpu?: CpuSlice;
  readonly temperatures?: readonly TemperatureSample[];
  readonly disks?: readonly DiskSample[];
  /** /proc/pressure/io, read by the disks collector; null when PSI is unavailable. */
  readonly ioPressure?: Pressure | null;
  /** Network interfaces (`network[]` in `status --json`). */
  readonly network?: readonly NetworkInterfaceSample[];
  /** TCP sockets by state, from the network collector. */
  readonly tcp?: Readonly<Record<string, number>>;
  readonly journal?: readonly JournalEntry[];
  readonly gpus?: readonly GpuSample[];
  /** Per-process GPU memory as nvidia-smi lists it (also joined onto `processes[].gpuMemoryBytes`). */
  readonly gpuProcesses?: readonly GpuProcessSample[];
  /** Failed systemd user units. */
  readonly units?: readonly UnitSample[];
  readonly collectors: readonly CollectorStatus[];
}
