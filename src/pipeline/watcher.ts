import type { CollectorName, CollectorSet, SampleOptions } from '../collectors/index.js';
import type { JournalEntry, Snapshot } from '../model/snapshot.js';
import { type Evaluation, RuleEngine } from '../rules/engine.js';
import type { RulesRuntime } from '../rules/runtime.js';
import { FactBuilder } from '../understand/facts.js';
import type { FactSet } from '../understand/facts-schema.js';
import { type Clock, REAL_CLOCK } from './clock.js';
import { derive } from './derive.js';
import { CollectorSource, type SampleRequest, type SampleSource } from './source.js';

export { commandBackoffMs, MAX_BACKOFF_MS } from './source.js';

export interface WatcherOptions {
  /** Keep RSS rings for the leak test (default true). */
  readonly trackLeaks?: boolean;
  /** Learn per-hour baselines from the samples (default true). */
  readonly learnBaselines?: boolean;
  /** …at most once per this many ms of sample time (the daemon: a minute); default every cycle. */
  readonly baselineEveryMs?: number;
  /** Where time comes from (default: the machine's clocks). */
  readonly clock?: Clock;
  /**
   * Where samples come from (default: the live collectors, configured by the four options below, on the
   * paths of the `sampling` options).
   */
  readonly source?: SampleSource;
  /** Collectors to run (default: all). The daemon leaves out `journal`, which it follows instead. */
  readonly collectors?: readonly CollectorName[];
  /** Minimum ms between two runs of a collector (e.g. `units` once a minute); default: every cycle. */
  readonly periodsMs?: Partial<Record<CollectorName, number>>;
  /** A source found unsupported is asked again only after this long (default 5 minutes). */
  readonly unsupportedRetryMs?: number;
  /** TCP socket counts are read again only after this long (default: every cycle). */
  readonly tcpStatesEveryMs?: number;
}

/** What one cycle makes of a sample. */
export interface Cycle {
  readonly snapshot: Snapshot;
  readonly facts: FactSet;
  readonly evaluation: Evaluation;
}

export interface CycleOptions {
  /** Journal entries followed elsewhere (the daemon's follower), put into this cycle's sample. */
  readonly journal?: readonly JournalEntry[];
  /** See {@link SampleRequest.commandWaitMs}. */
  readonly commandWaitMs?: number;
  /** One look (`vigil status`, `vigil explain`): rules that need history are skipped, `for` ignored. */
  readonly pointOnly?: boolean;
  /** Every rule judged as if its `for` had elapsed (`vigil rules test --snapshot`). */
  readonly ignoreDurations?: boolean;
}

/**
 * The pipeline: sample → understand → judge. Each cycle takes one raw sample from its source at its
 * clock's time, derives its rates from it and the previous sample (CPU %, bytes/s: see derive.ts), the
 * facts from it and from what the previous samples left (lineage, leak rings, baselines: see
 * understand/), and evaluates the rules, whose `for` durations and hysteresis count in the
 * samples' time. The daemon, `vigil status`, `vigil explain`, `vigil rules test` and `vigil watch` all
 * run one; on a fake clock and a hand-made or stored source, minutes of behaviour take milliseconds, and
 * the history can be judged again by today's rules (`vigil rules test --replay`).
 */
export class Watcher {
  readonly clock: Clock;
  readonly source: SampleSource;
  readonly facts: FactBuilder;
  readonly engine: RuleEngine;
  /** The last full cycle's sample: what the fast path updates. */
  private lastSample: Snapshot | null = null;
  /** The last sample taken (the first look's or a cycle's), counters and all: what rates derive from. */
  private previous: Snapshot | null = null;

  /**
   * `sampling`: where the live collectors read (/proc, /sys, nvidia-smi, the journal); null when
   * `options.source` is given.
   */
  constructor(
    private runtime: RulesRuntime,
    sampling: SampleOptions | null,
    options: WatcherOptions = {},
  ) {
    this.clock = options.clock ?? REAL_CLOCK;
    if (!options.source && !sampling) throw new Error('a Watcher needs sampling options or a source');
    this.source = options.source ?? new CollectorSource(sampling!, options);
    this.facts = new FactBuilder({
      procfs: this.source.paths.procfs,
      etc: this.source.paths.etc,
      kinds: runtime.kinds,
      uid: process.getuid?.() ?? -1,
      trackLeaks: options.trackLeaks ?? true,
      learnBaselines: options.learnBaselines ?? true,
      baselineEveryMs: options.baselineEveryMs ?? 0,
    });
    this.engine = new RuleEngine(runtime.rules.rules);
  }

  /** The live collectors, when the source is the live one (kept for callers that sample by hand). */
  get collectors(): CollectorSet {
    if (this.source instanceof CollectorSource) return this.source.collectors;
    throw new Error('this Watcher does not sample the live collectors');
  }

  /** The last full cycle's sample, null before the first. */
  get last(): Snapshot | null {
    return this.lastSample;
  }

  /** Swaps config and rules (SIGHUP); lineage, rings and rule state are kept. */
  reload(runtime: RulesRuntime): void {
    this.runtime = runtime;
    this.engine.setRules(runtime.rules.rules);
  }

  /** Ends what the source still runs (the daemon stopping); their answers are dropped. */
  close(): void {
    this.source.close();
  }

  /**
   * A first look, for a cycle soon after (`vigil status`, `vigil explain`, `vigil run --once`): the rate
   * collectors read once, so the next cycle has CPU % and rates; slow collectors started; the processes
   * seen shown to the lineage, so one re-parented before the next cycle is known. No rule is judged.
   */
  async prime(): Promise<void> {
    const raw = await this.source.prime?.({ clock: this.clock });
    const first = raw ? derive(this.previous, raw) : null;
    if (first) this.previous = first;
    const processes = first?.processes;
    if (processes)
      this.facts.lineage.observe(processes, new Map(processes.map((p) => [p.pid, p])), first.takenAt);
  }

  /** One full cycle: a sample from the source, its facts, the rules evaluated on them. */
  async cycle(options: CycleOptions = {}): Promise<Cycle> {
    const monoMs = this.clock.mono();
    const raw = await this.source.sample({
      clock: this.clock,
      ...(options.commandWaitMs === undefined ? {} : { commandWaitMs: options.commandWaitMs }),
    });
    let snapshot = derive(this.previous, raw);
    this.previous = snapshot;
    if (options.journal) snapshot = { ...snapshot, journal: options.journal };
    this.lastSample = snapshot;
    const facts = this.facts.build(snapshot, this.runtime.config.config, monoMs);
    const evaluation = this.engine.evaluate(facts, {
      ...(options.pointOnly ? { pointOnly: true } : {}),
      ...(options.ignoreDurations ? { ignoreDurations: true } : {}),
    });
    return { snapshot, facts, evaluation };
  }

  /**
   * The daemon's fast path, between full cycles: the light slice (memory, swap, load, pressure) read
   * anew over the last full sample, and the system-scope rules judged on it. Null before the first full
   * cycle, when the source has no light slice, or when it cannot be read (the full cycle says why).
   */
  fastCycle(): Cycle | null {
    const base = this.lastSample;
    if (!base || !this.source.light) return null;
    const nowMs = this.clock.now();
    let snapshot: Snapshot;
    try {
      const light = this.source.light({ clock: this.clock });
      if (!light) return null;
      snapshot = {
        ...base,
        takenAt: nowMs,
        memory: light.memory,
        ...(base.cpu ? { cpu: { ...base.cpu, load: light.load, pressure: light.cpuPressure } } : {}),
        ioPressure: light.ioPressure,
      };
    } catch {
      return null;
    }
    const facts = this.facts.systemOnly(snapshot, this.runtime.config.config);
    return { snapshot, facts, evaluation: this.engine.evaluate(facts, { scopes: ['system'] }) };
  }
}
