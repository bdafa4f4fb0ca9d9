import type { ProcessSample } from '../model/snapshot.js';
import type { CatalogActionId, Finding } from '../rules/types.js';
import { CATALOG, RENICE_VALUE } from './catalog.js';
import type { ExeIdentity, ProcessIdentity } from './identity.js';

/** One concrete action: a catalog entry and who it is aimed at, bound to identities. */
export interface ActionPlan {
  readonly action: CatalogActionId;
  readonly targets: readonly ProcessIdentity[];
  /** kill_matching: members left alone because a live process still owns them. */
  readonly kept: readonly ProcessIdentity[];
  /** restart_user_unit: the unit. */
  readonly unit: string | null;
  /** The exact command a person would type to do the same (suggest mode). */
  readonly command: string;
  /** Why: the finding's summary. */
  readonly reason: string;
}

const UNIT_NAME = /^[A-Za-z0-9@._:\\-]+\.(service|socket|timer|target|path|scope|slice|mount)$/;

/**
 * What the planner needs to know of each process beyond its sample: whether something still owns it, and
 * the executable of each target (read for the targets only, when the plan is made: the scan does not read
 * it for every process). A plan made without `exeOf` is not bound to executables and the executor refuses
 * it (the advisor's plans, which are only shown).
 */
export interface ProcessKnowledge {
  readonly liveOwner: (p: ProcessSample) => boolean;
  readonly exeOf?: (pid: number) => ExeIdentity | null;
}

/**
 * Turns a finding and one of the actions its rule suggests into a plan, with targets taken from the
 * snapshot the finding was made on (so each is bound to its start time and cmdline) and their executable
 * as it is now. Returns null when the action does not apply (no live target, a unit name that is not one).
 */
export function planFor(
  finding: Finding,
  action: CatalogActionId,
  processes: readonly ProcessSample[],
  knowledge: ProcessKnowledge,
): ActionPlan | null {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const identity = (p: ProcessSample): ProcessIdentity => ({
    pid: p.pid,
    startTicks: p.startTicks,
    cmdline: p.cmdline,
    ...(knowledge.exeOf ? { exe: knowledge.exeOf(p.pid) } : {}),
  });
  const members = finding.pids
    .map((pid) => byPid.get(pid))
    .filter((p): p is ProcessSample => p !== undefined);
  const base = { kept: [] as ProcessIdentity[], unit: null, reason: finding.summary, action };
  switch (action) {
    case 'notify_only':
      return { ...base, targets: [], command: '' };
    case 'restart_user_unit': {
      const unit = finding.subject;
      if (!UNIT_NAME.test(unit)) return null;
      return { ...base, targets: [], unit, command: `systemctl --user restart ${unit}` };
    }
    case 'kill_matching': {
      const targets = members.filter((p) => !knowledge.liveOwner(p));
      const kept = members.filter((p) => knowledge.liveOwner(p));
      if (targets.length === 0) return null;
      return {
        ...base,
        targets: targets.map(identity),
        kept: kept.map(identity),
        command: `kill ${targets.map((p) => p.pid).join(' ')}`,
      };
    }
    case 'kill_process_group': {
      const first = members[0];
      if (!first) return null;
      const group = processes.filter((p) => p.pgid === first.pgid);
      return { ...base, targets: group.map(identity), command: `kill -- -${first.pgid}` };
    }
    case 'kill_process':
    case 'renice':
    case 'ionice_idle': {
      if (members.length === 0) return null;
      const pids = members.map((p) => p.pid).join(' ');
      const command =
        action === 'kill_process'
          ? `kill ${pids}`
          : action === 'renice'
            ? `renice -n ${RENICE_VALUE} -p ${pids}`
            : `ionice -c 3 -p ${pids}`;
      return { ...base, targets: members.map(identity), command };
    }
  }
}

/** A one-line description of a plan for notifications and prompts. */
export function describePlan(plan: ActionPlan): string {
  const entry = CATALOG[plan.action];
  const who = plan.unit ?? plan.targets.map((t) => t.pid).join(', ');
  return `${entry.title}${who ? ` (${who})` : ''}${plan.kept.length ? `, keeping ${plan.kept.length} with a live owner` : ''}`;
}
