import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessSample } from '../model/snapshot.js';

/** The identity of a process across cycles: pids are reused, (pid, start ticks) is not. */
export function identityOf(p: Pick<ProcessSample, 'pid' | 'startTicks'>): string {
  return `${p.pid}:${p.startTicks}`;
}

/** What vigil remembers of a process's first parent. */
interface ParentRecord {
  readonly ppid: number;
  /** Identity of that parent, to tell it apart from a new process that reuses its pid. */
  readonly parentIdentity: string | null;
  readonly parentName: string;
  readonly parentCmdline: string;
  readonly parentComm: string;
  reparented: boolean;
  /** When vigil first saw it re-parented (ms since the epoch, the snapshot's clock), null before that. */
  reparentedAt: number | null;
  seenCycle: number;
}

/** What vigil remembers of a process's first parent, as {@link Lineage.firstParent} shows it. */
export type FirstParent = Readonly<ParentRecord>;

export interface Orphanhood {
  readonly orphan: boolean;
  /** Why vigil thinks so (or not), for summaries and `vigil explain`. */
  readonly reason: string;
  /** Name of the original parent when known (`claude`, `node`), else ''. */
  readonly originalParent: string;
  readonly originalParentComm: string;
  readonly originalParentCmdline: string;
}

const NOT_ORPHAN: Orphanhood = {
  orphan: false,
  reason: '',
  originalParent: '',
  originalParentComm: '',
  originalParentCmdline: '',
};

/** A short name for a process: the executable's base name, else the kernel's comm. */
export function shortName(p: Pick<ProcessSample, 'argv' | 'comm'>): string {
  const first = p.argv[0];
  if (!first) return p.comm;
  const base = first.slice(first.lastIndexOf('/') + 1).split(' ')[0] ?? '';
  return base || p.comm;
}

/**
 * Tells orphans from daemons. vigil remembers each process's parent while it lives, so when a process is
 * re-parented — to pid 1 or to a subreaper such as `systemd --user` — it knows the parent that died, with
 * its name and cmdline. A process already re-parented before vigil first saw it is judged from where it
 * lives: in a login session or app scope (not a service) it was left behind; without systemd cgroups, a
 * process that did not start its own session and still has a pipe or socket on stdin (what its parent
 * gave it) was left behind, while a daemon detaches with setsid and /dev/null.
 */
export class Lineage {
  private readonly records = new Map<string, ParentRecord>();
  private cycle = 0;

  constructor(private readonly procfs: string) {}

  /** Records first parents and notices re-parenting. Call once per scan, before `orphanhood`. */
  observe(
    processes: readonly ProcessSample[],
    byPid: ReadonlyMap<number, ProcessSample>,
    now: number = Date.now(),
  ): void {
    this.cycle++;
    for (const p of processes) {
      const id = identityOf(p);
      const record = this.records.get(id);
      if (record) {
        record.seenCycle = this.cycle;
        if (record.ppid !== p.ppid && !record.reparented) {
          record.reparented = true;
          record.reparentedAt = now;
        }
        continue;
      }
      const parent = byPid.get(p.ppid);
      this.records.set(id, {
        ppid: p.ppid,
        parentIdentity: parent ? identityOf(parent) : null,
        parentName: parent ? shortName(parent) : '',
        parentComm: parent?.comm ?? '',
        parentCmdline: parent?.cmdline ?? '',
        reparented: false,
        reparentedAt: null,
        seenCycle: this.cycle,
      });
    }
    for (const [id, record] of this.records) if (record.seenCycle !== this.cycle) this.records.delete(id);
  }

  /** The first parent vigil saw for this process (its current one when never re-parented). */
  originalParent(p: ProcessSample): { name: string; comm: string; cmdline: string } | null {
    const record = this.records.get(identityOf(p));
    return record
      ? { name: record.parentName, comm: record.parentComm, cmdline: record.parentCmdline }
      : null;
  }

  /** Everything vigil remembers of this process's first parent (for attribution), null when never seen. */
  firstParent(p: Pick<ProcessSample, 'pid' | 'startTicks'>): FirstParent | null {
    return this.records.get(identityOf(p)) ?? null;
  }

  orphanhood(p: ProcessSample, byPid: ReadonlyMap<number, ProcessSample>): Orphanhood {
    if (p.pid === 1 || p.kernelThread || p.ppid === 0) return NOT_ORPHAN;
    const record = this.records.get(identityOf(p));
    if (record?.reparented && record.parentIdentity !== null) {
      const parent = byPid.get(record.ppid);
      // A zombie parent has exited too: it only waits for its own parent to reap it.
      if (!parent || parent.state === 'Z' || identityOf(parent) !== record.parentIdentity) {
        return {
          orphan: true,
          reason: `its parent ${record.parentName || record.parentComm} (pid ${record.ppid}) exited`,
          originalParent: record.parentName,
          originalParentComm: record.parentComm,
          originalParentCmdline: record.parentCmdline,
        };
      }
    }
    if (record?.reparented) return NOT_ORPHAN;
    const parent = byPid.get(p.ppid);
    if (!parent || !isAdopter(parent)) return NOT_ORPHAN;
    const cgroup = p.cgroup ?? '';
    if (/\.(slice|scope|service)(\/|$)/.test(cgroup)) {
      if (/\.service$/.test(cgroup) || cgroup.startsWith('/system.slice/') || cgroup === '/init.scope') {
        return NOT_ORPHAN;
      }
      if (/\.scope$/.test(cgroup)) {
        return {
          ...NOT_ORPHAN,
          orphan: true,
          reason: `adopted by ${parent.comm} inside ${cgroup.slice(cgroup.lastIndexOf('/') + 1)}`,
        };
      }
      return NOT_ORPHAN;
    }
    if (p.sid === p.pid) return NOT_ORPHAN;
    const stdin = this.stdinKind(p.pid);
    if (stdin === 'pipe' || stdin === 'socket') {
      return {
        ...NOT_ORPHAN,
        orphan: true,
        reason: `adopted by ${parent.comm} with its parent's ${stdin} still on stdin`,
      };
    }
    return NOT_ORPHAN;
  }

  private stdinKind(pid: number): 'pipe' | 'socket' | 'other' {
    try {
      const target = readlinkSync(join(this.procfs, String(pid), 'fd', '0'));
      if (target.startsWith('pipe:')) return 'pipe';
      if (target.startsWith('socket:')) return 'socket';
    } catch {
      // No fd 0, not ours to read, or gone: no evidence.
    }
    return 'other';
  }
}

/** Processes that adopt orphans: pid 1, and per-user service managers (`systemd --user`), subreapers. */
export function isAdopter(p: ProcessSample): boolean {
  return p.pid === 1 || (p.comm === 'systemd' && p.uid !== 0) || p.comm === 'tini' || p.comm === 'dumb-init';
}
