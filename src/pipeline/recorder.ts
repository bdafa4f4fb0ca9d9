import type { Config } from '../config/schema.js';
import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import type { Evaluation } from '../rules/engine.js';
import type { Finding } from '../rules/types.js';
import type { StoreGuard } from '../store/guard.js';
import type { OpenedStore } from '../store/opened.js';
import { snapshotRecord } from '../store/records.js';
import { Baselines } from '../understand/baseline.js';
import type { FactSet } from '../understand/facts-schema.js';
import type { Watcher } from './watcher.js';

/** How often the state that survives restarts (rule states, baselines) is written. */
export const PERSIST_EVERY_MS = 60_000;
/** Rows deleted by retention per full cycle: small steps, never a long stall. */
export const PRUNE_STEP_ROWS = 200;

export interface RecorderOptions {
  /** The store, every call guarded (a failure is judged by the guard, never thrown here). */
  readonly guard: StoreGuard;
  /** The pipeline whose memory is warm-started and persisted: its rule states and baselines. */
  readonly watcher: Watcher;
  /** The history settings in force (they change on SIGHUP). */
  readonly history: () => Config['history'];
  /** Keep every full cycle's snapshot, whatever the interval (`vigil run --once`). */
  readonly everySnapshot?: boolean;
}

/** What recording one evaluation hands on to the rest of the cycle. */
export interface Recorded {
  /** The stored alert of each finding written (raised, and on a full cycle every firing one). */
  readonly alertIds: Map<string, number>;
  /**
   * Findings that resolved without a summary (their state came back from a restart, the finding did
   * not), with the stored alert's summary and severity, so their end can be told in words.
   */
  readonly restored: Map<string, Finding>;
}

/** A full cycle's sample and facts, for the history snapshot. */
export interface FullCycle {
  readonly snapshot: Snapshot;
  readonly facts: FactSet;
}

/**
 * What the rules decided, kept in the history: alerts opened, refreshed and closed (and audited), a
 * history snapshot every `history.snapshot_interval_secs`, retention in small steps, the run's last sign
 * of life; and the Watcher's memory across restarts — rule states and baselines persisted once a minute
 * and loaded again at start (a restart resets neither a 5-minute condition nor what was learnt, and an
 * alert left open stays firing). Time is the samples' (`now` given by the caller), so it runs on the
 * Watcher's clock, fake or real.
 *
 * It sits on the pipeline floor, not in store/: it warm-starts and persists the Watcher, and records the
 * engine's evaluations; store/ keeps the tables it writes through.
 */
export class HistoryRecorder {
  private runId = -1;
  private lastSnapshotAt = Number.NEGATIVE_INFINITY;
  private lastPersistAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RecorderOptions) {}

  /**
   * Records the start of a daemon run, and warm-starts the Watcher from the store: its baselines, its
   * rule states, and open alerts without a state (a crash between two persists) as firing since first seen.
   */
  begin(pid: number, startedAt: number): void {
    const { guard, watcher } = this.options;
    guard.run((store) => {
      this.runId = store.beginRun(pid, startedAt);
      watcher.facts.baselines = Baselines.fromRows(store.loadBaselines());
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
      watcher.engine.importStates([...states, ...open]);
    });
  }

  /**
   * Records one evaluation at `now`, in one transaction. With `full` (a full cycle), the open alerts also
   * take the firing findings as they are now (last seen, count, summary, members), and the history
   * snapshot, retention and run touch are written; without it (the fast path, every second) nothing is
   * written unless something was raised or resolved.
   */
  record(evaluation: Evaluation, now: number, full?: FullCycle): Recorded {
    const recorded: Recorded = { alertIds: new Map(), restored: new Map() };
    if (!full && evaluation.raised.length + evaluation.resolved.length === 0) return recorded;
    this.options.guard.run((store) =>
      store.batch(() => {
        this.recordAlerts(store, evaluation, now, full !== undefined, recorded);
        if (full) this.recordCycle(store, full, evaluation, now);
      }),
    );
    return recorded;
  }

  private recordAlerts(
    store: OpenedStore,
    evaluation: Evaluation,
    now: number,
    touchFiring: boolean,
    { alertIds, restored }: Recorded,
  ): void {
    for (const finding of evaluation.raised) {
      const alert = store.recordFiring(finding, now).alert;
      alertIds.set(finding.fingerprint, alert.id);
      const { rule, severity, subject, summary } = finding;
      store.audit?.append(
        'alert_raised',
        { alert: alert.id, rule, severity, subject, summary, pids: [...finding.pids] },
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
      if (!alert) continue;
      store.audit?.append(
        'alert_resolved',
        { alert: alert.id, rule: alert.rule, subject: alert.subject },
        now,
      );
      if (!finding.summary)
        restored.set(finding.fingerprint, { ...finding, summary: alert.summary, severity: alert.severity });
    }
  }

  /** What a full cycle writes besides the alerts: history, retention, the run's last sign of life. */
  private recordCycle(
    store: OpenedStore,
    { snapshot, facts }: FullCycle,
    evaluation: Evaluation,
    now: number,
  ) {
    const history = this.options.history();
    if (this.options.everySnapshot || now - this.lastSnapshotAt >= history.snapshot_interval_secs * 1000) {
      const groupOf = (p: ProcessSample) => this.options.watcher.facts.metaOf(p).groupKey;
      store.insertSnapshot(snapshotRecord(snapshot, facts, evaluation.firing, groupOf));
      this.lastSnapshotAt = now;
    }
    store.prune(now - history.retention_hours * 3_600_000, PRUNE_STEP_ROWS);
    store.touchRun(this.runId, now);
  }

  /** Persists rule states and baselines when the last persist is a minute old (the first full cycle does). */
  persistIfDue(now: number): void {
    if (now - this.lastPersistAt >= PERSIST_EVERY_MS) this.persist(now);
  }

  /** Writes the rule states and baselines (a failure waits for the next minute). */
  persist(now: number): void {
    this.lastPersistAt = now;
    const { guard, watcher } = this.options;
    guard.run((store) => {
      store.saveRuleStates(watcher.engine.exportStates());
      store.saveBaselines(watcher.facts.baselines.toRows());
    });
  }

  /** The daemon stopping: the memory persisted, the run ended. */
  end(now: number): void {
    this.persist(now);
    this.options.guard.run((store) => store.endRun(this.runId, now));
  }
}
