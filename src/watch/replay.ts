/**
 * The dashboard's time travel: frames read from the history instead of sampled from the machine
 * (`vigil watch --at`, and `[` `]` `{` `}` `l` in watch), in the same view model as the live frames. What
 * the history does not store is left out of the frame, and the screen says so (screen.ts), rather than
 * showing anything live in a frame that says it is the past.
 */

import { bySeverityThenSince } from '../model/severity.js';
import type { Snapshot } from '../model/snapshot.js';
import type { OpenedTimeline } from '../store/open-timeline.js';
import type { HistorySpan, StoredMoment, Timeline } from '../store/timeline.js';
import { adviceText } from './explain.js';
import { alertView, formatMoment, type TravelStep, type WatchFrame } from './model.js';
import type { FrameSource } from './source.js';

/**
 * The frame of a stored moment: its snapshot's metrics and kept processes, the alerts open then (most
 * severe first) with the advice stored by then, the alerts that ended in the ten minutes before, and
 * whether the daemon ran. A snapshot much older than the moment asked (more than two snapshot intervals:
 * the daemon was off or not storing) is said in a note.
 */
export function historyFrame(
  moment: StoredMoment,
  span: HistorySpan,
  snapshotIntervalMs = 60_000,
): WatchFrame {
  const record = moment.snapshot;
  // Only what the frame's own fields need: the metrics and processes are read from `replay.record`.
  const snapshot: Snapshot = {
    takenAt: record.takenAt,
    host: { hostname: '', kernel: '', uptimeSecs: 0 },
    collectors: [],
  };
  const alerts = moment.open
    .map((a) => {
      const raw = moment.advice.get(a.fingerprint);
      return alertView({ ...a, since: a.firstSeen }, raw === undefined ? null : adviceText(raw));
    })
    .sort(bySeverityThenSince);
  const ended = moment.ended.map((a) => ({
    ...alertView({ ...a, since: a.firstSeen }, null),
    endedAt: a.event ? a.firstSeen : a.resolvedAt,
  }));
  const notes: string[] = [];
  const gap = moment.askedAt - record.takenAt > 2 * snapshotIntervalMs;
  if (gap) {
    notes.push(
      `no snapshot stored between ${formatMoment(record.takenAt)} and ${formatMoment(moment.askedAt)} ` +
        `(the daemon was ${moment.daemonPid === null ? 'not running' : 'running but not storing'}): showing the one before`,
    );
  }
  return {
    snapshot,
    info: new Map(),
    alerts,
    alertsFrom: 'history',
    daemon: { running: moment.daemonPid !== null, pid: moment.daemonPid, mode: null, fresh: true },
    mode: '',
    notes,
    replay: { askedAt: moment.askedAt, record, span, ended, gap },
  };
}

export interface TimeTravelOptions {
  /** Makes the live source, on first need (never, for `--at` until `l` is pressed). */
  readonly live: () => FrameSource;
  /** Opens the history, on first need; retried while it fails. */
  readonly history: () => OpenedTimeline;
  /** Start in the history at this moment (ms since the epoch) instead of live. */
  readonly at?: number;
  /** The daemon's `history.snapshot_interval_secs`, in ms: a longer gap before a moment is noted. */
  readonly snapshotIntervalMs?: number;
  readonly now?: () => number;
}

const LATEST = 'this is the latest snapshot stored (l goes live)';

/**
 * A source that is live or in the past: live frames come from the live source (created when first
 * needed, paused while in the past, so travelling costs no sampling), past frames from the history, one
 * read per move. The live source's frames are dropped while in the past.
 */
export class TimeTravelSource implements FrameSource {
  private listener: ((frame: WatchFrame) => void) | null = null;
  private live: FrameSource | null = null;
  private history: OpenedTimeline | null = null;
  /** The moment shown and its snapshot's time; null while live. */
  private askedAt: number | null = null;
  private shownAt: number | null = null;
  private paused = false;
  private stopped = false;
  private liveArrived: (() => void) | null = null;

  constructor(private readonly options: TimeTravelOptions) {}

  /** Whether the frames are the history's. */
  get replaying(): boolean {
    return this.askedAt !== null;
  }

  start(listener: (frame: WatchFrame) => void): void {
    this.listener = listener;
    const at = this.options.at;
    if (at !== undefined && this.show(at) === null) return;
    void this.goLive();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (this.askedAt === null) this.live?.setPaused(paused);
  }

  stop(): void {
    this.stopped = true;
    this.listener = null;
    this.live?.stop();
    if (this.history && 'timeline' in this.history) this.history.close();
    this.history = null;
  }

  async travel(step: TravelStep): Promise<string | null> {
    if (this.stopped) return null;
    if (step.by === 'live') {
      if (this.askedAt === null) return 'already live';
      await this.goLive();
      return 'live again';
    }
    const timeline = this.timeline();
    if (typeof timeline === 'string') return timeline;
    try {
      const span = timeline.span();
      if (span === null) return 'no history yet: the daemon (vigil run) stores a snapshot every minute';
      const starts = `the history starts at ${formatMoment(span.firstAt)}`;
      let target: number;
      let said: string | null = null;
      if (this.askedAt === null || this.shownAt === null) {
        // From live, back into the history: its latest snapshot, or minutes before now.
        target = step.by === 'snapshot' ? span.lastAt : this.now() + step.minutes * 60_000;
        if (target < span.firstAt) {
          target = span.firstAt;
          said = starts;
        }
      } else if (step.by === 'snapshot') {
        const next = step.direction < 0 ? timeline.before(this.shownAt) : timeline.after(this.shownAt);
        if (next === null) return step.direction < 0 ? `${starts}: nothing before` : LATEST;
        target = next;
      } else {
        target = this.askedAt + step.minutes * 60_000;
        if (target < span.firstAt) {
          if (this.shownAt <= span.firstAt) return `${starts}: nothing before`;
          target = span.firstAt;
          said = starts;
        } else if (target > span.lastAt) {
          if (this.shownAt >= span.lastAt) return LATEST;
          target = span.lastAt;
          said = LATEST;
        }
      }
      const problem = this.show(target);
      return problem ?? said;
    } catch (error) {
      return `cannot read the history: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private timeline(): Timeline | string {
    if (this.history === null || 'problem' in this.history) this.history = this.options.history();
    return 'timeline' in this.history ? this.history.timeline : this.history.problem;
  }

  /** Shows the stored moment `at`; returns why it could not (null when shown). */
  private show(at: number): string | null {
    const timeline = this.timeline();
    if (typeof timeline === 'string') return timeline;
    const span = timeline.span();
    const moment = span === null ? null : timeline.moment(at);
    if (span === null || moment === null) return `no snapshot stored at or before ${formatMoment(at)}`;
    this.live?.setPaused(true);
    this.askedAt = at;
    this.shownAt = moment.snapshot.takenAt;
    this.listener?.(historyFrame(moment, span, this.options.snapshotIntervalMs));
    return null;
  }

  /** Back to the live machine; resolves when its first frame is shown. */
  private goLive(): Promise<void> {
    this.askedAt = null;
    this.shownAt = null;
    const arrived = new Promise<void>((resolve) => {
      this.liveArrived = resolve;
    });
    if (this.live === null) {
      this.live = this.options.live();
      this.live.start((frame) => {
        if (this.stopped || this.askedAt !== null) return;
        this.listener?.(frame);
        this.liveArrived?.();
        this.liveArrived = null;
      });
      if (this.paused) this.live.setPaused(true);
    } else this.live.setPaused(this.paused);
    return arrived;
  }
}
