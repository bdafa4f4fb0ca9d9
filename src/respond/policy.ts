import { readlinkSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { HostPaths } from '../host/paths.js';
import { userNameOf } from '../host/trusted-file.js';
import { globMatcher } from '../model/glob.js';
import type { ProcessSample } from '../model/snapshot.js';
import { basename } from '../understand/normalize.js';
import {
  type LiveProcess,
  type ProcessIdentity,
  readLiveProcess,
  sameExecutable,
  sameProcess,
} from './identity.js';

/** Who vigil is and what it must never touch. */
export interface PolicyContext {
  readonly paths: HostPaths;
  /** The user vigil runs as: only this user's processes are ever touched. */
  readonly uid: number;
  readonly selfPid: number;
  readonly selfParentPid: number;
  readonly protectedPids: readonly number[];
  readonly isProtectedCommand: (...names: string[]) => boolean;
}

export function policyContext(paths: HostPaths, config: Config): PolicyContext {
  return {
    paths,
    uid: process.getuid?.() ?? -1,
    selfPid: process.pid,
    selfParentPid: process.ppid,
    protectedPids: config.allowlist.protected_pids,
    isProtectedCommand: globMatcher(config.allowlist.protected_commands),
  };
}

/**
 * What a plan never reaches beyond the processes a finding names (`ProcessKnowledge.isProtected`): vigil,
 * its parent, `also` (the daemon, seen from `vigil fix`), a protected pid or a protected command (its
 * comm or the base name of its argv[0], as `checkTarget` matches them).
 */
export function protectedIn(
  ctx: PolicyContext,
  also: readonly number[] = [],
): (p: Pick<ProcessSample, 'pid' | 'comm' | 'argv'>) => boolean {
  return (p) =>
    p.pid === ctx.selfPid ||
    p.pid === ctx.selfParentPid ||
    also.includes(p.pid) ||
    ctx.protectedPids.includes(p.pid) ||
    ctx.isProtectedCommand(p.comm, basename(p.argv[0] ?? ''));
}

/** statfs(2) f_type of a proc file system (PROC_SUPER_MAGIC in linux/magic.h). */
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Why `procfs` is not the live /proc of vigil's own pid namespace, or null when it is. A signal goes to a
 * pid as vigil's namespace numbers it, so only that /proc may say who a pid is: a copy or a fixture tree
 * says whatever its author wrote, and another namespace's /proc (a container's, seen through
 * /proc/PID/root/proc) numbers other processes. Two syscalls, so it is asked before every signal:
 * - statfs(2) says it is a proc file system (a copy on tmpfs or ext4 is not);
 * - its `self` link reads as vigil's own pid: procfs answers the reader's pid in the namespace the mount
 *   belongs to, and nothing at all (ENOENT) to a reader that namespace cannot see.
 */
export function procfsProblem(procfs: string, selfPid: number = process.pid): string | null {
  let type: number;
  try {
    type = Number(statfsSync(procfs).type);
  } catch (error) {
    return `cannot statfs it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  if (type !== PROC_SUPER_MAGIC) return `not a proc file system (statfs type 0x${type.toString(16)})`;
  let self: string;
  try {
    self = readlinkSync(join(procfs, 'self'));
  } catch (error) {
    return `its self link does not resolve for vigil (${(error as NodeJS.ErrnoException).code ?? 'error'}): the /proc of another pid namespace`;
  }
  if (self !== String(selfPid))
    return `its self link reads ${JSON.stringify(self)}, not vigil's pid ${selfPid}: the /proc of another pid namespace`;
  return null;
}

/** The refusal every action gets when `procfs` is not the live /proc of vigil's pid namespace, or null. */
export function procfsRefusal(procfs: string, selfPid: number = process.pid): string | null {
  const problem = procfsProblem(procfs, selfPid);
  return problem === null
    ? null
    : `actions are refused: ${procfs} is not the live /proc of vigil's own pid namespace (${problem}); vigil reads and judges such a tree but never acts on what it says`;
}

/** The result of a policy check: the live process to act on, or why not. */
export type PolicyVerdict =
  | { readonly ok: true; readonly live: LiveProcess }
  | { readonly ok: false; readonly reason: string };

/**
 * May vigil signal this process now? Checked against /proc as it is at that moment, which must be the live
 * /proc of vigil's own pid namespace: the process must still be the one the finding named (pid, start
 * time, cmdline), belong to this user, and be none of pid 1, a kernel thread, vigil itself or its parent,
 * a process the kernel protects from the OOM killer (oom_score_adj -1000), a protected pid or a protected
 * command. The executor also compares the executable (`mayActOn`); the advisor uses this alone to say
 * whether a suggestion could be carried out.
 */
export function checkTarget(target: ProcessIdentity, ctx: PolicyContext): PolicyVerdict {
  const notLive = procfsRefusal(ctx.paths.procfs, ctx.selfPid);
  if (notLive !== null) return { ok: false, reason: notLive };
  const live = readLiveProcess(ctx.paths, target.pid);
  const changed = sameProcess(target, live);
  if (changed !== null || live === null) return { ok: false, reason: changed ?? `pid ${target.pid} is gone` };
  const refuse = (reason: string): PolicyVerdict => ({
    ok: false,
    reason: `pid ${target.pid} (${live.comm}): ${reason}`,
  });
  if (target.pid === 1) return refuse('pid 1 is never touched');
  if (live.kernelThread || live.ppid === 2) return refuse('a kernel thread is never touched');
  if (target.pid === ctx.selfPid) return refuse('vigil does not act on itself');
  if (target.pid === ctx.selfParentPid) return refuse('vigil does not act on its own parent');
  if (live.uid !== ctx.uid)
    return refuse(
      `belongs to another user, ${userText(live.uid)}; vigil only acts on ${userText(ctx.uid)}'s processes`,
    );
  if (live.state === 'Z') return refuse('a zombie cannot be killed; its parent is what to act on');
  if (live.oomScoreAdj === -1000)
    return refuse('the kernel protects it from the OOM killer (oom_score_adj -1000)');
  if (ctx.protectedPids.includes(target.pid)) return refuse('listed in [allowlist] protected_pids');
  const exe = live.cmdline.split(' ')[0] ?? '';
  const base = exe.slice(exe.lastIndexOf('/') + 1);
  if (ctx.isProtectedCommand(live.comm, base)) return refuse('matches [allowlist] protected_commands');
  return { ok: true, live };
}

/**
 * The check immediately before every signal (and renice): the policy (`checkTarget`), and the same
 * executable as when the action was planned, so a process that exec'd another program keeping its pid,
 * start time and argv is not taken for the one the finding named.
 */
export function mayActOn(target: ProcessIdentity, ctx: PolicyContext): PolicyVerdict {
  const verdict = checkTarget(target, ctx);
  if (!verdict.ok) return verdict;
  const changed = sameExecutable(target, verdict.live);
  return changed === null ? verdict : { ok: false, reason: changed };
}

/** A user as a refusal names it: `alice (uid 1000)`, or the bare uid when the passwd file has no name. */
function userText(uid: number): string {
  const name = userNameOf(uid);
  return name === null ? `uid ${uid}` : `${name} (uid ${uid})`;
}
