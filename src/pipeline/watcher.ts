import { performance } from 'node:perf_hooks';
import {
  assembleSnapshot,
  COLLECTOR_NAMES,
  COMMAND_COLLECTORS,
  type CollectorName,
  CollectorSet,
  makeContext,
  type Results,
  type SampleOptions,
} from '../collectors/index.js';
import type { CollectContext } from '../collectors/types.js';
import type { CollectorStatus, JournalEntry, Snapshot } from '../model/snapshot.js';
import { type Evaluation, RuleEngine } from '../rules/engine.js';
import type { RulesRuntime } from '../rules/runtime.js';
import { FactBuilder } from '../understand/facts.js';
import type { FactSet } from '../understand/facts-schema.js';

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

/** Longest pause a command collector that keeps timing out is given between two runs. */
export const MAX_BACKOFF_MS = 10 * 60_000;

/** The pause after the `timeouts`-th timeout in a row: `baseMs`, doubled for each one after the first. */
export function commandBackoffMs(baseMs: number, timeouts: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, timeouts - 1));
}

/** A command collector's run that has not answered yet. */
interface CommandRun {
  /** performance.now() when it started. */
  readonly startedAt: number;
  readonly done: Promise<void>;
}

/**
 * One full cycle of watching: collect a snapshot, turn it into facts (keeping lineage, leak rings and
 * baselines across cycles), evaluate the rules. The daemon, `vigil watch` and the tests all drive this.
 * A collector not due this cycle (its period, or unsupported here) contributes its last slice, so rules
 * on it neither flap nor see their subjects vanish.
 *
 * Command collectors (nvidia-smi, systemctl, journalctl) run in the background: a cycle starts those
 * that are due, reads the files meanwhile, then waits for them at most `commandWaitMs`. One still going
 * after that answers into the next cycle; until then the cycle uses its last completed slice and says so
 * (`inFlightMs` in its status), and it is not started twice. A run cut by its command's deadline counts
 * a timeout; after consecutive timeouts the collector waits before its next run, twice as long each time
 * (its period or the deadline, whichever is longer, doubled per timeout after the first, at most
 * {@link MAX_BACKOFF_MS}), and an answer resets that.
 */
export class Watcher {
  readonly collectors: CollectorSet;
  readonly facts: FactBuilder;
  readonly engine: RuleEngine;
  private readonly names: readonly CollectorName[];
  private readonly lastRun = new Map<CollectorName, number>();
  private readonly last = new Map<CollectorName, { value: unknown; status: CollectorStatus }>();
  private readonly inFlight = new Map<CollectorName, CommandRun>();
  /** Consecutive timeouts of each command collector, and the earliest time of its next run. */
  private readonly timeouts = new Map<CollectorName, number>();
  private readonly notBefore = new Map<CollectorName, number>();
  /** Ends the commands still running when the watcher is closed. */
  private readonly abort = new AbortController();

  constructor(
    private runtime: RulesRuntime,
    private readonly sampling: SampleOptions,
    private readonly options: WatcherOptions = {},
  ) {
    this.collectors = new CollectorSet({ tcpStatesEveryMs: options.tcpStatesEveryMs ?? 0 });
    this.facts = new FactBuilder({
      procfs: sampling.paths.procfs,
      etc: sampling.paths.etc,
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

  /** Kills the commands still running (the daemon stopping); their answers are dropped. */
  close(): void {
    this.abort.abort();
  }

  private due(name: CollectorName, now: number): boolean {
    if (this.inFlight.has(name) || now < (this.notBefore.get(name) ?? 0)) return false;
    const previous = this.last.get(name);
    const since = now - (this.lastRun.get(name) ?? Number.NEGATIVE_INFINITY);
    if (previous?.status.unsupported) return since >= (this.options.unsupportedRetryMs ?? 300_000);
    return since >= (this.options.periodsMs?.[name] ?? 0);
  }

  /**
   * `commandWaitMs`: how long to wait for the command collectors started this cycle, beyond the file
   * collectors' own time (default: until they answer, each command being bounded by its deadline).
   */
  async cycle(
    extra: { journal?: readonly JournalEntry[]; commandWaitMs?: number } = {},
  ): Promise<{ snapshot: Snapshot; facts: FactSet; evaluation: Evaluation }> {
    const ctx = { ...makeContext(this.sampling), signal: this.abort.signal };
    const now = performance.now();
    const names = this.names.filter((name) => this.due(name, now));
    const commands = names.filter((name) => COMMAND_COLLECTORS.includes(name));
    for (const name of commands) this.start(name, ctx, now);
    const files = names.filter((name) => !COMMAND_COLLECTORS.includes(name));
    const fresh = await this.collectors.run(files, ctx);
    for (const name of files) {
      this.lastRun.set(name, now);
      const status = fresh.statuses.find((s) => s.name === name)!;
      this.last.set(name, { value: (fresh.values as Record<string, unknown>)[name], status });
    }
    await this.awaitCommands(commands, extra.commandWaitMs);
    const results: Results = { values: {}, statuses: [] };
    const waited = performance.now();
    for (const name of this.names) {
      const kept = this.last.get(name);
      const run = this.inFlight.get(name);
      if (kept?.value !== undefined) (results.values as Record<string, unknown>)[name] = kept.value;
      if (run) {
        const status = kept?.status ?? { name, ok: true, durationMs: 0, error: null, unsupported: null };
        results.statuses.push({ ...status, inFlightMs: Math.round(waited - run.startedAt) });
      } else if (kept) results.statuses.push(kept.status);
    }
    let snapshot = assembleSnapshot(results, ctx);
    if (extra.journal) snapshot = { ...snapshot, journal: extra.journal };
    const facts = this.facts.build(snapshot, this.runtime.config.config, now);
    return { snapshot, facts, evaluation: this.engine.evaluate(facts) };
  }

  /** Starts a command collector in the background; its answer (or timeout) is kept when it comes. */
  private start(name: CollectorName, ctx: CollectContext, now: number): void {
    this.lastRun.set(name, now);
    const done = this.collectors.run([name], ctx).then((result) => {
      this.inFlight.delete(name);
      if (this.abort.signal.aborted) return;
      const status = result.statuses[0]!;
      const timeouts = status.timedOut ? (this.timeouts.get(name) ?? 0) + 1 : 0;
      this.timeouts.set(name, timeouts);
      const backoffMs = timeouts > 0 ? this.backoffMs(name, timeouts) : 0;
      this.notBefore.set(name, performance.now() + backoffMs);
      this.last.set(name, {
        value: (result.values as Record<string, unknown>)[name],
        status: timeouts > 0 ? { ...status, timeouts, backoffMs } : status,
      });
    });
    this.inFlight.set(name, { startedAt: now, done });
  }

  /** The pause after the `timeouts`-th timeout in a row: from the collector's period or the deadline. */
  private backoffMs(name: CollectorName, timeouts: number): number {
    const base = Math.max(this.options.periodsMs?.[name] ?? 0, this.sampling.commandTimeoutMs);
    return commandBackoffMs(base, timeouts);
  }

  /**
   * Waits for the commands started this cycle at most `waitMs`; without a bound, until every command in
   * flight has answered (a slow one is not waited for again in every later cycle).
   */
  private async awaitCommands(started: readonly CollectorName[], waitMs: number | undefined): Promise<void> {
    const waitFor = waitMs === undefined ? [...this.inFlight.keys()] : started;
    const running = waitFor.flatMap((name) => this.inFlight.get(name)?.done ?? []);
    if (running.length === 0) return;
    if (waitMs === undefined) {
      await Promise.all(running);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
