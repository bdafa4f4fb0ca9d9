import type { Config } from '../config/schema.js';
import type { HostPaths } from '../host/paths.js';
import { globMatcher } from '../rules/glob.js';
import { type LiveProcess, type ProcessIdentity, readLiveProcess, sameProcess } from './identity.js';

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

/** The result of a policy check: the live process to act on, or why not. */
export type PolicyVerdict =
  | { readonly ok: true; readonly live: LiveProcess }
  | { readonly ok: false; readonly reason: string };

/**
 * May vigil signal this process now? Checked immediately before every action, against /proc as it is
 * at that moment: the process must still be the one the finding named (pid, start time, cmdline), belong
 * to this user, and be none of pid 1, a kernel thread, vigil itself or its parent, a process the kernel
 * protects from the OOM killer (oom_score_adj -1000), a protected pid or a protected command.
 */
export function checkTarget(target: ProcessIdentity, ctx: PolicyContext): PolicyVerdict {
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
    return refuse(`belongs to another user (uid ${live.uid}); vigil only acts on uid ${ctx.uid}'s processes`);
  if (live.state === 'Z') return refuse('a zombie cannot be killed; its parent is what to act on');
  if (live.oomScoreAdj === -1000)
    return refuse('the kernel protects it from the OOM killer (oom_score_adj -1000)');
  if (ctx.protectedPids.includes(target.pid)) return refuse('listed in [allowlist] protected_pids');
  const exe = live.cmdline.split(' ')[0] ?? '';
  const base = exe.slice(exe.lastIndexOf('/') + 1);
  if (ctx.isProtectedCommand(live.comm, base)) return refuse('matches [allowlist] protected_commands');
  return { ok: true, live };
}
