import type { BigIntStatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { errorCode, listDir, readAttribute, readText } from '../host/files.js';
import type { DiskIo, DiskSample, DisksSlice, Pressure } from '../model/snapshot.js';
import { readPressure } from './pressure.js';
import type { Collector, CollectReport } from './types.js';
import { Unsupported } from './types.js';

/** Receives the reason an input line or item was left out. */
export type SkipFn = (reason: string) => void;

const ignoreSkip: SkipFn = () => {};

// ---------------------------------------------------------------------------------------------------------
// Mount tables
// ---------------------------------------------------------------------------------------------------------

/** One mounted file system as the mount table describes it, before any statfs. */
export interface MountEntry {
  /** Where it is mounted, unescaped (`/media/alice/My Disk`). */
  readonly mountPoint: string;
  /** The mount source: `/dev/nvme0n1p2`, `server:/export`, `overlay`, `tmpfs`. */
  readonly source: string;
  readonly fsType: string;
  /** `major:minor` of the file system's device (st_dev); null from /proc/self/mounts, which lacks it. */
  readonly major: number | null;
  readonly minor: number | null;
  /** The directory of the file system that is mounted (`/` for a whole fs, a subdirectory for a bind). */
  readonly root: string | null;
}

/** Undoes the kernel's octal escapes in mount tables: `\040` space, `\011` tab, `\012` newline, `\134` \. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * Parses /proc/[pid]/mountinfo (proc(5)):
 * `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue` — mount id, parent id,
 * major:minor, root, mount point, mount options, zero or more optional fields ended by `-`, fs type,
 * source, super options. Ids, options and optional fields are ignored. Rows without the `-` separator or
 * with a malformed device number are skipped.
 */
export function parseMountInfo(text: string, onSkip: SkipFn = ignoreSkip): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-', 6);
    const device = /^(\d+):(\d+)$/.exec(fields[2] ?? '');
    if (separator < 0 || fields.length < separator + 3 || !device) {
      onSkip(`line ${index + 1}: malformed: ${JSON.stringify(line)}`);
      continue;
    }
    entries.push({
      mountPoint: unescapeMountField(fields[4]!),
      source: unescapeMountField(fields[separator + 2]!),
      fsType: fields[separator + 1]!,
      major: Number(device[1]),
      minor: Number(device[2]),
      root: unescapeMountField(fields[3]!),
    });
  }
  return entries;
}

/**
 * Parses /proc/[pid]/mounts (the fstab(5) format): `source mountpoint fstype options dump pass`. Used when
 * mountinfo is missing; it has no device numbers, so bind mounts cannot be told apart from the original.
 */
export function parseMounts(text: string, onSkip: SkipFn = ignoreSkip): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3) {
      onSkip(`line ${index + 1}: malformed: ${JSON.stringify(line)}`);
      continue;
    }
    entries.push({
      mountPoint: unescapeMountField(fields[1]!),
      source: unescapeMountField(fields[0]!),
      fsType: fields[2]!,
      major: null,
      minor: null,
      root: null,
    });
  }
  return entries;
}

/**
 * File systems that hold no user data, or whose fullness means nothing: kernel interfaces, memory-backed
 * mounts and read-only images (always 100 % full by design).
 */
const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set([
  'anon_inodefs',
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'cramfs',
  'debugfs',
  'devfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'erofs',
  'fusectl',
  'hugetlbfs',
  'iso9660',
  'mqueue',
  'nfsd',
  'nsfs',
  'pipefs',
  'proc',
  'pstore',
  'ramfs',
  'romfs',
  'rootfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'smackfs',
  'sockfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
  'usbfs',
  'xenfs',
  'zonefs',
]);

/**
 * True for pseudo and virtual file systems that a disk watchdog must not report (see PSEUDO_FS_TYPES),
 * and for every FUSE subtype except `fuseblk` (ntfs-3g, exfat-fuse on a real block device): `fuse.portal`,
 * `fuse.gvfsd-fuse`, `fuse.lxcfs`, `fuse.snapfuse` and friends mirror other storage or none.
 */
export function isPseudoFs(fsType: string): boolean {
  if (fsType === 'fuseblk') return false;
  if (fsType.startsWith('fuse.') || fsType === 'fusectl') return true;
  return PSEUDO_FS_TYPES.has(fsType);
}

/**
 * Keeps the mounts a user thinks of as disks: drops pseudo file systems, a mount hidden by a later mount on
 * the same point, and duplicate views of one file system. Two entries are the same file system when they
 * share `major:minor` (mountinfo) or, without device numbers, the same block-device source and type; of
 * them the one closest to the file system's root wins (a bind of a subdirectory shows the same sizes),
 * then the shortest mount point — what `df` does. Order follows the mount table.
 */
export function selectDiskMounts(entries: readonly MountEntry[]): MountEntry[] {
  // A later mount on the same point hides the earlier one (statfs would answer for the later), even when
  // the later one is a pseudo file system (tmpfs over a disk directory).
  const visible = new Map<string, MountEntry>();
  for (const entry of entries) {
    visible.delete(entry.mountPoint);
    visible.set(entry.mountPoint, entry);
  }
  const best = new Map<string, MountEntry>();
  const order: string[] = [];
  for (const entry of visible.values()) {
    if (isPseudoFs(entry.fsType)) continue;
    const key = fileSystemKey(entry);
    const current = best.get(key);
    if (current === undefined) {
      best.set(key, entry);
      order.push(key);
    } else if (preferMount(entry, current)) {
      best.set(key, entry);
    }
  }
  return order.map((key) => best.get(key)!);
}

function fileSystemKey(entry: MountEntry): string {
  if (entry.major !== null && entry.minor !== null) return `dev ${entry.major}:${entry.minor}`;
  if (entry.source.startsWith('/dev/')) return `src ${entry.fsType} ${entry.source}`;
  return `mnt ${entry.mountPoint}`;
}

function preferMount(candidate: MountEntry, current: MountEntry): boolean {
  const rootDiff = (candidate.root ?? '/').length - (current.root ?? '/').length;
  if (rootDiff !== 0) return rootDiff < 0;
  return candidate.mountPoint.length < current.mountPoint.length;
}

// ---------------------------------------------------------------------------------------------------------
// /proc/diskstats
// ---------------------------------------------------------------------------------------------------------

/** One row of /proc/diskstats; the counters vigil uses, as numbers. */
export interface DiskstatsRow {
  readonly major: number;
  readonly minor: number;
  readonly name: string;
  readonly readsCompleted: number;
  readonly sectorsRead: number;
  readonly readMs: number;
  readonly writesCompleted: number;
  readonly sectorsWritten: number;
  readonly writeMs: number;
  /** I/Os currently in flight: a gauge, not a counter. */
  readonly inFlight: number;
  /** Milliseconds the device had I/O in flight (basis of utilisation). */
  readonly ioMs: number;
  readonly weightedIoMs: number;
  /** Number of counters on the row: 11 (kernel < 4.18), 15 (+ discards, 4.18) or 17 (+ flushes, 5.5). */
  readonly counterCount: number;
}

/** Bytes per diskstats sector: always 512, whatever the device's block size (block/stat.rst). */
export const SECTOR_BYTES = 512;

/**
 * Parses /proc/diskstats (Documentation/admin-guide/iostats.rst): `major minor name` then 11, 15 or 17
 * counters depending on the kernel. Counters 1-11 are reads completed, reads merged, sectors read, ms
 * reading, writes completed, writes merged, sectors written, ms writing, in flight, ms doing I/O, weighted
 * ms; merges, discards (12-15) and flushes (16-17) are not used. Rows of another length or with
 * non-numeric fields are skipped with a reason.
 */
export function parseDiskstats(text: string, onSkip: SkipFn = ignoreSkip): DiskstatsRow[] {
  const rows: DiskstatsRow[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 1 && fields[0] === '') continue;
    const counters = fields.slice(3).map(Number);
    const numeric = [fields[0], fields[1]].every((f) => /^\d+$/.test(f ?? '')) && counters.every(isCounter);
    if (![11, 15, 17].includes(counters.length) || !numeric) {
      onSkip(`line ${index + 1}: expected 14, 18 or 20 numeric columns: ${JSON.stringify(line)}`);
      continue;
    }
    const c = (n: number): number => counters[n - 1]!;
    rows.push({
      major: Number(fields[0]),
      minor: Number(fields[1]),
      name: fields[2]!,
      readsCompleted: c(1),
      sectorsRead: c(3),
      readMs: c(4),
      writesCompleted: c(5),
      sectorsWritten: c(7),
      writeMs: c(8),
      inFlight: c(9),
      ioMs: c(10),
      weightedIoMs: c(11),
      counterCount: counters.length,
    });
  }
  return rows;
}

function isCounter(value: number): boolean {
  return Number.isInteger(value) && value >= 0;
}

/**
 * A device's I/O as the collector reports it: the raw counters of its diskstats row, rates left null.
 * Rates are a change between two reads: the pipeline derives them (pipeline/derive.ts).
 */
export function diskIoOf(row: DiskstatsRow): DiskIo {
  return {
    name: row.name,
    readBytesPerSec: null,
    writeBytesPerSec: null,
    utilizationPercent: null,
    awaitMs: null,
    counters: {
      readsCompleted: row.readsCompleted,
      writesCompleted: row.writesCompleted,
      sectorsRead: row.sectorsRead,
      sectorsWritten: row.sectorsWritten,
      readMs: row.readMs,
      writeMs: row.writeMs,
      ioMs: row.ioMs,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Sizes (statfs)
// ---------------------------------------------------------------------------------------------------------

const TWO_TO_63 = 1n << 63n;
const TWO_TO_64 = 1n << 64n;

/**
 * The share of the space available to unprivileged users that is used, exactly as GNU coreutils `df`
 * computes its Use% column: used = blocks - bfree, Use% = used / (used + bavail) × 100 rounded up. The
 * root-reserved blocks count neither as used nor as available. Returns the unrounded value, guaranteed to
 * satisfy `Math.ceil(result) === df's Use%`. Counts are in any one block unit. A file system with nothing
 * used is 0 %; one with nothing used or available (df prints `-`) is 0 %, or 100 % when some is used.
 */
export function dfUsedPercent(blocks: bigint, bfree: bigint, bavail: bigint): number {
  const used = blocks - bfree;
  // statfs counts are unsigned; a "negative" bavail (top bit set) means more is reserved than is free.
  const available = bavail >= TWO_TO_63 ? bavail - TWO_TO_64 : bavail;
  if (used <= 0n) return 0;
  const nonRootTotal = used + available;
  if (nonRootTotal <= 0n) return 100;
  const u100 = used * 100n;
  const dfPercent = Number(u100 / nonRootTotal + (u100 % nonRootTotal === 0n ? 0n : 1n));
  const exact = Number(u100) / Number(nonRootTotal);
  // Guard against a float division landing on the wrong side of an integer (only conceivable for counts
  // beyond 2^53): keep the value as close as possible while agreeing with df once rounded up.
  if (Math.ceil(exact) > dfPercent) return dfPercent;
  if (Math.ceil(exact) < dfPercent)
    return dfPercent - 1 + Math.max(Number.MIN_VALUE, dfPercent * Number.EPSILON);
  return exact;
}

/** Sizes of one file system from statfs(2), as DiskSample wants them. */
export interface FsUsage {
  readonly totalBytes: number;
  readonly availableBytes: number;
  readonly usedPercent: number;
  readonly inodesUsedPercent: number | null;
}

/**
 * Turns a statfs result into sizes. Node reports the Linux `f_bsize`, which equals the fragment size
 * `df` multiplies by on every common file system. Returns null for a file system with no blocks (a
 * pseudo file system missing from the list; `df` hides those too).
 */
export function fsUsageFromStatfs(
  stats: Pick<BigIntStatsFs, 'bsize' | 'blocks' | 'bfree' | 'bavail' | 'files' | 'ffree'>,
): FsUsage | null {
  if (stats.blocks === 0n) return null;
  const available = stats.bavail >= TWO_TO_63 ? 0n : stats.bavail;
  const inodesUsed = stats.files - stats.ffree;
  return {
    totalBytes: Number(stats.blocks * stats.bsize),
    availableBytes: Number(available * stats.bsize),
    usedPercent: dfUsedPercent(stats.blocks, stats.bfree, stats.bavail),
    inodesUsedPercent:
      stats.files === 0n
        ? null
        : Math.min(100, Math.max(0, (Number(inodesUsed) / Number(stats.files)) * 100)),
  };
}

/** The statfs call, replaceable in tests to simulate a hung network mount. */
export type StatfsFn = (path: string) => Promise<BigIntStatsFs>;

const liveStatfs: StatfsFn = (path) => statfs(path, { bigint: true });

export interface DisksCollectorOptions {
  /** Longest wait for one mount's statfs; a dead NFS server must not hold up the sample. Default 1000. */
  readonly statfsTimeoutMs?: number;
  readonly statfs?: StatfsFn;
}

// ---------------------------------------------------------------------------------------------------------
// The collector
// ---------------------------------------------------------------------------------------------------------

function readMountTable(procfs: string, report: CollectReport): MountEntry[] {
  const mountinfo = join(procfs, 'self', 'mountinfo');
  try {
    return parseMountInfo(readText(mountinfo), (reason) => report.skip(`${mountinfo}: ${reason}`));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') {
      report.skip(`cannot read ${mountinfo}: ${(error as Error).message}; using mounts instead`);
    }
  }
  const mounts = join(procfs, 'self', 'mounts');
  try {
    return parseMounts(readText(mounts), (reason) => report.skip(`${mounts}: ${reason}`));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new Unsupported(`no mount table in ${procfs}/self`);
    throw new Error(`cannot read ${mounts}: ${(error as Error).message}`, { cause: error });
  }
}

/** Maps device-mapper names (`/dev/mapper/vg-root`) to kernel names (`dm-0`) via <sysfs>/block/dm-N/dm/name. */
function deviceMapperNames(sysfs: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const entry of listDir(join(sysfs, 'block'))) {
    if (!entry.startsWith('dm-')) continue;
    const name = readAttribute(join(sysfs, 'block', entry, 'dm', 'name'));
    if (name) names.set(name, entry);
  }
  return names;
}

/**
 * Finds the diskstats row of a mount: by `major:minor` first (exact for block-device file systems), then
 * by the source's device name (`/dev/nvme0n1p3` for btrfs, whose st_dev is anonymous, or /proc/self/mounts
 * without device numbers), resolving `/dev/mapper/NAME` through sysfs.
 */
function findDiskstatsRow(
  entry: MountEntry,
  byDevice: ReadonlyMap<string, DiskstatsRow>,
  byName: ReadonlyMap<string, DiskstatsRow>,
  dmNames: () => Map<string, string>,
): DiskstatsRow | undefined {
  if (entry.major !== null && entry.major !== 0) {
    const row = byDevice.get(`${entry.major}:${entry.minor}`);
    if (row) return row;
  }
  if (!entry.source.startsWith('/dev/')) return undefined;
  if (entry.source.startsWith('/dev/mapper/')) {
    const dm = dmNames().get(basename(entry.source));
    return dm === undefined ? undefined : byName.get(dm);
  }
  return byName.get(basename(entry.source));
}

type StatfsOutcome =
  | { readonly kind: 'ok'; readonly stats: BigIntStatsFs }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'still-pending' };

/**
 * Mounted file systems with their size (statfs) and their device's I/O counters (/proc/diskstats; the
 * rates are derived by the pipeline from two samples), plus io pressure. A statfs that has not returned
 * after `statfsTimeoutMs` skips that mount; the call itself cannot be cancelled (it holds a libuv thread
 * until the kernel answers), so it is not issued again for that mount until it has returned.
 */
export function createDisksCollector(options: DisksCollectorOptions = {}): Collector<DisksSlice> {
  const timeoutMs = options.statfsTimeoutMs ?? 1000;
  const statfsFn = options.statfs ?? liveStatfs;
  const pending = new Map<string, Promise<unknown>>();

  function statfsWithTimeout(path: string): Promise<StatfsOutcome> {
    if (pending.has(path)) return Promise.resolve({ kind: 'still-pending' });
    let call: Promise<BigIntStatsFs>;
    try {
      call = statfsFn(path);
    } catch (error) {
      call = Promise.reject(error);
    }
    const settled = call.then(
      (stats): StatfsOutcome => ({ kind: 'ok', stats }),
      (error: unknown): StatfsOutcome => ({ kind: 'error', error }),
    );
    pending.set(path, settled);
    void settled.then(() => pending.delete(path));
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
      void settled.then((outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
    });
  }

  return {
    name: 'disks',
    async collect(ctx, report) {
      const { procfs, sysfs, rootfs } = ctx.paths;
      const mounts = selectDiskMounts(readMountTable(procfs, report));

      const diskstatsPath = join(procfs, 'diskstats');
      let rows: DiskstatsRow[] = [];
      try {
        rows = parseDiskstats(readText(diskstatsPath), (reason) =>
          report.skip(`${diskstatsPath}: ${reason}`),
        );
      } catch (error) {
        report.skip(`cannot read ${diskstatsPath}: ${(error as Error).message}; no per-device I/O`);
      }
      const byDevice = new Map(rows.map((row) => [`${row.major}:${row.minor}`, row] as const));
      const byName = new Map(rows.map((row) => [row.name, row] as const));
      let dm: Map<string, string> | undefined;
      const dmNames = (): Map<string, string> => {
        dm ??= deviceMapperNames(sysfs);
        return dm;
      };

      const outcomes = await Promise.all(mounts.map((m) => statfsWithTimeout(join(rootfs, m.mountPoint))));
      const disks: DiskSample[] = [];
      for (const [index, entry] of mounts.entries()) {
        const outcome = outcomes[index]!;
        const where = `${entry.mountPoint} (${entry.fsType} on ${entry.source})`;
        if (outcome.kind === 'timeout') {
          report.skip(`${where}: statfs did not answer within ${timeoutMs} ms (unreachable network mount?)`);
          continue;
        }
        if (outcome.kind === 'still-pending') {
          report.skip(`${where}: an earlier statfs has still not returned (unreachable network mount?)`);
          continue;
        }
        if (outcome.kind === 'error') {
          const code = errorCode(outcome.error) ?? (outcome.error as Error).message;
          report.skip(`${where}: statfs failed: ${code}`);
          continue;
        }
        const usage = fsUsageFromStatfs(outcome.stats);
        if (usage === null) continue;
        const row = findDiskstatsRow(entry, byDevice, byName, dmNames);
        disks.push({
          mount: entry.mountPoint,
          device: entry.source,
          fsType: entry.fsType,
          ...usage,
          io: row === undefined ? null : diskIoOf(row),
        });
      }

      let ioPressure: Pressure | null = null;
      try {
        ioPressure = readPressure(ctx.paths, 'io');
      } catch (error) {
        report.skip((error as Error).message);
      }
      return { disks, ioPressure };
    },
  };
}
