import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLoadavg } from '../collectors/cpu.js';
import { COLLECTOR_NAMES, makeContext, type SampleOptions } from '../collectors/index.js';
import { createMemoryCollector } from '../collectors/memory.js';
import { readPressure } from '../collectors/pressure.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import type { Mode } from '../config/schema.js';
import { readText } from '../host/files.js';
import type { JournalEntry, Snapshot } from '../model/snapshot.js';
import { redact } from '../redact/redact.js';
import { Baselines, hourOf } from '../rules/baseline.js';
import type { Evaluation, FactSet } from '../rules/engine.js';
import { BASELINE_METRICS } from '../rules/facts.js';
import { loadRulesRuntime, type RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import { openStore } from '../store/store.js';
import type { Heartbeat, HistoryStore } from '../store/types.js';
import { Watcher } from './cycle.js';
import { JournalFollower } from './journal-follower.js';
import { PidLock } from './lock.js';
import { snapshotRecord } from './records.js';

export interface DaemonSettings {
  readonly runtime: RulesRuntime;
  readonly sampling: SampleOptions;
  readonly mode: Mode;
  readonly intervalMs: number;
  readonly once: boolean;
  readonly exitAfterMs: number | null;
  readonly configPath: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Log lines (stderr: the journal keeps them under systemd). */
  readonly log: (line: string) => void;
  /** Notification lines for the terminal channel (stdout). */
  readonly notify: (line: string) => void;
}

/** How often state that survives restarts (rule states, baselines) is written. */
const PERSIST_EVERY_MS = 60_000;
/** Rows deleted by retention per cycle: small steps, never a long stall. */
const PRUNE_STEP_ROWS = 200;
/** Fast path period bounds: 1 s when memory is comfortable, down to 100 ms under pressure (as earlyoom). */
const FAST_MAX_MS = 1000;
const FAST_MIN_MS = 100;

/**
 * How long the fast path waits before its next look, as earlyoom adapts its sleep: 1 s while used memory
 * is more than 10 points under the warning level, shrinking linearly to 100 ms at the critical level, and
 * 100 ms at once when tasks are stalled on memory (PSI full ≥ 5 % over 10 s).
 */
export function fastPauseMs(
  sys: { mem_used_percent: number; psi_mem_full_avg10: number },
  t: { ram_warn_percent: number; ram_critical_percent: number },
): number {
  if (sys.psi_mem_full_avg10 >= 5) return FAST_MIN_MS;
  const start = t.ram_warn_percent - 10;
  if (sys.mem_used_percent <= start) return FAST_MAX_MS;
  const share = Math.min(1, (sys.mem_used_percent - start) / Math.max(1, t.ram_critical_percent - start));
  return Math.round(FAST_MAX_MS - share * (FAST_MAX_MS - FAST_MIN_MS));
}

/**
 * The watchdog: a full cycle (processes, disks, network, GPU, units) every `interval`, a fast path in
 * between that reads only memory, swap, PSI and load and judges the system-wide rules, the journal
 * followed continuously, history in SQLite. It wires the rooms together and keeps going whatever one of
 * them does: a failing store, journal or collector is reported in the heartbeat, never fatal.
 */
export class Daemon {
  private readonly lock: PidLock;
  private store: HistoryStore | null = null;
  private storeError: string | null = null;
  private watcher: Watcher;
  private runtime: RulesRuntime;
  private follower: JournalFollower | null = null;
  private journalState: Heartbeat['journal'] = { state: 'off', detail: null };
  private pendingJournal: JournalEntry[] = [];
  private stopping = false;
  private reloadRequested = false;
  private wake: (() => void) | null = null;
  private runId = -1;
  private readonly startedAt = Date.now();
  private lastSnapshot: Snapshot | null = null;
  private lastSnapshotStoredAt = 0;
  private lastBaselineAt = 0;
  private lastPersistAt = 0;
  private cpuMark = { usage: process.cpuUsage(), at: performance.now() };
  private readonly fastMemory = createMemoryCollector();
  private readonly runtimePath: string;
  private configError: string | null = null;

  constructor(private readonly settings: DaemonSettings) {
    this.runtime = settings.runtime;
    this.runtimePath = runtimeDir(settings.env);
    this.lock = new PidLock(this.runtimePath);
    this.watcher = new Watcher(settings.runtime, settings.sampling, {
      trackLeaks: true,
      learnBaselines: false,
      collectors: COLLECTOR_NAMES.filter((name) => name !== 'journal'),
      periodsMs: { units: 60_000 },
    });
  }

  private log(message: string): void {
    this.settings.log(`vigil: ${redact(message)}`);
  }

  /** Runs until stopped (signal, --exit-after, --once); resolves with the exit status. */
  async run(): Promise<number> {
    this.lock.acquire();
    try {
      this.openHistory();
      this.startJournal();
      this.installSignals();
      if (this.settings.exitAfterMs !== null) {
        setTimeout(() => this.stop('--exit-after elapsed'), this.settings.exitAfterMs).unref();
      }
      this.log(
        `started (pid ${process.pid}, mode ${this.settings.mode}, every ${this.settings.intervalMs / 1000} s, ${this.runtime.rules.rules.length} rules, history ${this.store?.path ?? 'unavailable'})`,
      );
      if (this.settings.once) {
        // CPU % and rates need a previous sample: prime them, then take the real cycle.
        await this.watcher.collectors.run(
          ['processes', 'cpu', 'disks', 'network'],
          makeContext(this.settings.sampling),
        );
        await sleep(500);
        await this.fullCycle();
      } else {
        await this.loop();
      }
      return 0;
    } finally {
      await this.shutdown();
    }
  }

  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log(`stopping: ${reason}`);
    this.wake?.();
  }

  private installSignals(): void {
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
    process.on('SIGHUP', () => {
      this.reloadRequested = true;
      this.wake?.();
    });
  }

  private async loop(): Promise<void> {
    let nextFull = 0;
    while (!this.stopping) {
      if (this.reloadRequested) this.reload();
      const now = performance.now();
      let pauseMs: number;
      if (now >= nextFull) {
        nextFull = now + this.settings.intervalMs;
        await this.fullCycle();
        pauseMs = FAST_MAX_MS;
      } else {
        pauseMs = this.fastCycle();
      }
      if (this.stopping) break;
      await this.pause(Math.min(pauseMs, Math.max(0, nextFull - performance.now())));
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** Re-reads config and rules (SIGHUP). An invalid new config is refused and the old one stays. */
  private reload(): void {
    this.reloadRequested = false;
    try {
      const runtime = loadRulesRuntime({ configPath: this.settings.configPath, env: this.settings.env });
      this.runtime = runtime;
      this.watcher.reload(runtime);
      this.configError = null;
      const problems = runtime.problems.map(formatProblem);
      this.log(
        `reloaded config and ${runtime.rules.rules.length} rules${problems.length ? `; rule problems: ${problems.join('; ')}` : ''}`,
      );
    } catch (error) {
      const detail = error instanceof ProblemsError ? error.message : (error as Error).message;
      this.configError = detail;
      this.log(`config reload refused, the previous configuration stays in force:\n${detail}`);
    }
  }

  /** Memory, swap, PSI and load only; judges the system-wide rules. Returns the next pause in ms. */
  private fastCycle(): number {
    const base = this.lastSnapshot;
    if (!base) return FAST_MAX_MS;
    const { paths } = this.settings.sampling;
    const ctx = { ...this.settings.sampling, nowMs: Date.now(), monoMs: performance.now() };
    let snapshot: Snapshot = base;
    try {
      const memory = this.fastMemory.collect(ctx, { skip: () => {} });
      const { load } = parseLoadavg(readText(join(paths.procfs, 'loadavg')));
      snapshot = {
        ...base,
        takenAt: ctx.nowMs,
        memory,
        ...(base.cpu ? { cpu: { ...base.cpu, load, pressure: readPressure(paths, 'cpu') } } : {}),
        ioPressure: readPressure(paths, 'io'),
      };
    } catch {
      return FAST_MAX_MS; // the full cycle reports collector failures
    }
    const facts = this.watcher.facts.systemOnly(snapshot, this.runtime.config.config);
    this.decide(this.watcher.engine.evaluate(facts, { scopes: ['system'] }), snapshot.takenAt, false);
    return fastPauseMs(facts.sys, this.runtime.config.config.thresholds);
  }

  private async fullCycle(): Promise<void> {
    const journal = this.pendingJournal;
    this.pendingJournal = [];
    const { snapshot, facts, evaluation } = await this.watcher.cycle(this.follower ? { journal } : {});
    this.lastSnapshot = snapshot;
    const now = snapshot.takenAt;
    this.decide(evaluation, now, true, (store) => this.cycleWrites(store, snapshot, facts, evaluation, now));
    if (now - this.lastBaselineAt >= 60_000) {
      this.lastBaselineAt = now;
      const hour = hourOf(now);
      for (const metric of BASELINE_METRICS)
        this.watcher.facts.baselines.observe(metric, hour, facts.sys[metric]);
    }
    if (now - this.lastPersistAt >= PERSIST_EVERY_MS) this.persist(now);
    this.heartbeat(snapshot, evaluation);
  }

  /** What a full cycle writes besides the alerts: history, retention, the run's last sign of life. */
  private cycleWrites(
    store: HistoryStore,
    snapshot: Snapshot,
    facts: FactSet,
    evaluation: Evaluation,
    now: number,
  ): void {
    const config = this.runtime.config.config;
    if (
      now - this.lastSnapshotStoredAt >= config.history.snapshot_interval_secs * 1000 ||
      this.settings.once
    ) {
      store.insertSnapshot(
        snapshotRecord(snapshot, facts, evaluation.firing, (p) => this.watcher.facts.metaOf(p).groupKey),
      );
      this.lastSnapshotStoredAt = now;
    }
    store.prune(now - config.history.retention_hours * 3_600_000, PRUNE_STEP_ROWS);
    store.touchRun(this.runId, now);
  }

  /**
   * Records what the rules decided in the store. `touchFiring` also refreshes the open alerts (last seen,
   * count): on full cycles only, so the one-second fast path writes nothing unless something changed.
   * Returns the stored summaries of findings that resolved without one (restored after a restart).
   */
  private record(
    store: HistoryStore,
    evaluation: Evaluation,
    now: number,
    touchFiring: boolean,
  ): Map<string, Finding> {
    const restored = new Map<string, Finding>();
    for (const finding of evaluation.raised) store.recordFiring(finding, now);
    if (touchFiring) {
      for (const finding of evaluation.firing) {
        if (!evaluation.raised.includes(finding)) store.recordFiring(finding, now);
      }
    }
    for (const finding of evaluation.resolved) {
      const alert = store.resolveAlert(finding.fingerprint, now);
      if (alert && !finding.summary)
        restored.set(finding.fingerprint, { ...finding, summary: alert.summary, severity: alert.severity });
    }
    return restored;
  }

  /** Tells what the rules decided — whether or not the store could record it. */
  private announce(evaluation: Evaluation, restored: ReadonlyMap<string, Finding>): void {
    for (const error of evaluation.errors)
      this.log(`rule ${error.rule} failed on ${error.subject}: ${error.message}`);
    for (const finding of evaluation.raised) this.notify('raised', finding);
    for (const finding of evaluation.resolved) {
      const known = restored.get(finding.fingerprint) ?? finding;
      if (known.summary) this.notify('resolved', known);
    }
  }

  /** Records (when the store works) and announces one evaluation. */
  private decide(
    evaluation: Evaluation,
    now: number,
    touchFiring: boolean,
    extra?: (store: HistoryStore) => void,
  ): void {
    let restored = new Map<string, Finding>();
    this.withStore((store) =>
      store.batch(() => {
        restored = this.record(store, evaluation, now, touchFiring);
        extra?.(store);
      }),
    );
    this.announce(evaluation, restored);
  }

  private notify(what: 'raised' | 'resolved', finding: Finding): void {
    const when = new Date().toISOString().replace('T', ' ').slice(0, 19);
    const tag = what === 'raised' ? finding.severity.toUpperCase() : 'RESOLVED';
    this.settings.notify(`${when} ${tag.padEnd(8)} ${finding.rule}: ${redact(finding.summary)}`);
  }

  private withStore(action: (store: HistoryStore) => void): void {
    if (!this.store) return;
    try {
      action(this.store);
      if (this.storeError) this.log('history store writable again');
      this.storeError = null;
    } catch (error) {
      const message = (error as Error).message;
      if (this.storeError !== message)
        this.log(`history store failing (collection and rules go on): ${message}`);
      this.storeError = message;
    }
  }

  private openHistory(): void {
    const dir = stateDir(this.settings.env);
    const path = join(dir, 'vigil.db');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      this.storeError = `cannot create ${dir}: ${(error as Error).message}`;
    }
    try {
      this.store = openStore(path, { log: (message) => this.log(message) });
    } catch (error) {
      this.storeError = (error as Error).message;
      this.log(`history unavailable, running without it: ${this.storeError}`);
      return;
    }
    this.withStore((store) => {
      this.runId = store.beginRun(process.pid, this.startedAt);
      // Warm start: a restart resets neither a 5-minute condition nor what was learnt.
      this.watcher.facts.baselines = Baselines.fromRows(store.loadBaselines());
      const states = store.loadRuleStates();
      const known = new Set(states.map((s) => s.fingerprint));
      const open = store
        .openAlerts()
        .filter((a) => !a.event && !known.has(a.fingerprint))
        .map((a) => ({
          fingerprint: a.fingerprint,
          pendingSince: a.firstSeen,
          firing: true,
          clearingSince: null,
        }));
      this.watcher.engine.importStates([...states, ...open]);
    });
  }

  private startJournal(): void {
    const source = this.settings.sampling.journal;
    let cursor: string | null = null;
    this.withStore((store) => {
      cursor = store.getJournalCursor();
    });
    this.follower = new JournalFollower({
      source,
      cursor,
      onEntries: (entries) => {
        this.pendingJournal.push(...entries);
        if (this.pendingJournal.length > 5000)
          this.pendingJournal.splice(0, this.pendingJournal.length - 5000);
      },
      onCursor: (c) => this.withStore((store) => store.setJournalCursor(c)),
      onState: (state, detail) => {
        if (state !== this.journalState.state) this.log(`journal: ${state}${detail ? ` (${detail})` : ''}`);
        this.journalState = { state, detail };
      },
    });
    this.follower.start();
  }

  private persist(now: number): void {
    this.lastPersistAt = now;
    this.withStore((store) => {
      store.saveRuleStates(this.watcher.engine.exportStates());
      store.saveBaselines(this.watcher.facts.baselines.toRows());
    });
  }

  private heartbeat(snapshot: Snapshot, evaluation: Evaluation): void {
    const nowMono = performance.now();
    const usage = process.cpuUsage();
    const cpuMicros = usage.user + usage.system - (this.cpuMark.usage.user + this.cpuMark.usage.system);
    const cpuPercent = (cpuMicros / 1000 / Math.max(1, nowMono - this.cpuMark.at)) * 100;
    this.cpuMark = { usage, at: nowMono };
    const heartbeat: Heartbeat = {
      pid: process.pid,
      startedAt: this.startedAt,
      lastCycleAt: snapshot.takenAt,
      intervalMs: this.settings.intervalMs,
      mode: this.settings.mode,
      collectors: snapshot.collectors,
      rssBytes: process.memoryUsage.rss(),
      cpuPercent: Math.round(cpuPercent * 100) / 100,
      cpuSeconds: (usage.user + usage.system) / 1e6,
      store: {
        ok: this.store !== null && this.storeError === null,
        error: this.storeError,
        path: this.store?.path ?? join(stateDir(this.settings.env), 'vigil.db'),
      },
      journal: this.journalState,
      config: { ok: this.configError === null, path: this.runtime.config.path, error: this.configError },
      rules: { count: this.runtime.rules.rules.length, problems: this.runtime.problems.map(formatProblem) },
      firing: evaluation.firing.length,
    };
    this.withStore((store) => store.writeHeartbeat(heartbeat));
    // Also beside the pid file, so `vigil health` can tell a failing store from a dead daemon.
    try {
      const file = join(this.runtimePath, 'heartbeat.json');
      writeFileSync(`${file}.tmp`, JSON.stringify(heartbeat), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch {
      // the runtime directory is gone: health will say the heartbeat is stale
    }
  }

  private async shutdown(): Promise<void> {
    const deadline = setTimeout(() => {
      this.log('shutdown took longer than 2 s; exiting');
      process.exit(0);
    }, 1900);
    deadline.unref();
    try {
      await this.follower?.stop();
      const now = Date.now();
      this.persist(now);
      this.withStore((store) => store.endRun(this.runId, now));
      this.store?.close();
    } catch (error) {
      this.log(`while stopping: ${(error as Error).message}`);
    } finally {
      this.lock.release();
      clearTimeout(deadline);
    }
  }
}
