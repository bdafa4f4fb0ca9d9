import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { measurePageSize } from '../collectors/processes.js';
import { runCommand } from '../host/command.js';
import { RENICE_VALUE } from './catalog.js';
import {
  type LiveProcess,
  type ProcessIdentity,
  readLiveProcess,
  sameExecutable,
  sameProcess,
} from './identity.js';
import type { ActionPlan } from './plan.js';
import { mayActOn, type PolicyContext, type PolicyVerdict, procfsRefusal } from './policy.js';

export type Outcome = 'success' | 'partial' | 'failed' | 'refused';

export interface ActionResult {
  readonly outcome: Outcome;
  /** Targets the policy refused, with the reason (recorded; nothing was done to them). */
  readonly refused: ReadonlyArray<{ pid: number; reason: string }>;
  /** Targets the action reached (signalled, reniced…). */
  readonly acted: readonly number[];
  /** Processes verified gone afterwards (kills). */
  readonly gone: readonly number[];
  /** Processes still alive after SIGKILL (kills). */
  readonly survived: readonly number[];
  /** Resident memory the gone processes held. */
  readonly freedBytes: number;
  readonly detail: string;
}

export interface ExecuteOptions {
  /** SIGTERM grace period before SIGKILL. */
  readonly graceMs?: number;
  /** SIGKILL at once (vigil kill --force). */
  readonly force?: boolean;
  /** A signal other than SIGTERM (vigil kill --signal). */
  readonly signal?: NodeJS.Signals;
  /**
   * Asked immediately before every signal (and renice): the policy in force now — the daemon's after a
   * reload — or why nothing may be done any more (vigil left auto mode during the grace period).
   * Without it, the policy given to executePlan holds throughout.
   */
  readonly policyNow?: () => PolicyContext | string;
}

const POLL_MS = 50;

/**
 * Where a signalled target stands: gone (its pid free or reused, a zombie, or exiting), still there, or
 * alive as another program (it exec'd, or rewrote its command line).
 */
type Presence = 'gone' | 'there' | { readonly changed: string };

/**
 * Carries out a plan: every target goes through the policy again immediately before each signal — the
 * live /proc of vigil's pid namespace, the same process (pid, start time, cmdline, executable), a user's
 * own, not protected, and whatever `policyNow` says (the mode in force) — then kills are syscalls:
 * SIGTERM, a grace period, SIGKILL for what is still the same process, then a check that it is gone.
 * Targets are signalled in the plan's order, all before the one grace period: a ghost group's wrappers
 * before their servers and the servers before their children, so nothing is left to start a server again.
 * renice is setpriority(2); ionice and systemctl run as argv arrays, never through a shell. Between the
 * check and kill(2) a pid could in principle change hands; without pidfds in Node that window (the
 * microseconds of one syscall) is what remains.
 */
export async function executePlan(
  plan: ActionPlan,
  ctx: PolicyContext,
  options: ExecuteOptions = {},
): Promise<ActionResult> {
  const refused: Array<{ pid: number; reason: string }> = [];
  if (plan.action === 'notify_only') return result('success', refused, [], [], [], 0, 'nothing to do');
  /** The policy in force now, or why nothing may be done any more. */
  const policy = (): PolicyContext | string => (options.policyNow ? options.policyNow() : ctx);
  /** The check immediately before a signal to `target` (the live /proc included: see checkTarget). */
  const verdictNow = (target: ProcessIdentity): PolicyVerdict => {
    const now = policy();
    return typeof now === 'string' ? { ok: false, reason: now } : mayActOn(target, now);
  };
  if (plan.action === 'restart_user_unit') {
    const now = policy();
    const why = typeof now === 'string' ? now : procfsRefusal(now.paths.procfs, now.selfPid);
    if (why !== null) return result('refused', refused, [], [], [], 0, why);
    const run = await runCommand(['systemctl', '--user', 'restart', plan.unit ?? ''], {
      timeoutMs: 30_000,
    }).catch((error: Error) => ({ exitCode: -1, stderr: error.message, timedOut: false }));
    const ok = run.exitCode === 0;
    return result(
      ok ? 'success' : 'failed',
      refused,
      [],
      [],
      [],
      0,
      ok ? `restarted ${plan.unit}` : `systemctl failed: ${run.stderr.trim()}`,
    );
  }
  const refuse = (pid: number, reason: string) => refused.push({ pid, reason });
  const allRefused = () => result('refused', refused, [], [], [], 0, refused.map((r) => r.reason).join('; '));

  if (plan.action === 'renice' || plan.action === 'ionice_idle') {
    const acted: number[] = [];
    let allowed = 0;
    for (const target of plan.targets) {
      const verdict = verdictNow(target);
      if (!verdict.ok) {
        refuse(target.pid, verdict.reason);
        continue;
      }
      allowed++;
      try {
        if (plan.action === 'renice') setPriority(target.pid, RENICE_VALUE);
        else {
          const run = await runCommand(['ionice', '-c', '3', '-p', String(target.pid)], { timeoutMs: 5000 });
          if (run.exitCode !== 0) throw new Error(run.stderr.trim() || `ionice exit ${run.exitCode}`);
        }
        acted.push(target.pid);
      } catch (error) {
        refuse(target.pid, (error as Error).message);
      }
    }
    if (allowed === 0) return allRefused();
    const outcome: Outcome =
      acted.length === plan.targets.length ? 'success' : acted.length > 0 ? 'partial' : 'failed';
    return result(outcome, refused, acted, [], [], 0, `${plan.action} on ${acted.join(', ') || 'nothing'}`);
  }

  const ending = (live: LiveProcess | null, target: ProcessIdentity): boolean =>
    live === null ||
    live.startTicks !== target.startTicks ||
    live.state === 'Z' ||
    live.exiting ||
    // Exiting: its memory is released (no cmdline, no executable) before it becomes a zombie.
    (live.cmdline === '' && live.exe === null);
  const presence = (target: ProcessIdentity): Presence => {
    const live = readLiveProcess(ctx.paths, target.pid);
    if (ending(live, target)) return 'gone';
    // The executable first: exec(2) replaces it before the new argv is in place (an empty cmdline).
    const changed = sameExecutable(target, live!) ?? sameProcess(target, live);
    if (changed === null) return 'there';
    // Its files are read one after another: a process that began to exit after its stat was read has
    // lost its executable by the time that is read. Looked at again, it says it is ending.
    return ending(readLiveProcess(ctx.paths, target.pid), target) ? 'gone' : { changed };
  };
  /**
   * A group's kill stops wrappers, servers and their children in one pass, parents first: a child may end
   * with its parent before its own signal. Such a target is gone, not refused — when the live /proc says
   * so (a tree that is not the live one says nothing about what ended).
   */
  const endedOnItsOwn = (target: ProcessIdentity): boolean =>
    plan.action === 'kill_matching' &&
    procfsRefusal(ctx.paths.procfs, ctx.selfPid) === null &&
    presence(target) === 'gone';

  // Kills: each target checked immediately before its signal.
  const first: NodeJS.Signals = options.force ? 'SIGKILL' : (options.signal ?? 'SIGTERM');
  const signalled: Array<{ target: ProcessIdentity; live: LiveProcess }> = [];
  const goneBefore: number[] = [];
  let allowed = 0;
  for (const target of plan.targets) {
    const verdict = verdictNow(target);
    if (!verdict.ok) {
      if (endedOnItsOwn(target)) goneBefore.push(target.pid);
      else refuse(target.pid, verdict.reason);
      continue;
    }
    allowed++;
    try {
      process.kill(target.pid, first);
      signalled.push({ target, live: verdict.live });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH' && endedOnItsOwn(target)) {
        goneBefore.push(target.pid);
        continue;
      }
      refuse(
        target.pid,
        `cannot signal: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  if (allowed === 0 && goneBefore.length === 0) return allRefused();
  const acted = signalled.map((s) => s.target.pid);
  if (!['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT'].includes(first)) {
    // A signal that does not ask a process to end (SIGHUP, SIGUSR1…): sent, nothing to wait for.
    return result(
      acted.length > 0 ? 'success' : 'failed',
      refused,
      acted,
      [],
      [],
      0,
      `${first} sent to ${acted.join(', ')}`,
    );
  }
  /**
   * Waits up to `ms` for the targets to go; returns those still there. A changed one is set aside. The
   * grace period also ends as soon as nothing more may be done (`policyNow` says why): no SIGKILL follows.
   */
  const waitGone = async (targets: ProcessIdentity[], ms: number, then: string, grace: boolean) => {
    const end = Date.now() + ms;
    let left = targets;
    for (;;) {
      left = left.filter((target) => {
        const where = presence(target);
        if (typeof where === 'object') refuse(target.pid, `${then}: ${where.changed}`);
        return where === 'there';
      });
      if (left.length === 0 || Date.now() >= end) return left;
      if (grace && options.policyNow && typeof options.policyNow() === 'string') return left;
      await sleep(POLL_MS);
    }
  };
  let survivors = await waitGone(
    signalled.map((s) => s.target),
    first === 'SIGKILL' ? 2000 : (options.graceMs ?? 5000),
    'left alone after the signal',
    first !== 'SIGKILL',
  );
  if (survivors.length > 0 && first !== 'SIGKILL') {
    const killed: ProcessIdentity[] = [];
    for (const target of survivors) {
      // Only what is still the same process, under the policy in force now, gets SIGKILL.
      const verdict = verdictNow(target);
      if (!verdict.ok) {
        refuse(target.pid, `not sent SIGKILL: ${verdict.reason}`);
        continue;
      }
      try {
        process.kill(target.pid, 'SIGKILL');
      } catch {
        // gone in between
      }
      killed.push(target);
    }
    survivors = [
      ...(await waitGone(killed, 2000, 'left alone after SIGKILL', false)),
      ...survivors.filter((t) => !killed.includes(t)),
    ];
  }
  const stillThere = new Set(survivors.map((t) => t.pid));
  const setAside = new Set(refused.map((r) => r.pid));
  const gone = [...acted.filter((pid) => !stillThere.has(pid) && !setAside.has(pid)), ...goneBefore];
  const pageSize = measurePageSize(ctx.paths.procfs);
  const freed = signalled
    .filter((s) => gone.includes(s.target.pid))
    .reduce((sum, s) => sum + s.live.rssPages * pageSize, 0);
  const survived = acted.filter((pid) => stillThere.has(pid));
  // A refused target is one the action did not reach: the outcome counts every target.
  const outcome: Outcome =
    gone.length === plan.targets.length ? 'success' : gone.length > 0 ? 'partial' : 'failed';
  return result(
    outcome,
    refused,
    acted,
    gone,
    survived,
    freed,
    `${gone.length} of ${plan.targets.length} gone${survived.length ? `, ${survived.length} survived` : ''}${refused.length ? `, ${refused.length} refused` : ''}`,
  );
}

function result(
  outcome: Outcome,
  refused: Array<{ pid: number; reason: string }>,
  acted: number[],
  gone: number[],
  survived: number[],
  freedBytes: number,
  detail: string,
): ActionResult {
  return { outcome, refused, acted, gone, survived, freedBytes, detail };
}
