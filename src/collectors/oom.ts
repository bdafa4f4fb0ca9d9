import type { JournalEntry } from '../model/snapshot.js';

/**
 * Who killed: the kernel's global OOM killer, the kernel acting on a memory cgroup's limit, systemd-oomd,
 * earlyoom, or systemd (PID 1 or a user manager) reporting after the fact that a unit lost a process.
 */
export type OomSource = 'kernel' | 'memcg' | 'systemd-oomd' | 'earlyoom' | 'systemd';

/** One OOM kill as one log line tells it. A field the line does not carry is null. */
export interface OomKill {
  source: OomSource;
  /** The victim's pid; null for systemd-oomd, which kills a whole cgroup and names no pid. */
  pid: number | null;
  /** The victim's name (kernel `comm`, at most 15 bytes; earlyoom's quoted name). */
  name: string | null;
  /**
   * Resident memory of the victim when it was killed: anon-rss + file-rss + shmem-rss for the kernel (kB
   * in the line), VmRSS for earlyoom (MiB in the line). Null for systemd-oomd: the figures in its line are
   * system or parent-cgroup totals, not the victim's.
   */
  rssBytes: number | null;
  uid: number | null;
  /** cgroup v2 path (or v1 memory-controller path) of the victim; systemd escapes such as `\x2d` are kept. */
  cgroup: string | null;
  /** systemd unit: the last component of `cgroup` when it is a unit name, or the unit PID 1 names. */
  unit: string | null;
  /** Signal sent: `SIGKILL` for the kernel and systemd-oomd (they send nothing else); earlyoom's as logged. */
  signal: string | null;
}

/** A kill found in the journal, with the entry that told it. */
export type JournalOomKill = OomKill & { time: number; cursor: string | null; message: string };

/**
 * The kernel's one-line summary of an OOM kill, `oom-kill:constraint=...` (mm/oom_kill.c, kernel 4.19 and
 * later; printed with pr_info, priority 6). It names the victim's memory cgroup, which the
 * `Killed process` line does not.
 */
export interface OomKillConstraint {
  /** `CONSTRAINT_NONE` (global), `CONSTRAINT_MEMCG`, `CONSTRAINT_CPUSET`, `CONSTRAINT_MEMORY_POLICY`. */
  constraint: string;
  task: string | null;
  pid: number | null;
  uid: number | null;
  /** `task_memcg=`: the victim's memory cgroup. */
  taskMemcg: string | null;
  /** `oom_memcg=`: the cgroup whose limit was hit; null for a global OOM (`global_oom`). */
  oomMemcg: string | null;
}

/** A systemd follow-up line: a unit lost processes to an OOM kill that was already logged elsewhere. */
export interface OomFollowUp extends OomKill {
  source: 'systemd';
  /** Whose kill it reports: the kernel's (memory.events oom_kill rose) or systemd-oomd's. */
  killer: 'kernel' | 'systemd-oomd';
  /** How many processes systemd-oomd killed in the unit; null when the line does not say. */
  processes: number | null;
}

/** MESSAGE_ID of PID 1's "A process of this unit has been killed by the OOM killer." (LOG_NOTICE). */
export const MESSAGE_ID_UNIT_OUT_OF_MEMORY = 'fe6faa94e7774663a0da52717891d8ef';
/** MESSAGE_ID of PID 1's "systemd-oomd killed N process(es) in this unit." (LOG_NOTICE). */
export const MESSAGE_ID_UNIT_OOMD_KILL = 'd989611b15e44c9dbf31e3c81256e4ed';

/** Lines of one kill (summary, trigger, kill line) further apart than this are not joined. */
const SAME_KILL_WINDOW_MS = 10_000;
/**
 * The same victim reported again within this time is the same kill: earlyoom repeats its line when it
 * escalates from SIGTERM to SIGKILL, and an overlapping read may hand the same line in twice.
 */
const DUPLICATE_WINDOW_MS = 60_000;

const KB = 1024;
const MIB = 1024 * 1024;

/**
 * The kill line of mm/oom_kill.c, in every wording since 3.x:
 * - 3.x/4.x: `Killed process <pid> (<comm>) total-vm:NkB, anon-rss:NkB, file-rss:NkB[, shmem-rss:NkB]`
 *   (shmem-rss since 4.5; 3.10 lacks it), after a separate `... Kill process ... or sacrifice child`;
 * - 5.x: `<reason>: Killed process ...` with `<reason>` `Out of memory`, `Memory cgroup out of memory` or
 *   `Out of memory (oom_kill_allocating_task)`; later kernels append `, UID:N pgtables:NkB oom_score_adj:N`.
 * comm may hold spaces, parentheses and slashes, so it is everything between the `(` after the pid and the
 * `) total-vm:` suffix. total-vm and pgtables are ignored (virtual size and page tables say nothing a user
 * would act on).
 */
const KERNEL_KILL_RE =
  /^(?:(.+?): )?Killed process (\d+) \((.*)\) total-vm:\d+kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(.*)$/;
const KERNEL_UID_RE = /\bUID:(\d+)/;
/** 3.x/4.x trigger, `<reason>: Kill process N (comm) score S or sacrifice child`: not itself a kill. */
const KERNEL_CHOSEN_RE = /^(.+?): Kill process \d+ \(.*\) score \d+ or sacrifice child/;
/** Old memcg kills name the victim's cgroup here (pr_info) instead of in an `oom-kill:` line. */
const KERNEL_TASK_IN_RE = /^Task in (\S+) killed as a result of limit of (\S+)/;
/** The first line of every kernel OOM burst (pr_warn). */
const KERNEL_INVOKED_RE = /^\S.* invoked oom-killer: /;

/** systemd-oomd up to ~v255: `Killed <cgroup> due to memory pressure for ... / memory used (...) ...`. */
const OOMD_KILLED_RE = /^Killed (\/\S*)(?: due to .*)?$/;
/** systemd-oomd since the kill queue: `Marked <cgroup> for killing due to ...`. Both are log_notice (5). */
const OOMD_MARKED_RE = /^Marked (\/\S*) for killing(?: due to .*)?$/;

/** earlyoom 1.0-1.1: `Killing process 'bash' with signal 15, pid: 5874, badness: 538, VmRSS: 3160 MiB`. */
const EARLYOOM_V10_RE =
  /^Killing process '(.*)' with signal (\d+), pid: (\d+), badness: -?\d+, VmRSS: (\d+) MiB/;
/** earlyoom 1.2: `killing process 27541 "bash" with signal 15: badness 550, VmRSS 7609 MiB`. */
const EARLYOOM_V12_RE = /^killing process (\d+) "(.*)" with signal (\d+): badness -?\d+, VmRSS (\d+) MiB/;
/**
 * earlyoom 1.3 and later (kill.c): `sending <SIG> to process <pid> [uid <uid>] "<name>": ` followed by
 * `badness N, VmRSS N MiB` (1.3-1.6) or `oom_score N[, oom_score_adj N], VmRSS N MiB[, cmdline "..."]`.
 * The name ends at the first `": ` that is followed by a score, so a quote inside the name or the
 * cmdline does not cut it short. `sending 0 (no-op signal)` is earlyoom's start-up self test, not a kill.
 */
const EARLYOOM_SENDING_RE =
  /^sending (SIG[A-Z0-9+-]+|\d+) to process (\d+)(?: uid (\d+))? "(.*?)": (badness|oom_score)(.*)$/;
const EARLYOOM_RSS_RE = /\bVmRSS:? (\d+) MiB/;

/** PID 1 (or a user manager) after a kernel OOM kill in a unit's cgroup. */
const FOLLOW_UP_KERNEL_RE = /^(\S+): A process of this unit has been killed by the OOM killer\.?$/;
/** PID 1 (or a user manager) after systemd-oomd killed a unit's cgroup. */
const FOLLOW_UP_OOMD_RE = /^(\S+): systemd-oomd killed (\d+|some) process\(es\) in this unit\.?$/;

const UNIT_NAME_RE =
  /^[^/\s]+\.(?:service|scope|slice|socket|mount|automount|swap|target|timer|path|device)$/;

/** `[ 1234.5678] ` (dmesg) or `[Thu May 14 23:17:24 2020] ` (dmesg -T). */
const DMESG_PREFIX_RE = /^\[[^\]]*\]\s*/;
/** `Mon DD HH:MM:SS[.micros][:] ` with any month word (`May`, `апр`, `avril`), as syslog and journalctl print. */
const SYSLOG_TIME_RE = /^[^\s\d[][^\s]*\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?:\.\d+)?:?\s+/;
/** `2026-02-08T00:40:07.136582+00:00 ` (rsyslog, journalctl -o short-iso). */
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?:?\s+/;
/** `[host ]ident[[pid]]: ` after a syslog time stamp. */
const HOST_IDENT_RE = /^(?:[^\s[\]]+ )?([^\s:[\]]+)(?:\[\d+\])?: /;
/** `ident[pid]: ` after a dmesg stamp (a bare `word: ` there is kernel text such as `oom_reaper: `). */
const IDENT_PID_RE = /^([^\s:[\]]+)\[\d+\]: /;

/**
 * Parses one log message that reports an OOM kill by the kernel (global or memory cgroup), systemd-oomd
 * or earlyoom; returns null for every other line, including the lines around a kill that are not the kill
 * itself: the `invoked oom-killer` trigger, the task table, `oom-kill:` summaries (see
 * `parseOomKillConstraint`), the 3.x/4.x `Kill process ... or sacrifice child` choice (the
 * `Killed process` line that follows is the kill), `oom_reaper:`, systemd-oomd's `Considered N cgroups`
 * listing and `oomd attempting to kill`, earlyoom's `mem avail:` status and `process exited after`, and
 * systemd's follow-ups (see `parseOomFollowUp`; they repeat a kill already counted).
 *
 * `message` is the text as journald stores it in MESSAGE (no `[uptime]`, no syslog prefix); a leading
 * dmesg `[ 1234.5678] ` or syslog `Mon DD HH:MM:SS host ident[pid]: ` prefix is tolerated so raw log lines
 * can be fed in. `identifier` is SYSLOG_IDENTIFIER; when absent, the one in a syslog prefix is used. A
 * known identifier restricts the wordings tried: kernel lines only from `kernel`, systemd-oomd lines only
 * from `systemd-oomd`, earlyoom lines only from `earlyoom`, so a program cannot pose as the kernel by
 * logging its words. With no identifier at all (raw dmesg, earlyoom's own stderr) every wording is tried.
 */
export function parseOomLine(message: string, identifier?: string | null): OomKill | null {
  const { text, ident } = stripPrefix(message, identifier);
  if (accepts(ident, 'kernel')) {
    const kill = parseKernelKill(text);
    if (kill !== null) return kill;
  }
  if (accepts(ident, 'systemd-oomd')) {
    const kill = parseOomdKill(text);
    if (kill !== null) return kill;
  }
  if (accepts(ident, 'earlyoom')) {
    const kill = parseEarlyoomKill(text);
    if (kill !== null) return kill;
  }
  return null;
}

/**
 * Parses the kernel's `oom-kill:constraint=...,task=<comm>,pid=<pid>,uid=<uid>` summary line. Its fields
 * are comma-separated `key=value` pairs in a fixed order (constraint, nodemask, cpuset, mems_allowed,
 * `oom_memcg=` or `global_oom`, task_memcg, task, pid, uid), but values may themselves hold commas
 * (nodemask `0-1,3`, a comm) and even spaces, so each value is cut at the next known key rather than
 * split on `,` or ` `. The first kernels with this line padded pid and uid (`pid= 1811`). Returns null for
 * any other line, or when `identifier` is known and not `kernel`.
 */
export function parseOomKillConstraint(
  message: string,
  identifier?: string | null,
): OomKillConstraint | null {
  const { text, ident } = stripPrefix(message, identifier);
  if (!accepts(ident, 'kernel')) return null;
  const head = /^oom-kill:constraint=([A-Z_]+)/.exec(text);
  if (head === null) return null;
  const victim = /,task=(.*),pid=\s*(\d+),uid=\s*(\d+)\s*$/.exec(text);
  const taskMemcg = /,task_memcg=(.*?)(?:,task=|$)/.exec(text);
  const oomMemcg = /,oom_memcg=(.*?),(?:task_memcg|task)=/.exec(text);
  return {
    constraint: head[1]!,
    task: victim?.[1] ?? null,
    pid: victim === null ? null : Number(victim[2]),
    uid: victim === null ? null : Number(victim[3]),
    taskMemcg: emptyToNull(taskMemcg?.[1]),
    oomMemcg: emptyToNull(oomMemcg?.[1]),
  };
}

/**
 * Parses systemd's report that a unit lost processes to an OOM kill (src/core/cgroup.c, both LOG_NOTICE):
 * `<unit>: A process of this unit has been killed by the OOM killer.` (MESSAGE_ID
 * fe6faa94e7774663a0da52717891d8ef, after a kernel kill; logged for every unit and slice whose
 * memory.events oom_kill rose, so one kill gives several) and `<unit>: systemd-oomd killed N process(es)
 * in this unit.` (MESSAGE_ID d989611b15e44c9dbf31e3c81256e4ed; `some` when the count is unknown).
 * These repeat a kill the kernel or systemd-oomd already logged, so `parseOomLine` leaves them out; they
 * are useful to learn the unit. Returns null for any other line, or when `identifier` is known and is not
 * `systemd` (PID 1 and user managers both log as `systemd`).
 */
export function parseOomFollowUp(message: string, identifier?: string | null): OomFollowUp | null {
  const { text, ident } = stripPrefix(message, identifier);
  if (!accepts(ident, 'systemd')) return null;
  const kernel = FOLLOW_UP_KERNEL_RE.exec(text);
  if (kernel !== null) return followUp(kernel[1]!, 'kernel', null);
  const oomd = FOLLOW_UP_OOMD_RE.exec(text);
  if (oomd !== null) return followUp(oomd[1]!, 'systemd-oomd', oomd[2] === 'some' ? null : Number(oomd[2]));
  return null;
}

/**
 * The OOM kills among journal entries, oldest first, each counted once.
 *
 * Kill lines are found with `parseOomLine` (each entry's SYSLOG_IDENTIFIER gates the wordings). A kernel
 * kill is then completed from the other lines of the same burst: the `oom-kill:` summary with the same
 * pid within 10 s gives the cgroup (task_memcg), the uid when the kill line lacks it (5.4 and older), and
 * `memcg` as the source when its constraint is CONSTRAINT_MEMCG; on kernels without that summary, a
 * `Memory cgroup out of memory: Kill process` choice or a `Task in <cgroup> killed as a result of limit`
 * line just before the kill does the same. Note that the summary and `Task in` lines are priority 6
 * (info): a read at `-p warning` does not return them, and kills come back without a cgroup.
 *
 * Counted once: an entry whose cursor was already seen, and a victim reported again by the same killer
 * within 60 s (same pid and name; for systemd-oomd, same cgroup), such as earlyoom's SIGKILL after its
 * SIGTERM. The first report is kept. systemd's follow-ups are never counted (see `parseOomFollowUp`).
 */
export function oomKillsFromJournal(entries: readonly JournalEntry[]): JournalOomKill[] {
  const ordered = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => a.entry.time - b.entry.time || a.index - b.index)
    .map(({ entry }) => entry);

  const seenCursors = new Set<string>();
  const summaries: Array<{ time: number; summary: OomKillConstraint }> = [];
  const kills: JournalOomKill[] = [];
  /** State of the kernel burst in progress, from lines that precede its kill line. */
  let burst: { memcgAt: number | null; taskIn: { time: number; cgroup: string } | null } = {
    memcgAt: null,
    taskIn: null,
  };

  for (const entry of ordered) {
    if (entry.cursor !== null) {
      if (seenCursors.has(entry.cursor)) continue;
      seenCursors.add(entry.cursor);
    }
    const kill = parseOomLine(entry.message, entry.identifier);
    if (kill !== null) {
      const found: JournalOomKill = {
        ...kill,
        time: entry.time,
        cursor: entry.cursor,
        message: entry.message,
      };
      if (kill.source === 'kernel' || kill.source === 'memcg') {
        if (burst.memcgAt !== null && entry.time - burst.memcgAt <= SAME_KILL_WINDOW_MS)
          found.source = 'memcg';
        if (burst.taskIn !== null && entry.time - burst.taskIn.time <= SAME_KILL_WINDOW_MS) {
          setCgroup(found, burst.taskIn.cgroup);
        }
        burst = { memcgAt: null, taskIn: null };
      }
      kills.push(found);
      continue;
    }
    const { text, ident } = stripPrefix(entry.message, entry.identifier);
    if (!accepts(ident, 'kernel')) continue;
    const summary = parseOomKillConstraint(text, ident);
    if (summary !== null) {
      summaries.push({ time: entry.time, summary });
      continue;
    }
    if (KERNEL_INVOKED_RE.test(text)) {
      burst = { memcgAt: null, taskIn: null };
      continue;
    }
    const chosen = KERNEL_CHOSEN_RE.exec(text);
    if (chosen !== null) {
      burst.memcgAt = /^Memory cgroup/i.test(chosen[1]!) ? entry.time : null;
      continue;
    }
    const taskIn = KERNEL_TASK_IN_RE.exec(text);
    if (taskIn !== null) burst.taskIn = { time: entry.time, cgroup: taskIn[1]! };
  }

  for (const kill of kills) {
    if (kill.source !== 'kernel' && kill.source !== 'memcg') continue;
    const summary = nearestSummary(summaries, kill);
    if (summary === null) continue;
    if (summary.taskMemcg !== null) setCgroup(kill, summary.taskMemcg);
    if (kill.uid === null) kill.uid = summary.uid;
    if (summary.constraint === 'CONSTRAINT_MEMCG') kill.source = 'memcg';
  }

  return dropRepeats(kills);
}

function parseKernelKill(text: string): OomKill | null {
  const m = KERNEL_KILL_RE.exec(text);
  if (m === null) return null;
  const [, reason, pid, comm, anonKb, fileKb, shmemKb, rest] = m;
  const uid = KERNEL_UID_RE.exec(rest ?? '');
  return {
    source: reason !== undefined && /^Memory cgroup/i.test(reason) ? 'memcg' : 'kernel',
    pid: Number(pid),
    name: comm!,
    rssBytes: (Number(anonKb) + Number(fileKb) + Number(shmemKb ?? 0)) * KB,
    uid: uid === null ? null : Number(uid[1]),
    cgroup: null,
    unit: null,
    signal: 'SIGKILL',
  };
}

function parseOomdKill(text: string): OomKill | null {
  const m = OOMD_KILLED_RE.exec(text) ?? OOMD_MARKED_RE.exec(text);
  if (m === null) return null;
  const cgroup = m[1]!;
  return {
    source: 'systemd-oomd',
    pid: null,
    name: null,
    rssBytes: null,
    uid: null,
    cgroup,
    unit: unitOf(cgroup),
    signal: 'SIGKILL',
  };
}

function parseEarlyoomKill(text: string): OomKill | null {
  const sending = EARLYOOM_SENDING_RE.exec(text);
  if (sending !== null) {
    const [, signal, pid, uid, name, , rest] = sending;
    const rss = EARLYOOM_RSS_RE.exec(rest ?? '');
    return earlyoom(Number(pid), name!, rss === null ? null : Number(rss[1]), uid, signal!);
  }
  const v12 = EARLYOOM_V12_RE.exec(text);
  if (v12 !== null) return earlyoom(Number(v12[1]), v12[2]!, Number(v12[4]), undefined, v12[3]!);
  const v10 = EARLYOOM_V10_RE.exec(text);
  if (v10 !== null) return earlyoom(Number(v10[3]), v10[1]!, Number(v10[4]), undefined, v10[2]!);
  return null;
}

function earlyoom(pid: number, name: string, rssMib: number | null, uid: string | undefined, signal: string) {
  return {
    source: 'earlyoom',
    pid,
    name,
    rssBytes: rssMib === null ? null : rssMib * MIB,
    uid: uid === undefined ? null : Number(uid),
    cgroup: null,
    unit: null,
    signal,
  } satisfies OomKill;
}

function followUp(unit: string, killer: OomFollowUp['killer'], processes: number | null): OomFollowUp {
  return {
    source: 'systemd',
    pid: null,
    name: null,
    rssBytes: null,
    uid: null,
    cgroup: null,
    unit,
    signal: null,
    killer,
    processes,
  };
}

/**
 * Removes a leading dmesg stamp and/or syslog `time host ident[pid]: ` prefix (in either order, as
 * `kernel: [  517.92] ...` shows) and returns the text with the identifier to judge it by: the caller's
 * when given, else the prefix's, else null.
 */
function stripPrefix(
  message: string,
  identifier: string | null | undefined,
): { text: string; ident: string | null } {
  let text = message.trim();
  let fromPrefix: string | null = null;
  for (let round = 0; round < 3; round++) {
    const dmesg = DMESG_PREFIX_RE.exec(text);
    if (dmesg !== null) {
      text = text.slice(dmesg[0].length);
      const ident = IDENT_PID_RE.exec(text);
      if (ident !== null) {
        fromPrefix = ident[1]!;
        text = text.slice(ident[0].length);
      }
      continue;
    }
    const time = SYSLOG_TIME_RE.exec(text) ?? ISO_TIME_RE.exec(text);
    if (time !== null) {
      text = text.slice(time[0].length);
      const ident = HOST_IDENT_RE.exec(text);
      if (ident !== null) {
        fromPrefix = ident[1]!;
        text = text.slice(ident[0].length);
      }
      continue;
    }
    break;
  }
  return { text: text.trim(), ident: identifier ?? fromPrefix };
}

function accepts(ident: string | null, wanted: string): boolean {
  return ident === null || ident === wanted;
}

/** The unit a cgroup path belongs to: its last component, when that is a unit name. */
function unitOf(cgroup: string): string | null {
  const last = cgroup.split('/').pop() ?? '';
  return UNIT_NAME_RE.test(last) ? last : null;
}

function setCgroup(kill: OomKill, cgroup: string): void {
  kill.cgroup = cgroup;
  kill.unit = unitOf(cgroup);
}

function emptyToNull(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

/** The `oom-kill:` summary for the same pid closest in time to a kill, within the same-kill window. */
function nearestSummary(
  summaries: ReadonlyArray<{ time: number; summary: OomKillConstraint }>,
  kill: JournalOomKill,
): OomKillConstraint | null {
  let best: { distance: number; summary: OomKillConstraint } | null = null;
  for (const { time, summary } of summaries) {
    if (summary.pid !== kill.pid) continue;
    const distance = Math.abs(time - kill.time);
    if (distance > SAME_KILL_WINDOW_MS) continue;
    if (best === null || distance < best.distance) best = { distance, summary };
  }
  return best?.summary ?? null;
}

/** Keeps the first report of each victim; a report within 60 s of the previous one is a repeat. */
function dropRepeats(kills: readonly JournalOomKill[]): JournalOomKill[] {
  const lastSeen = new Map<string, number>();
  const kept: JournalOomKill[] = [];
  for (const kill of kills) {
    const killer = kill.source === 'memcg' ? 'kernel' : kill.source;
    const key = kill.pid === null ? `${killer}\0${kill.cgroup}` : `${killer}\0${kill.pid}\0${kill.name}`;
    const previous = lastSeen.get(key);
    lastSeen.set(key, kill.time);
    if (previous !== undefined && kill.time - previous <= DUPLICATE_WINDOW_MS) continue;
    kept.push(kill);
  }
  return kept;
}
