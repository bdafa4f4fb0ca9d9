import type { ProcessSample } from '../model/snapshot.js';
import type { CatalogActionId, Finding } from '../rules/types.js';
import type { FactSet, ProcessFacts } from '../understand/facts-schema.js';
import { identityOf, isAdopter } from '../understand/lineage.js';
import { isRunner, isShellCommand } from '../understand/normalize.js';
import { CATALOG, RENICE_VALUE } from './catalog.js';
import type { ExeIdentity, ProcessIdentity } from './identity.js';

/**
 * Why a target beyond the finding's own members is in a kill_matching plan: the package runner or
 * `sh -c` that launched a member and holds nothing else (`wrapper`), a descendant of a target (`child`),
 * or a process of a target's process group when that group belongs only to the orphaned session.
 */
export type TargetRole = 'wrapper' | 'child' | 'process group';

/** One concrete action: a catalog entry and who it is aimed at, bound to identities. */
export interface ActionPlan {
  readonly action: CatalogActionId;
  /** kill_matching: parents before their children, so a wrapper is ending when its server goes. */
  readonly targets: readonly ProcessIdentity[];
  /** kill_matching: members left alone because a live process still owns them. */
  readonly kept: readonly ProcessIdentity[];
  /** restart_user_unit: the unit. */
  readonly unit: string | null;
  /** The exact command a person would type to do the same (suggest mode). */
  readonly command: string;
  /** Why: the finding's summary. */
  readonly reason: string;
  /**
   * kill_matching: the targets that are not members of the group, by pid, with why they are in the plan.
   * Absent from plans stored by an older vigil (all their targets are members).
   */
  readonly roles?: Readonly<Record<string, TargetRole>>;
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
  /**
   * Processes a plan never reaches beyond what the finding names (vigil, its parent, protected pids and
   * commands): never added as a wrapper, child or process-group member, and a process group holding one
   * is not taken whole. The finding's own members are left to the executor's policy, which says why.
   */
  readonly isProtected?: (p: ProcessSample) => boolean;
}

/**
 * Whether a live process still owns `p`, as the daemon judges it: `p` is not an orphan as this cycle's
 * `facts` judged it (lineage; a process re-parented to a subreaper, identical detached copies, a server
 * behind an orphaned runner) and its parent is alive and adopts nobody (pid 1, `systemd --user` and other
 * subreapers own nothing they adopted). Without facts (`vigil fix`), from the parent alone.
 */
export function liveOwnerIn(
  processes: readonly ProcessSample[],
  facts?: FactSet,
): (p: Pick<ProcessSample, 'pid' | 'ppid'>) => boolean {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const orphans = new Set<number>();
  for (const s of facts?.subjects.process ?? []) {
    const f = s.facts as ProcessFacts;
    if (f.orphan) orphans.add(f.pid);
  }
  return (p) => {
    const parent = byPid.get(p.ppid);
    return !orphans.has(p.pid) && parent !== undefined && !isAdopter(parent);
  };
}

/**
 * A process that only launches another: a package runner running a program (`npm exec pkg`, `uvx pkg`,
 * `uv run x.py`, `pipx run pkg`), or a shell running a command string (`sh -c "…"`). Recognised from its
 * argv as detection recognises runners (`isRunner`, which facts use for `proc.wrapper_pid`), so the kill
 * takes the wrappers the finding counts.
 */
function isWrapperCommand(p: Pick<ProcessSample, 'argv'>): boolean {
  return isRunner(p.argv) || isShellCommand(p.argv);
}

interface ProcessTree {
  readonly byPid: ReadonlyMap<number, ProcessSample>;
  /** Live children by parent pid (zombies are already gone: nothing to stop). */
  readonly children: ReadonlyMap<number, readonly ProcessSample[]>;
  readonly byPgid: ReadonlyMap<number, readonly ProcessSample[]>;
}
/** One index per scan, shared by every finding planned on it (the daemon plans each firing group). */
const trees = new WeakMap<readonly ProcessSample[], ProcessTree>();
function treeOf(processes: readonly ProcessSample[]): ProcessTree {
  const known = trees.get(processes);
  if (known) return known;
  const byPid = new Map<number, ProcessSample>();
  const children = new Map<number, ProcessSample[]>();
  const byPgid = new Map<number, ProcessSample[]>();
  for (const p of processes) {
    byPid.set(p.pid, p);
    if (p.state === 'Z') continue;
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p);
    else children.set(p.ppid, [p]);
    const group = byPgid.get(p.pgid);
    if (group) group.push(p);
    else byPgid.set(p.pgid, [p]);
  }
  const tree = { byPid, children, byPgid };
  trees.set(processes, tree);
  return tree;
}

/** How far above a member wrappers are looked for (`uvx` → `uv` → `python`; `npm exec` → `sh -c` → `node`). */
const MAX_WRAPPER_DEPTH = 4;

/** A process a ghost group's kill takes, and the member it was taken for. */
export interface Taken {
  readonly process: ProcessSample;
  /** null: a member of the group itself. */
  readonly role: TargetRole | null;
  /** The member that brought it into the plan (itself for a member). */
  readonly via: number;
}

/**
 * Everything a ghost group's kill frees, from its members and the process tree around them:
 * - a member without a live owner (`knowledge.liveOwner`), and a member whose owner is itself left over:
 *   a wrapper (package runner or `sh -c`) holding nothing but members and such wrappers, up a chain of
 *   them that ends in one without a live owner (the orphaned `npm exec` whose child is the server);
 * - every descendant of what is taken (the servers' own children), of the same user;
 * - the whole process group of what is taken when the group belongs only to the orphaned session: its
 *   leader is taken, every process in it is of that user, none is protected or an adopter, and nothing
 *   alive outside the group owns any of it (each process whose parent is outside the group is taken or
 *   has no live owner) — a setsid'd server's double-forked helper. When the leader is gone, only the
 *   group's orphans of that user with nothing running under them (the dead agent's leftover helpers): a
 *   live script in a job whose shell died is not the ghost's.
 * A member with a live owner that is not part of the ghost (the agent CLI still running) is kept. What
 * the finding names is left to the executor's policy; what is added never includes pid 1, an adopter, a
 * kernel thread or a process `knowledge.isProtected` names. Returned parents first.
 */
export function ghostClosure(
  members: readonly ProcessSample[],
  processes: readonly ProcessSample[],
  knowledge: ProcessKnowledge,
): { taken: Taken[]; kept: ProcessSample[] } {
  const { byPid, children, byPgid } = treeOf(processes);
  const memberPids = new Set(members.map((p) => p.pid));
  const owned = knowledge.liveOwner;
  const untouchable = (p: ProcessSample) =>
    p.pid <= 1 || p.kernelThread || isAdopter(p) || knowledge.isProtected?.(p) === true;
  const taken = new Map<number, Taken>();
  const queue: Taken[] = [];
  const take = (p: ProcessSample, role: TargetRole | null, via: number) => {
    if (taken.has(p.pid) || p.state === 'Z') return;
    if (role !== null && untouchable(p)) return;
    const t: Taken = { process: p, role, via };
    taken.set(p.pid, t);
    queue.push(t);
  };

  /** Does this wrapper launch nothing but members of the group (directly or through more wrappers)? */
  const holdsOnlyGhosts = (p: ProcessSample, depth: number): boolean => {
    const kids = children.get(p.pid) ?? [];
    return (
      kids.length > 0 &&
      kids.every(
        (c) =>
          memberPids.has(c.pid) ||
          (depth < MAX_WRAPPER_DEPTH &&
            c.uid === p.uid &&
            isWrapperCommand(c) &&
            holdsOnlyGhosts(c, depth + 1)),
      )
    );
  };
  /** The wrappers above a member up to one without a live owner, or null when a live owner holds it. */
  const orphanedWrappersAbove = (m: ProcessSample): ProcessSample[] | null => {
    const chain: ProcessSample[] = [];
    let current = m;
    for (let depth = 0; depth < MAX_WRAPPER_DEPTH; depth++) {
      const parent = byPid.get(current.ppid);
      if (!parent || memberPids.has(parent.pid) || parent.uid !== m.uid || untouchable(parent)) return null;
      if (!isWrapperCommand(parent) || !holdsOnlyGhosts(parent, 0)) return null;
      chain.push(parent);
      if (!owned(parent)) return chain;
      current = parent;
    }
    return null;
  };

  for (const m of members) {
    const wrappers = orphanedWrappersAbove(m);
    if (owned(m) && wrappers === null) continue;
    take(m, null, m.pid);
    for (const w of wrappers ?? []) take(w, 'wrapper', m.pid);
  }
  const groupsSeen = new Set<number>();
  for (let i = 0; i < queue.length; i++) {
    const { process: p, via } = queue[i]!;
    for (const c of children.get(p.pid) ?? [])
      if (c.uid === p.uid) take(c, memberPids.has(c.pid) ? null : 'child', via);
    if (p.pgid <= 1 || groupsSeen.has(p.pgid)) continue;
    groupsSeen.add(p.pgid);
    // A leader still alive outside the plan (an editor, a live agent, a shell's job) owns its group.
    const leader = byPid.get(p.pgid);
    const leaderLives = leader !== undefined && leader.state !== 'Z';
    if (leaderLives && !taken.has(leader.pid)) continue;
    const group = byPgid.get(p.pgid) ?? [];
    if (leaderLives) {
      // The leader is taken: the group is the ghost's (a setsid'd server and what it forked).
      const inGroup = new Set(group.map((g) => g.pid));
      const onlyOrphaned = group.every(
        (g) => g.uid === p.uid && !untouchable(g) && (inGroup.has(g.ppid) || taken.has(g.pid) || !owned(g)),
      );
      if (onlyOrphaned) for (const g of group) take(g, memberPids.has(g.pid) ? null : 'process group', via);
      continue;
    }
    // The leader is gone: whose group it was cannot be told. A dead agent's looks the same as a shell job
    // whose terminal closed while its script runs on (vigil's own test suite, run in the background, was
    // one). Only what is plainly left over is taken: an orphan of this user with nothing running under it.
    for (const g of group) {
      if (g.uid !== p.uid || untouchable(g) || owned(g) || (children.get(g.pid)?.length ?? 0) > 0) continue;
      take(g, memberPids.has(g.pid) ? null : 'process group', via);
    }
  }

  // Parents first: each target after every taken ancestor of it.
  const depthOf = new Map<number, number>();
  const depth = (t: Taken): number => {
    const known = depthOf.get(t.process.pid);
    if (known !== undefined) return known;
    depthOf.set(t.process.pid, 0); // a cycle cannot happen in a process tree; this guards a torn scan
    const parent = taken.get(t.process.ppid);
    const d = parent ? depth(parent) + 1 : 0;
    depthOf.set(t.process.pid, d);
    return d;
  };
  const ordered = [...taken.values()]
    .map((t, index) => ({ t, index, d: depth(t) }))
    .sort((a, b) => a.d - b.d || a.index - b.index)
    .map((x) => x.t);
  return { taken: ordered, kept: members.filter((m) => !taken.has(m.pid)) };
}

/** `p` bound to its identity: pid, start time, cmdline and, when `exeOf` is given, its executable now. */
function bind(p: ProcessSample, exeOf: ProcessKnowledge['exeOf']): ProcessIdentity {
  return {
    pid: p.pid,
    startTicks: p.startTicks,
    cmdline: p.cmdline,
    ...(exeOf ? { exe: exeOf(p.pid) } : {}),
  };
}

/**
 * Turns a finding and one of the actions its rule suggests into a plan, with targets taken from the
 * snapshot the finding was made on (so each is bound to its start time and cmdline) and their executable
 * as it is now. Returns null when the action does not apply (no live target, a unit name that is not one);
 * with `keepEmpty`, a kill_matching plan whose members all still have a live owner is returned with no
 * target, its members kept (stored so `vigil fix` can judge them again later).
 */
export function planFor(
  finding: Finding,
  action: CatalogActionId,
  processes: readonly ProcessSample[],
  knowledge: ProcessKnowledge,
  options: { keepEmpty?: boolean } = {},
): ActionPlan | null {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const identity = (p: ProcessSample) => bind(p, knowledge.exeOf);
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
      const { taken, kept } = ghostClosure(members, processes, knowledge);
      if (taken.length === 0 && !(options.keepEmpty && kept.length > 0)) return null;
      return killMatching(
        taken.map((t) => ({ identity: identity(t.process), role: t.role })),
        kept.map(identity),
        finding.summary,
      );
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

function killMatching(
  targets: ReadonlyArray<{ identity: ProcessIdentity; role: TargetRole | null }>,
  kept: readonly ProcessIdentity[],
  reason: string,
): ActionPlan {
  const roles: Record<string, TargetRole> = {};
  for (const t of targets) if (t.role !== null) roles[String(t.identity.pid)] = t.role;
  return {
    action: 'kill_matching',
    targets: targets.map((t) => t.identity),
    kept,
    unit: null,
    command: targets.length > 0 ? `kill ${targets.map((t) => t.identity.pid).join(' ')}` : '',
    reason,
    ...(Object.keys(roles).length > 0 ? { roles } : {}),
  };
}

/**
 * What a plan is aimed at, as one string: two plans with the same signature stop and keep the same
 * processes. The daemon stores a new plan for a firing finding only when this changes.
 */
export function planSignature(plan: ActionPlan | null): string {
  if (plan === null) return '';
  const ids = (list: readonly ProcessIdentity[]) => list.map(identityOf).sort().join(',');
  return `${plan.action}|${plan.unit ?? ''}|${ids(plan.targets)}|${ids(plan.kept)}`;
}

/** Targets of `plan` that `earlier` did not aim at (a new orphan, a member whose owner died since). */
export function newTargets(plan: ActionPlan, earlier: ActionPlan | null): ProcessIdentity[] {
  const before = new Set((earlier?.targets ?? []).map(identityOf));
  return plan.targets.filter((t) => !before.has(identityOf(t)));
}

/**
 * A stored kill_matching plan judged again on the processes as they are now (`vigil fix`): members
 * that are gone are left out (`gone`); a kept member whose owner has died since becomes a target, and so
 * do the wrappers, children and process group that come with it. Every process the stored plan names
 * keeps the identity it was bound to then (its executable included), so a program that changed is still
 * refused; a process the plan did not name (a wrapper, a new child) is bound to what it is now only when
 * the member that brings it in still runs the executable recorded for it. A stored target is never
 * dropped while it lives: the executor judges it. Other actions come back as they were.
 */
export function refreshPlan(
  stored: ActionPlan,
  processes: readonly ProcessSample[],
  knowledge: ProcessKnowledge,
): { plan: ActionPlan; gone: ProcessIdentity[]; changed: boolean } {
  if (stored.action !== 'kill_matching') return { plan: stored, gone: [], changed: false };
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const liveOf = (id: ProcessIdentity): ProcessSample | undefined => {
    const p = byPid.get(id.pid);
    return p && p.startTicks === id.startTicks && p.state !== 'Z' ? p : undefined;
  };
  const named = [...stored.targets, ...stored.kept];
  const storedOf = new Map(named.map((id) => [identityOf(id), id]));
  const gone = named.filter((id) => liveOf(id) === undefined);
  const roles = stored.roles ?? {};
  const members = named
    .filter((id) => roles[String(id.pid)] === undefined)
    .map(liveOf)
    .filter((p): p is ProcessSample => p !== undefined);
  const { taken, kept } = ghostClosure(members, processes, knowledge);
  // Read once per process: a member brings in several (its wrappers, children, group).
  const exes = new Map<number, ExeIdentity | null>();
  const exeOf = knowledge.exeOf
    ? (pid: number) => {
        if (!exes.has(pid)) exes.set(pid, knowledge.exeOf!(pid));
        return exes.get(pid)!;
      }
    : undefined;
  const trusted = (pid: number): boolean => {
    const p = byPid.get(pid);
    const id = p && storedOf.get(identityOf(p));
    const now = exeOf?.(pid);
    return Boolean(id?.exe && now && id.exe.dev === now.dev && id.exe.ino === now.ino);
  };
  const targets: Array<{ identity: ProcessIdentity; role: TargetRole | null }> = [];
  const chosen = new Set<string>();
  for (const t of taken) {
    const key = identityOf(t.process);
    const known = storedOf.get(key);
    if (known === undefined && !trusted(t.via)) continue;
    chosen.add(key);
    targets.push({
      identity: known ?? bind(t.process, exeOf),
      role: t.role ?? (roles[String(t.process.pid)] as TargetRole | undefined) ?? null,
    });
  }
  for (const id of stored.targets) {
    if (chosen.has(identityOf(id)) || liveOf(id) === undefined) continue;
    targets.push({ identity: id, role: (roles[String(id.pid)] as TargetRole | undefined) ?? null });
  }
  const plan = killMatching(
    targets,
    kept.map((p) => storedOf.get(identityOf(p))!),
    stored.reason,
  );
  return { plan, gone, changed: planSignature(plan) !== planSignature(stored) };
}

/** "8 members, 8 wrappers, 3 children": what a kill_matching plan stops, by role. */
export function planParts(plan: ActionPlan): string {
  const roles = plan.roles ?? {};
  const count = (role: TargetRole | null) =>
    plan.targets.filter((t) => (roles[String(t.pid)] ?? null) === role).length;
  const parts: Array<[number, string, string]> = [
    [count(null), 'member', 'members'],
    [count('wrapper'), 'wrapper', 'wrappers'],
    [count('child'), 'child', 'children'],
    [count('process group'), 'process of their process group', 'processes of their process group'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, one, many]) => `${n} ${n === 1 ? one : many}`)
    .join(', ');
}

/** A one-line description of a plan for notifications and prompts. */
export function describePlan(plan: ActionPlan): string {
  const entry = CATALOG[plan.action];
  const who = plan.unit ?? plan.targets.map((t) => t.pid).join(', ');
  const extra = plan.roles && Object.keys(plan.roles).length > 0 ? `: ${planParts(plan)}` : '';
  return `${entry.title}${who ? ` (${who})` : ''}${extra}${plan.kept.length ? `, keeping ${plan.kept.length} with a live owner` : ''}`;
}
