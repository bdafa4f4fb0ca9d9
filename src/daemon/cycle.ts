import { performance } from 'node:perf_hooks';
import {
  assembleSnapshot,
  COLLECTOR_NAMES,
  type CollectorName,
  CollectorSet,
  makeContext,
  type Results,
  type SampleOptions,
} from '../collectors/index.js';
import type { CollectorStatus, JournalEntry, Snapshot } from '../model/snapshot.js';
import { type Evaluation, type FactSet, RuleEngine } from '../rules/engine.js';
import { FactBuilder } from '../rules/facts.js';
import type { RulesRuntime } from '../rules/runtime.js';

export interface WatcherOptions {
  readonly trackLeaks?: boolean;
  readonly learnBaselines?: boolean;
  /** Collectors to run (default: all). The daemon leaves out `journal`, which it follows instead. */
  readonly collectors?: readonly CollectorName[];
  /** Minimum ms between two runs of a collector (e.g. `units` once a minute); default: every cycle. */
  readonly periodsMs?: Partial<Record<CollectorName, number>>;
  /** A source found unsupported is asked again only after this long (default 5 minutes). */
  readonly unsupportedRetryMs?: number;
  /** TCP socket counts are read again only after this long (default: every cycle). */
  readonly tcpStatesEveryMs?: number;
}

/**
 * One full cycle of watching: collect a snapshot, turn it into facts (keeping lineage, leak rings and
 * baselines across cycles), evaluate the rules. The daemon, `vigil watch` and the tests all drive this.
 * A collector not due this cycle (its period, or unsupported here) contributes its last slice, so rules
 * on it neither flap nor see their subjects vanish.
 */
export class Watcher {
  readonly collectors: CollectorSet;
  readonly facts: FactBuilder;
  readonly engine: RuleEngine;
  private readonly names: readonly CollectorName[];
  private readonly lastRun = new Map<CollectorName, number>();
  private readonly last = new Map<CollectorName, { value: unknown; status: CollectorStatus }>();

  constructor(
    private runtime: RulesRuntime,
    private readonly sampling: SampleOptions,
    private readonly options: WatcherOptions = {},
  ) {
    this.collectors = new CollectorSet({ tcpStatesEveryMs: options.tcpStatesEveryMs ?? 0 });
    this.facts = new FactBuilder({
      procfs: sampling.paths.procfs,
      kinds: runtime.kinds,
      uid: process.getuid?.() ?? -1,
      trackLeaks: options.trackLeaks ?? true,
      learnBaselines: options.learnBaselines ?? true,
    });
    this.engine = new RuleEngine(runtime.rules.rules);
    this.names = options.collectors ?? COLLECTOR_NAMES;
  }

  /** Swaps config and rules (SIGHUP); lineage, rings and rule state are kept. */
  reload(runtime: RulesRuntime): void {
    this.runtime = runtime;
    this.engine.setRules(runtime.rules.rules);
  }

  private due(name: CollectorName, now: number): boolean {
    const previous = this.last.get(name);
    const since = now - (this.lastRun.get(name) ?? Number.NEGATIVE_INFINITY);
    if (previous?.status.unsupported) return since >= (this.options.unsupportedRetryMs ?? 300_000);
    return since >= (this.options.periodsMs?.[name] ?? 0);
  }

  async cycle(
    extra: { journal?: readonly JournalEntry[] } = {},
  ): Promise<{ snapshot: Snapshot; facts: FactSet; evaluation: Evaluation }> {
    const ctx = makeContext(this.sampling);
    const now = performance.now();
    const names = this.names.filter((name) => this.due(name, now));
    const fresh = await this.collectors.run(names, ctx);
    const results: Results = { values: {}, statuses: [] };
    for (const name of this.names) {
      const i = names.indexOf(name);
      if (i >= 0) {
        this.lastRun.set(name, now);
        const status = fresh.statuses.find((s) => s.name === name)!;
        const value = (fresh.values as Record<string, unknown>)[name];
        this.last.set(name, { value, status });
      }
      const kept = this.last.get(name);
      if (!kept) continue;
      if (kept.value !== undefined) (results.values as Record<string, unknown>)[name] = kept.value;
      results.statuses.push(kept.status);
    }
    let snapshot = assembleSnapshot(results, ctx);
    if (extra.journal) snapshot = { ...snapshot, journal: extra.journal };
    const facts = this.facts.build(snapshot, this.runtime.config.config, now);
    return { snapshot, facts, evaluation: this.engine.evaluate(facts) };
  }
}
