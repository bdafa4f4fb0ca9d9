import { join } from 'node:path';
import { errorCode, listDir, readText, tryReadText } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import type { ProcessSample } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { MASK, redactArgv } from '../redact/redact.js';
import type { CollectContext, CollectReport, SyncCollector } from './types.js';

/**
 * USER_HZ: the unit of the tick counts in /proc/[pid]/stat. Fixed at 100 by the kernel ABI on every
 * architecture Linux supports for userspace (sysconf(_SC_CLK_TCK)).
 */
export const CLOCK_TICKS_PER_SEC = 100;

/** PF_KTHREAD in the `flags` field of /proc/[pid]/stat (include/linux/sched.h). */
const PF_KTHREAD = 0x00200000;

/** The fields of /proc/[pid]/stat that vigil uses, see proc(5). */
export interface RawProcStat {
  readonly pid: number;
  /** The name as the kernel keeps it, control characters included: see printable() before showing it. */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  readonly ttyNr: number;
  readonly flags: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly nice: number;
  readonly threads: number;
  readonly startTicks: number;
  readonly virtualBytes: number;
  readonly rssPages: number;
}

/**
 * Parses one /proc/[pid]/stat line. The name (field 2) is in parentheses and may itself contain spaces
 * and parentheses (`(tmux: server)`, `((a b ) ( c d) )`), so the line is split at the LAST `)`.
 * Fields past `rss` (rsslim, addresses, signals ...) are ignored: some exceed 2^53 and none is used.
 * Throws on a truncated or garbled line.
 */
export function parseProcStat(line: string): RawProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('no "(comm)" field');
  const pid = Number(line.slice(0, open));
  // Fields 3 (state) to 24 (rss), read in place: the process scan parses thousands of these lines a
  // cycle, and splitting each into its ~50 fields was most of the garbage it made.
  const fields = STAT_FIELDS;
  const limit = line.charCodeAt(line.length - 1) === 10 ? line.length - 1 : line.length;
  let at = close + 2;
  for (let field = 3; field <= 24; field++) {
    if (at > limit) throw new Error(`truncated: ${field - 1} fields, need at least 24`);
    let end = line.indexOf(' ', at);
    if (end < 0 || end > limit) end = limit;
    fields[field] = field === 3 ? line.charCodeAt(at) : integerAt(line, at, end);
    at = end + 1;
  }
  const parsed: RawProcStat = {
    pid,
    comm: line.slice(open + 1, close),
    state: String.fromCharCode(fields[3]!),
    ppid: fields[4]!,
    pgid: fields[5]!,
    sid: fields[6]!,
    ttyNr: fields[7]!,
    flags: fields[9]!,
    utimeTicks: fields[14]!,
    stimeTicks: fields[15]!,
    nice: fields[19]!,
    threads: fields[20]!,
    startTicks: fields[22]!,
    virtualBytes: fields[23]!,
    rssPages: fields[24]!,
  };
  if (!Number.isInteger(pid) || !Number.isFinite(parsed.startTicks) || !Number.isFinite(parsed.rssPages)) {
    throw new Error('non-numeric field');
  }
  return parsed;
}

/** Scratch space for {@link parseProcStat}, indexed by field number. */
const STAT_FIELDS = new Float64Array(25);

/** The decimal integer in line[from, to), with an optional minus sign; NaN if anything else is there. */
function integerAt(line: string, from: number, to: number): number {
  if (from >= to) return Number.NaN;
  let i = from;
  const negative = line.charCodeAt(i) === 45;
  if (negative) i++;
  if (i >= to) return Number.NaN;
  let value = 0;
  for (; i < to; i++) {
    const digit = line.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/**
 * The resident set of /proc/[pid]/statm in pages: the second of its seven numbers (size resident shared
 * text lib data dt, see proc(5)). It is what `ps -o rss` and `top` show: procps-ng 4 reads `VmRSS` from
 * status, which the kernel computes from the same counters (anon + file + shmem pages), so the two agree
 * on every kernel. The `rss` field of stat does not: the counters are per-CPU since Linux 6.2, and on
 * current kernels statm and status add up the CPUs' pending deltas while stat reads the approximate
 * total (on 6.18 it was 100–300 KiB low on most processes). NaN when the line is garbled.
 */
export function parseStatmResident(text: string): number {
  const first = text.indexOf(' ');
  if (first < 0) return Number.NaN;
  let end = text.indexOf(' ', first + 1);
  if (end < 0) end = text.charCodeAt(text.length - 1) === 10 ? text.length - 1 : text.length;
  return integerAt(text, first + 1, end);
}

/**
 * `VmSwap` of /proc/[pid]/status in bytes (the kernel writes kB): the process's anonymous memory that is
 * out in swap. null when the line is absent: a process without an address space (a zombie, a kernel
 * thread) or a kernel before 2.6.34.
 */
export function parseStatusSwapBytes(text: string): number | null {
  const at = text.indexOf('\nVmSwap:');
  if (at < 0) return null;
  const kib = Number.parseInt(text.slice(at + 8, at + 40).trimStart(), 10);
  return Number.isNaN(kib) ? null : kib * 1024;
}

/**
 * Swap in use from /proc/meminfo (`SwapTotal` − `SwapFree`, kB) in bytes; null when a line is missing.
 * Only these two lines are looked for: the process collector reads this once a cycle to know whether
 * any process can have memory in swap at all.
 */
export function parseSwapUsedBytes(meminfo: string): number | null {
  const total = meminfoKiB(meminfo, '\nSwapTotal:');
  const free = meminfoKiB(meminfo, '\nSwapFree:');
  return total === null || free === null ? null : Math.max(0, total - free) * 1024;
}

function meminfoKiB(text: string, key: string): number | null {
  const at = text.indexOf(key);
  if (at < 0) return null;
  const value = Number.parseInt(text.slice(at + key.length, at + key.length + 40).trimStart(), 10);
  return Number.isNaN(value) ? null : value;
}

/** The lines of /proc/[pid]/status that vigil reads: the real uid (first of the four Uid values). */
export function parseStatusUid(text: string): number | null {
  const at = text.indexOf('\nUid:');
  if (at < 0) return null;
  const uid = Number.parseInt(text.slice(at + 5).trimStart(), 10);
  return Number.isNaN(uid) ? null : uid;
}

/**
 * /proc/[pid]/cmdline: NUL-separated argv, usually with a trailing NUL; empty for kernel threads. Secrets
 * are masked here, where the argv enters vigil (redactArgv: `--token x`, `mysql -pX`, keys, URLs with a
 * password…), so no later sink ever sees them; then each argument is made printable (control characters
 * written out), since the process chose it. The process collector reads this once per process, and the
 * identity check before an action reads through here too, so both compare the same masked form.
 */
export function parseCmdline(text: string): string[] {
  if (text.length === 0) return [];
  const raw = text.split('\0');
  if (raw[raw.length - 1] === '') raw.pop();
  let argv: string[];
  try {
    argv = redactArgv(raw);
  } catch {
    // Never expected; if masking ever fails, keep the program's name and nothing it was given.
    argv = raw.length > 1 ? [raw[0]!, MASK] : raw;
  }
  for (let i = 0; i < argv.length; i++) argv[i] = printable(argv[i]!);
  return argv;
}

/**
 * /proc/[pid]/cgroup: `hierarchy-ID:controllers:path` per line. Returns the cgroup v2 path (`0::/...`),
 * else the first v1 hierarchy's path, else null.
 */
export function parseCgroup(text: string): string | null {
  let first: string | null = null;
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const path = line.slice(b + 1);
    if (line.startsWith('0::')) return path;
    first ??= path;
  }
  return first;
}

/** Decodes tty_nr (field 7 of stat) into a device name: `pts/N`, `ttyN`, `ttySN`; null when none. */
export function ttyName(ttyNr: number): string | null {
  if (ttyNr === 0) return null;
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${minor + (major - 136) * 256}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  return `tty(${major}:${minor})`;
}

/** `name:x:uid:...` lines of /etc/passwd into a uid → name map. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const uid = Number(fields[2]);
    if (fields.length >= 3 && fields[0] && Number.isInteger(uid) && !users.has(uid))
      users.set(uid, fields[0]);
  }
  return users;
}

/** /proc/stat `btime`: boot time in seconds since the epoch. */
export function parseBootTime(statText: string): number {
  const at = statText.indexOf('\nbtime ');
  const value = at < 0 ? Number.NaN : Number.parseInt(statText.slice(at + 7), 10);
  if (!Number.isFinite(value)) throw new Error('no btime line');
  return value;
}

/**
 * Facts that do not change during a process's life, read once per (pid, start time), plus the cycle it was
 * last seen in (to forget it once gone) and its swap as last read: a reading kept until its next refresh,
 * not a value derived from two samples. Nothing here is a previous counter: CPU % is derived by the
 * pipeline from `cpuSeconds` in two samples (pipeline/derive.ts).
 */
interface Identity {
  readonly startTicks: number;
  /** The comm at the time argv was read: exec(2) changes it, so a new comm means a new program. */
  readonly comm: string;
  /** That comm made printable, once per process rather than every cycle. */
  readonly name: string;
  readonly uid: number;
  readonly argv: readonly string[];
  readonly cmdline: string;
  readonly cgroup: string | null;
  seenCycle: number;
  /** VmSwap as last read from status (null: the line was absent), and the resident bytes at that read. */
  swapBytes: number | null;
  swapResidentBytes: number;
}

/**
 * How often a process's swap is read again while swap is in use: every this many cycles, staggered by
 * pid so each cycle reads the status of one process in six (every 30 s at the default 5 s interval).
 */
export const SWAP_REFRESH_CYCLES = 6;
/**
 * Read swap again at once when the resident set moved this much since the last read (and at least an
 * eighth of it): pages going out to swap are pages leaving the resident set, pages coming back join it.
 */
const SWAP_MOVE_BYTES = 1024 * 1024;

/**
 * Whether to read status again for a process's swap this cycle (swap in use, the process seen before):
 * its turn in the staggered refresh, or its resident set shrank (paged out) or, with swap already out,
 * grew (paged back in) by at least {@link SWAP_MOVE_BYTES} and an eighth since the last read.
 */
function swapDue(identity: Identity, pid: number, cycle: number, residentBytes: number): boolean {
  if ((cycle + pid) % SWAP_REFRESH_CYCLES === 0) return true;
  const moved = residentBytes - identity.swapResidentBytes;
  const enough = Math.max(SWAP_MOVE_BYTES, identity.swapResidentBytes / 8);
  return -moved >= enough || (moved >= enough && (identity.swapBytes ?? 0) > 0);
}

/**
 * Page size for converting statm's and stat's page counts to bytes. Node does not expose sysconf(_SC_PAGESIZE), so
 * it is measured once from this process: status `VmRSS` (kB) against statm's resident pages.
 */
export function measurePageSize(procfs: string): number {
  const status = tryReadText(join(procfs, 'self', 'status'));
  const statm = tryReadText(join(procfs, 'self', 'statm'));
  const match = status?.match(/\nVmRSS:\s+(\d+) kB/);
  const pages = Number(statm?.split(' ')[1]);
  if (!match || !(pages > 0)) return 4096;
  const ratio = (Number(match[1]) * 1024) / pages;
  return [4096, 16384, 65536].reduce((best, size) =>
    Math.abs(size - ratio) < Math.abs(best - ratio) ? size : best,
  );
}

export interface ProcessCollector extends SyncCollector<ProcessSample[]> {
  /** How many identities are cached (for the memory benchmark). */
  readonly cachedIdentities: () => number;
}

/**
 * The process table from /proc/[pid]/{stat,statm,status,cmdline,cgroup}. On the first sight of a process
 * (pid + start ticks) it reads all of them; afterwards `stat` and `statm` (the resident set as `ps` shows
 * it, see {@link parseStatmResident}), since uid, argv and cgroup are fixed for a process's life in
 * practice. An exec(2) is noticed by its new comm and re-reads them; a setuid or setproctitle without exec
 * is the rare case left stale. Kernel threads and zombies have no memory: statm is not read for them.
 *
 * Swap (`VmSwap`) is only in status, the largest of these files, so it is not read every cycle: when
 * /proc/meminfo says no swap is in use, every process has none; otherwise a process's swap is the one
 * read at first sight, read again in its turn (one process in {@link SWAP_REFRESH_CYCLES} a cycle) and at
 * once when its resident set moves (see swapDue). A process that vanishes mid-read is skipped silently; a
 * garbled file is skipped with a reason.
 *
 * Each process comes with its raw CPU counter (`cpuSeconds`, utime + stime) and `cpuPercent` null: the
 * share of a core between two samples is the pipeline's to derive.
 */
export function createProcessCollector(): ProcessCollector {
  const identities = new Map<number, Identity>();
  let users: Map<number, string> | undefined;
  let usersFrom = '';
  let pageSize = 0;
  let bootTimeMs = 0;
  let bootFrom = '';
  let cycle = 0;

  const collect = (ctx: CollectContext, report: CollectReport): ProcessSample[] => {
    const { procfs } = ctx.paths;
    cycle++;
    if (bootFrom !== procfs) {
      bootTimeMs = parseBootTime(readText(join(procfs, 'stat'))) * 1000;
      pageSize = measurePageSize(procfs);
      bootFrom = procfs;
    }
    const passwd = join(ctx.paths.etc, 'passwd');
    if (users === undefined || usersFrom !== passwd) {
      users = parsePasswd(tryReadText(passwd) ?? '');
      usersFrom = passwd;
    }
    const samples: ProcessSample[] = [];
    // Plain concatenation: path.join normalises every path, thousands of times a scan.
    const root = procfs.endsWith('/') ? procfs : `${procfs}/`;
    // Unknown (no meminfo in a copied tree): read swap as if some were in use.
    const meminfo = tryReadText(`${root}meminfo`);
    const swapInUse = (meminfo === undefined ? null : parseSwapUsedBytes(meminfo)) !== 0;
    for (const name of listDir(procfs)) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      const pid = Number(name);
      const dir = root + name;
      let stat: RawProcStat;
      try {
        stat = parseProcStat(readText(`${dir}/stat`));
      } catch (error) {
        if (isVanished(error)) continue;
        report.skip(`${dir}/stat: ${(error as Error).message}`);
        continue;
      }
      const kernelThread = (stat.flags & PF_KTHREAD) !== 0;
      const hasMemory = !kernelThread && stat.state !== 'Z' && stat.state !== 'X';
      // statm gone after stat was read: the process is exiting (or the tree is a copy without statm).
      const resident = hasMemory ? parseStatmResident(tryReadText(`${dir}/statm`) ?? '') : 0;
      const residentBytes = (Number.isFinite(resident) ? resident : stat.rssPages) * pageSize;
      let identity = identities.get(pid);
      let status: string | undefined;
      // exec(2) keeps pid and start time but replaces the program (a shim or wrapper becoming python3):
      // a changed comm means the cached argv is stale.
      if (identity === undefined || identity.startTicks !== stat.startTicks || identity.comm !== stat.comm) {
        status = tryReadText(`${dir}/status`);
        if (status === undefined) continue; // gone between the two reads
        const uid = parseStatusUid(status);
        if (uid === null) {
          report.skip(`${dir}/status: no Uid line`);
          continue;
        }
        const argv = parseCmdline(tryReadText(join(dir, 'cmdline')) ?? '');
        identity = {
          startTicks: stat.startTicks,
          comm: stat.comm,
          name: printable(stat.comm),
          uid,
          argv,
          cmdline: argv.join(' '),
          cgroup: parseCgroup(tryReadText(join(dir, 'cgroup')) ?? ''),
          seenCycle: cycle,
          swapBytes: null,
          swapResidentBytes: residentBytes,
        };
        identities.set(pid, identity);
      } else if (hasMemory && swapInUse && swapDue(identity, pid, cycle, residentBytes)) {
        status = tryReadText(`${dir}/status`);
      }
      if (!hasMemory || !swapInUse) identity.swapBytes = 0;
      else if (status !== undefined) identity.swapBytes = parseStatusSwapBytes(status);
      if (status !== undefined || !swapInUse) identity.swapResidentBytes = residentBytes;
      identity.seenCycle = cycle;
      samples.push({
        pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        sid: stat.sid,
        state: stat.state,
        comm: identity.name,
        cmdline: identity.cmdline,
        argv: identity.argv,
        uid: identity.uid,
        user: users.get(identity.uid) ?? null,
        startTime: Math.round(bootTimeMs + (stat.startTicks * 1000) / CLOCK_TICKS_PER_SEC),
        startTicks: stat.startTicks,
        threads: stat.threads,
        rssBytes: residentBytes,
        swapBytes: identity.swapBytes,
        virtualBytes: stat.virtualBytes,
        nice: stat.nice,
        cpuPercent: null,
        cpuSeconds: (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS_PER_SEC,
        cgroup: identity.cgroup,
        tty: ttyName(stat.ttyNr),
        kernelThread,
        gpuMemoryBytes: null,
      });
    }
    for (const [pid, identity] of identities) {
      if (identity.seenCycle !== cycle) identities.delete(pid);
    }
    return samples;
  };

  return { name: 'processes', collect, cachedIdentities: () => identities.size };
}

function isVanished(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ESRCH';
}

/** Expensive per-process facts, read on demand for one process only (`vigil explain`, actions). */
export interface ProcessDetails {
  readonly openFds: number | null;
  readonly oomScore: number | null;
  readonly oomScoreAdj: number | null;
}

export function readProcessDetails(paths: HostPaths, pid: number): ProcessDetails {
  const dir = join(paths.procfs, String(pid));
  const fds = listDir(join(dir, 'fd'));
  const score = Number.parseInt(tryReadText(join(dir, 'oom_score')) ?? '', 10);
  const adj = Number.parseInt(tryReadText(join(dir, 'oom_score_adj')) ?? '', 10);
  return {
    openFds: fds.length > 0 ? fds.length : null,
    oomScore: Number.isNaN(score) ? null : score,
    oomScoreAdj: Number.isNaN(adj) ? null : adj,
  };
}
