import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * What the daemon section reads about a process it started, straight from /proc (see proc(5)), the same
 * way for vigil and for its peer.
 */

/** Clock ticks per second: the unit of the CPU times in /proc/[pid]/stat (`getconf CLK_TCK`). */
export const CLOCK_TICKS: number = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

export interface CpuTicks {
  /** utime + stime: the process itself (fields 14 and 15). */
  readonly own: number;
  /** cutime + cstime: children it has waited for (fields 16 and 17). */
  readonly reaped: number;
}

/**
 * CPU ticks of a process from /proc/[pid]/stat, or null when it is gone. The command name may hold spaces
 * and parentheses, so fields are counted from the last `)`: field 3 (state) is the first after it.
 */
export function cpuTicks(pid: number, procfs = '/proc'): CpuTicks | null {
  let text: string;
  try {
    text = readFileSync(`${procfs}/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 of proc(5), so field N is fields[N - 3].
  const at = (n: number) => Number(fields[n - 3]);
  return { own: at(14) + at(15), reaped: at(16) + at(17) };
}

/** Live children of a process: /proc/[pid]/task/[tid]/children of each of its threads. */
export function childrenOf(pid: number, procfs = '/proc'): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`${procfs}/${pid}/task`);
  } catch {
    return children;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`${procfs}/${pid}/task/${tid}/children`, 'latin1').trim();
      if (text !== '') children.push(...text.split(' ').map(Number));
    } catch {
      // the thread ended
    }
  }
  return children;
}

/**
 * All the CPU a process has cost so far, in ticks: its own, its reaped children's, and that of its live
 * descendants (a `journalctl -f` it keeps running). Counting the live ones and the reaped ones never
 * counts a tick twice: a child's time moves into the parent's cutime/cstime only when it is reaped, and
 * then the child is no longer listed. Null when the process is gone.
 */
export function treeTicks(pid: number, procfs = '/proc', depth = 0): number | null {
  const ticks = cpuTicks(pid, procfs);
  if (ticks === null) return null;
  let total = ticks.own + ticks.reaped;
  if (depth < 8) {
    for (const child of childrenOf(pid, procfs)) total += treeTicks(child, procfs, depth + 1) ?? 0;
  }
  return total;
}

/** Resident memory of a process (VmRSS in /proc/[pid]/status), bytes; null when gone or a zombie. */
/**
 * A process's resident memory split in two (from /proc/[pid]/smaps_rollup): what it allocated itself
 * (`Anonymous`: heap, stacks, the JS heap) and the pages of files it maps (its executable and libraries,
 * shared through the page cache with every other process running them). Null when it is gone.
 */
export function residentParts(
  pid: number,
  procfs = '/proc',
): { anonBytes: number; fileBytes: number } | null {
  try {
    const text = readFileSync(`${procfs}/${pid}/smaps_rollup`, 'latin1');
    const kB = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
    const rss = kB('Rss');
    const anon = kB('Anonymous');
    if (!Number.isFinite(rss) || !Number.isFinite(anon)) return null;
    return { anonBytes: anon * 1024, fileBytes: (rss - anon) * 1024 };
  } catch {
    return null;
  }
}

export function rssBytes(pid: number, procfs = '/proc'): number | null {
  try {
    const text = readFileSync(`${procfs}/${pid}/status`, 'latin1');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
