import { join } from 'node:path';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import { LIVE_PATHS } from '../host/paths.js';
import { bySeverityThenSince } from '../model/severity.js';
import type { Cycle, Watcher } from '../pipeline/watcher.js';
import type { RulesRuntime } from '../rules/runtime.js';
import type { CatalogActionId, Finding } from '../rules/types.js';
import { sightDaemon } from '../store/lock.js';
import { type OpenAlert, OpenAlertsReader } from '../store/open-alerts.js';
import type { ProcessInfo } from '../understand/facts.js';

/** What the running daemon says is open, read during the sampling window. */
export interface DaemonAlerts {
  readonly pid: number | null;
  /** Its open alerts as findings, most severe first; null when they could not be read (see `problem`). */
  readonly findings: Finding[] | null;
  readonly problem: string | null;
}

/** What `status` prepares during its sampling window: the running daemon's open alerts. */
export interface PreparedJudge {
  readonly runtime: RulesRuntime;
  /** The running daemon's open alerts; null when no daemon runs. */
  readonly daemon: DaemonAlerts | null;
}

export async function prepareJudge(
  runtime: RulesRuntime,
  paths: { readonly procfs: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<PreparedJudge> {
  // The daemon watches this machine: a look at another /proc (a fixture, a container's) is judged here.
  const live = paths.procfs === LIVE_PATHS.procfs;
  return { runtime, daemon: live ? await daemonAlerts(runtime, env) : null };
}

/**
 * The open alerts of this user's running daemon (its pid file and heartbeat in the runtime directory),
 * from its database opened read-only; null when no daemon runs.
 */
export async function daemonAlerts(
  runtime: RulesRuntime,
  env: NodeJS.ProcessEnv,
): Promise<DaemonAlerts | null> {
  const { pid, running, heartbeat } = sightDaemon(runtimeDir(env));
  if (!running) return null;
  const reader = new OpenAlertsReader(heartbeat?.store?.path ?? join(stateDir(env), 'vigil.db'));
  try {
    const open = await reader.openAlerts();
    return {
      pid,
      findings: open === null ? null : open.map((a) => findingOf(a, runtime)).sort(bySeverityThenSince),
      problem: open === null ? (reader.problem ?? `the daemon has no database at ${reader.path} yet`) : null,
    };
  } finally {
    reader.close();
  }
}

function findingOf(a: OpenAlert, runtime: RulesRuntime): Finding {
  const rule = runtime.rules.rules.find((r) => r.id === a.rule);
  return {
    fingerprint: a.fingerprint,
    rule: a.rule,
    title: rule?.spec.title ?? a.rule,
    severity: a.severity,
    scope: rule?.spec.scope ?? 'system',
    subject: a.subject,
    summary: a.summary,
    pids: a.pids,
    since: a.since,
    suggest: a.suggest as CatalogActionId[],
    event: false,
  };
}

/** What one look establishes, or what the running daemon says: findings, and what vigil knows of each process. */
export interface StatusJudgement {
  readonly findings: Finding[];
  /** `daemon`: the running daemon's open alerts (duration rules included); `local`: this look's point rules. */
  readonly from: 'daemon' | 'local';
  /** The daemon's pid when the findings are its own. */
  readonly daemonPid: number | null;
  /** Why a running daemon's alerts are not shown (its database unreadable), null otherwise. */
  readonly daemonProblem: string | null;
  /** What vigil knows of each process beyond /proc, by pid. */
  readonly processes: ReadonlyMap<number, ProcessInfo>;
  /** Rules one look cannot judge (empty when the daemon's findings are shown: it judges them). */
  readonly needHistory: string[];
  readonly problems: string[];
}

/**
 * Judges a status look (a Watcher's point-only cycle, whose first sample the lineage saw too, so a process
 * re-parented during the window is known). With a running daemon whose alerts could be read, the findings
 * are its open alerts — the rules that hold for a duration or read history included. Otherwise the point
 * rules (no `for` duration, no history-derived facts) the cycle judged here.
 */
export function judgeStatus(prepared: PreparedJudge, watcher: Watcher, look: Cycle): StatusJudgement {
  const { runtime, daemon } = prepared;
  const { snapshot, facts, evaluation } = look;
  const processes = watcher.facts.processInfo(snapshot, facts);
  const problems = runtime.problems.map(formatProblem);
  if (daemon?.findings) {
    return {
      findings: daemon.findings,
      from: 'daemon',
      daemonPid: daemon.pid,
      daemonProblem: null,
      processes,
      needHistory: [],
      problems,
    };
  }
  const { firing, raised } = evaluation;
  return {
    findings: [...firing, ...raised.filter((f) => f.event)],
    from: 'local',
    daemonPid: null,
    daemonProblem: daemon?.problem ?? null,
    processes,
    needHistory: runtime.rules.rules.filter((r) => r.needsHistory).map((r) => r.id),
    problems,
  };
}
