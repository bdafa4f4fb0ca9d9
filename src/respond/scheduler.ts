import type { Config, Mode } from '../config/schema.js';
import type { HostPaths } from '../host/paths.js';
import { type Refusal, showPath } from '../host/trusted-file.js';
import type { Severity } from '../model/severity.js';
import type { Snapshot } from '../model/snapshot.js';
import type { Evaluation } from '../rules/engine.js';
import type { CatalogActionId, Finding } from '../rules/types.js';
import type { FactSet } from '../understand/facts-schema.js';
import { CATALOG, runsAutomatically } from './catalog.js';
import { type ActionResult, type ExecuteOptions, executePlan, type Outcome } from './execute.js';
import { type ProcessIdentity, readExe } from './identity.js';
import {
  type ActionPlan,
  describePlan,
  liveOwnerIn,
  newTargets,
  type ProcessKnowledge,
  planFor,
  planSignature,
} from './plan.js';
import { type PolicyContext, policyContext, procfsRefusal, protectedIn } from './policy.js';

/**
 * The daemon's action scheduler: what a finding leads to (a proposal, or in auto mode an action scheduled
 * behind its veto window), when a scheduled action runs, and what stops it — the mode in force, a veto,
 * a snooze, the hourly kill limit, two earlier actions that did not clear the finding, a policy that can
 * no longer be judged. Plain code over an injected clock, actions table, executor and sink, so every
 * branch is tested without a daemon (test/unit/scheduler.test.ts).
 */

/** Where time comes from: Date.now in the daemon, a number a test moves. */
export interface Clock {
  now(): number;
}

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/**
 * A firing finding's plan is stored again when its group gains targets (an owner died, new orphans), at
 * most this often once it has one: a storm that keeps growing is not a new row and a new line every cycle.
 */
export const REPLAN_EVERY_MS = 30_000;

/** The window the hourly kill limit counts over. */
const KILL_LIMIT_WINDOW_MS = 3_600_000;

/** Automatic actions of a finding that did not clear it, after which vigil only notifies. */
const FAILURES_BEFORE_NOTIFY_ONLY = 2;

/**
 * The steps of an action, as they are told to the terminal and the notification channels: `suggest` (the
 * exact command, suggest mode), `notice` (auto mode will act after the veto window), `cancelled` (an
 * announced action will not run: the mode in force is no longer auto, or the policy could not be loaded),
 * `acted` (done, with the outcome), `verified` (did the finding clear), `escalate` (two actions failed:
 * only notifying now), `limit` (the hourly kill limit stopped it).
 */
export type ActionStep = 'suggest' | 'notice' | 'cancelled' | 'acted' | 'verified' | 'escalate' | 'limit';

/** One step of an action, for the terminal and the channels that take action notices. */
export interface ActionNote {
  readonly step: ActionStep;
  readonly rule: string;
  /** The finding's severity: decides which channels hear it. */
  readonly severity: Severity;
  readonly alertId: number | null;
  readonly text: string;
}

/** A stored action, as far as the scheduler reads it. */
export interface StoredAction {
  readonly id: number;
  readonly alertId: number | null;
  readonly fingerprint: string | null;
  readonly plan: ActionPlan;
  readonly state: string;
  readonly createdAt: number;
}

/**
 * The calls the scheduler makes on the actions table (the store's, shared with `vigil fix`, `veto`,
 * `snooze`). Every change of an action is also appended to the audit chain by the table itself.
 */
export interface ActionsRepo {
  add(entry: {
    alertId: number | null;
    fingerprint: string | null;
    plan: ActionPlan;
    mode: Mode;
    state: 'proposed' | 'scheduled' | 'refused';
    notBefore?: number | null;
    reason?: string | null;
    now: number;
  }): unknown;
  /** The newest action of an alert, whoever stored it (this run, an earlier one, `vigil fix`). */
  latestForAlert(alertId: number): StoredAction | null;
  setState(id: number, state: 'vetoed' | 'refused' | 'started', now: number, reason?: string | null): void;
  finish(id: number, result: ActionResult, now: number): void;
  verified(id: number, cleared: boolean, now: number): void;
  /** Scheduled actions whose veto window has passed at `now`. */
  due(now: number): StoredAction[];
  /** Every scheduled action, due or not. */
  scheduled(): StoredAction[];
  /** Processes stopped by automatic actions since `since`. */
  autoKillsSince(since: number): number;
  /** Finished automatic actions for a finding that did not clear it. */
  failuresFor(fingerprint: string): number;
  /** Rules snoozed at `now` (`vigil snooze`). */
  snoozed(now: number): ReadonlySet<string>;
}

/** Carries out a plan (`executePlan`): the policy is judged again before every signal. */
export type Executor = (
  plan: ActionPlan,
  ctx: PolicyContext,
  options: ExecuteOptions,
) => Promise<ActionResult>;

/** Where the scheduler's words go. */
export interface SchedulerSink {
  /** A step of an action, for the terminal and the notification channels. */
  tell(note: ActionNote): void;
  /** A line for the daemon's log. */
  log(line: string): void;
  /** An action ended with this outcome (metrics). */
  finished?(action: CatalogActionId, outcome: Outcome): void;
  /** A store call failed: the daemon notes it for the heartbeat; the scheduler goes on without it. */
  storeFailed?(error: Error): void;
}

/** What steers the scheduler: the config, and the steering files refused for their permissions. */
export interface Steering {
  readonly config: Config;
  readonly refused: readonly Refusal[];
}

export interface SchedulerOptions {
  /** The mode given on the command line, which wins over general.mode across reloads; null: general.mode. */
  readonly askedMode: Mode | null;
  readonly steering: Steering;
  readonly paths: HostPaths;
  /** The actions table, or null while there is no store: then nothing is planned or run (fail closed). */
  readonly actions: () => ActionsRepo | null;
  readonly sink: SchedulerSink;
  readonly clock?: Clock;
  readonly execute?: Executor;
  /** The findings firing now, for the severity a step is told at ('high' for one that is not firing). */
  readonly firing?: () => readonly Finding[];
  /**
   * Called before the policy is judged for a due action and before each of its signals: the daemon applies
   * a reload that arrived meanwhile (SIGHUP), so the mode it brings decides a SIGKILL after a grace period.
   */
  readonly refresh?: () => void;
}

/** What one full cycle hands the scheduler. */
export interface CycleInput {
  readonly evaluation: Evaluation;
  readonly snapshot: Snapshot;
  readonly facts: FactSet;
  /** The open alert of each firing finding, by fingerprint (what the store recorded this cycle). */
  readonly alertIds: ReadonlyMap<string, number>;
  /** When the sample was taken. */
  readonly now: number;
}

/**
 * The mode in force: the one asked for, or observe while a file that steers vigil (config, rules, kinds)
 * was refused — fail closed. `why` says why it is not the one asked for.
 */
export function modeInForce(asked: Mode, refused: readonly Refusal[]): { mode: Mode; why: string | null } {
  if (asked === 'observe' || refused.length === 0) return { mode: asked, why: null };
  const files = refused.map((r) => showPath(r.file)).join(', ');
  return {
    mode: 'observe',
    why: `running in observe mode instead of ${asked}: vigil refused ${files} (said above)`,
  };
}

/** An action just taken, waiting for a later full cycle to say whether its finding cleared. */
interface Verifying {
  readonly fingerprint: string;
  readonly rule: string;
  readonly alertId: number | null;
  /** Told at the severity it had when acted on: once it clears, it is no longer firing. */
  readonly severity: Severity;
  readonly doneAt: number;
  readonly targets: readonly ProcessIdentity[];
}

/** The rule of a fingerprint (`rule|subject`). */
const ruleOf = (fingerprint: string | null): string =>
  fingerprint === null ? '' : fingerprint.slice(0, fingerprint.indexOf('|'));

export class Scheduler {
  private steering: Steering;
  private modeNow: Mode;
  private stopping = false;
  /**
   * The due actions being carried out, or null. Stopping a storm waits out grace periods (seconds), so it
   * runs beside the daemon's loop rather than in it: the fast path, the heartbeat and the next cycles go on
   * meanwhile. One batch at a time; what falls due meanwhile waits for the next cycle.
   */
  private acting: Promise<void> | null = null;
  private readonly verifying = new Map<number, Verifying>();
  private readonly clock: Clock;
  private readonly execute: Executor;

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.execute = options.execute ?? executePlan;
    this.steering = options.steering;
    this.modeNow = this.judgeMode();
  }

  /** The mode in force: the one asked for, or observe while a steering file is refused. */
  get mode(): Mode {
    return this.modeNow;
  }

  /**
   * After a reload: the mode in force becomes what the new config (and trust in it) says, at once — a
   * scheduled action that is due later runs only if it is still auto then, and a signal in flight is
   * checked against it.
   */
  reconfigure(steering: Steering): void {
    const before = this.modeNow;
    this.steering = steering;
    this.modeNow = this.judgeMode();
    const configured = steering.config.general.mode;
    const asked = this.options.askedMode;
    if (asked !== null && configured !== asked)
      this.options.sink.log(
        `general.mode is ${configured} in the config; --mode ${asked} given on the command line stays in force`,
      );
    if (this.modeNow !== before) this.options.sink.log(`mode ${before} -> ${this.modeNow}`);
  }

  /** A stop: what has not started stays scheduled, and a grace period under way ends without SIGKILL. */
  stop(): void {
    this.stopping = true;
  }

  /** Resolves when the due actions under way (if any) have ended. */
  idle(): Promise<void> {
    return this.acting ?? Promise.resolve();
  }

  /**
   * One full cycle: says whether the actions taken before cleared their findings, plans the findings
   * raised and those whose group gained targets, and starts the due actions beside the loop. Resolves when
   * the due actions under way have ended (the daemon waits for that only with --once).
   *
   * Every mode records a proposal (`vigil fix <alert-id>` runs it); suggest also shows the exact command.
   * auto: a safe action needing no confirmation is scheduled — announced first with a veto window when its
   * consent is `notice` — and run when due, after the policy is checked again; anything else is only
   * proposed. Nothing runs without a store to record it in (fail closed), past the hourly limit, for a
   * snoozed rule, or for a finding two earlier actions failed to clear (then it only notifies).
   *
   * The plan follows the finding: a firing finding is planned again each full cycle, and stored (and
   * told, and in auto mode scheduled) again when its group gained targets — a storm raised while its
   * agent lived gets its kill once the agent died. A plan whose members all still have a live owner is
   * stored without a target and told nothing: `vigil fix` judges it again when run.
   */
  cycle(input: CycleInput): Promise<void> {
    const log = this.options.actions();
    if (!log) return this.idle();
    this.verify(log, input);
    const snoozed = this.read(() => log.snoozed(input.now)) ?? new Set<string>();
    this.plan(log, input, snoozed);
    if (this.acting === null) {
      this.acting = this.runDue(log, input.now, snoozed)
        .catch((error: unknown) => this.options.sink.log(`acting failed: ${(error as Error).message}`))
        .finally(() => {
          this.acting = null;
        });
    }
    return this.acting;
  }

  private judgeMode(): Mode {
    const asked = this.options.askedMode ?? this.steering.config.general.mode;
    const { mode, why } = modeInForce(asked, this.steering.refused);
    if (why !== null) this.options.sink.log(why);
    return mode;
  }

  /** One store call; a failure is handed to the sink and comes back as undefined, never thrown. */
  private read<T>(call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      this.options.sink.storeFailed?.(error as Error);
      return undefined;
    }
  }

  /** One store write; says whether it was recorded. */
  private write(call: () => void): boolean {
    return (
      this.read(() => {
        call();
        return true;
      }) === true
    );
  }

  private tell(
    step: ActionStep,
    about: { rule: string; severity: Severity },
    alertId: number | null,
    text: string,
  ) {
    this.options.sink.tell({ step, rule: about.rule, severity: about.severity, alertId, text });
  }

  /** The severity of the finding an action is about, as it fires now ('high' when it is not). */
  private severityOf(fingerprint: string | null): Severity {
    if (!fingerprint) return 'high';
    return this.options.firing?.().find((f) => f.fingerprint === fingerprint)?.severity ?? 'high';
  }

  /**
   * After an action: did its finding clear on a cycle sampled after the action ended, and is any process it
   * aimed at (the same pid and start time) still running in that sample? Recorded and told.
   */
  private verify(log: ActionsRepo, { evaluation, snapshot, now }: CycleInput): void {
    if (this.verifying.size === 0) return;
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
      this.write(() => log.verified(id, cleared, now));
      this.tell(
        'verified',
        { rule, severity },
        alertId,
        `${cleared ? 'the finding cleared' : 'the finding is still there'} (action ${id})${rest}`,
      );
    }
  }

  /** Plans the findings raised this cycle, and the firing ones whose group gained targets. */
  private plan(log: ActionsRepo, input: CycleInput, snoozed: ReadonlySet<string>): void {
    const { evaluation, snapshot, facts, alertIds, now } = input;
    const processes = snapshot.processes ?? [];
    const { config } = this.steering;
    const { paths } = this.options;
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
    // no executable, so neither the daemon nor `vigil fix` ever acts on what that tree says. Asked once,
    // and only when a plan is to be stored.
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
    for (const finding of evaluation.raised) {
      const alertId = alertIds.get(finding.fingerprint);
      if (finding.event || alertId === undefined || snoozed.has(finding.rule)) continue;
      const plan = firstPlan(finding, bound());
      if (plan) this.propose(log, finding, alertId, plan, notLiveNow(), now);
    }
    for (const finding of replanned) {
      const alertId = alertIds.get(finding.fingerprint);
      if (alertId === undefined || snoozed.has(finding.rule)) continue;
      // The plan to follow is the alert's latest action, whoever stored it. Unreadable: nothing is planned
      // on a guess.
      const read = this.read(() => ({ last: log.latestForAlert(alertId) }));
      if (read === undefined) continue;
      const { last } = read;
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
      if (grown && last && last.plan.targets.length > 0 && now - last.createdAt < REPLAN_EVERY_MS) continue;
      const plan = firstPlan(finding, bound());
      if (plan) this.propose(log, finding, alertId, plan, notLiveNow(), now);
    }
  }

  /** Records a plan for an alert: refused, proposed (and told), or scheduled in auto mode. */
  private propose(
    log: ActionsRepo,
    finding: Finding,
    alertId: number,
    plan: ActionPlan,
    notLive: string | null,
    now: number,
  ): void {
    const { config } = this.steering;
    const mode = this.modeNow;
    const entry = CATALOG[plan.action];
    const automatic = mode === 'auto' && runsAutomatically(entry);
    // A kill whose members all still have a live owner: kept for vigil fix to judge again, told nothing.
    const empty = plan.action.startsWith('kill') && plan.targets.length === 0;
    const fingerprint = finding.fingerprint;
    const tell = (step: ActionStep, text: string) => this.tell(step, finding, alertId, text);
    this.write(() => {
      if (notLive !== null) {
        log.add({ alertId, fingerprint, plan, mode, state: 'refused', reason: notLive, now });
        if (!empty)
          this.options.sink.log(
            `${finding.rule}: ${describePlan(plan)} refused (alert ${alertId}): ${notLive}`,
          );
        return;
      }
      if (!automatic || empty) {
        log.add({ alertId, fingerprint, plan, mode, state: 'proposed', now });
        // Kept in every mode so `vigil fix` can run it; shown in suggest and auto modes.
        if (mode !== 'observe' && !empty)
          tell('suggest', `${plan.command || describePlan(plan)}  (run: vigil fix ${alertId})`);
        return;
      }
      if (log.failuresFor(fingerprint) >= FAILURES_BEFORE_NOTIFY_ONLY) {
        const reason = 'two earlier actions did not clear it';
        log.add({ alertId, fingerprint, plan, mode: 'auto', state: 'refused', reason, now });
        tell(
          'escalate',
          `two automatic actions did not clear it; vigil only notifies now (alert ${alertId})`,
        );
        return;
      }
      const wait = entry.consent === 'notice' ? config.actions.veto_secs * 1000 : 0;
      log.add({ alertId, fingerprint, plan, mode: 'auto', state: 'scheduled', notBefore: now + wait, now });
      if (wait > 0)
        tell(
          'notice',
          `${describePlan(plan)} in ${config.actions.veto_secs} s unless: vigil veto ${alertId}`,
        );
    });
  }

  /**
   * Runs the scheduled actions whose veto window has passed, only while the mode in force is auto. Out of
   * auto mode — a reload, a restart in observe or suggest mode, a fail-closed downgrade — every scheduled
   * action, due or not and whoever scheduled it, is cancelled with the reason recorded (`vigil fix` can
   * still run it by hand). The mode, the policy and each target's identity are checked again before
   * every signal, the SIGKILL after the grace period included.
   */
  private async runDue(log: ActionsRepo, now: number, snoozed: ReadonlySet<string>): Promise<void> {
    const due = this.read(() => (this.modeNow === 'auto' ? log.due(now) : log.scheduled())) ?? [];
    for (const action of due) {
      // Stopping: what has not started stays scheduled, for the next run to judge under its own mode.
      if (this.stopping) break;
      const rule = ruleOf(action.fingerprint);
      const about = () => ({ rule, severity: this.severityOf(action.fingerprint) });
      const policy = this.policyNow();
      if (typeof policy === 'string' || !runsAutomatically(CATALOG[action.plan.action])) {
        const why = typeof policy === 'string' ? policy : `${action.plan.action} never runs automatically`;
        const reason = `not run: ${why} (it was scheduled in auto mode; vigil fix ${action.alertId} runs it by hand)`;
        this.write(() => log.setState(action.id, 'vetoed', this.clock.now(), reason));
        // Told to every channel that heard the NOTICE, so a pop-up promising a kill is taken back.
        this.tell('cancelled', about(), action.alertId, `${describePlan(action.plan)} ${reason}`);
        continue;
      }
      if (snoozed.has(rule)) {
        this.write(() => log.setState(action.id, 'vetoed', now, `rule ${rule} is snoozed`));
        continue;
      }
      const { actions: limits } = this.steering.config;
      if (action.plan.action.startsWith('kill')) {
        // Unreadable: the limit cannot be judged, so nothing is killed; the action waits for a later cycle.
        const recent = this.read(() => log.autoKillsSince(now - KILL_LIMIT_WINDOW_MS));
        if (recent === undefined) continue;
        if (recent + action.plan.targets.length > limits.max_kills_per_hour) {
          const reason = `limit of ${limits.max_kills_per_hour} automatic kills per hour reached`;
          this.write(() => log.setState(action.id, 'refused', now, reason));
          this.tell(
            'limit',
            about(),
            action.alertId,
            `${limits.max_kills_per_hour} automatic kills per hour reached; not acting (alert ${action.alertId})`,
          );
          continue;
        }
      }
      // Nothing runs that the store could not record as started (a full disk, a read-only file).
      if (!this.write(() => log.setState(action.id, 'started', now))) continue;
      const result = await this.execute(action.plan, policy, {
        graceMs: limits.grace_secs * 1000,
        policyNow: () => this.policyNow(),
      });
      const doneAt = this.clock.now();
      this.write(() => log.finish(action.id, result, doneAt));
      this.options.sink.finished?.(action.plan.action, result.outcome);
      if (action.fingerprint)
        this.verifying.set(action.id, {
          fingerprint: action.fingerprint,
          rule,
          alertId: action.alertId,
          doneAt,
          severity: this.severityOf(action.fingerprint),
          targets: action.plan.targets,
        });
      for (const refusal of result.refused)
        this.options.sink.log(
          `policy refused ${action.plan.action} on pid ${refusal.pid}: ${refusal.reason}`,
        );
      const freed = result.freedBytes ? `, ${Math.round(result.freedBytes / 1048576)} MiB freed` : '';
      this.tell(
        'acted',
        about(),
        action.alertId,
        `${describePlan(action.plan)}: ${result.outcome}, ${result.detail}${freed}`,
      );
    }
  }

  /**
   * The policy an automatic action runs under at this moment, or why none may run. A reload that arrived
   * while an action waits out its grace period is applied first (`refresh`), so a mode it changes decides.
   */
  private policyNow(): PolicyContext | string {
    // A stop ends a grace period at once: no SIGKILL from a daemon on its way out.
    if (this.stopping) return 'vigil is stopping';
    this.options.refresh?.();
    if (this.modeNow !== 'auto')
      return `vigil is in ${this.modeNow} mode now; automatic actions run only in auto mode`;
    return policyContext(this.options.paths, this.steering.config);
  }
}
