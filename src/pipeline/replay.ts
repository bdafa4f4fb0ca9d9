/**
 * `vigil rules test --replay`: today's rules judged again over the stored history, on a fake clock set to
 * each stored snapshot's time, beside what fired then. The way to tune a threshold without waiting for the
 * next incident — within what the history keeps, which the report's notes say.
 */
import { SEVERITY_RANK, type Severity } from '../model/severity.js';
import type { RulesRuntime } from '../rules/runtime.js';
import type { Finding } from '../rules/types.js';
import type { AlertRecord, HistoryStore } from '../store/types.js';
import { Baselines } from '../understand/baseline.js';
import type { Scope } from '../understand/facts-schema.js';
import { FakeClock } from './clock.js';
import { HistorySource, type MachineShape } from './history.js';
import { Watcher } from './watcher.js';

/** One stretch of time a rule would have fired for one subject. */
export interface WouldFire {
  readonly rule: string;
  readonly subject: string;
  /** The highest severity it reached. */
  readonly severity: Severity;
  /** When its condition started to hold (what the alerts table calls first seen). */
  readonly since: number;
  /** When it would have fired: the first stored snapshot at which its `for` had elapsed. */
  readonly firedAt: number;
  /** When it would have resolved; null when still firing at the end of the window or of a stretch. */
  readonly resolvedAt: number | null;
  /** Why it has no end: `end` of the window, or a `gap` in the history after which nothing is known. */
  readonly cut: 'end' | 'gap' | null;
  readonly summary: string;
  readonly pids: readonly number[];
  /** Whether an alert of the same rule was open at some time in this stretch. */
  readonly firedThen: boolean;
}

/** An alert the daemon recorded in the window, as the alerts table has it. */
export interface FiredThen {
  readonly id: number;
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  readonly since: number;
  readonly resolvedAt: number | null;
  readonly summary: string;
  readonly event: boolean;
  /** Whether the replay has the same rule firing at some time in this alert's stretch. */
  readonly wouldFire: boolean;
}

export interface ReplayReport {
  readonly from: number;
  readonly to: number;
  /** Stored snapshots judged, and the usual time between two (the median). */
  readonly snapshots: number;
  readonly stepMs: number | null;
  /** The rules judged (enabled ones, as loaded now). */
  readonly rules: readonly string[];
  readonly wouldFire: readonly WouldFire[];
  readonly firedThen: readonly FiredThen[];
  /** Stretches with no snapshot longer than the gap threshold: rule states start over after each. */
  readonly gaps: ReadonlyArray<{ readonly from: number; readonly to: number }>;
  /** Rules that failed at run time, with how often. */
  readonly errors: ReadonlyArray<{ readonly rule: string; readonly message: string; readonly count: number }>;
  /** What cannot be replayed, and what is judged differently from the live daemon. */
  readonly notes: readonly string[];
}

export interface ReplayOptions {
  readonly runtime: RulesRuntime;
  readonly store: Pick<HistoryStore, 'snapshotsBetween' | 'alertsBetween' | 'loadBaselines'>;
  readonly from: number;
  readonly to: number;
  /** What history does not keep of the machine (see {@link MachineShape}). */
  readonly shape: MachineShape;
  /** The daemon's `history.snapshot_interval_secs`, in ms. */
  readonly snapshotIntervalMs: number;
}

/** History is read this much at a time, so a week of snapshots is never held whole. */
const CHUNK_MS = 3_600_000;

/** A pause between two stored snapshots longer than this many intervals (and 5 minutes) is a gap. */
const GAP_INTERVALS = 3;

/**
 * Replays the window [from, to]: each stored snapshot, in order, becomes a sample of a Watcher whose clock
 * is set to its time; the rules as loaded now judge it, `for` and `clear_for` counting in stored time.
 * Baselines are today's (history does not keep them per moment) and are not learned again.
 */
export async function replayRules(options: ReplayOptions): Promise<ReplayReport> {
  const { runtime, store, from, to, shape } = options;
  const gapMs = Math.max(5 * 60_000, GAP_INTERVALS * options.snapshotIntervalMs);
  let baselines: Baselines;
  let baselineNote: string | null = null;
  try {
    baselines = Baselines.fromRows(store.loadBaselines());
  } catch (error) {
    baselines = new Baselines();
    baselineNote = `the stored baselines could not be read (${(error as Error).message}): baseline_anomaly judged with none`;
  }
  const clock = new FakeClock(from);
  const source = new HistorySource(shape);
  const newWatcher = () => {
    const watcher = new Watcher(runtime, null, { clock, source, trackLeaks: true, learnBaselines: false });
    watcher.facts.baselines = baselines;
    return watcher;
  };
  let watcher = newWatcher();

  const done: Array<Omit<WouldFire, 'firedThen'>> = [];
  const open = new Map<string, Omit<WouldFire, 'firedThen'>>();
  const errors = new Map<string, { rule: string; message: string; count: number }>();
  const gaps: Array<{ from: number; to: number }> = [];
  const steps: number[] = [];
  let count = 0;
  let previousAt: number | null = null;
  const closeAll = (at: number | null, cut: WouldFire['cut']) => {
    for (const episode of open.values()) done.push({ ...episode, resolvedAt: at, cut });
    open.clear();
  };

  for (let chunk = from; chunk <= to; chunk += CHUNK_MS) {
    const records = store.snapshotsBetween(chunk, Math.min(to, chunk + CHUNK_MS - 1));
    source.load(records);
    for (const record of records) {
      if (previousAt !== null) {
        const step = record.takenAt - previousAt;
        if (step > gapMs) {
          gaps.push({ from: previousAt, to: record.takenAt });
          closeAll(null, 'gap');
          watcher = newWatcher();
        } else steps.push(step);
      }
      clock.set(record.takenAt);
      const { evaluation } = await watcher.cycle();
      count++;
      previousAt = record.takenAt;
      const firing = new Map<string, Finding>(evaluation.firing.map((f) => [f.fingerprint, f]));
      for (const [fingerprint, episode] of open) {
        if (firing.has(fingerprint)) continue;
        done.push({ ...episode, resolvedAt: record.takenAt, cut: null });
        open.delete(fingerprint);
      }
      for (const f of firing.values()) {
        const episode = open.get(f.fingerprint);
        if (episode === undefined) {
          open.set(f.fingerprint, {
            rule: f.rule,
            subject: f.subject,
            severity: f.severity,
            since: f.since,
            firedAt: record.takenAt,
            resolvedAt: null,
            cut: null,
            summary: f.summary,
            pids: f.pids,
          });
        } else if (SEVERITY_RANK[f.severity] > SEVERITY_RANK[episode.severity]) {
          open.set(f.fingerprint, { ...episode, severity: f.severity });
        }
      }
      for (const e of evaluation.errors) {
        const key = `${e.rule}\n${e.message}`;
        const seen = errors.get(key) ?? { rule: e.rule, message: e.message, count: 0 };
        seen.count++;
        errors.set(key, seen);
      }
    }
  }
  closeAll(null, 'end');
  watcher.close();

  const alerts = store.alertsBetween(from, to);
  const endOf = (a: AlertRecord) => (a.event ? a.firstSeen : (a.resolvedAt ?? to));
  const overlaps = (a0: number, a1: number, b0: number, b1: number) => a0 <= b1 && b0 <= a1;
  const wouldFire: WouldFire[] = done
    .sort((a, b) => a.firedAt - b.firedAt || a.rule.localeCompare(b.rule))
    .map((e) => ({
      ...e,
      firedThen: alerts.some(
        (a) => a.rule === e.rule && overlaps(e.since, e.resolvedAt ?? to, a.firstSeen, endOf(a)),
      ),
    }));
  const firedThen: FiredThen[] = alerts.map((a) => ({
    id: a.id,
    rule: a.rule,
    subject: a.subject,
    severity: a.severity,
    since: a.firstSeen,
    resolvedAt: a.resolvedAt,
    summary: a.summary,
    event: a.event,
    wouldFire: wouldFire.some(
      (e) => e.rule === a.rule && overlaps(e.since, e.resolvedAt ?? to, a.firstSeen, endOf(a)),
    ),
  }));
  steps.sort((a, b) => a - b);
  const stepMs = steps.length > 0 ? steps[steps.length >> 1]! : null;
  const rules = runtime.rules.rules;
  return {
    from,
    to,
    snapshots: count,
    stepMs,
    rules: rules.map((r) => r.id),
    wouldFire,
    firedThen,
    gaps,
    errors: [...errors.values()],
    notes: replayNotes({
      rules: rules.map((r) => ({ id: r.id, scope: r.spec.scope, forMs: r.forMs })),
      stepMs: stepMs ?? options.snapshotIntervalMs,
      shape,
      gaps: gaps.length,
      gapMs,
      extra: baselineNote,
    }),
  };
}

/** What the replay of these rules cannot see, or sees otherwise than the daemon did. */
function replayNotes(input: {
  rules: ReadonlyArray<{ id: string; scope: Scope; forMs: number }>;
  stepMs: number;
  shape: MachineShape;
  gaps: number;
  gapMs: number;
  extra: string | null;
}): string[] {
  const { rules, stepMs, shape } = input;
  const ids = (...scopes: Scope[]) =>
    rules
      .filter((r) => scopes.includes(r.scope))
      .map((r) => r.id)
      .join(', ');
  const has = (...scopes: Scope[]) => rules.some((r) => scopes.includes(r.scope));
  const step = formatStep(stepMs);
  const notes = [
    `history keeps one snapshot every ${step}: conditions are seen only then, so a rule fires at the first ` +
      `stored snapshot after its \`for\` has elapsed, resolves at the first after its clear_for, and ` +
      `anything shorter than ${step} between two snapshots is not seen`,
  ];
  if (has('process', 'group'))
    notes.push(
      `process and group rules (${ids('process', 'group')}) see only the processes history kept — the top 10 ` +
        'by CPU and by memory and those in an alert then — without their parents, sessions or working ' +
        'directories: orphans, zombies and ghost storms cannot be judged again, groups hold only the kept ' +
        `members, and memory_leak sees one point per stored snapshot (only slow leaks show)`,
    );
  if (has('journal'))
    notes.push(
      `journal entries are not stored: journal rules (${ids('journal')}) are not judged again; the events ` +
        'they raised then are listed with what fired',
    );
  if (has('unit', 'gpu'))
    notes.push(`failed user units and GPUs are not stored: ${ids('unit', 'gpu')} cannot be judged again`);
  if (has('sensor'))
    notes.push(
      `temperatures: only the hottest CPU and the hottest GPU sensor are stored (${ids('sensor')} sees those two)`,
    );
  if (has('disk'))
    notes.push(
      `disks: only each mount's used share is stored (no inodes); sizes are those of today's mounts (${ids('disk')})`,
    );
  notes.push(
    `stored pressure keeps 10-second averages only (they stand in for 60-second ones); load is judged ` +
      `against this machine's ${shape.cores} cores today, swap against its ${shape.swapTotalBytes > 0 ? 'swap size today' : 'absent swap today (swap rules stay silent)'}`,
  );
  if (rules.some((r) => r.id === 'baseline_anomaly'))
    notes.push('baseline_anomaly compares with the baselines as learned by now, not as they were then');
  if (input.gaps > 0)
    notes.push(
      `${input.gaps} gap(s) longer than ${formatStep(input.gapMs)} with no snapshot (the daemon was not running ` +
        'or not storing): rule states start over after each, and what fired before one ends there',
    );
  if (input.extra) notes.push(input.extra);
  return notes;
}

function formatStep(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 100) / 10} s`;
}
