import { readFileSync, readlinkSync } from 'node:fs';
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
  /** What its stdin is, read once when it is first judged adopted (see `Lineage.stdinOf`). */
  stdin?: StdinKind;
  /** Whether it is pid 1 of a pid namespace of its own (a container's init), read once when asked. */
  namespaceInit?: boolean;
}

/** What a process has on fd 0 (/proc/PID/fd/0): `unknown` when it cannot be read (another user's, gone). */
export type StdinKind = 'pipe' | 'socket' | 'null' | 'tty' | 'file' | 'none' | 'unknown';

/** What vigil remembers of a process's first parent, as {@link Lineage.firstParent} shows it. */
export type FirstParent = Readonly<ParentRecord>;

export interface Orphanhood {
  readonly orphan: boolean;
  /**
   * Adopted by a reaper with nothing of its own to say it was left behind (not a session leader, its
   * session gone, stdin on /dev/null or a file): a daemon looks the same. Identical adopted siblings
   * decide (FactBuilder counts them); `reason` says what was seen.
   */
  readonly detached?: boolean;
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
    // A service's processes are the service's, whatever became of the process that started them.
    // A container runtime's shim or monitor is adopted by design.
    if ((p.cgroup && serviceOwned(p.cgroup)) || isSupervisor(p)) return NOT_ORPHAN;
    const record = this.records.get(identityOf(p));
    if (record?.reparented && record.parentIdentity !== null) {
      const parent = byPid.get(record.ppid);
      // A zombie parent has exited too: it only waits for its own parent to reap it.
      if (!parent || parent.state === 'Z' || identityOf(parent) !== record.parentIdentity) {
        // `runc` hands each container's first process to the container's shim and exits.
        const adopter = byPid.get(p.ppid);
        if (adopter && isSupervisor(adopter)) return NOT_ORPHAN;
        // A daemon forks, starts its own session on /dev/null and lets its parent exit (ssh-agent,
        // gpg-agent); a server its parent gave a pipe to was not meant to outlive it, session or not.
        if (p.sid === p.pid && this.stdinOf(p) === 'null') return NOT_ORPHAN;
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
    if (!parent || !this.isReaper(parent)) return NOT_ORPHAN;
    const cgroup = p.cgroup ?? '';
    // A container's scope says nothing of its processes: they are judged as without systemd.
    if (/\.(slice|scope|service)(\/|$)/.test(cgroup) && !CONTAINER_SCOPE.test(cgroup)) {
      // An app's scope or service (a service's own processes were answered above).
      if (/\.(scope|service)$/.test(cgroup)) {
        return {
          ...NOT_ORPHAN,
          orphan: true,
          reason: `adopted by ${parent.comm} inside ${cgroup.slice(cgroup.lastIndexOf('/') + 1)}`,
        };
      }
      return NOT_ORPHAN;
    }
    // In its adopter's own process group: the adopter (a container's shell or node init) started it.
    if (p.pgid > 0 && p.pgid === parent.pgid) return NOT_ORPHAN;
    const by = `${parent.comm} (pid ${parent.pid})`;
    const stdin = this.stdinOf(p);
    // What its parent gave it is still there: a daemon detaches from its parent's pipes.
    if (stdin === 'pipe' || stdin === 'socket') {
      return {
        ...NOT_ORPHAN,
        orphan: true,
        reason: `adopted by ${by} with its parent's ${stdin} still on stdin`,
      };
    }
    // It started a session of its own: what a daemon does.
    if (p.sid === p.pid) return NOT_ORPHAN;
    // It stayed in a session that still runs (a terminal's, an agent's): left there, not detached. The
    // adopter's own session says nothing: what the adopter started is in it too.
    const leader = p.sid > 0 && p.sid !== parent.sid ? byPid.get(p.sid) : undefined;
    if (leader && leader.state !== 'Z') {
      return {
        ...NOT_ORPHAN,
        orphan: true,
        reason: `adopted by ${by} while its session's leader ${leader.comm} (pid ${leader.pid}) still runs`,
      };
    }
    return {
      ...NOT_ORPHAN,
      detached: true,
      reason: `adopted by ${by}, its session gone, stdin ${STDIN_WORDS[stdin]}`,
    };
  }

  /**
   * Whether a process adopts orphans: pid 1, a subreaper such as `systemd --user` or tini (`isAdopter`),
   * or pid 1 of a pid namespace seen from outside it — a container's or WSL distribution's init, whatever
   * it runs (`sleep infinity`, bash, node). The last is read from `NSpid` in /proc/PID/status, once per
   * process (kept with its record), and only for the parents of processes being judged.
   */
  isReaper(p: ProcessSample): boolean {
    if (isAdopter(p)) return true;
    const record = this.records.get(identityOf(p));
    if (record?.namespaceInit !== undefined) return record.namespaceInit;
    const init = namespaceInit(readStatus(this.procfs, p.pid));
    if (record) record.namespaceInit = init;
    return init;
  }

  /**
   * What is on a process's stdin, read once per process (fd 0 of a live process does not change in
   * practice) and only for processes found adopted, never for every process of a scan.
   */
  stdinOf(p: ProcessSample): StdinKind {
    const record = this.records.get(identityOf(p));
    if (record?.stdin !== undefined) return record.stdin;
    const kind = stdinKindOf(readLink(join(this.procfs, String(p.pid), 'fd', '0')));
    if (record && kind !== 'unknown') record.stdin = kind;
    return kind;
  }
}

const STDIN_WORDS: Record<StdinKind, string> = {
  pipe: 'a pipe',
  socket: 'a socket',
  null: 'on /dev/null',
  tty: 'a terminal',
  file: 'a file',
  none: 'closed',
  unknown: 'unreadable',
};

/** Reads the target of fd 0's link: `pipe:[123]`, `socket:[45]`, `/dev/null`, `/dev/pts/3`, a path. */
export function stdinKindOf(target: string | null | undefined): StdinKind {
  if (target === undefined) return 'none';
  if (target === null) return 'unknown';
  if (target.startsWith('pipe:')) return 'pipe';
  if (target.startsWith('socket:')) return 'socket';
  if (target === '/dev/null') return 'null';
  if (/^\/dev\/(pts\/\d+|tty\w*|console)$/.test(target)) return 'tty';
  return 'file';
}

/** A link's target; undefined when there is no such link (fd 0 closed), null when it cannot be read. */
function readLink(path: string): string | null | undefined {
  try {
    return readlinkSync(path);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : null;
  }
}

function readStatus(procfs: string, pid: number): string {
  try {
    return readFileSync(join(procfs, String(pid), 'status'), 'utf8');
  } catch {
    return '';
  }
}

/**
 * Whether a /proc/PID/status says pid 1 of a nested pid namespace: `NSpid:` lists the pid in each pid
 * namespace from the reader's down to the process's own (see proc(5)), so `NSpid:\t5321\t1` is a
 * container's init seen from the host. A bare `1` is the reader's own init (answered by its pid).
 */
export function namespaceInit(status: string): boolean {
  const at = status.indexOf('\nNSpid:');
  if (at < 0) return false;
  const end = status.indexOf('\n', at + 1);
  const pids = status
    .slice(at + 7, end < 0 ? undefined : end)
    .trim()
    .split(/\s+/);
  return pids.length > 1 && pids[pids.length - 1] === '1';
}

/**
 * A container runtime's per-container supervisor: `containerd-shim-runc-v2` (a subreaper each container's
 * first process is handed to when `runc` exits) and podman's `conmon`. Both are adopted by init by design,
 * and what they hold is the container's, not left behind.
 */
export function isSupervisor(p: Pick<ProcessSample, 'comm'>): boolean {
  return p.comm.startsWith('containerd-shim') || p.comm === 'conmon' || p.comm === 'docker-containe';
}

/** A container runtime starting or holding a container's processes: a supervisor, or `runc` and its kin. */
export function isContainerRuntime(p: Pick<ProcessSample, 'comm'>): boolean {
  return isSupervisor(p) || OCI_RUNTIMES.has(p.comm);
}

const OCI_RUNTIMES = new Set(['runc', 'crun', 'youki', 'runsc']);

/**
 * Whether a process (by its cgroup v2 path, /proc/PID/cgroup) belongs to a service that a service manager
 * runs: a system daemon (`/system.slice/…`, pid 1's `/init.scope`) or a user service (`….service`). Its
 * processes are the service's, whoever started them: a forking daemon's starter exits by design, and
 * stopping the unit ends them all. An app the desktop launched as a service (`app-…@….service` or
 * `app-….service`, systemd's naming for applications) is an app, not a service: judged like an app scope.
 */
export function serviceOwned(cgroup: string): boolean {
  // A container's processes (`docker-<id>.scope`, podman's `libpod-<id>.scope` …) have their own init to
  // adopt them, and are left behind inside the container like anywhere else.
  if (CONTAINER_SCOPE.test(cgroup)) return false;
  if (cgroup.startsWith('/system.slice/') || cgroup === '/init.scope') return true;
  return cgroup.endsWith('.service') && !cgroup.slice(cgroup.lastIndexOf('/') + 1).startsWith('app-');
}

/** The systemd scope a container engine puts each container in, anywhere in its cgroup path. */
const CONTAINER_SCOPE = /\/(docker|libpod|crio|cri-containerd|containerd)-[0-9a-f]{12,}\.scope(\/|$)/;

/** Processes that adopt orphans: pid 1, and per-user service managers (`systemd --user`), subreapers. */
export function isAdopter(p: ProcessSample): boolean {
  return p.pid === 1 || (p.comm === 'systemd' && p.uid !== 0) || ADOPTER_COMMS.has(p.comm);
}

/** Container inits that also serve as subreapers when they are not pid 1 (`tini -s`). */
const ADOPTER_COMMS = new Set(['tini', 'dumb-init', 'docker-init', 'catatonit']);
