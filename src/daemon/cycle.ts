import { performance } from 'node:perf_hooks';
import { CollectorSet, makeContext, type SampleOptions } from '../collectors/index.js';
import type { Snapshot } from '../model/snapshot.js';
import { type Evaluation, type FactSet, RuleEngine } from '../rules/engine.js';
import { FactBuilder } from '../rules/facts.js';
import type { RulesRuntime } from '../rules/runtime.js';

/**
 * One full cycle of watching: collect a snapshot, turn it into facts (keeping lineage, leak rings and
 * baselines across cycles), evaluate the rules. The daemon, `vigil watch` and the tests all drive this.
 */
export class Watcher {
  readonly collectors = new CollectorSet();
  readonly facts: FactBuilder;
  readonly engine: RuleEngine;

  constructor(
    private runtime: RulesRuntime,
    private readonly sampling: SampleOptions,
    options: { trackLeaks?: boolean; learnBaselines?: boolean } = {},
  ) {
    this.facts = new FactBuilder({
      procfs: sampling.paths.procfs,
      kinds: runtime.kinds,
      uid: process.getuid?.() ?? -1,
      trackLeaks: options.trackLeaks ?? true,
      learnBaselines: options.learnBaselines ?? true,
    });
    this.engine = new RuleEngine(runtime.rules.rules);
  }

  /** Swaps config and rules (SIGHUP); lineage, rings and rule state are kept. */
  reload(runtime: RulesRuntime): void {
    this.runtime = runtime;
    this.engine.setRules(runtime.rules.rules);
  }

  async cycle(): Promise<{ snapshot: Snapshot; facts: FactSet; evaluation: Evaluation }> {
    const ctx = makeContext(this.sampling);
    const snapshot = await this.collectors.sample(ctx);
    const facts = this.facts.build(snapshot, this.runtime.config.config, performance.now());
    return { snapshot, facts, evaluation: this.engine.evaluate(facts) };
  }
}
