import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCmdline, parseProcStat, parseStatusUid } from '../collectors/processes.js';
import { tryReadText } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import { printable } from '../model/text.js';

/**
 * The program a process runs: device and inode of `/proc/PID/exe` (stat(2) follows the link to the file
 * the kernel mapped, even when it has since been deleted or replaced on disk). Decimal strings: an inode
 * may exceed 2^53 (overlayfs with xino puts a layer index in the high bits).
 */
export interface ExeIdentity {
  readonly dev: string;
  readonly ino: string;
}

/**
 * Who an action is aimed at: a pid is reused, and a process can exec another program keeping its pid,
 * start time and even its argv; (pid, start ticks, cmdline, executable) together is not. Recorded when the
 * action is planned, checked again immediately before every signal.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
  readonly cmdline: string;
  /**
   * The executable when the action was planned. null: it could not be read then (a process that is not
   * dumpable, or a /proc vigil does not act on); absent: a plan an older vigil stored, which did not
   * record it. Either way the action is refused (fail closed): vigil cannot tell it is the same program.
   */
  readonly exe?: ExeIdentity | null;
}

/** What /proc says about a pid right now, or null when it is gone. */
export interface LiveProcess extends ProcessIdentity {
  /** null when `/proc/PID/exe` cannot be read: gone, a kernel thread, or not dumpable (EACCES). */
  readonly exe: ExeIdentity | null;
  readonly comm: string;
  readonly uid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
  readonly kernelThread: boolean;
  /** PF_EXITING: it is ending (killed, or returned from main) and releasing its memory and executable. */
  readonly exiting: boolean;
  readonly rssPages: number;
  readonly oomScoreAdj: number | null;
}

/**
 * stat(2) of `/proc/PID/exe`, or null when it cannot be read. The kernel allows it only to a caller that
 * may ptrace-read the process (PTRACE_MODE_READ_FSCREDS; Yama's ptrace_scope does not apply): the same
 * user's dumpable processes. A process made non-dumpable (prctl PR_SET_DUMPABLE 0, as ssh-agent and
 * gpg-agent do, or after a set-uid exec) answers EACCES; a kernel thread or a zombie has no executable.
 */
export function readExe(paths: HostPaths, pid: number): ExeIdentity | null {
  try {
    const st = statSync(join(paths.procfs, String(pid), 'exe'), { bigint: true });
    return { dev: String(st.dev), ino: String(st.ino) };
  } catch {
    return null;
  }
}

export function readLiveProcess(paths: HostPaths, pid: number): LiveProcess | null {
  const dir = join(paths.procfs, String(pid));
  const statText = tryReadText(join(dir, 'stat'));
  const status = tryReadText(join(dir, 'status'));
  if (statText === undefined || status === undefined) return null;
  let stat: ReturnType<typeof parseProcStat>;
  try {
    stat = parseProcStat(statText);
  } catch {
    return null;
  }
  const uid = parseStatusUid(status);
  if (uid === null) return null;
  const adj = Number.parseInt(tryReadText(join(dir, 'oom_score_adj')) ?? '', 10);
  return {
    pid,
    startTicks: stat.startTicks,
    cmdline: parseCmdline(tryReadText(join(dir, 'cmdline')) ?? '').join(' '),
    exe: readExe(paths, pid),
    comm: printable(stat.comm),
    uid,
    ppid: stat.ppid,
    pgid: stat.pgid,
    state: stat.state,
    kernelThread: (stat.flags & 0x00200000) !== 0,
    exiting: (stat.flags & 0x00000004) !== 0,
    rssPages: stat.rssPages,
    oomScoreAdj: Number.isNaN(adj) ? null : adj,
  };
}

/** Is `live` still the process `expected` names (same start time and cmdline)? Says what changed when not. */
export function sameProcess(expected: ProcessIdentity, live: LiveProcess | null): string | null {
  if (live === null) return `pid ${expected.pid} is gone`;
  if (live.startTicks !== expected.startTicks)
    return `pid ${expected.pid} now belongs to another process (started at a different time)`;
  if (live.cmdline !== expected.cmdline) return `pid ${expected.pid} now runs another command line`;
  return null;
}

/**
 * Does `live` still run the executable recorded in `expected`? Says why not. An executable that was not
 * recorded, or cannot be read now, does not match: vigil acts only on a program it can identify.
 */
export function sameExecutable(expected: ProcessIdentity, live: LiveProcess): string | null {
  const pid = expected.pid;
  if (expected.exe === undefined)
    return `pid ${pid}: the action was stored by an older vigil that did not record which executable it was for, so it is not run`;
  if (expected.exe === null)
    return `pid ${pid}: its executable could not be read when the action was planned (not dumpable, or judged on a /proc vigil does not act on), so vigil cannot tell it is still the same program`;
  if (live.exe === null)
    return `pid ${pid}: its executable cannot be read (not dumpable?), so vigil cannot tell it is still the same program`;
  if (live.exe.dev !== expected.exe.dev || live.exe.ino !== expected.exe.ino)
    return `pid ${pid} now runs another executable (same pid, start time and command line: it exec'd another program)`;
  return null;
}
