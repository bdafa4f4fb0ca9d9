import type { Advice } from '../advisor/answer.js';
import { forEachSample } from '../store/codec.js';
import type { PackedHistory } from '../store/store.js';
import type { AlertRecord, RunRecord, SnapshotRecord } from '../store/types.js';

/** What `vigil report` says about a stretch of time. Pure data, rendered as text, Markdown or JSON. */
export interface Report {
  readonly from: number;
  readonly to: number;
  readonly alerts: readonly AlertRecord[];
  /** Raised and resolved events in time order, each with the alert's words at that moment. */
  readonly timeline: readonly TimelineEntry[];
  readonly peaks: ReadonlyArray<{ metric: string; value: number; at: number; unit: string }>;
  readonly topByCpuTime: readonly Offender[];
  readonly topByPeakMemory: readonly Offender[];
  readonly byKind: readonly Offender[];
  readonly gaps: ReadonlyArray<{ from: number; to: number }>;
  readonly snapshots: number;
  readonly collectorProblems: ReadonlyArray<{
    collector: string;
    error: string;
    count: number;
    lastAt: number;
  }>;
  readonly actions: readonly ReportAction[];
  /** What the advisor said, by alert id (only alerts it was asked about). */
  readonly advice?: ReadonlyMap<number, Advice>;
}

/**
 * A raised or resolved alert. `summary` is what it said then: a raised row keeps the words it was raised
 * with (the alert's summary follows it while it fires); a resolved row, the last ones.
 */
export interface TimelineEntry {
  readonly at: number;
  readonly what: 'raised' | 'resolved';
  readonly alert: AlertRecord;
  readonly summary: string;
}

/**
 * An action in the window: `what` says what it did (`killed 3 processes`), `action` the catalog id and
 * mode (`kill_matching (auto)`).
 */
export interface ReportAction {
  readonly at: number;
  /** The alert it answered (`vigil fix <id>`), or null for a manual action. */
  readonly alertId: number | null;
  readonly what: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
}

/**
 * A process group — one user's processes sharing a normalised cmdline — or a kind, ranked by CPU time
 * used and by peak memory.
 */
export interface Offender {
  readonly key: string;
  readonly name: string;
  /** The group's user; null for a kind. */
  readonly user: string | null;
  /** The normalised command line (the name when there is none, as for kernel threads); null for a kind. */
  readonly command: string | null;
  readonly kind: string | null;
  /** CPU seconds used within the window (sum over its processes). */
  readonly cpuSeconds: number;
  /** Highest memory the group held at once in one snapshot. */
  readonly peakRssBytes: number;
  readonly peakAt: number;
  /** Distinct processes seen. */
  readonly processes: number;
}

export interface ReportInput {
  readonly from: number;
  readonly to: number;
  readonly alerts: readonly AlertRecord[];
  readonly snapshots: readonly SnapshotRecord[];
  /**
   * The snapshots' processes still packed (`OpenedStore.historyBetween`): tallied straight from the bytes.
   * Without it, each snapshot's `processes` are.
   */
  readonly packed?: Pick<PackedHistory, 'identities' | 'packed'>;
  readonly runs: readonly RunRecord[];
  /** Expected spacing of snapshots: a longer silence inside a run is a gap too. */
  readonly snapshotIntervalMs: number;
  readonly collectorProblems?: Report['collectorProblems'];
  readonly actions?: Report['actions'];
  readonly advice?: Report['advice'];
  readonly top?: number;
}

export function buildReport(input: ReportInput): Report {
  const top = input.top ?? 10;
  const timeline: TimelineEntry[] = [];
  for (const alert of input.alerts) {
    if (alert.firstSeen >= input.from && alert.firstSeen <= input.to)
      timeline.push({
        at: alert.firstSeen,
        what: 'raised',
        alert,
        summary: alert.raisedSummary ?? alert.summary,
      });
    if (
      alert.resolvedAt !== null &&
      !alert.event &&
      alert.resolvedAt >= input.from &&
      alert.resolvedAt <= input.to
    ) {
      timeline.push({ at: alert.resolvedAt, what: 'resolved', alert, summary: alert.summary });
    }
  }
  timeline.sort((a, b) => a.at - b.at);

  const peaks: Array<{ metric: string; value: number; at: number; unit: string }> = [];
  const peakOf = (metric: string, unit: string, pick: (s: SnapshotRecord) => number | null) => {
    let best: { value: number; at: number } | null = null;
    for (const s of input.snapshots) {
      const v = pick(s);
      if (v !== null && (best === null || v > best.value)) best = { value: v, at: s.takenAt };
    }
    if (best) peaks.push({ metric, unit, ...best });
  };
  peakOf('RAM used', '%', (s) => s.memUsedPercent);
  // A machine without swap stores 0 %: a peak of 0 says nothing either way, so it is left out.
  peakOf('swap used', '%', (s) => s.swapUsedPercent);
  if (peaks.at(-1)?.metric === 'swap used' && peaks.at(-1)?.value === 0) peaks.pop();
  peakOf('load (1 min)', '', (s) => s.load1);
  peakOf('CPU busy', '%', (s) => s.cpuPercent);
  peakOf('memory pressure (some, 10 s)', '%', (s) => s.psiMemSomeAvg10);
  peakOf('CPU temperature', '°C', (s) => s.cpuTempCelsius);
  peakOf('GPU temperature', '°C', (s) => s.gpuTempCelsius);
  const mounts = new Set(input.snapshots.flatMap((s) => Object.keys(s.disks)));
  for (const mount of mounts) peakOf(`disk ${mount} used`, '%', (s) => s.disks[mount] ?? null);

  const { groups, kinds } = offenders(input);
  return {
    from: input.from,
    to: input.to,
    alerts: input.alerts,
    timeline,
    peaks,
    // Only what used something: a kernel thread's 0 s or 0 B is not an offender.
    topByCpuTime: groups
      .filter((g) => g.cpuSeconds >= 1)
      .sort((a, b) => b.cpuSeconds - a.cpuSeconds)
      .slice(0, top),
    topByPeakMemory: groups
      .filter((g) => g.peakRssBytes > 0)
      .sort((a, b) => b.peakRssBytes - a.peakRssBytes)
      .slice(0, top),
    byKind: kinds
      .filter((k) => k.cpuSeconds >= 1 || k.peakRssBytes > 0)
      .sort((a, b) => b.cpuSeconds - a.cpuSeconds),
    gaps: gaps(input),
    snapshots: input.snapshots.length,
    collectorProblems: input.collectorProblems ?? [],
    actions: input.actions ?? [],
    ...(input.advice ? { advice: input.advice } : {}),
  };
}

/** Who a process is, as far as grouping goes. */
interface Who {
  readonly group: string;
  readonly kind: string | null;
  readonly name: string;
  readonly user: string;
}
interface ProcessTally {
  first: number;
  last: number;
  readonly group: Bucket;
  readonly kind: Bucket;
}
interface Bucket {
  readonly key: string;
  readonly name: string;
  readonly user: string | null;
  readonly command: string | null;
  readonly kind: string | null;
  /** Memory held in the snapshot being tallied, and whether it was touched in it. */
  sum: number;
  touched: boolean;
  peak: number;
  peakAt: number;
}

/**
 * Tallies process samples snapshot by snapshot: per process, its CPU seconds at first and last sight;
 * per group and per kind, the memory held together in each snapshot and the highest of those.
 */
class UsageTally {
  private readonly processes = new Map<number | string, ProcessTally>();
  private readonly groups = new Map<string, Bucket>();
  private readonly kinds = new Map<string, Bucket>();
  private readonly touched: Bucket[] = [];

  /** The process seen under `key` (a `procs` id or pid:start), or undefined the first time. */
  seen(key: number | string): ProcessTally | undefined {
    return this.processes.get(key);
  }

  first(key: number | string, who: Who, cpuSeconds: number): ProcessTally {
    const kind = who.kind ?? 'other';
    const p: ProcessTally = {
      first: cpuSeconds,
      last: cpuSeconds,
      // Grouped by user too: the same command run by two users is two offenders.
      group: bucket(this.groups, `${who.user}\u0000${who.group}`, who.group, who.name, who.kind, {
        user: who.user,
        command: who.group || who.name,
      }),
      kind: bucket(this.kinds, kind, kind, kind, who.kind, { user: null, command: null }),
    };
    this.processes.set(key, p);
    return p;
  }

  sample(p: ProcessTally, cpuSeconds: number, rssBytes: number): void {
    p.last = cpuSeconds;
    this.hold(p.group, rssBytes);
    this.hold(p.kind, rssBytes);
  }

  private hold(b: Bucket, rssBytes: number): void {
    if (!b.touched) {
      b.touched = true;
      this.touched.push(b);
    }
    b.sum += rssBytes;
  }

  endSnapshot(at: number): void {
    for (const b of this.touched) {
      if (b.sum > b.peak) {
        b.peak = b.sum;
        b.peakAt = at;
      }
      b.sum = 0;
      b.touched = false;
    }
    this.touched.length = 0;
  }

  offenders(): { groups: Offender[]; kinds: Offender[] } {
    const cpu = new Map<Bucket, { cpu: number; ids: number }>();
    for (const p of this.processes.values()) {
      const used = Math.max(0, p.last - p.first);
      for (const b of [p.group, p.kind]) {
        const t = cpu.get(b) ?? { cpu: 0, ids: 0 };
        t.cpu += used;
        t.ids++;
        cpu.set(b, t);
      }
    }
    const offender = (b: Bucket): Offender => ({
      key: b.key,
      name: b.name,
      user: b.user,
      command: b.command,
      kind: b.kind,
      cpuSeconds: cpu.get(b)?.cpu ?? 0,
      peakRssBytes: Math.max(0, b.peak),
      peakAt: b.peakAt,
      processes: cpu.get(b)?.ids ?? 0,
    });
    return { groups: [...this.groups.values()].map(offender), kinds: [...this.kinds.values()].map(offender) };
  }
}

function bucket(
  map: Map<string, Bucket>,
  mapKey: string,
  key: string,
  name: string,
  kind: string | null,
  who: { user: string | null; command: string | null },
): Bucket {
  let b = map.get(mapKey);
  if (b === undefined) {
    b = { key, name, kind, ...who, sum: 0, touched: false, peak: -1, peakAt: 0 };
    map.set(mapKey, b);
  }
  return b;
}

function offenders(input: ReportInput): { groups: Offender[]; kinds: Offender[] } {
  const tally = new UsageTally();
  const history = input.packed;
  if (history) {
    input.snapshots.forEach((s, i) => {
      forEachSample(history.packed[i]!, (id, cpuSeconds, rssBytes) => {
        let p = tally.seen(id);
        if (p === undefined) {
          const who = history.identities.get(id);
          if (who === undefined) return;
          p = tally.first(id, who, cpuSeconds);
        }
        tally.sample(p, cpuSeconds, rssBytes);
      });
      tally.endSnapshot(s.takenAt);
    });
  } else {
    for (const s of input.snapshots) {
      for (const record of s.processes) {
        const key = `${record.pid}:${record.startTicks}`;
        const p = tally.seen(key) ?? tally.first(key, record, record.cpuSeconds);
        tally.sample(p, record.cpuSeconds, record.rssBytes);
      }
      tally.endSnapshot(s.takenAt);
    }
  }
  return tally.offenders();
}

/** Stretches of the window when the daemon was not running, or stopped writing history. */
function gaps(input: ReportInput): Array<{ from: number; to: number }> {
  const slack = Math.max(3 * input.snapshotIntervalMs, 60_000);
  const covered = input.runs
    .map((r) => ({
      from: Math.max(input.from, r.startedAt),
      to: Math.min(input.to, (r.endedAt ?? r.lastSeenAt) + slack),
    }))
    .filter((r) => r.to > r.from)
    .sort((a, b) => a.from - b.from);
  const out: Array<{ from: number; to: number }> = [];
  let cursor = input.from;
  for (const run of covered) {
    if (run.from - cursor > slack) out.push({ from: cursor, to: run.from });
    cursor = Math.max(cursor, run.to);
  }
  if (input.to - cursor > slack) out.push({ from: cursor, to: input.to });
  return out;
}
