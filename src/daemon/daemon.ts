import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Advisor, adviceLines } from '../advisor/advisor.js';
import { loadOrCreateIdentity } from '../audit/identity.js';
import { parseLoadavg } from '../collectors/cpu.js';
import { COLLECTOR_NAMES, makeContext, type SampleOptions } from '../collectors/index.js';
import { JournalFollower } from '../collectors/journal-follower.js';
import { createMemoryCollector } from '../collectors/memory.js';
import { readPressure } from '../collectors/pressure.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import type { Mode, Severity } from '../config/schema.js';
import { readText } from '../host/files.js';
import { ensurePrivateDir, writeFileAtomicPrivate } from '../host/private-files.js';
import { showPath } from '../host/trusted-file.js';
import { MetricsServer } from '../metrics/server.js';
import type { JournalEntry, Snapshot } from '../model/snapshot.js';
import type { ActionStep } from '../notify/channel.js';
import { Notifier } from '../notify/notifier.js';
import { Watcher } from '../pipeline/watcher.js';
import { redact } from '../redact/redact.js';
import { CATALOG, runsAutomatically } from '../respond/catalog.js';
import { executePlan } from '../respond/execute.js';
import type { ProcessIdentity } from '../respond/identity.js';
import { readExe } from '../respond/identity.js';
import { ActionLog, type ActionRecord } from '../respond/log.js';
import {
  type ActionPlan,
  describePlan,
  liveOwnerIn,
  newTargets,
  type ProcessKnowledge,
  planFor,
  planSignature,
} from '../respond/plan.js';
import { type PolicyContext, policyContext, procfsRefusal, protectedIn } from '../respond/policy.js';
import type { Evaluation } from '../rules/engine.js';
import { loadRulesRuntime, type RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import { type AuditKind, AuditLog } from '../store/audit-chain.js';
import { PidLock } from '../store/lock.js';
import { snapshotRecord } from '../store/records.js';
import { type OpenedStore, openStore } from '../store/store.js';
import type { Heartbeat, HistoryStore } from '../store/types.js';
import { Baselines, hourOf } from '../understand/baseline.js';
import { BASELINE_METRICS } from '../understand/facts.js';
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
 * A firing finding's plan is stored again when its group gains targets (an owner died, new orphans), at
 * most this often once it has one: a storm that keeps growing is not a new row and a new line every cycle.
 */
const REPLAN_EVERY_MS = 30_000;

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
  private lastSnapshot: Snapshot | null = null;
  private lastSnapshotStoredAt = 0;
  private lastBaselineAt = 0;
  private lastPersistAt = 0;
  private cpuMark = { usage: process.cpuUsage(), at: performance.now() };
  private readonly fastMemory = createMemoryCollector();
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
  /** Actions just taken, waiting for the next full cycle to say whether their finding cleared. */
  private verifying = new Map<
    number,
    {
      fingerprint: string;
      rule: string;
      alertId: number | null;
      severity: Severity;
      doneAt: number;
      targets: readonly ProcessIdentity[];
    }
  >();
  /**
   * The due actions being carried out, or null. Stopping a storm waits out grace periods (seconds), so it
   * runs beside the loop rather than in it: the fast path, the heartbeat and the next cycles go on
   * meanwhile. One batch at a time; what falls due meanwhile waits for the next cycle.
   */
  private acting: Promise<void> | null = null;
  /** The mode in force: the one asked for, or observe while a steering file is refused. */
  private mode: Mode;

  constructor(private readonly settings: DaemonSettings) {
    this.runtime = settings.runtime;
    this.mode = this.effectiveMode();
    this.runtimePath = runtimeDir(settings.env);
    this.lock = new PidLock(this.runtimePath);
    this.watcher = new Watcher(settings.runtime, settings.sampling, {
      trackLeaks: true,
      learnBaselines: false,
      collectors: COLLECTOR_NAMES.filter((name) => name !== 'journal'),
      periodsMs: { units: 60_000 },
      tcpStatesEveryMs: 30_000,
    });
  }

  private log(message: string): void {
    this.settings.log(`vigil: ${redact(message)}`);
  }

  /** Fail closed: any refused steering file (config, rules, kinds) keeps vigil in observe mode. */
  private effectiveMode(): Mode {
    const asked = this.requestedMode();
    const { refused } = this.runtime;
    if (asked !== 'observe' && refused.length > 0) {
      const files = refused.map((r) => showPath(r.file)).join(', ');
      this.log(`running in observe mode instead of ${asked}: vigil refused ${files} (said above)`);
      return 'observe';
    }
    return asked;
  }

  /**
   * After a reload: the mode in force becomes what the new config (and trust in it) says, at once — a
   * scheduled action that is due later runs only if it is still auto then (runDue), and a signal in
   * flight is checked against it (policyNow).
   */
  private applyMode(): void {
    const before = this.mode;
    this.mode = this.effectiveMode();
    const configured = this.runtime.config.config.general.mode;
    if (this.settings.mode !== null && configured !== this.settings.mode)
      this.log(
        `general.mode is ${configured} in the config; --mode ${this.settings.mode} given on the command line stays in force`,
      );
    if (this.mode !== before) this.log(`mode ${before} -> ${this.mode}`);
  }

  /** The mode asked for: `--mode` when given (it wins over the config across reloads), else general.mode. */
  private requestedMode(): Mode {
    return this.settings.mode ?? this.runtime.config.config.general.mode;
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
        `started (pid ${process.pid}, mode ${this.mode}, every ${this.settings.intervalMs / 1000} s, ${this.runtime.rules.rules.length} rules, history ${this.store?.path ?? 'unavailable'})`,
      );
      const notLive = procfsRefusal(this.settings.sampling.paths.procfs);
      if (notLive !== null) this.log(notLive);
      this.systemd.ready(`watching, mode ${this.mode}`);
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
      this.applyMode();
      this.audit('config_reload', {
        ok: true,
        path: runtime.config.path,
        rules: runtime.rules.rules.length,
        mode: this.mode,
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
    // A slow command collector answers into a later cycle: the watchdog never waits on a hung GPU.
    const { snapshot, facts, evaluation } = await this.watcher.cycle({
      ...(this.follower ? { journal } : {}),
      ...(this.settings.once ? {} : { commandWaitMs: COMMAND_WAIT_MS }),
    });
    this.lastSnapshot = snapshot;
    const now = snapshot.takenAt;
    const alertIds = this.decide(evaluation, now, true, (store) =>
      this.cycleWrites(store, snapshot, facts, evaluation, now),
    );
    this.verify(evaluation, snapshot, now);
    await this.act(evaluation, snapshot, facts, alertIds, now);
    const { raised, firing } = evaluation;
    this.advisor?.afterCycle({ snapshot, facts, raised, firing, alertIds });
    if (this.settings.once) await this.advisor?.idle();
    if (now - this.lastBaselineAt >= 60_000) {
      this.lastBaselineAt = now;
      const hour = hourOf(now);
      for (const metric of BASELINE_METRICS)
        this.watcher.facts.baselines.observe(metric, hour, facts.sys[metric]);
    }
    if (now - this.lastPersistAt >= PERSIST_EVERY_MS) this.persist(now);
    this.heartbeat(snapshot, evaluation);
    const { rules } = this.runtime.rules;
    this.metrics.update({ snapshot, firing: evaluation.firing, rules, mode: this.mode });
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
    const raw = this.store.raw();
    if (raw) {
      this.actions = new ActionLog(raw);
      this.auditLog = new AuditLog(raw);
    }
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
   * Every mode records a proposal (`vigil fix <alert-id>` runs it); suggest shows the exact command. auto: a
   * safe action needing no confirmation is scheduled — announced first with a veto window when its
   * consent is `notice` — and run when due, after the policy is checked again; anything else is only
   * proposed. Nothing runs without a store to record it in (fail closed), past the hourly limit, for a
   * snoozed rule, or for a finding two earlier actions failed to clear (then it only notifies).
   *
   * The plan follows the finding: a firing finding is planned again each full cycle, and stored (and
   * told, and in auto mode scheduled) again when its group gained targets — a storm raised while its
   * agent lived gets its kill once the agent died. A plan whose members all still have a live owner is
   * stored without a target and told nothing: `vigil fix` judges it again when run.
   */
  private async act(
    evaluation: Evaluation,
    snapshot: Snapshot,
    facts: FactSet,
    alertIds: ReadonlyMap<string, number>,
    now: number,
  ): Promise<void> {
    const log = this.actions;
    if (!log) return;
    const processes = snapshot.processes ?? [];
    const config = this.runtime.config.config;
    const { paths } = this.settings.sampling;
    const raisedNow = new Set(evaluation.raised.map((f) => f.fingerprint));
    const acts = (f: Finding) => f.suggest.some((id) => id !== 'notify_only');
    const replanned = evaluation.firing.filter((f) => !raisedNow.has(f.fingerprint) && acts(f));
    let knowledge: ProcessKnowledge | null = null;
    // Made once a cycle, and only when a finding is planned.
    const base = (): ProcessKnowledge => {
      knowledge ??= {
        liveOwner: liveOwnerIn(processes, facts),
        // What a group's kill adds (wrappers, children, process groups) never includes these.
        isProtected: protectedIn(policyContext(paths, config)),
      };
      return knowledge;
    };
    // Judged on a /proc that is not the live one of vigil's pid namespace: recorded as refused, bound to
    // no executable, so neither this daemon nor `vigil fix` ever acts on what that tree says.
    // Asked once, and only when a plan is to be stored.
    let notLive: string | null | undefined;
    const notLiveNow = (): string | null => {
      if (notLive === undefined) notLive = procfsRefusal(paths.procfs);
      return notLive;
    };
    const bound = (): ProcessKnowledge => ({
      ...base(),
      exeOf: (pid: number) => (notLiveNow() === null ? readExe(paths, pid) : null),
    });
    const firstPlan = (finding: Finding, knowledge: ProcessKnowledge): ActionPlan | null => {
      for (const id of finding.suggest) {
        if (id === 'notify_only') continue;
        const plan = planFor(finding, id, processes, knowledge, { keepEmpty: true });
        if (plan) return plan;
      }
      return null;
    };
    let snoozed = new Set<string>();
    this.withStore(() => {
      snoozed = log.snoozed(now);
    });
    for (const finding of evaluation.raised) {
      const alertId = alertIds.get(finding.fingerprint);
      if (finding.event || alertId === undefined || snoozed.has(finding.rule)) continue;
      const plan = firstPlan(finding, bound());
      if (plan) this.propose(finding, alertId, plan, notLiveNow(), now);
    }
    for (const finding of replanned) {
      const alertId = alertIds.get(finding.fingerprint);
      if (alertId === undefined || snoozed.has(finding.rule)) continue;
      // The plan to follow is the alert's latest action, whoever stored it: this run, an earlier one, or
      // vigil fix. Unreadable: nothing is planned on a guess.
      let last: ActionRecord | null | undefined;
      this.withStore(() => {
        last = log.latestForAlert(alertId);
      });
      if (last === undefined) continue;
      // An action under way or announced runs first; what it leaves is planned after it.
      if (last?.state === 'scheduled' || last?.state === 'started') continue;
      const earlier = last?.plan ?? null;
      // Without executables first: reading them is for a plan that is stored.
      const sketch = firstPlan(finding, base());
      if (sketch === null || planSignature(sketch) === planSignature(earlier)) continue;
      const grown = newTargets(sketch, earlier).length > 0;
      // Members gone, or owned ones now kept: the stored plan still says it (vigil fix leaves out what is
      // gone), and nothing new is proposed.
      if (!grown && earlier !== null) continue;
      if (grown && (earlier?.targets.length ?? 0) > 0 && now - last!.createdAt < REPLAN_EVERY_MS) continue;
      const plan = firstPlan(finding, bound());
      if (plan) this.propose(finding, alertId, plan, notLiveNow(), now);
    }
    if (this.acting === null) {
      this.acting = this.runDue(now, snoozed)
        .catch((error: unknown) => this.log(`acting failed: ${(error as Error).message}`))
        .finally(() => {
          this.acting = null;
        });
    }
    if (this.settings.once) await this.acting;
  }

  /** Records a plan for an alert: refused, proposed (and told), or scheduled in auto mode. */
  private propose(
    finding: Finding,
    alertId: number,
    plan: ActionPlan,
    notLive: string | null,
    now: number,
  ): void {
    const log = this.actions;
    if (!log) return;
    const config = this.runtime.config.config;
    const entry = CATALOG[plan.action];
    const automatic = this.mode === 'auto' && runsAutomatically(entry);
    // A kill whose members all still have a live owner: kept for vigil fix to judge again, told nothing.
    const empty = plan.action.startsWith('kill') && plan.targets.length === 0;
    this.withStore(() => {
      if (notLive !== null) {
        log.add({
          alertId,
          fingerprint: finding.fingerprint,
          plan,
          mode: this.mode,
          state: 'refused',
          reason: notLive,
          now,
        });
        if (!empty) this.log(`${finding.rule}: ${describePlan(plan)} refused (alert ${alertId}): ${notLive}`);
        return;
      }
      if (!automatic || empty) {
        log.add({
          alertId,
          fingerprint: finding.fingerprint,
          plan,
          mode: this.mode,
          state: 'proposed',
          now,
        });
        // Kept in every mode so `vigil fix` can run it; shown in suggest and auto modes.
        if (this.mode !== 'observe' && !empty) {
          this.tellAction(
            'suggest',
            finding,
            alertId,
            `${plan.command || describePlan(plan)}  (run: vigil fix ${alertId})`,
          );
        }
        return;
      }
      if (log.failuresFor(finding.fingerprint) >= 2) {
        log.add({
          alertId,
          fingerprint: finding.fingerprint,
          plan,
          mode: 'auto',
          state: 'refused',
          reason: 'two earlier actions did not clear it',
          now,
        });
        this.tellAction(
          'escalate',
          finding,
          alertId,
          `two automatic actions did not clear it; vigil only notifies now (alert ${alertId})`,
        );
        return;
      }
      const wait = entry.consent === 'notice' ? config.actions.veto_secs * 1000 : 0;
      log.add({
        alertId,
        fingerprint: finding.fingerprint,
        plan,
        mode: 'auto',
        state: 'scheduled',
        notBefore: now + wait,
        now,
      });
      if (wait > 0) {
        this.tellAction(
          'notice',
          finding,
          alertId,
          `${describePlan(plan)} in ${config.actions.veto_secs} s unless: vigil veto ${alertId}`,
        );
      }
    });
  }

  /**
   * After an action: did its finding clear on the next full cycle, and is any process it aimed at (the
   * same pid and start time) still running in that sample? Recorded and told.
   */
  private verify(evaluation: Evaluation, snapshot: Snapshot, now: number): void {
    const log = this.actions;
    if (!log || this.verifying.size === 0) return;
    const firing = new Set(evaluation.firing.map((f) => f.fingerprint));
    const byPid = new Map((snapshot.processes ?? []).map((p) => [p.pid, p]));
    for (const [id, { fingerprint, rule, alertId, severity, doneAt, targets }] of this.verifying) {
      // Judged on a sample taken after the action ended (it runs beside the loop), never before.
      if (now <= doneAt) continue;
      this.verifying.delete(id);
      const cleared = !firing.has(fingerprint);
      const left = targets.filter((t) => {
        const p = byPid.get(t.pid);
        return p !== undefined && p.startTicks === t.startTicks && p.state !== 'Z';
      });
      const rest =
        left.length > 0
          ? `; ${left.length} of its ${targets.length} processes still ${left.length === 1 ? 'runs' : 'run'} (pid ${left.map((t) => t.pid).join(', ')})`
          : targets.length > 1
            ? `; none of its ${targets.length} processes is left`
            : '';
      this.withStore(() => log.verified(id, cleared, now));
      this.tellAction(
        'verified',
        { rule, severity },
        alertId,
        `${cleared ? 'the finding cleared' : 'the finding is still there'} (action ${id})${rest}`,
      );
    }
  }

  /**
   * Runs the scheduled actions whose veto window has passed, only while the mode in force is auto. Out of
   * auto mode — a reload, a restart in observe or suggest mode, a fail-closed downgrade — every scheduled
   * action, due or not and whoever scheduled it, is cancelled with the reason recorded (`vigil fix` can
   * still run it by hand). The mode, the policy and each target's identity are checked again before
   * every signal, the SIGKILL after the grace period included.
   */
  private async runDue(now: number, snoozed: ReadonlySet<string>): Promise<void> {
    const log = this.actions;
    if (!log) return;
    let due: ReturnType<ActionLog['due']> = [];
    this.withStore(() => {
      due = this.mode === 'auto' ? log.due(now) : log.scheduled();
    });
    for (const action of due) {
      // Stopping: what has not started stays scheduled, for the next run to judge under its own mode.
      if (this.stopping) break;
      const rule = action.fingerprint?.slice(0, action.fingerprint.indexOf('|')) ?? '';
      const policy = this.autoPolicyNow();
      if (typeof policy === 'string' || !runsAutomatically(CATALOG[action.plan.action])) {
        const why = typeof policy === 'string' ? policy : `${action.plan.action} never runs automatically`;
        const reason = `not run: ${why} (it was scheduled in auto mode; vigil fix ${action.alertId} runs it by hand)`;
        this.withStore(() => log.setState(action.id, 'vetoed', Date.now(), reason));
        // Told to every channel that heard the NOTICE, so a pop-up promising a kill is taken back.
        this.tellAction(
          'cancelled',
          { rule, severity: this.severityOf(action.fingerprint) },
          action.alertId,
          `${describePlan(action.plan)} ${reason}`,
        );
        continue;
      }
      if (snoozed.has(rule)) {
        this.withStore(() => log.setState(action.id, 'vetoed', now, `rule ${rule} is snoozed`));
        continue;
      }
      const config = this.runtime.config.config;
      const kills = action.plan.action.startsWith('kill');
      let recent = 0;
      this.withStore(() => {
        recent = log.autoKillsSince(now - 3_600_000);
      });
      if (kills && recent + action.plan.targets.length > config.actions.max_kills_per_hour) {
        this.withStore(() =>
          log.setState(
            action.id,
            'refused',
            now,
            `limit of ${config.actions.max_kills_per_hour} automatic kills per hour reached`,
          ),
        );
        this.tellAction(
          'limit',
          { rule, severity: this.severityOf(action.fingerprint) },
          action.alertId,
          `${config.actions.max_kills_per_hour} automatic kills per hour reached; not acting (alert ${action.alertId})`,
        );
        continue;
      }
      this.withStore(() => log.setState(action.id, 'started', now));
      const result = await executePlan(action.plan, policy, {
        graceMs: config.actions.grace_secs * 1000,
        policyNow: () => this.autoPolicyNow(),
      });
      const doneAt = Date.now();
      this.withStore(() => log.finish(action.id, result, doneAt));
      this.metrics.countAction(action.plan.action, result.outcome);
      if (action.fingerprint)
        this.verifying.set(action.id, {
          fingerprint: action.fingerprint,
          rule,
          alertId: action.alertId,
          doneAt,
          // Told at the severity it had when acted on: once it clears, it is no longer firing.
          severity: this.severityOf(action.fingerprint),
          targets: action.plan.targets,
        });
      for (const refusal of result.refused)
        this.log(`policy refused ${action.plan.action} on pid ${refusal.pid}: ${refusal.reason}`);
      this.tellAction(
        'acted',
        { rule, severity: this.severityOf(action.fingerprint) },
        action.alertId,
        `${describePlan(action.plan)}: ${result.outcome}, ${result.detail}${result.freedBytes ? `, ${Math.round(result.freedBytes / 1048576)} MiB freed` : ''}`,
      );
    }
  }

  /**
   * The policy an automatic action runs under at this moment, or why none may run. A SIGHUP that arrived
   * while an action waits out its grace period is applied here first, so a mode it changes decides.
   */
  private autoPolicyNow(): PolicyContext | string {
    // A stop ends a grace period at once: no SIGKILL from a daemon on its way out.
    if (this.stopping) return 'vigil is stopping';
    if (this.reloadRequested) this.reload();
    if (this.mode !== 'auto')
      return `vigil is in ${this.mode} mode now; automatic actions run only in auto mode`;
    return policyContext(this.settings.sampling.paths, this.runtime.config.config);
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
  private tellAction(
    step: ActionStep,
    about: { rule: string; severity: Severity },
    alertId: number | null,
    text: string,
  ): void {
    this.tell(`${step.toUpperCase().padEnd(8)} ${about.rule}: ${text}`);
    this.notifier?.announceAction({ step, rule: about.rule, severity: about.severity, text, alertId });
  }

  /** The severity of the finding an action is about, as the engine has it firing now ('high' when it is not). */
  private severityOf(fingerprint: string | null | undefined): Severity {
    if (!fingerprint) return 'high';
    return (
      this.watcher.engine.currentFindings().find((f) => f.fingerprint === fingerprint)?.severity ?? 'high'
    );
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
      mode: this.mode,
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
    await this.acting;
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
