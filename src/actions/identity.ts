import { join } from 'node:path';
import { parseCmdline, parseProcStat, parseStatusUid } from '../collectors/processes.js';
import { tryReadText } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import { printable } from '../model/text.js';

/**
 * Who an action is aimed at: a pid is reused, (pid, start ticks, cmdline) is not. Recorded when the
 * finding is made, checked again immediately before acting.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
  readonly cmdline: string;
}

/** What /proc says about a pid right now, or null when it is gone. */
export interface LiveProcess extends ProcessIdentity {
  readonly comm: string;
  readonly uid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
  readonly kernelThread: boolean;
  readonly rssPages: number;
  readonly oomScoreAdj: number | null;
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
    comm: printable(stat.comm),
    uid,
    ppid: stat.ppid,
    pgid: stat.pgid,
    state: stat.state,
    kernelThread: (stat.flags & 0x00200000) !== 0,
    rssPages: stat.rssPages,
    oomScoreAdj: Number.isNaN(adj) ? null : adj,
  };
}

/** Is `live` still the process `expected` names? Says what changed when not. */
export function sameProcess(expected: ProcessIdentity, live: LiveProcess | null): string | null {
  if (live === null) return `pid ${expected.pid} is gone`;
  if (live.startTicks !== expected.startTicks)
    return `pid ${expected.pid} now belongs to another process (started at a different time)`;
  if (live.cmdline !== expected.cmdline) return `pid ${expected.pid} now runs another command line`;
  return null;
}
