import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Advisor, adviceLines } from '../advisor/advisor.js';
import { loadOrCreateIdentity } from '../audit/identity.js';
import { COLLECTOR_NAMES, type SampleOptions } from '../collectors/index.js';
import { JournalFollower } from '../collectors/journal-follower.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import type { Mode } from '../config/schema.js';
import { ensurePrivateDir, writeFileAtomicPrivate } from '../host/private-files.js';
import { MetricsServer } from '../metrics/server.js';
import type { JournalEntry, Snapshot } from '../model/snapshot.js';
import { Notifier } from '../notify/notifier.js';
import { Watcher } from '../pipeline/watcher.js';
import { redact } from '../redact/redact.js';
import { type ActionLog, actionLogOf } from '../respond/log.js';
import { procfsRefusal } from '../respond/policy.js';
import { type ActionNote, Scheduler } from '../respond/scheduler.js';
import type { Evaluation } from '../rules/engine.js';
import { loadRulesRuntime, type RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import type { AuditKind, AuditLog } from '../store/audit-chain.js';
import { PidLock } from '../store/lock.js';
import { snapshotRecord } from '../store/records.js';
import { type OpenedStore, openStore } from '../store/store.js';
import type { Heartbeat, HistoryStore } from '../store/types.js';
import { Baselines } from '../understand/baseline.js';
import type { FactSet } from '../understand/facts-schema.js';
import { SdNotify } from './sdnotify.js';

export interface DaemonSettings {
  readonly runtime: RulesRuntime;
  readonly sampling: SampleOptions;
  /**
   * The mode given on the command line (`--mode`), which keeps winning over the config's general.mode
   * across reloads; null: general.mode decides, at start and on every SIGHUP.
   */
  readonly mode: Mode | null;
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
 * How long a full cycle waits for nvidia-smi and systemctl beyond the time it spends reading /proc (they
 * run meanwhile); one still running answers into a later cycle, and the fast path goes on meanwhile.
 */
const COMMAND_WAIT_MS = 100;

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
  private store: OpenedStore | null = null;
  /** The store's state as last judged (and said): why it is failing, or null while it works. */
  private storeError: string | null = null;
  /** The first store failure since the last judgement. */
  private storeFailure: string | null = null;
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
  private lastSnapshotStoredAt = 0;
  private lastPersistAt = 0;
  private cpuMark = { usage: process.cpuUsage(), at: performance.now() };
  private readonly runtimePath: string;
  /** systemd's READY/WATCHDOG/STOPPING messages (nothing unless NOTIFY_SOCKET is set). */
  private systemd: SdNotify | null = null;
  private configError: string | null = null;
  private actions: ActionLog | null = null;
  private auditLog: AuditLog | null = null;
  private notifier: Notifier | null = null;
  /** The AI advisor, made once `[ai] enabled` (at start or on SIGHUP); it calls from a short-lived child. */
  private advisor: Advisor | null = null;
  /** `/metrics` when `[metrics] listen` is set; loads nothing otherwise. */
  private readonly metrics = new MetricsServer({ log: (line) => this.log(line) });
  /** The action scheduler: proposals, the veto window, limits, escalation, and the mode in force. */
  private readonly scheduler: Scheduler;

  constructor(private readonly settings: DaemonSettings) {
    this.runtime = settings.runtime;
    this.scheduler = new Scheduler({
      askedMode: settings.mode,
      steering: { config: settings.runtime.config.config, refused: settings.runtime.refused },
      paths: settings.sampling.paths,
      actions: () => this.actions,
      firing: () => this.watcher.engine.currentFindings(),
      // A SIGHUP that arrived while an action waits out its grace period is applied before its SIGKILL.
      refresh: () => {
        if (this.reloadRequested) this.reload();
      },
      sink: {
        tell: (note) => this.tellAction(note),
        log: (line) => this.log(line),
        finished: (action, outcome) => this.metrics.countAction(action, outcome),
        storeFailed: (error) => {
          this.storeFailure ??= error.message;
        },
      },
    });
    this.runtimePath = runtimeDir(settings.env);
    this.lock = new PidLock(this.runtimePath);
    this.watcher = new Watcher(settings.runtime, settings.sampling, {
      trackLeaks: true,
      learnBaselines: true,
      baselineEveryMs: 60_000,
      collectors: COLLECTOR_NAMES.filter((name) => name !== 'journal'),
      periodsMs: { units: 60_000 },
      tcpStatesEveryMs: 30_000,
    });
  }

  private log(message: string): void {
    this.settings.log(`vigil: ${redact(message)}`);
  }

  /** Runs until stopped (signal, --exit-after, --once); resolves with the exit status. */
  async run(): Promise<number> {
    // First, so that no program vigil starts inherits NOTIFY_SOCKET.
    this.systemd = new SdNotify(this.settings.env, { log: (line) => this.log(line) });
    const runtimeNote = this.lock.acquire();
    if (runtimeNote) this.log(runtimeNote);
    try {
      this.openHistory();
      this.notifier = new Notifier({
        config: this.runtime.config.config,
        store: this.store,
        stateDir: stateDir(this.settings.env),
        log: (line) => this.log(line),
        write: this.settings.notify,
        env: this.settings.env,
      });
      await this.metrics.apply(this.runtime.config);
      this.applyAdvisor();
      this.startJournal();
      this.installSignals();
      if (this.settings.exitAfterMs !== null) {
        setTimeout(() => this.stop('--exit-after elapsed'), this.settings.exitAfterMs).unref();
      }
      this.log(
        `started (pid ${process.pid}, mode ${this.scheduler.mode}, every ${this.settings.intervalMs / 1000} s, ${this.runtime.rules.rules.length} rules, history ${this.store?.path ?? 'unavailable'})`,
      );
      const notLive = procfsRefusal(this.settings.sampling.paths.procfs);
      if (notLive !== null) this.log(notLive);
      this.systemd.ready(`watching, mode ${this.scheduler.mode}`);
      if (this.settings.once) {
        // CPU % and rates need a previous sample: prime them, then take the real cycle.
        await this.watcher.prime();
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
    this.scheduler.stop();
    void this.systemd?.stop();
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
    try {
      while (!this.stopping) {
        this.systemd?.alive();
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
    } finally {
      // A hung nvidia-smi still in flight is killed with its process group, not left behind.
      this.watcher.close();
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
      // Every reload says again which file it refused (at start, main.ts said it once).
      const runtime = loadRulesRuntime({
        configPath: this.settings.configPath,
        env: this.settings.env,
        warn: (line) => this.log(line),
      });
      this.runtime = runtime;
      this.watcher.reload(runtime);
      this.notifier?.reconfigure(runtime.config.config);
      this.applyAdvisor();
      void this.metrics.apply(runtime.config);
      this.configError = null;
      this.scheduler.reconfigure({ config: runtime.config.config, refused: runtime.refused });
      this.audit('config_reload', {
        ok: true,
        path: runtime.config.path,
        rules: runtime.rules.rules.length,
        mode: this.scheduler.mode,
      });
      const problems = runtime.problems.map(formatProblem);
      this.log(
        `reloaded config and ${runtime.rules.rules.length} rules${problems.length ? `; rule problems: ${problems.join('; ')}` : ''}`,
      );
    } catch (error) {
      const detail = error instanceof ProblemsError ? error.message : (error as Error).message;
      this.configError = detail;
      this.audit('config_reload', { ok: false, error: detail });
      this.log(`config reload refused, the previous configuration stays in force:\n${detail}`);
    }
  }

  /** Memory, swap, PSI and load only; judges the system-wide rules. Returns the next pause in ms. */
  private fastCycle(): number {
    // Before the first full cycle, or when the light files cannot be read (the full cycle says why).
    const fast = this.watcher.fastCycle();
    if (!fast) return FAST_MAX_MS;
    this.decide(fast.evaluation, fast.snapshot.takenAt, false);
    return fastPauseMs(fast.facts.sys, this.runtime.config.config.thresholds);
  }

  private async fullCycle(): Promise<void> {
    const journal = this.pendingJournal;
    this.pendingJournal = [];
    // A slow command collector answers into a later cycle: the watchdog never waits on a hung GPU.
    const { snapshot, facts, evaluation } = await this.watcher.cycle({
      ...(this.follower ? { journal } : {}),
      ...(this.settings.once ? {} : { commandWaitMs: COMMAND_WAIT_MS }),
    });
    const now = snapshot.takenAt;
    const alertIds = this.decide(evaluation, now, true, (store) =>
      this.cycleWrites(store, snapshot, facts, evaluation, now),
    );
    const acting = this.scheduler.cycle({ evaluation, snapshot, facts, alertIds, now });
    if (this.settings.once) await acting;
    const { raised, firing } = evaluation;
    this.advisor?.afterCycle({ snapshot, facts, raised, firing, alertIds });
    if (this.settings.once) await this.advisor?.idle();
    if (now - this.lastPersistAt >= PERSIST_EVERY_MS) this.persist(now);
    this.heartbeat(snapshot, evaluation);
    const { rules } = this.runtime.rules;
    this.metrics.update({ snapshot, firing: evaluation.firing, rules, mode: this.scheduler.mode });
    const delivery = this.notifier?.tick();
    if (this.settings.once) await delivery;
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
    alertIds: Map<string, number>,
  ): Map<string, Finding> {
    const restored = new Map<string, Finding>();
    for (const finding of evaluation.raised) {
      const alert = store.recordFiring(finding, now).alert;
      alertIds.set(finding.fingerprint, alert.id);
      this.auditLog?.append(
        'alert_raised',
        {
          alert: alert.id,
          rule: finding.rule,
          severity: finding.severity,
          subject: finding.subject,
          summary: finding.summary,
          pids: [...finding.pids],
        },
        now,
      );
    }
    if (touchFiring) {
      // The open alert takes the finding as it is now: summary, severity, members.
      for (const finding of evaluation.firing) {
        if (!evaluation.raised.includes(finding))
          alertIds.set(finding.fingerprint, store.recordFiring(finding, now).alert.id);
      }
    }
    for (const finding of evaluation.resolved) {
      const alert = store.resolveAlert(finding.fingerprint, now);
      if (alert)
        this.auditLog?.append(
          'alert_resolved',
          { alert: alert.id, rule: alert.rule, subject: alert.subject },
          now,
        );
      if (alert && !finding.summary)
        restored.set(finding.fingerprint, { ...finding, summary: alert.summary, severity: alert.severity });
    }
    return restored;
  }

  /** Tells what the rules decided — whether or not the store could record it. */
  private announce(evaluation: Evaluation, restored: ReadonlyMap<string, Finding>): void {
    for (const error of evaluation.errors)
      this.log(`rule ${error.rule} failed on ${error.subject}: ${error.message}`);
    const resolved = evaluation.resolved
      .map((finding) => restored.get(finding.fingerprint) ?? finding)
      .filter((finding) => finding.summary !== '');
    let snoozed = new Set<string>();
    const log = this.actions;
    // Only when something was raised: the fast path comes here every second.
    if (log && evaluation.raised.length > 0) this.withStore(() => (snoozed = log.snoozed(Date.now())));
    const raised = evaluation.raised.filter((f) => !snoozed.has(f.rule));
    // Hygiene (dedupe, re-notify, digests) and channels (terminal, desktop, log, webhook) are the
    // notifier's; the audit records what it decided to tell, reminders and escalations included.
    const told = this.notifier?.announce(raised, resolved, evaluation.firing);
    for (const { finding, reason } of told?.tell ?? []) {
      this.audit('notification', {
        what: reason,
        rule: finding.rule,
        subject: finding.subject,
        severity: finding.severity,
      });
    }
    for (const { finding } of told?.cleared ?? []) {
      this.audit('notification', { what: 'resolved', rule: finding.rule, subject: finding.subject });
    }
  }

  /** Records (when the store works) and announces one evaluation. */
  private decide(
    evaluation: Evaluation,
    now: number,
    touchFiring: boolean,
    extra?: (store: HistoryStore) => void,
  ): Map<string, number> {
    let restored = new Map<string, Finding>();
    const alertIds = new Map<string, number>();
    // The fast path comes here every second: no transaction unless there is something to write.
    const writes =
      touchFiring || extra !== undefined || evaluation.raised.length + evaluation.resolved.length > 0;
    if (writes) {
      this.withStore((store) =>
        store.batch(() => {
          restored = this.record(store, evaluation, now, touchFiring, alertIds);
          extra?.(store);
        }),
      );
    }
    this.announce(evaluation, restored);
    this.metrics.countRaised(evaluation.raised);
    return alertIds;
  }

  /**
   * Runs one store call; a failure is noted for the cycle, never thrown. Whether the store is failing is
   * judged once per full cycle ({@link judgeStore}), not per call: on a full disk reads succeed while
   * writes fail, and judging per call said "writable again" and "failing" every cycle.
   */
  private withStore(action: (store: HistoryStore) => void): void {
    if (!this.store) return;
    try {
      action(this.store);
    } catch (error) {
      this.storeFailure ??= (error as Error).message;
    }
  }

  /**
   * The store's state for the heartbeat, judged over the store calls since the last judgement (each full
   * cycle writes at least its heartbeat, so a cycle without a failure wrote): failing when any of them
   * failed, writable when none did. The log says it once per change of state.
   */
  private judgeStore(): Heartbeat['store'] {
    const path = this.store?.path ?? join(stateDir(this.settings.env), 'vigil.db');
    if (!this.store) return { ok: false, error: this.storeError ?? 'no history store', path };
    const failure = this.storeFailure;
    this.storeFailure = null;
    if (failure !== null && this.storeError === null)
      this.log(`history store failing (collection and rules go on): ${failure}`);
    else if (failure === null && this.storeError !== null) this.log('history store writable again');
    this.storeError = failure;
    return { ok: failure === null, error: failure, path };
  }

  private openHistory(): void {
    const dir = stateDir(this.settings.env);
    const path = join(dir, 'vigil.db');
    // The database, log and key live here: the user's own directory, 0700, or none at all.
    const checked = ensurePrivateDir(dir, { symlink: 'own' });
    if (!checked.ok) {
      this.storeError = checked.reason;
      this.log(`history unavailable, running without it: ${this.storeError}`);
      return;
    }
    if (checked.note) this.log(checked.note);
    try {
      this.store = openStore(path, { log: (message) => this.log(message) });
    } catch (error) {
      this.storeError = (error as Error).message;
      this.log(`history unavailable, running without it: ${this.storeError}`);
      return;
    }
    this.actions = actionLogOf(this.store);
    this.auditLog = this.store.audit;
    try {
      // The Ed25519 identity that signs reports, audit exports and support bundles.
      loadOrCreateIdentity(dir);
    } catch (error) {
      this.log(`no signing identity: ${(error as Error).message}`);
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

  /**
   * Creates the advisor the first time the config enables it (at start or on SIGHUP), and hands it each
   * new config after that (disabling it there drops what it was about to ask).
   */
  private applyAdvisor(): void {
    const config = this.runtime.config.config;
    if (this.advisor) {
      this.advisor.reconfigure(config);
      return;
    }
    if (!config.ai.enabled) return;
    const { env, sampling } = this.settings;
    this.advisor = new Advisor({
      config,
      env,
      store: this.store,
      paths: sampling.paths,
      log: (line) => this.log(line),
      onAdvice: (event) => {
        for (const line of adviceLines(event)) this.tell(line);
      },
    });
  }

  /** Appends to the tamper-evident audit chain (in the caller's transaction when there is one). */
  private audit(kind: AuditKind, data: Record<string, unknown>): void {
    const log = this.auditLog;
    if (log) this.withStore(() => log.append(kind, data));
  }

  /**
   * A step of an action: a line on the terminal (`SUGGEST  rule: text`) and a notice to the channels
   * that take action notices (desktop, log, webhooks), at the finding's severity.
   */
  private tellAction(note: ActionNote): void {
    this.tell(`${note.step.toUpperCase().padEnd(8)} ${note.rule}: ${note.text}`);
    this.notifier?.announceAction(note);
  }

  /** A line on the terminal channel, with the time. */
  private tell(line: string): void {
    const when = new Date().toISOString().replace('T', ' ').slice(0, 19);
    this.settings.notify(`${when} ${redact(line)}`);
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
      mode: this.scheduler.mode,
      collectors: snapshot.collectors,
      rssBytes: process.memoryUsage.rss(),
      cpuPercent: Math.round(cpuPercent * 100) / 100,
      cpuSeconds: (usage.user + usage.system) / 1e6,
      store: this.judgeStore(),
      journal: this.journalState,
      config: { ok: this.configError === null, path: this.runtime.config.path, error: this.configError },
      rules: { count: this.runtime.rules.rules.length, problems: this.runtime.problems.map(formatProblem) },
      firing: evaluation.firing.length,
      ...(this.notifier ? { notifications: this.notifier.status() } : {}),
    };
    this.withStore((store) => store.writeHeartbeat(heartbeat));
    // Also beside the pid file, so `vigil health` can tell a failing store from a dead daemon.
    try {
      const file = join(this.runtimePath, 'heartbeat.json');
      writeFileAtomicPrivate(file, JSON.stringify(heartbeat));
    } catch {
      // the runtime directory is gone: health will say the heartbeat is stale
    }
  }

  private async shutdown(): Promise<void> {
    // An action under way ends first (its grace period and SIGKILL, or a refusal): stopping in the middle
    // would leave processes SIGTERMed and the action unrecorded.
    await this.scheduler.idle();
    const deadline = setTimeout(() => {
      this.log('shutdown took longer than 2 s; exiting');
      process.exit(0);
    }, 1900);
    deadline.unref();
    try {
      await this.follower?.stop();
      await this.notifier?.close();
      this.advisor?.close();
      await this.metrics.close();
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
