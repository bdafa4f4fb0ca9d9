import { formatProblem } from '../config/problems.js';
import type { Snapshot } from '../model/snapshot.js';
import { RuleEngine } from '../rules/engine.js';
import { FactBuilder, type ProcessInfo } from '../rules/facts.js';
import { loadRulesRuntime, type RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';

/** Rules loaded and the first sample's facts built: what `status` prepares during its sampling window. */
export interface PreparedJudge {
  readonly runtime: RulesRuntime;
  readonly builder: FactBuilder;
}

export function prepareJudge(configPath: string | undefined, procfs: string, first: Snapshot): PreparedJudge {
  const runtime = loadRulesRuntime({ configPath });
  const builder = new FactBuilder({ procfs, kinds: runtime.kinds, uid: process.getuid?.() ?? -1 });
  builder.build(first, runtime.config.config);
  return { runtime, builder };
}

/** What one look establishes: the point rules' findings, and which rules need the daemon's history. */
export interface StatusJudgement {
  readonly findings: Finding[];
  /** What vigil knows of each process beyond /proc, by pid. */
  readonly processes: ReadonlyMap<number, ProcessInfo>;
  readonly needHistory: string[];
  readonly problems: string[];
}

/**
 * Judges a status snapshot with the point rules (no `for` duration, no history-derived facts); the
 * first sample is shown to the lineage too, so a process re-parented during the window is known.
 */
export function judgeStatus(prepared: PreparedJudge, snapshot: Snapshot): StatusJudgement {
  const { runtime, builder } = prepared;
  const facts = builder.build(snapshot, runtime.config.config);
  const engine = new RuleEngine(runtime.rules.rules);
  const { firing, raised } = engine.evaluate(facts, { pointOnly: true });
  const processes = builder.processInfo(snapshot, facts);
  return {
    processes,
    findings: [...firing, ...raised.filter((f) => f.event)],
    needHistory: runtime.rules.rules.filter((r) => r.needsHistory).map((r) => r.id),
    problems: runtime.problems.map(formatProblem),
  };
}
