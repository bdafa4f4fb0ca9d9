import assert from 'node:assert/strict';
import type { BigIntStatsFs } from 'node:fs';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createDisksCollector,
  type DisksCollectorOptions,
  dfUsedPercent,
  fsUsageFromStatfs,
  isPseudoFs,
  parseDiskstats,
  parseMountInfo,
  parseMounts,
  selectDiskMounts,
} from '../../src/collectors/disks.js';
import { type CollectContext, Unsupported } from '../../src/collectors/types.js';
import type { HostPaths } from '../../src/host/paths.js';
import type { DiskIo, DisksSlice } from '../../src/model/snapshot.js';
import { deriveDisks } from '../../src/pipeline/derive.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** A sample from test/fixtures/samples without its `#` comment lines. */
function sample(name: string): string {
  return readFileSync(join(fixtures, 'samples', name), 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
}

function contextFor(paths: Partial<HostPaths>, monoMs = 1000): CollectContext {
  return {
    paths: {
      procfs: join(fixtures, 'proc'),
      sysfs: join(fixtures, 'sys'),
      etc: '/etc',
      rootfs: '/',
      ...paths,
    },
    nowMs: 1_700_000_000_000,
    monoMs,
    nvidiaSmi: 'nvidia-smi',
    journal: { kind: 'system' },
    journalSince: '-1h',
    commandTimeoutMs: 1000,
  };
}

type Collect = (
  paths?: Partial<HostPaths>,
  monoMs?: number,
) => Promise<{ slice: DisksSlice; skipped: string[] }>;

/**
 * The disks collector, each sample after the first with its rates derived from the one before, as the
 * pipeline's Watcher derives them (the collector itself reads counters only).
 */
function collector(options?: DisksCollectorOptions): Collect {
  const disks = createDisksCollector(options);
  let previous: { slice: DisksSlice; monoMs: number } | null = null;
  return async (paths = {}, monoMs = 1000) => {
    const skipped: string[] = [];
    const raw = await disks.collect(contextFor(paths, monoMs), { skip: (reason) => skipped.push(reason) });
    const slice = previous
      ? { ...raw, disks: deriveDisks(previous.slice.disks, raw.disks, monoMs - previous.monoMs) }
      : raw;
    previous = { slice, monoMs };
    return { slice, skipped };
  };
}

const temporaryDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-disks-'));
  temporaryDirs.push(dir);
  return dir;
}
function copyOfFixtureProc(): string {
  const proc = join(tempDir(), 'proc');
  cpSync(join(fixtures, 'proc'), proc, { recursive: true, verbatimSymlinks: true });
  return proc;
}
after(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

/** Replaces the counters of one device in a diskstats text. */
function withCounters(text: string, name: string, change: (counters: number[]) => number[]): string {
  return text
    .split('\n')
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      if (fields[2] !== name) return line;
      return [...fields.slice(0, 3), ...change(fields.slice(3).map(Number))].join(' ');
    })
    .join('\n');
}

describe('parsing /proc/diskstats', () => {
  const rows = parseDiskstats(sample('diskstats.txt'));
  const row = (name: string) => rows.find((r) => r.name === name)!;

  it('reads every row of the real sample, whatever its column count', () => {
    assert.equal(rows.length, 51);
  });

  it('reads a 14-column row (kernel before 4.18)', () => {
    assert.deepEqual(row('sda'), {
      major: 8,
      minor: 0,
      name: 'sda',
      readsCompleted: 25354637,
      sectorsRead: 1003346126,
      readMs: 18492372,
      writesCompleted: 28444756,
      sectorsWritten: 505697032,
      writeMs: 63877960,
      inFlight: 0,
      ioMs: 9653880,
      weightedIoMs: 82621804,
      counterCount: 11,
    });
  });

  it('reads an 18-column row with discard counters (kernel 4.18+)', () => {
    const sdb = row('sdb');
    assert.equal(sdb.counterCount, 15);
    assert.equal(sdb.sectorsRead, 9657779);
    assert.equal(sdb.ioMs, 60730);
    assert.equal(sdb.weightedIoMs, 67070);
  });

  it('reads a 20-column row with flush counters (kernel 5.5+)', () => {
    const sdc = row('sdc');
    assert.equal(sdc.counterCount, 17);
    assert.equal(sdc.sectorsWritten, 172905);
    assert.equal(sdc.ioMs, 10730);
  });

  it('keeps counters above 2^30, such as the weighted I/O time of dm-0', () => {
    assert.equal(row('dm-0').weightedIoMs, 1206301256);
    assert.equal(row('dm-0').major, 252);
  });

  it('skips truncated and garbled rows with a reason instead of throwing', () => {
    const skipped: string[] = [];
    const text = [
      '   8       0 sda 1 2 3',
      '   8       1 sda1 1 2 3 4 5 6 7 8 9 ten 11',
      sample('diskstats.txt'),
    ];
    const parsed = parseDiskstats(text.join('\n'), (reason) => skipped.push(reason));
    assert.equal(parsed.length, 51);
    assert.equal(skipped.length, 2);
    assert.match(skipped[0]!, /^line 1: expected 14, 18 or 20 numeric columns/);
    assert.match(skipped[1]!, /^line 2: .*ten/);
  });
});

describe('parsing mount tables', () => {
  it('reads mountinfo fields after the optional-field separator, however many optional fields', () => {
    const entries = parseMountInfo(
      [
        '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
        '22 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw',
      ].join('\n'),
    );
    assert.deepEqual(entries, [
      { mountPoint: '/mnt2', source: '/dev/root', fsType: 'ext3', major: 98, minor: 0, root: '/mnt1' },
      { mountPoint: '/', source: '/dev/nvme0n1p2', fsType: 'ext4', major: 259, minor: 2, root: '/' },
    ]);
  });

  it('unescapes a space in a mount point (\\040) and a backslash (\\134)', () => {
    const [usb] = parseMountInfo(
      '90 30 8:49 / /media/alice/USB\\040STICK rw - fuseblk /dev/sdd1 rw,user_id=0,group_id=0',
    );
    assert.equal(usb!.mountPoint, '/media/alice/USB STICK');
    const [share] = parseMounts('//nas/share /mnt/a\\134b cifs rw 0 0');
    assert.equal(share!.mountPoint, '/mnt/a\\b');
  });

  it('skips a mountinfo row without the separator and keeps going', () => {
    const skipped: string[] = [];
    const entries = parseMountInfo(
      ['12 1 8:1 / /boot rw', '22 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw'].join('\n'),
      (reason) => skipped.push(reason),
    );
    assert.deepEqual(
      entries.map((e) => e.mountPoint),
      ['/'],
    );
    assert.match(skipped[0]!, /^line 1: malformed/);
  });

  it('reads /proc/self/mounts without device numbers', () => {
    const [root] = parseMounts('/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0\n');
    assert.deepEqual(root, {
      mountPoint: '/',
      source: '/dev/nvme0n1p2',
      fsType: 'ext4',
      major: null,
      minor: null,
      root: null,
    });
  });
});

describe('choosing which mounts are disks', () => {
  it('treats kernel, memory and image file systems as pseudo', () => {
    for (const fs of ['proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'cgroup', 'cgroup2']) {
      assert.equal(isPseudoFs(fs), true, fs);
    }
    for (const fs of ['securityfs', 'pstore', 'bpf', 'debugfs', 'tracefs', 'configfs', 'fusectl', 'mqueue']) {
      assert.equal(isPseudoFs(fs), true, fs);
    }
    for (const fs of ['hugetlbfs', 'autofs', 'binfmt_misc', 'nsfs', 'squashfs', 'efivarfs', 'selinuxfs']) {
      assert.equal(isPseudoFs(fs), true, fs);
    }
    for (const fs of ['rpc_pipefs', 'fuse.gvfsd-fuse', 'fuse.portal', 'fuse.lxcfs', 'fuse.snapfuse']) {
      assert.equal(isPseudoFs(fs), true, fs);
    }
  });

  it('keeps real and network file systems, overlay and fuseblk (ntfs-3g)', () => {
    for (const fs of ['ext4', 'xfs', 'btrfs', 'zfs', 'vfat', 'exfat', 'ntfs3', 'fuseblk', 'overlay']) {
      assert.equal(isPseudoFs(fs), false, fs);
    }
    for (const fs of ['nfs', 'nfs4', 'cifs', 'smb3', 'ceph', '9p', 'virtiofs', 'f2fs']) {
      assert.equal(isPseudoFs(fs), false, fs);
    }
  });

  it('keeps the five disks of the fixture mountinfo and drops pseudo fs and bind mounts', () => {
    const text = readFileSync(join(fixtures, 'proc/self/mountinfo'), 'utf8');
    assert.deepEqual(
      selectDiskMounts(parseMountInfo(text)).map((m) => m.mountPoint),
      ['/', '/var', '/home', '/srv', '/mnt'],
    );
  });

  it('keeps the shortest mount point of a file system bound to several places', () => {
    const entries = parseMountInfo(
      [
        '46 22 259:2 / /media/root\\040bind rw - ext4 /dev/nvme0n1p2 rw',
        '22 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw',
      ].join('\n'),
    );
    assert.deepEqual(
      selectDiskMounts(entries).map((m) => m.mountPoint),
      ['/'],
    );
  });

  it('reports a bound subdirectory once, as its file system mounted at the root', () => {
    const entries = parseMountInfo(
      ['47 22 8:3 /srv/www /var/www rw - ext4 /dev/sda3 rw', '48 22 8:3 / /data rw - ext4 /dev/sda3 rw'].join(
        '\n',
      ),
    );
    assert.deepEqual(
      selectDiskMounts(entries).map((m) => m.mountPoint),
      ['/data'],
    );
  });

  it('keeps btrfs subvolumes, which have their own device numbers', () => {
    const entries = parseMountInfo(
      [
        '30 1 0:38 /@ / rw - btrfs /dev/sda4 rw,subvol=/@',
        '31 30 0:39 /@home /home rw - btrfs /dev/sda4 rw,subvol=/@home',
      ].join('\n'),
    );
    assert.equal(selectDiskMounts(entries).length, 2);
  });

  it('keeps only the visible one of two file systems mounted on the same point', () => {
    const entries = parseMountInfo(
      ['40 22 8:17 / /data rw - ext4 /dev/sdb1 rw', '41 22 8:33 / /data rw - xfs /dev/sdc1 rw'].join('\n'),
    );
    assert.deepEqual(
      selectDiskMounts(entries).map((m) => `${m.mountPoint} ${m.source}`),
      ['/data /dev/sdc1'],
    );
  });

  it('drops a disk hidden by a tmpfs mounted over it', () => {
    const entries = parseMountInfo(
      ['40 22 8:17 / /data rw - ext4 /dev/sdb1 rw', '41 40 0:50 / /data rw - tmpfs tmpfs rw'].join('\n'),
    );
    assert.deepEqual(selectDiskMounts(entries), []);
  });

  it('finds the same five disks in /proc/self/mounts, deduplicating by block device', () => {
    const text = readFileSync(join(fixtures, 'proc/self/mounts'), 'utf8');
    assert.deepEqual(
      selectDiskMounts(parseMounts(text)).map((m) => m.mountPoint),
      ['/', '/var', '/home', '/srv', '/mnt'],
    );
  });
});

describe('Use% as df computes it', () => {
  it('agrees with df for a live ext4 root with a large reserve (df says 22 %)', () => {
    const percent = dfUsedPercent(66053021n, 60334159n, 20878866n);
    assert.equal(Math.ceil(percent), 22);
    assert.ok(Math.abs(percent - 21.5016) < 0.001);
  });

  it('counts reserved blocks as neither used nor available', () => {
    // 900 used, 50 available to users, 50 reserved for root: df says 95 %, not 90 %.
    assert.equal(Math.ceil(dfUsedPercent(1000n, 100n, 50n)), 95);
  });

  it('says 7 % for 7 used blocks of 100, where used/total*100 in floats would round up to 8', () => {
    assert.equal((7 / 100) * 100 > 7, true);
    assert.equal(dfUsedPercent(100n, 93n, 93n), 7);
  });

  it('says 0 % for an empty file system and 100 % for one with nothing left for users', () => {
    assert.equal(dfUsedPercent(1000n, 1000n, 950n), 0);
    assert.equal(Math.ceil(dfUsedPercent(1000n, 50n, 0n)), 100);
  });

  it('matches the integer formula of df for many random file systems', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 5000; i++) {
      const blocks = BigInt(1 + (random() % 2 ** 30)) * BigInt(1 + (random() % 64));
      const bfree = (blocks * BigInt(random() % 1001)) / 1000n;
      const bavail = (bfree * BigInt(random() % 1001)) / 1000n;
      const used = blocks - bfree;
      const expected = used === 0n ? 0n : (used * 100n + used + bavail - 1n) / (used + bavail);
      assert.equal(
        Math.ceil(dfUsedPercent(blocks, bfree, bavail)),
        Number(expected),
        `${blocks} ${bfree} ${bavail}`,
      );
    }
  });

  it('reports inode use as null when the file system has no inode accounting', () => {
    const stats = { bsize: 4096n, blocks: 1000n, bfree: 500n, bavail: 400n, files: 0n, ffree: 0n };
    const usage = fsUsageFromStatfs(stats)!;
    assert.equal(usage.inodesUsedPercent, null);
    assert.equal(usage.totalBytes, 4096000);
    assert.equal(usage.availableBytes, 1638400);
    assert.equal(fsUsageFromStatfs({ ...stats, files: 1000n, ffree: 250n })!.inodesUsedPercent, 75);
  });

  it('ignores a file system with no blocks at all, as df does', () => {
    assert.equal(
      fsUsageFromStatfs({ bsize: 4096n, blocks: 0n, bfree: 0n, bavail: 0n, files: 0n, ffree: 0n }),
      null,
    );
  });
});

describe('the disks collector on the fixture tree', () => {
  it('reports each disk with its device, type and diskstats row', async () => {
    const { slice, skipped } = await collector()();
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      slice.disks.map((d) => [d.mount, d.device, d.fsType, d.io?.name]),
      [
        ['/', '/dev/nvme0n1p2', 'ext4', 'nvme0n1p2'],
        ['/var', '/dev/mapper/vg0-var', 'xfs', 'dm-0'],
        ['/home', '/dev/sda4', 'btrfs', 'sda4'],
        ['/srv', '/dev/sdb2', 'ext4', 'sdb2'],
        ['/mnt', '/dev/sdc1', 'vfat', 'sdc1'],
      ],
    );
  });

  it('asks statfs for sizes through the rootfs prefix', async () => {
    const { slice } = await collector()();
    const root = slice.disks[0]!;
    assert.ok(root.totalBytes > 0);
    assert.ok(root.availableBytes <= root.totalBytes);
    assert.ok(root.usedPercent >= 0 && root.usedPercent <= 100);
  });

  it('has no I/O rates on the first sample, only the device’s counters', async () => {
    const { slice } = await collector()();
    assert.deepEqual(slice.disks[0]!.io, {
      name: 'nvme0n1p2',
      readBytesPerSec: null,
      writeBytesPerSec: null,
      utilizationPercent: null,
      awaitMs: null,
      counters: {
        readsCompleted: 45914,
        writesCompleted: 1036885,
        sectorsRead: 4631243,
        sectorsWritten: 39451632,
        readMs: 21626,
        writeMs: 919480,
        ioMs: 131580,
      },
    });
  });

  it('reads io pressure from /proc/pressure/io', async () => {
    const { slice } = await collector()();
    assert.deepEqual(slice.ioPressure?.some, {
      avg10: 0.18,
      avg60: 0.34,
      avg300: 0.1,
      totalMicros: 159886802,
    });
  });

  it('computes read and write bytes/s, utilisation and await from two samples two seconds apart', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector();
    await collect({ procfs: proc }, 10_000);
    const path = join(proc, 'diskstats');
    // +10 reads (40 ms), +30 writes (200 ms), +2048 sectors read, +4096 written, +250 ms busy.
    const changed = withCounters(readFileSync(path, 'utf8'), 'nvme0n1p2', (c) =>
      c.map((v, i) => v + ([10, 0, 2048, 40, 30, 0, 4096, 200, 0, 250, 240][i] ?? 0)),
    );
    writeFileSync(path, changed);
    const { slice } = await collect({ procfs: proc }, 12_000);
    const rates = (io: DiskIo | null) => {
      const { counters: _counters, ...values } = io!;
      return values;
    };
    assert.deepEqual(rates(slice.disks[0]!.io), {
      name: 'nvme0n1p2',
      readBytesPerSec: 524288,
      writeBytesPerSec: 1048576,
      utilizationPercent: 12.5,
      awaitMs: 6,
    });
    assert.deepEqual(rates(slice.disks[1]!.io), {
      name: 'dm-0',
      readBytesPerSec: 0,
      writeBytesPerSec: 0,
      utilizationPercent: 0,
      awaitMs: null,
    });
  });

  it('caps utilisation at 100 % when the busy time outruns the clock', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector();
    await collect({ procfs: proc }, 0);
    const path = join(proc, 'diskstats');
    writeFileSync(
      path,
      withCounters(readFileSync(path, 'utf8'), 'sdb2', (c) => c.map((v, i) => (i === 9 ? v + 1500 : v))),
    );
    const { slice } = await collect({ procfs: proc }, 1000);
    assert.equal(slice.disks.find((d) => d.mount === '/srv')!.io!.utilizationPercent, 100);
  });

  it('gives no rates when a counter went backwards (device re-created)', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector();
    await collect({ procfs: proc }, 0);
    const path = join(proc, 'diskstats');
    writeFileSync(
      path,
      withCounters(readFileSync(path, 'utf8'), 'sdc1', (c) => c.map(() => 0)),
    );
    const { slice } = await collect({ procfs: proc }, 1000);
    assert.equal(slice.disks.find((d) => d.mount === '/mnt')!.io!.readBytesPerSec, null);
  });

  it('falls back to /proc/self/mounts and finds dm-0 through its device-mapper name', async () => {
    const proc = copyOfFixtureProc();
    rmSync(join(proc, 'self/mountinfo'));
    const { slice, skipped } = await collector()({ procfs: proc });
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      slice.disks.map((d) => [d.mount, d.io?.name]),
      [
        ['/', 'nvme0n1p2'],
        ['/var', 'dm-0'],
        ['/home', 'sda4'],
        ['/srv', 'sdb2'],
        ['/mnt', 'sdc1'],
      ],
    );
  });

  it('says unsupported when procfs has no mount table', async () => {
    const proc = copyOfFixtureProc();
    rmSync(join(proc, 'self'), { recursive: true });
    await assert.rejects(collector()({ procfs: proc }), Unsupported);
  });

  it('skips garbled diskstats rows with a reason and still reports the disks', async () => {
    const proc = copyOfFixtureProc();
    const path = join(proc, 'diskstats');
    writeFileSync(path, `   8 2 sda2 246 0 1968\n${readFileSync(path, 'utf8')}`);
    const { slice, skipped } = await collector()({ procfs: proc });
    assert.equal(slice.disks.length, 5);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /diskstats: line 1: expected 14, 18 or 20 numeric columns/);
  });

  it('reports disks without I/O when diskstats is missing', async () => {
    const proc = copyOfFixtureProc();
    rmSync(join(proc, 'diskstats'));
    const { slice, skipped } = await collector()({ procfs: proc });
    assert.equal(slice.disks.length, 5);
    assert.ok(slice.disks.every((d) => d.io === null));
    assert.match(skipped[0]!, /cannot read .*diskstats/);
  });

  it('skips a mount point that vanished, naming it and the error', async () => {
    const rootfs = tempDir();
    mkdirSync(join(rootfs, 'var'));
    const { slice, skipped } = await collector()({ rootfs });
    assert.deepEqual(
      slice.disks.map((d) => d.mount),
      ['/', '/var'],
    );
    assert.deepEqual(skipped, [
      '/home (btrfs on /dev/sda4): statfs failed: ENOENT',
      '/srv (ext4 on /dev/sdb2): statfs failed: ENOENT',
      '/mnt (vfat on /dev/sdc1): statfs failed: ENOENT',
    ]);
  });
});

describe('a mount whose statfs hangs (dead NFS server)', () => {
  const real = (path: string) => import('node:fs/promises').then((fs) => fs.statfs(path, { bigint: true }));

  it('skips that mount after the timeout and reports the others', async () => {
    const calls: string[] = [];
    const statfs = (path: string): Promise<BigIntStatsFs> => {
      calls.push(path);
      return path === '/srv' ? new Promise<BigIntStatsFs>(() => {}) : real(path);
    };
    const collect = collector({ statfs, statfsTimeoutMs: 50 });
    const started = Date.now();
    const first = await collect();
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(
      first.slice.disks.map((d) => d.mount),
      ['/', '/var', '/home', '/mnt'],
    );
    assert.deepEqual(first.skipped, [
      '/srv (ext4 on /dev/sdb2): statfs did not answer within 50 ms (unreachable network mount?)',
    ]);

    const second = await collect();
    assert.match(second.skipped[0]!, /^\/srv .*an earlier statfs has still not returned/);
    assert.equal(calls.filter((p) => p === '/srv').length, 1, 'a hung statfs is not issued again');
  });
});
