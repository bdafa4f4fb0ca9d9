import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { measurePageSize } from '../collectors/processes.js';
import { runCommand } from '../host/command.js';
import { RENICE_VALUE } from './catalog.js';
import { readLiveProcess, sameProcess } from './identity.js';
import type { ActionPlan } from './plan.js';
import { checkTarget, type PolicyContext } from './policy.js';

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
}

const POLL_MS = 50;

/**
 * Carries out a plan: every target goes through the policy again first, then kills are syscalls —
 * SIGTERM, a grace period, SIGKILL for what is still the same process, then a check that it is gone;
 * renice is setpriority(2); ionice and systemctl run as argv arrays, never through a shell.
 */
export async function executePlan(
  plan: ActionPlan,
  ctx: PolicyContext,
  options: ExecuteOptions = {},
): Promise<ActionResult> {
  const refused: Array<{ pid: number; reason: string }> = [];
  if (plan.action === 'notify_only') return result('success', refused, [], [], [], 0, 'nothing to do');
  if (plan.action === 'restart_user_unit') {
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
  const allowed = plan.targets.flatMap((target) => {
    const verdict = checkTarget(target, ctx);
    if (!verdict.ok) {
      refused.push({ pid: target.pid, reason: verdict.reason });
      return [];
    }
    return [{ target, live: verdict.live }];
  });
  if (allowed.length === 0)
    return result('refused', refused, [], [], [], 0, refused.map((r) => r.reason).join('; '));

  if (plan.action === 'renice' || plan.action === 'ionice_idle') {
    const acted: number[] = [];
    for (const { target } of allowed) {
      try {
        if (plan.action === 'renice') setPriority(target.pid, RENICE_VALUE);
        else {
          const run = await runCommand(['ionice', '-c', '3', '-p', String(target.pid)], { timeoutMs: 5000 });
          if (run.exitCode !== 0) throw new Error(run.stderr.trim() || `ionice exit ${run.exitCode}`);
        }
        acted.push(target.pid);
      } catch (error) {
        refused.push({ pid: target.pid, reason: (error as Error).message });
      }
    }
    const outcome: Outcome =
      acted.length === plan.targets.length ? 'success' : acted.length > 0 ? 'partial' : 'failed';
    return result(outcome, refused, acted, [], [], 0, `${plan.action} on ${acted.join(', ') || 'nothing'}`);
  }

  // Kills.
  const pageSize = measurePageSize(ctx.paths.procfs);
  const first: NodeJS.Signals = options.force ? 'SIGKILL' : (options.signal ?? 'SIGTERM');
  const acted: number[] = [];
  for (const { target } of allowed) {
    try {
      process.kill(target.pid, first);
      acted.push(target.pid);
    } catch (error) {
      refused.push({
        pid: target.pid,
        reason: `cannot signal: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      });
    }
  }
  const stillThere = (pid: number) => {
    const target = allowed.find((a) => a.target.pid === pid)!.target;
    const live = readLiveProcess(ctx.paths, pid);
    return sameProcess(target, live) === null && live?.state !== 'Z';
  };
  const waitGone = async (pids: number[], ms: number) => {
    const end = Date.now() + ms;
    let left = pids.filter(stillThere);
    while (left.length > 0 && Date.now() < end) {
      await sleep(POLL_MS);
      left = left.filter(stillThere);
    }
    return left;
  };
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
  let survivors = await waitGone(acted, first === 'SIGKILL' ? 2000 : (options.graceMs ?? 5000));
  if (survivors.length > 0 && first !== 'SIGKILL') {
    for (const pid of survivors) {
      // Only what is still the same process gets SIGKILL.
      if (stillThere(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone in between
        }
      }
    }
    survivors = await waitGone(survivors, 2000);
  }
  const gone = acted.filter((pid) => !survivors.includes(pid));
  const freed = allowed
    .filter((a) => gone.includes(a.target.pid))
    .reduce((sum, a) => sum + a.live.rssPages * pageSize, 0);
  // A refused target is one the action did not reach: the outcome counts every target.
  const outcome: Outcome =
    gone.length === plan.targets.length ? 'success' : gone.length > 0 ? 'partial' : 'failed';
  return result(
    outcome,
    refused,
    acted,
    gone,
    survivors,
    freed,
    `${gone.length} of ${plan.targets.length} gone${survivors.length ? `, ${survivors.length} survived` : ''}${refused.length ? `, ${refused.length} refused` : ''}`,
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
