/**
 * Rates derived from two raw samples (pipeline/derive.ts): the collectors read counters, and CPU %, iowait,
 * disk and network rates are computed from the previous sample and the current one. Hand-made pairs show
 * what a user sees in `vigil status`, `vigil watch` and the rules: a plain rate, and "unknown" — never a
 * huge or negative number — when a counter cannot be compared (a reused pid, a re-created device or
 * interface, counters that started again after a reboot).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  CollectorStatus,
  CoreSample,
  CpuSlice,
  CpuTicks,
  DiskIoCounters,
  DiskSample,
  NetworkInterfaceSample,
  ProcessSample,
  Snapshot,
} from '../../src/model/snapshot.js';
import { FakeClock } from '../../src/pipeline/clock.js';
import { derive } from '../../src/pipeline/derive.js';
import { SnapshotSource } from '../../src/pipeline/source.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import { processSample } from '../helpers/snapshots.js';

const RATE_SLICES = ['processes', 'cpu', 'disks', 'network'] as const;

/** A raw sample as the live collectors give it: counters, rates null, each slice read at `monoMs`. */
function raw(monoMs: number, slices: Partial<Snapshot>): Snapshot {
  const collectors: CollectorStatus[] = RATE_SLICES.map((name) => ({
    name,
    ok: true,
    error: null,
    unsupported: null,
    durationMs: 1,
    readAtMonoMs: monoMs,
  }));
  return {
    takenAt: Date.UTC(2026, 0, 1) + monoMs,
    host: { hostname: 'h', kernel: 'k', uptimeSecs: 1000 },
    ...slices,
    collectors,
  };
}

/** A process as the collector reports it: `cpuSeconds` used since it started, no CPU % yet. */
const proc = (pid: number, cpuSeconds: number, startTicks = pid * 10): ProcessSample =>
  processSample(pid, ['worker', String(pid)], { cpuSeconds, startTicks, cpuPercent: null });

const cpuOf = (snapshot: Snapshot, pid: number) => snapshot.processes!.find((p) => p.pid === pid)!.cpuPercent;

describe('CPU % of a process, from its CPU seconds in two samples', () => {
  it('is the CPU time it used over the time between the samples, 100 = one core', () => {
    const before = raw(10_000, { processes: [proc(100, 50), proc(200, 7)] });
    const now = raw(12_000, { processes: [proc(100, 51.5), proc(200, 10)] });
    const derived = derive(before, now);
    assert.equal(cpuOf(derived, 100), 75);
    assert.equal(cpuOf(derived, 200), 150, 'a process with several busy threads passes 100');
  });

  it('is unknown on the first sample and for a process started since the previous one', () => {
    const first = raw(10_000, { processes: [proc(100, 50)] });
    assert.equal(cpuOf(derive(null, first), 100), null);
    const derived = derive(first, raw(12_000, { processes: [proc(100, 50), proc(300, 4)] }));
    assert.equal(cpuOf(derived, 100), 0);
    assert.equal(cpuOf(derived, 300), null, 'four seconds of CPU, but since when is not known');
  });

  it('is unknown for a reused pid (same pid, a new start time), not its CPU time minus its predecessor’s', () => {
    // pid 100 exited after 1 s of CPU; a new process got pid 100 and has used 30 s by the next sample.
    const before = raw(10_000, { processes: [proc(100, 1, 5000)] });
    const now = raw(12_000, { processes: [proc(100, 30, 9000)] });
    assert.equal(cpuOf(derive(before, now), 100), null);
  });

  it('is unknown, not negative, when a process’s CPU time went backwards', () => {
    const before = raw(10_000, { processes: [proc(100, 50)] });
    const now = raw(12_000, { processes: [proc(100, 49)] });
    assert.equal(cpuOf(derive(before, now), 100), null);
  });
});

const ticks = (totalTicks: number, idleTicks: number, iowaitTicks = 0): CpuTicks => ({
  totalTicks,
  idleTicks,
  iowaitTicks,
});

/** A CPU slice as the collector reports it: the `cpu` line's ticks and each core's, no shares yet. */
function cpu(total: CpuTicks, cores: readonly CpuTicks[], bootTime = 1_700_000_000_000): CpuSlice {
  const perCore: CoreSample[] = cores.map((t, i) => ({
    name: `cpu${i}`,
    usagePercent: null,
    frequencyMhz: null,
    ticks: t,
  }));
  return {
    cores: cores.length,
    load: [1, 1, 1],
    runnable: 1,
    tasks: 100,
    usagePercent: null,
    iowaitPercent: null,
    perCore,
    pressure: null,
    bootTime,
    ticks: total,
  };
}

describe('CPU use in total, per core and iowait, from the jiffies of two samples', () => {
  it('is the busy share of the ticks that passed, and the share spent waiting for I/O', () => {
    const before = raw(0, { cpu: cpu(ticks(1000, 800, 10), [ticks(500, 400, 5), ticks(500, 400, 5)]) });
    // 200 ticks passed, 100 idle (20 of them iowait): 50 % busy, 10 % iowait; core 0 80 % busy, core 1 20 %.
    const now = raw(1000, { cpu: cpu(ticks(1200, 900, 30), [ticks(600, 420, 15), ticks(600, 480, 15)]) });
    const derived = derive(before, now).cpu!;
    assert.equal(derived.usagePercent, 50);
    assert.equal(derived.iowaitPercent, 10);
    assert.deepEqual(
      derived.perCore.map((c) => c.usagePercent),
      [80, 20],
    );
  });

  it('is unknown when the counters started again (a reboot) or a core went offline and came back', () => {
    const before = raw(0, {
      cpu: cpu(ticks(9_000_000, 8_000_000), [ticks(4_500_000, 4_000_000), ticks(4_500_000, 4_000_000)]),
    });
    const rebooted = raw(1000, { cpu: cpu(ticks(400, 300), [ticks(200, 150), ticks(200, 150)]) });
    const afterReboot = derive(before, rebooted).cpu!;
    assert.equal(afterReboot.usagePercent, null);
    assert.equal(afterReboot.iowaitPercent, null);
    assert.deepEqual(
      afterReboot.perCore.map((c) => c.usagePercent),
      [null, null],
    );

    const replugged = raw(1000, {
      cpu: cpu(ticks(9_000_200, 8_000_100), [ticks(4_500_100, 4_000_050), ticks(100, 100)]),
    });
    assert.deepEqual(
      derive(before, replugged).cpu!.perCore.map((c) => c.usagePercent),
      [50, null],
    );
  });

  it('stays within 0..100 when the kernel moves time from iowait back to idle (proc(5): iowait may decrease)', () => {
    const before = raw(0, { cpu: cpu(ticks(1000, 500, 300), [ticks(1000, 500, 300)]) });
    const now = raw(1000, { cpu: cpu(ticks(1100, 590, 200), [ticks(1100, 590, 200)]) });
    const derived = derive(before, now).cpu!;
    assert.equal(derived.iowaitPercent, 0);
    assert.equal(derived.usagePercent, 10);
  });
});

const counters = (c: Partial<DiskIoCounters> = {}): DiskIoCounters => ({
  readsCompleted: 1000,
  writesCompleted: 2000,
  sectorsRead: 100_000,
  sectorsWritten: 200_000,
  readMs: 4000,
  writeMs: 9000,
  ioMs: 50_000,
  ...c,
});

/** A mount as the collector reports it: its device's counters, no rates yet. */
const disk = (mount: string, device: string, c: DiskIoCounters): DiskSample => ({
  mount,
  device: `/dev/${device}`,
  fsType: 'ext4',
  totalBytes: 100e9,
  availableBytes: 50e9,
  usedPercent: 50,
  inodesUsedPercent: 1,
  io: {
    name: device,
    readBytesPerSec: null,
    writeBytesPerSec: null,
    utilizationPercent: null,
    awaitMs: null,
    counters: c,
  },
});

const rates = (d: DiskSample | undefined) => {
  const { counters: _counters, name: _name, ...values } = d!.io!;
  return values;
};

describe('disk I/O rates, from the diskstats counters of two samples', () => {
  it('are bytes read and written per second, the busy share and the average time per I/O', () => {
    const before = raw(10_000, { disks: [disk('/', 'nvme0n1p2', counters())] });
    // Two seconds: +2048 sectors read, +4096 written, +10 reads (40 ms), +30 writes (200 ms), 250 ms busy.
    const now = raw(12_000, {
      disks: [
        disk(
          '/',
          'nvme0n1p2',
          counters({
            sectorsRead: 102_048,
            sectorsWritten: 204_096,
            readsCompleted: 1010,
            writesCompleted: 2030,
            readMs: 4040,
            writeMs: 9200,
            ioMs: 50_250,
          }),
        ),
      ],
    });
    assert.deepEqual(rates(derive(before, now).disks![0]), {
      readBytesPerSec: 524288,
      writeBytesPerSec: 1048576,
      utilizationPercent: 12.5,
      awaitMs: 6,
    });
  });

  it('pair each device by name, so a disk that disappeared does not lend its counters to another', () => {
    const before = raw(0, {
      disks: [disk('/', 'sda1', counters({ sectorsRead: 5_000_000 })), disk('/data', 'sdb1', counters())],
    });
    // sda1 is gone (unplugged); /data is now first in the list.
    const now = raw(1000, { disks: [disk('/data', 'sdb1', counters({ sectorsRead: 100_002 }))] });
    assert.equal(rates(derive(before, now).disks![0]).readBytesPerSec, 1024);
  });

  it('are unknown for a device new since the previous sample, and for one re-created with its counters at zero', () => {
    const before = raw(0, { disks: [disk('/', 'sda1', counters()), disk('/mnt', 'sdc1', counters())] });
    const now = raw(1000, {
      disks: [
        disk('/', 'sda1', counters()),
        disk('/mnt', 'sdc1', counters({ readsCompleted: 3, sectorsRead: 24, readMs: 1, ioMs: 1 })),
        disk('/media/usb', 'sdd1', counters()),
      ],
    });
    const [root, replaced, plugged] = derive(before, now).disks!;
    assert.equal(rates(root).readBytesPerSec, 0);
    for (const d of [replaced, plugged]) {
      assert.deepEqual(rates(d), {
        readBytesPerSec: null,
        writeBytesPerSec: null,
        utilizationPercent: null,
        awaitMs: null,
      });
    }
  });
});

/** An interface as the collector reports it: its byte counters, no rates yet. */
const iface = (name: string, rxBytes: number, txBytes: number): NetworkInterfaceSample => ({
  name,
  rxBytes,
  txBytes,
  rxBytesPerSec: null,
  txBytesPerSec: null,
  rxErrors: 0,
  txErrors: 0,
  rxDrops: 0,
  txDrops: 0,
});

describe('network rates, from the byte counters of two samples', () => {
  it('are bytes received and sent per second, paired by interface name', () => {
    const before = raw(5000, { network: [iface('lo', 10, 10), iface('eth0', 1_000_000, 500_000)] });
    const now = raw(7000, { network: [iface('eth0', 2_000_000, 700_000), iface('lo', 10, 10)] });
    const [eth0, lo] = derive(before, now).network!;
    assert.deepEqual([eth0!.rxBytesPerSec, eth0!.txBytesPerSec], [500_000, 100_000]);
    assert.deepEqual([lo!.rxBytesPerSec, lo!.txBytesPerSec], [0, 0]);
  });

  it('are unknown for a replaced interface whose counters started again, and for a new one', () => {
    const before = raw(0, { network: [iface('wg0', 9_000_000_000, 3_000_000_000)] });
    const now = raw(1000, { network: [iface('wg0', 1500, 900), iface('tap9', 100, 100)] });
    const [wg0, tap9] = derive(before, now).network!;
    assert.deepEqual([wg0!.rxBytesPerSec, wg0!.txBytesPerSec], [null, null]);
    assert.deepEqual([tap9!.rxBytesPerSec, tap9!.txBytesPerSec], [null, null]);
  });
});

describe('what derive leaves alone', () => {
  it('takes a stored or hand-made snapshot’s values as given (it says no read time)', () => {
    const given = (cpuPercent: number): Snapshot => ({
      takenAt: 0,
      host: { hostname: 'h', kernel: 'k', uptimeSecs: 1 },
      processes: [processSample(100, ['worker'], { cpuPercent, cpuSeconds: 10 })],
      collectors: [],
    });
    const derived = derive(given(40), given(95));
    assert.equal(cpuOf(derived, 100), 95);
  });

  it('keeps the rates derived before for a slice that was not read again (kept from the earlier run)', () => {
    const first = raw(0, { processes: [proc(100, 10)], network: [iface('eth0', 0, 0)] });
    const second = derive(
      first,
      raw(1000, { processes: [proc(100, 10.5)], network: [iface('eth0', 4096, 0)] }),
    );
    // The next sample reuses both slices as read at 1000 ms: same counters, same read time.
    const reused = raw(1000, { processes: [proc(100, 10.5)], network: [iface('eth0', 4096, 0)] });
    const third = derive(second, reused);
    assert.equal(cpuOf(third, 100), 50);
    assert.equal(third.network![0]!.rxBytesPerSec, 4096);
  });
});

describe('the Watcher derives rates from its previous sample', () => {
  it('gives a busy process its CPU % from the second cycle on, on a fake clock', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 1, 9));
    // A process that uses one CPU second in every five, as the live collectors would report it.
    const source = new SnapshotSource(({ monoMs }) =>
      raw(monoMs, { processes: [proc(4242, 100 + monoMs / 5000)] }),
    );
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: '/nonexistent/vigil-derive-test' } });
    const watcher = new Watcher(runtime, null, { clock, source, trackLeaks: false, learnBaselines: false });
    const seen: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const { snapshot } = await watcher.cycle();
      seen.push(cpuOf(snapshot, 4242));
      clock.advance(5000);
    }
    assert.deepEqual(seen, [null, 20, 20]);
  });
});
