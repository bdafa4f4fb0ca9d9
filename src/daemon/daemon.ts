import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Advisor, adviceLines } from '../advisor/advisor.js';
import { loadOrCreateIdentity } from '../audit/identity.js';
import { COLLECTOR_NAMES, type SampleOptions } from '../collectors/index.js';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import type { Mode } from '../config/schema.js';
import { MetricsServer } from '../metrics/server.js';
import { Announcer } from '../notify/announcer.js';
import { Notifier } from '../notify/notifier.js';
import { JournalFeed } from '../pipeline/journal-feed.js';
import { FAST_MAX_MS, fastPauseMs } from '../pipeline/pace.js';
import { type FullCycle, HistoryRecorder } from '../pipeline/recorder.js';
import { Watcher } from '../pipeline/watcher.js';
import { redact } from '../redact/redact.js';
import { actionLogOf } from '../respond/log.js';
import { procfsRefusal } from '../respond/policy.js';
import { Scheduler } from '../respond/scheduler.js';
import type { Evaluation } from '../rules/engine.js';
import { loadRulesRuntime, type RulesRuntime } from '../rules/runtime.js';
import { StoreGuard } from '../store/guard.js';
import { HeartbeatBuilder } from '../store/heartbeat-builder.js';
import { PidLock } from '../store/lock.js';
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

/**
 * How long a full cycle waits for nvidia-smi and systemctl beyond the time it spends reading /proc (they
 * run meanwhile); one still running answers into a later cycle, and the fast path goes on meanwhile.
 */
const COMMAND_WAIT_MS = 100;

/**
 * The watchdog: a full cycle (processes, disks, network, GPU, units) every `interval`, a fast path in
 * between that reads only memory, swap, PSI and load and judges the system-wide rules, the journal
 * followed continuously, history in SQLite. It builds the parts, runs the loop, answers signals and
 * reloads, and hands each cycle to the parts in turn; it keeps going whatever one of them does: a failing
 * store, journal or collector is reported in the heartbeat, never fatal.
 */
export class Daemon {
  /** The daemon's log (stderr), secrets masked. */
  private readonly log = (message: string): void => this.settings.log(`vigil: ${redact(message)}`);
  private readonly lock: PidLock;
  /** The history store, every call guarded; its failures judged once per full cycle. */
  private readonly history: StoreGuard;
  /** The pipeline: collect → understand → judge, full cycles and the fast path. */
  private readonly watcher: Watcher;
  /** What the rules decided, kept in the history; the Watcher's memory across restarts. */
  private readonly recorder: HistoryRecorder;
  private readonly journal: JournalFeed;
  private readonly heartbeat: HeartbeatBuilder;
  /** The action scheduler: proposals, the veto window, limits, escalation, and the mode in force. */
  private readonly scheduler: Scheduler;
  /** `/metrics` when `[metrics] listen` is set; loads nothing otherwise. */
  private readonly metrics = new MetricsServer({ log: this.log });
  /** The notifier and what it tells, made once the store is open (its queue lives there). */
  private announcer: Announcer | null = null;
  /** The AI advisor, made once `[ai] enabled` (at start or on SIGHUP); it calls from a short-lived child. */
  private advisor: Advisor | null = null;
  /** systemd's READY/WATCHDOG/STOPPING messages (nothing unless NOTIFY_SOCKET is set). */
  private systemd: SdNotify | null = null;
  private runtime: RulesRuntime;
  private configError: string | null = null;
  private stopping = false;
  private reloadRequested = false;
  private wake: (() => void) | null = null;
  private readonly startedAt = Date.now();

  constructor(private readonly settings: DaemonSettings) {
    const { runtime, sampling, env } = settings;
    this.runtime = runtime;
    const log = this.log;
    this.lock = new PidLock(runtimeDir(env));
    this.history = new StoreGuard(stateDir(env), log);
    this.watcher = new Watcher(runtime, sampling, {
      trackLeaks: true,
      learnBaselines: true,
      baselineEveryMs: 60_000,
      collectors: COLLECTOR_NAMES.filter((name) => name !== 'journal'),
      periodsMs: { units: 60_000 },
      tcpStatesEveryMs: 30_000,
    });
    this.recorder = new HistoryRecorder({
      guard: this.history,
      watcher: this.watcher,
      history: () => this.runtime.config.config.history,
      everySnapshot: settings.once,
    });
    this.journal = new JournalFeed({ source: sampling.journal, guard: this.history, log });
    this.heartbeat = new HeartbeatBuilder({
      runtimeDir: this.lock.dir,
      startedAt: this.startedAt,
      intervalMs: settings.intervalMs,
    });
    this.scheduler = new Scheduler({
      askedMode: settings.mode,
      steering: { config: runtime.config.config, refused: runtime.refused },
      paths: sampling.paths,
      actions: () => (this.history.store ? actionLogOf(this.history.store) : null),
      firing: () => this.watcher.engine.currentFindings(),
      // A SIGHUP that arrived while an action waits out its grace period is applied before its SIGKILL.
      refresh: () => {
        if (this.reloadRequested) this.reload();
      },
      sink: {
        tell: (note) => this.announcer?.action(note),
        log,
        finished: (action, outcome) => this.metrics.countAction(action, outcome),
        storeFailed: (error) => this.history.noteFailure(error.message),
      },
    });
  }

  /** Runs until stopped (signal, --exit-after, --once); resolves with the exit status. */
  async run(): Promise<number> {
    // First, so that no program vigil starts inherits NOTIFY_SOCKET.
    this.systemd = new SdNotify(this.settings.env, { log: this.log });
    const runtimeNote = this.lock.acquire();
    if (runtimeNote) this.log(runtimeNote);
    try {
      this.openHistory();
      const { env, notify: write } = this.settings;
      const { config } = this.runtime.config;
      const [log, store, guard] = [this.log, this.history.store, this.history];
      const notifier = new Notifier({ config, store, stateDir: stateDir(env), log, write, env });
      this.announcer = new Announcer({ notifier, guard, log, write });
      await this.metrics.apply(this.runtime.config);
      this.applyAdvisor();
      this.journal.start();
      this.installSignals();
      if (this.settings.exitAfterMs !== null) {
        setTimeout(() => this.stop('--exit-after elapsed'), this.settings.exitAfterMs).unref();
      }
      this.log(
        `started (pid ${process.pid}, mode ${this.scheduler.mode}, every ${this.settings.intervalMs / 1000} s, ${this.runtime.rules.rules.length} rules, history ${this.history.store?.path ?? 'unavailable'})`,
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
        warn: this.log,
      });
      this.runtime = runtime;
      this.watcher.reload(runtime);
      this.announcer?.notifier.reconfigure(runtime.config.config);
      this.applyAdvisor();
      void this.metrics.apply(runtime.config);
      this.configError = null;
      this.scheduler.reconfigure({ config: runtime.config.config, refused: runtime.refused });
      const { path } = runtime.config;
      const rules = runtime.rules.rules.length;
      this.history.audit('config_reload', { ok: true, path, rules, mode: this.scheduler.mode });
      const problems = runtime.problems.map(formatProblem);
      this.log(
        `reloaded config and ${rules} rules${problems.length ? `; rule problems: ${problems.join('; ')}` : ''}`,
      );
    } catch (error) {
      const detail = error instanceof ProblemsError ? error.message : (error as Error).message;
      this.configError = detail;
      this.history.audit('config_reload', { ok: false, error: detail });
      this.log(`config reload refused, the previous configuration stays in force:\n${detail}`);
    }
  }

  /** Memory, swap, PSI and load only; judges the system-wide rules. Returns the next pause in ms. */
  private fastCycle(): number {
    // Before the first full cycle, or when the light files cannot be read (the full cycle says why).
    const fast = this.watcher.fastCycle();
    if (!fast) return FAST_MAX_MS;
    this.decide(fast.evaluation, fast.snapshot.takenAt);
    return fastPauseMs(fast.facts.sys, this.runtime.config.config.thresholds);
  }

  private async fullCycle(): Promise<void> {
    const journal = this.journal.take();
    // A slow command collector answers into a later cycle: the watchdog never waits on a hung GPU.
    const { snapshot, facts, evaluation } = await this.watcher.cycle({
      ...(journal ? { journal } : {}),
      ...(this.settings.once ? {} : { commandWaitMs: COMMAND_WAIT_MS }),
    });
    const now = snapshot.takenAt;
    const alertIds = this.decide(evaluation, now, { snapshot, facts });
    const acting = this.scheduler.cycle({ evaluation, snapshot, facts, alertIds, now });
    if (this.settings.once) await acting;
    const { raised, firing } = evaluation;
    this.advisor?.afterCycle({ snapshot, facts, raised, firing, alertIds });
    if (this.settings.once) await this.advisor?.idle();
    this.recorder.persistIfDue(now);
    const { runtime, configError, announcer } = this;
    const mode = this.scheduler.mode;
    const notifications = announcer?.notifier.status();
    const state = { mode, journal: this.journal.state, runtime, configError, notifications };
    this.heartbeat.beat({ snapshot, firing: firing.length, ...state }, this.history);
    this.metrics.update({ snapshot, firing, rules: runtime.rules.rules, mode });
    const delivery = announcer?.notifier.tick();
    if (this.settings.once) await delivery;
  }

  /** Records (when the store works) and announces one evaluation; returns the stored alerts' ids. */
  private decide(evaluation: Evaluation, now: number, full?: FullCycle): Map<string, number> {
    const { alertIds, restored } = this.recorder.record(evaluation, now, full);
    this.announcer?.announce(evaluation, restored);
    this.metrics.countRaised(evaluation.raised);
    return alertIds;
  }

  private openHistory(): void {
    if (!this.history.open()) return;
    try {
      // The Ed25519 identity that signs reports, audit exports and support bundles.
      loadOrCreateIdentity(stateDir(this.settings.env));
    } catch (error) {
      this.log(`no signing identity: ${(error as Error).message}`);
    }
    // Warm start: a restart resets neither a 5-minute condition nor what was learnt.
    this.recorder.begin(process.pid, this.startedAt);
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
      store: this.history.store,
      paths: sampling.paths,
      log: this.log,
      onAdvice: (event) => {
        for (const line of adviceLines(event)) this.announcer?.line(line);
      },
    });
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
      await this.journal.stop();
      await this.announcer?.notifier.close();
      this.advisor?.close();
      await this.metrics.close();
      this.recorder.end(Date.now());
      this.history.close();
    } catch (error) {
      this.log(`while stopping: ${(error as Error).message}`);
    } finally {
      this.lock.release();
      clearTimeout(deadline);
    }
  }
}
