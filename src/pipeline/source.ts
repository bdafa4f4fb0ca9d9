import {
  assembleSnapshot,
  COLLECTOR_NAMES,
  COMMAND_COLLECTORS,
  type CollectorName,
  CollectorSet,
  type LightSlice,
  makeContext,
  RATE_COLLECTORS,
  type Results,
  type SampleOptions,
  sampleLight,
} from '../collectors/index.js';
import type { CollectContext } from '../collectors/types.js';
import type { CollectorStatus, Snapshot } from '../model/snapshot.js';
import type { Clock } from './clock.js';

/** What the Watcher asks a source for one sample with. */
export interface SampleRequest {
  /** The time the sample is taken at (a fake one in tests and replays). */
  readonly clock: Clock;
  /**
   * How long to wait for command collectors started with this sample, beyond the file collectors' own
   * time (default: until they answer, each command being bounded by its deadline). Live source only.
   */
  readonly commandWaitMs?: number;
}

/**
 * Where raw samples come from: the live collectors (on /proc or a fixture tree given as `--procfs`), a
 * stored history, or a test's hand-made snapshots. The Watcher derives everything else (rates, facts,
 * trends, baselines, rule states) from the samples and their times, whatever the source. A live sample
 * carries counters and the time each collector read them (its status's `readAtMonoMs`), its rates null;
 * a stored or hand-made one carries no such time, and its values are taken as given.
 */
export interface SampleSource {
  /**
   * Where the facts may read more about a process than a sample says (its stdin, working directory and
   * namespace, for lineage and attribution): the live /proc, or a path where nothing is (history).
   */
  readonly paths: { readonly procfs: string; readonly etc: string };
  /** One sample taken at `request.clock`'s time. Never throws for a failing part: its status says so. */
  sample(request: SampleRequest): Promise<Snapshot>;
  /**
   * A first look before the sample that is judged: rate collectors read once (CPU % and rates are derived
   * from two samples' counters) and slow parts started. Returns what it saw (null when nothing): the
   * Watcher derives the next sample's rates against it and shows it to the lineage, so a process
   * re-parented before the judged sample is known as such.
   */
  prime?(request: SampleRequest): Promise<Snapshot | null>;
  /**
   * The light slice of the daemon's one-second fast path (memory, load, pressure); null when the source
   * has none. Throws when it cannot be read (the full cycle reports collector failures).
   */
  light?(request: SampleRequest): LightSlice | null;
  /** Ends what is still running (commands in flight); their answers are dropped. */
  close(): void;
}

export interface CollectorSourceOptions {
  /** Collectors to run (default: all). The daemon leaves out `journal`, which it follows instead. */
  readonly collectors?: readonly CollectorName[];
  /** Minimum ms between two runs of a collector (e.g. `units` once a minute); default: every sample. */
  readonly periodsMs?: Partial<Record<CollectorName, number>>;
  /** A source found unsupported is asked again only after this long (default 5 minutes). */
  readonly unsupportedRetryMs?: number;
  /** TCP socket counts are read again only after this long (default: every sample). */
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
  /** The monotonic clock when it started. */
  readonly startedAt: number;
  readonly done: Promise<void>;
}

/**
 * The live collectors (the registry in collectors/index.ts), read at the request's clock. A collector not
 * due this sample (its period, or unsupported here) contributes its last slice, with the status of the run
 * that read it (so its read time, and the rates derived from it, stay those of that run), so rules on it
 * neither flap nor see their subjects vanish.
 *
 * Command collectors (nvidia-smi, systemctl, journalctl) run in the background: a sample starts those
 * that are due, reads the files meanwhile, then waits for them at most `commandWaitMs`. One still going
 * after that answers into the next sample; until then the sample uses its last completed slice and says
 * so (`inFlightMs` in its status), and it is not started twice. A run cut by its command's deadline counts
 * a timeout; after consecutive timeouts the collector waits before its next run, twice as long each time
 * (its period or the deadline, whichever is longer, doubled per timeout after the first, at most
 * {@link MAX_BACKOFF_MS}), and an answer resets that.
 */
export class CollectorSource implements SampleSource {
  readonly collectors: CollectorSet;
  readonly paths: { readonly procfs: string; readonly etc: string };
  private readonly names: readonly CollectorName[];
  private readonly lastRun = new Map<CollectorName, number>();
  private readonly last = new Map<CollectorName, { value: unknown; status: CollectorStatus }>();
  private readonly inFlight = new Map<CollectorName, CommandRun>();
  /** Consecutive timeouts of each command collector, and the earliest time of its next run. */
  private readonly timeouts = new Map<CollectorName, number>();
  private readonly notBefore = new Map<CollectorName, number>();
  /** Ends the commands still running when the source is closed. */
  private readonly abort = new AbortController();

  constructor(
    private readonly sampling: SampleOptions,
    private readonly options: CollectorSourceOptions = {},
  ) {
    this.collectors = new CollectorSet({ tcpStatesEveryMs: options.tcpStatesEveryMs ?? 0 });
    this.paths = sampling.paths;
    this.names = options.collectors ?? COLLECTOR_NAMES;
  }

  close(): void {
    this.abort.abort();
  }

  private context(clock: Clock): CollectContext {
    return {
      ...makeContext(this.sampling, { nowMs: clock.now(), monoMs: clock.mono() }),
      signal: this.abort.signal,
    };
  }

  private due(name: CollectorName, now: number): boolean {
    if (this.inFlight.has(name) || now < (this.notBefore.get(name) ?? 0)) return false;
    const previous = this.last.get(name);
    const since = now - (this.lastRun.get(name) ?? Number.NEGATIVE_INFINITY);
    if (previous?.status.unsupported) return since >= (this.options.unsupportedRetryMs ?? 300_000);
    return since >= (this.options.periodsMs?.[name] ?? 0);
  }

  async prime(request: SampleRequest): Promise<Snapshot | null> {
    const ctx = this.context(request.clock);
    const now = ctx.monoMs;
    for (const name of this.names) {
      if (COMMAND_COLLECTORS.includes(name) && this.due(name, now)) this.start(name, ctx, now, request.clock);
    }
    const rates = this.names.filter((name) => RATE_COLLECTORS.includes(name));
    if (rates.length === 0) return null;
    return assembleSnapshot(await this.collectors.run(rates, ctx), ctx);
  }

  async sample(request: SampleRequest): Promise<Snapshot> {
    const { clock } = request;
    const ctx = this.context(clock);
    const now = ctx.monoMs;
    const names = this.names.filter((name) => this.due(name, now));
    const commands = names.filter((name) => COMMAND_COLLECTORS.includes(name));
    for (const name of commands) this.start(name, ctx, now, clock);
    const files = names.filter((name) => !COMMAND_COLLECTORS.includes(name));
    const fresh = await this.collectors.run(files, ctx);
    for (const name of files) {
      this.lastRun.set(name, now);
      const status = fresh.statuses.find((s) => s.name === name)!;
      this.last.set(name, { value: (fresh.values as Record<string, unknown>)[name], status });
    }
    await this.awaitCommands(commands, request.commandWaitMs);
    const results: Results = { values: {}, statuses: [] };
    const waited = clock.mono();
    for (const name of this.names) {
      const kept = this.last.get(name);
      const run = this.inFlight.get(name);
      if (kept?.value !== undefined) (results.values as Record<string, unknown>)[name] = kept.value;
      if (run) {
        const status = kept?.status ?? { name, ok: true, durationMs: 0, error: null, unsupported: null };
        results.statuses.push({ ...status, inFlightMs: Math.round(waited - run.startedAt) });
      } else if (kept) results.statuses.push(kept.status);
    }
    return assembleSnapshot(results, ctx);
  }

  light(request: SampleRequest): LightSlice {
    return sampleLight(this.context(request.clock));
  }

  /** Starts a command collector in the background; its answer (or timeout) is kept when it comes. */
  private start(name: CollectorName, ctx: CollectContext, now: number, clock: Clock): void {
    this.lastRun.set(name, now);
    const done = this.collectors.run([name], ctx).then((result) => {
      this.inFlight.delete(name);
      if (this.abort.signal.aborted) return;
      const status = result.statuses[0]!;
      const timeouts = status.timedOut ? (this.timeouts.get(name) ?? 0) + 1 : 0;
      this.timeouts.set(name, timeouts);
      const backoffMs = timeouts > 0 ? this.backoffMs(name, timeouts) : 0;
      this.notBefore.set(name, clock.mono() + backoffMs);
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
   * Waits for the commands started this sample at most `waitMs`; without a bound, until every command in
   * flight has answered (a slow one is not waited for again in every later sample).
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

/** What a test or a saved snapshot gives a {@link SnapshotSource}: a snapshot for each moment asked. */
export type SnapshotAt = (at: { readonly nowMs: number; readonly monoMs: number }) => Snapshot;

/**
 * Snapshots made elsewhere: a test's hand-made machine at each moment of a fake clock, or a snapshot saved
 * with `vigil status --json` (`vigil rules test --snapshot`). Nothing is read from the machine, except
 * what the facts read of a process through `paths` (default: a procfs where nothing is).
 */
export class SnapshotSource implements SampleSource {
  readonly paths: { readonly procfs: string; readonly etc: string };

  constructor(
    private readonly at: SnapshotAt,
    options: {
      readonly paths?: { readonly procfs: string; readonly etc: string };
      /** The fast path's light slice at each moment (default: none, no fast path). */
      readonly light?: (at: { readonly nowMs: number; readonly monoMs: number }) => LightSlice;
    } = {},
  ) {
    this.paths = options.paths ?? NOWHERE;
    const light = options.light;
    if (light) this.light = (request) => light(timeOf(request.clock));
  }

  light?: (request: SampleRequest) => LightSlice | null;

  async sample(request: SampleRequest): Promise<Snapshot> {
    return this.at(timeOf(request.clock));
  }

  close(): void {}
}

function timeOf(clock: Clock): { nowMs: number; monoMs: number } {
  return { nowMs: clock.now(), monoMs: clock.mono() };
}

/**
 * Where the facts read more about processes when the sample is not of a live /proc: a path that does not
 * exist (only root can create it under /), so every such read finds nothing.
 */
export const NOWHERE = { procfs: '/nonexistent/vigil-no-procfs', etc: '/nonexistent/vigil-no-etc' } as const;
