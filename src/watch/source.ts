/**
 * Where the dashboard's frames come from: the daemon's own Watcher cycle (the same collectors, facts and
 * rule engine), plus what the running daemon knows — its heartbeat, its open alerts and the advisor's
 * stored answers, read from its database without writing to it. Without a daemon the rules are evaluated
 * here. Nothing here throws out of a cycle: a failing part becomes a note on the screen.
 */
import { join } from 'node:path';
import { COLLECTOR_NAMES, type SampleOptions } from '../collectors/index.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import { bySeverityThenSince } from '../model/severity.js';
import { Watcher } from '../pipeline/watcher.js';
import type { RulesRuntime } from '../rules/runtime.js';
import { sightDaemon } from '../store/lock.js';
import { OpenAlertsReader } from '../store/open-alerts.js';
import { adviceText } from './explain.js';
import { type AlertView, alertView, type DaemonState, type TravelStep, type WatchFrame } from './model.js';

/** What the dashboard needs of a source of frames (a live machine, or a test's fixed frames). */
export interface FrameSource {
  /** Starts producing frames; `listener` gets each one. */
  start(listener: (frame: WatchFrame) => void): void;
  /** While paused no sample is taken (the screen keeps the last frame). */
  setPaused(paused: boolean): void;
  stop(): void;
  /**
   * Moves through the history (a source that has one, see replay.ts): shows the frame of the moment
   * reached and resolves with a line to say (why it did not move, where it stopped), or null.
   */
  travel?(step: TravelStep): Promise<string | null>;
}

/** A source that hands out frames it was given (tests; the history's frames come from replay.ts). */
export class StaticSource implements FrameSource {
  private listener: ((frame: WatchFrame) => void) | null = null;
  paused = false;
  constructor(private frame: WatchFrame | null) {}
  start(listener: (frame: WatchFrame) => void): void {
    this.listener = listener;
    if (this.frame) listener(this.frame);
  }
  push(frame: WatchFrame): void {
    this.frame = frame;
    if (!this.paused) this.listener?.(frame);
  }
  /** Resumed, it hands out its latest frame at once, as a live source takes a sample when resumed. */
  setPaused(paused: boolean): void {
    const resumed = this.paused && !paused;
    this.paused = paused;
    if (resumed && this.frame) this.listener?.(this.frame);
  }
  stop(): void {
    this.listener = null;
  }
}

/** How long a frame after the first waits for a command collector started with it (as the daemon). */
const FRAME_COMMAND_WAIT_MS = 100;

export interface LiveSourceOptions {
  readonly runtime: RulesRuntime;
  readonly sampling: SampleOptions;
  readonly intervalMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** The running daemon, as its pid file and heartbeat (both in the runtime directory) tell. */
export function readDaemonState(
  env: NodeJS.ProcessEnv = process.env,
): DaemonState & { dbPath: string | null } {
  const { pid, running, heartbeat, fresh } = sightDaemon(runtimeDir(env));
  const own = running ? heartbeat : null;
  return {
    running,
    pid: running ? pid : null,
    mode: own?.mode ?? null,
    fresh,
    dbPath: own?.store?.path ?? null,
  };
}

/**
 * Samples the live machine every `intervalMs` with a Watcher of its own (CPU % and rates need two
 * samples, so the second comes half a second after the first). The journal is left out — the daemon
 * follows it, and running journalctl every second would cost more than the rest together — and failed
 * user units are looked at once a minute, as the daemon does.
 */
export class LiveSource implements FrameSource {
  private readonly watcher: Watcher;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private paused = false;
  private running = false;
  private listener: ((frame: WatchFrame) => void) | null = null;
  private reader: OpenAlertsReader | null = null;
  private cycles = 0;
  private last: WatchFrame | null = null;

  constructor(private readonly options: LiveSourceOptions) {
    this.watcher = new Watcher(options.runtime, options.sampling, {
      trackLeaks: false,
      learnBaselines: false,
      collectors: COLLECTOR_NAMES.filter((name) => name !== 'journal'),
      periodsMs: { units: 60_000, gpu: Math.max(2000, options.intervalMs) },
      // The TCP line is context; /proc/net/tcp is the costliest read of a cycle (see the network collector).
      tcpStatesEveryMs: Math.max(5000, options.intervalMs),
    });
  }

  start(listener: (frame: WatchFrame) => void): void {
    this.listener = listener;
    void this.tick();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused && !this.running && this.timer === null && !this.stopped) void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.reader?.close();
    this.listener = null;
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (this.stopped || this.paused || this.running) return;
    this.running = true;
    try {
      const frame = await this.frame();
      this.last = frame;
      if (!this.stopped && !this.paused) this.listener?.(frame);
    } catch (error) {
      // Never expected (collectors do not throw): the last frame stays, saying why it is not renewed.
      const why = `sampling failed: ${error instanceof Error ? error.message : String(error)}`;
      if (this.last && !this.stopped) this.listener?.({ ...this.last, notes: [why, ...this.last.notes] });
    } finally {
      this.running = false;
    }
    if (this.stopped || this.paused) return;
    this.cycles++;
    this.timer = setTimeout(
      () => void this.tick(),
      this.cycles === 1 ? Math.min(500, this.options.intervalMs) : this.options.intervalMs,
    );
  }

  /** One frame: a Watcher cycle, what the rules know of each process, and the alerts. */
  async frame(): Promise<WatchFrame> {
    // The first frame waits for nvidia-smi and systemctl (within their deadline); later ones never wait
    // on them for more than a moment: a hung GPU answers into a later frame, as in the daemon.
    const { snapshot, facts, evaluation } = await this.watcher.cycle(
      this.cycles === 0 ? {} : { commandWaitMs: FRAME_COMMAND_WAIT_MS },
    );
    const info = this.watcher.facts.processInfo(snapshot, facts);
    const env = this.options.env ?? process.env;
    const daemon = readDaemonState(env);
    const dbPath = daemon.dbPath ?? join(stateDir(env), 'vigil.db');
    if (this.reader === null || this.reader.path !== dbPath) {
      this.reader?.close();
      this.reader = new OpenAlertsReader(dbPath);
    }
    const notes: string[] = this.options.runtime.problems.map(formatProblem);
    let alerts: AlertView[] | null = null;
    const reader = this.reader;
    const advice = async (fingerprint: string) => {
      const raw = await reader.advice(fingerprint);
      return raw === null ? null : adviceText(raw);
    };
    if (daemon.running) {
      const open = await reader.openAlerts();
      if (open === null && reader.problem) notes.push(reader.problem);
      if (open !== null)
        alerts = await Promise.all(open.map(async (a) => alertView(a, await advice(a.fingerprint))));
    }
    const alertsFrom = alerts === null ? 'local' : 'daemon';
    if (alerts === null) {
      const local = [...evaluation.firing, ...evaluation.raised.filter((f) => f.event)];
      alerts = await Promise.all(local.map(async (f) => alertView(f, await advice(f.fingerprint))));
    }
    alerts.sort(bySeverityThenSince);
    for (const e of evaluation.errors.slice(0, 2)) notes.push(`rule ${e.rule}: ${e.message}`);
    return {
      snapshot,
      info,
      alerts,
      alertsFrom,
      daemon,
      // As the daemon would run: observe while a steering file is refused (see RulesRuntime.refused).
      mode:
        daemon.mode ??
        (this.options.runtime.refused.length > 0
          ? 'observe'
          : this.options.runtime.config.config.general.mode),
      notes,
    };
  }
}
