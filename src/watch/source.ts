/**
 * Where the dashboard's frames come from: the daemon's own Watcher cycle (the same collectors, facts and
 * rule engine), plus what the running daemon knows — its heartbeat, its open alerts and the advisor's
 * stored answers, read from its database without writing to it. Without a daemon the rules are evaluated
 * here. Nothing here throws out of a cycle: a failing part becomes a note on the screen.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { COLLECTOR_NAMES, type SampleOptions } from '../collectors/index.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import type { Severity } from '../config/schema.js';
import { Watcher } from '../daemon/cycle.js';
import { sightDaemon } from '../daemon/lock.js';
import type { RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import { adviceText } from './explain.js';
import type { AlertView, DaemonState, WatchFrame } from './model.js';

/** What the dashboard needs of a source of frames (a live machine, or a test's fixed frames). */
export interface FrameSource {
  /** Starts producing frames; `listener` gets each one. */
  start(listener: (frame: WatchFrame) => void): void;
  /** While paused no sample is taken (the screen keeps the last frame). */
  setPaused(paused: boolean): void;
  stop(): void;
}

/** A source that hands out frames it was given: for tests and for replaying a snapshot. */
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
  setPaused(paused: boolean): void {
    this.paused = paused;
  }
  stop(): void {
    this.listener = null;
  }
}

/** How long a frame after the first waits for a command collector started with it (as the daemon). */
const FRAME_COMMAND_WAIT_MS = 100;

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function bySeverity(a: AlertView, b: AlertView): number {
  return RANK[b.severity] - RANK[a.severity] || a.since - b.since;
}

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

interface AlertRow {
  id: number;
  fingerprint: string;
  rule: string;
  severity: Severity;
  summary: string;
  pids: string;
  first_seen: number;
}

/** The daemon's database, opened read-only: open alerts and the advisor's answers. */
class HistoryReader {
  private db: Database | null = null;
  private adviceQuery: Database.Statement<[string], { advice: string }> | null = null;
  problem: string | null = null;

  constructor(readonly path: string) {}

  private async open(): Promise<Database | null> {
    if (this.db) return this.db;
    if (!existsSync(this.path)) return null;
    try {
      const { default: Sqlite } = await import('better-sqlite3');
      this.db = new Sqlite(this.path, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 1000');
      try {
        this.adviceQuery = this.db.prepare(
          'SELECT advice FROM advice WHERE fingerprint = ? AND advice IS NOT NULL ORDER BY at DESC LIMIT 1',
        );
      } catch {
        this.adviceQuery = null; // a database from before the advisor (schema < 4)
      }
      this.problem = null;
      return this.db;
    } catch (error) {
      this.problem = `cannot read ${this.path}: ${(error as Error).message}`;
      this.close();
      return null;
    }
  }

  async openAlerts(): Promise<AlertView[] | null> {
    const db = await this.open();
    if (!db) return null;
    try {
      const rows = db
        .prepare(
          'SELECT id, fingerprint, rule, severity, summary, pids, first_seen FROM alerts WHERE resolved_at IS NULL AND event = 0',
        )
        .all() as AlertRow[];
      return rows.map((r) => ({
        id: r.id,
        fingerprint: r.fingerprint,
        rule: r.rule,
        severity: r.severity,
        summary: r.summary,
        pids: parsePids(r.pids),
        since: r.first_seen,
        advice: this.advice(r.fingerprint),
      }));
    } catch (error) {
      this.problem = `cannot read the daemon's alerts: ${(error as Error).message}`;
      this.close();
      return null;
    }
  }

  advice(fingerprint: string): string | null {
    if (!this.adviceQuery) return null;
    try {
      const row = this.adviceQuery.get(fingerprint);
      return row ? adviceText(row.advice) : null;
    } catch {
      return null;
    }
  }

  close(): void {
    try {
      this.db?.close();
    } catch {
      // already closed
    }
    this.db = null;
    this.adviceQuery = null;
  }
}

function parsePids(text: string): number[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((n): n is number => typeof n === 'number') : [];
  } catch {
    return [];
  }
}

function toAlertView(f: Finding, advice: string | null): AlertView {
  return {
    id: null,
    fingerprint: f.fingerprint,
    rule: f.rule,
    severity: f.severity,
    summary: f.summary,
    pids: f.pids,
    since: f.since,
    advice,
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
  private reader: HistoryReader | null = null;
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
      this.reader = new HistoryReader(dbPath);
    }
    const notes: string[] = this.options.runtime.problems.map(formatProblem);
    let alerts: AlertView[] | null = null;
    if (daemon.running) {
      alerts = await this.reader.openAlerts();
      if (alerts === null && this.reader.problem) notes.push(this.reader.problem);
    }
    const alertsFrom = alerts === null ? 'local' : 'daemon';
    if (alerts === null) {
      const reader = existsSync(dbPath) ? this.reader : null;
      if (reader) await reader.openAlerts(); // opens it, for the advice
      alerts = [...evaluation.firing, ...evaluation.raised.filter((f) => f.event)].map((f) =>
        toAlertView(f, reader ? reader.advice(f.fingerprint) : null),
      );
    }
    alerts.sort(bySeverity);
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
