import type { AlertRecord, ProcessRecord, RunRecord, SnapshotRecord } from '../store/types.js';

/** What `vigil report` says about a stretch of time. Pure data, rendered as text, Markdown or JSON. */
export interface Report {
  readonly from: number;
  readonly to: number;
  readonly alerts: readonly AlertRecord[];
  /** Raised and resolved events in time order. */
  readonly timeline: ReadonlyArray<{ at: number; what: 'raised' | 'resolved'; alert: AlertRecord }>;
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
  readonly actions: ReadonlyArray<{ at: number; action: string; target: string; outcome: string }>;
}

/** A process group (normalised cmdline) or a kind, ranked by CPU time used and by peak memory. */
export interface Offender {
  readonly key: string;
  readonly name: string;
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
  readonly runs: readonly RunRecord[];
  /** Expected spacing of snapshots: a longer silence inside a run is a gap too. */
  readonly snapshotIntervalMs: number;
  readonly collectorProblems?: Report['collectorProblems'];
  readonly actions?: Report['actions'];
  readonly top?: number;
}

export function buildReport(input: ReportInput): Report {
  const top = input.top ?? 10;
  const timeline: Array<{ at: number; what: 'raised' | 'resolved'; alert: AlertRecord }> = [];
  for (const alert of input.alerts) {
    if (alert.firstSeen >= input.from && alert.firstSeen <= input.to)
      timeline.push({ at: alert.firstSeen, what: 'raised', alert });
    if (
      alert.resolvedAt !== null &&
      !alert.event &&
      alert.resolvedAt >= input.from &&
      alert.resolvedAt <= input.to
    ) {
      timeline.push({ at: alert.resolvedAt, what: 'resolved', alert });
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
  peakOf('swap used', '%', (s) => s.swapUsedPercent);
  peakOf('load (1 min)', '', (s) => s.load1);
  peakOf('CPU busy', '%', (s) => s.cpuPercent);
  peakOf('memory pressure (some, 10 s)', '%', (s) => s.psiMemSomeAvg10);
  peakOf('CPU temperature', '°C', (s) => s.cpuTempCelsius);
  peakOf('GPU temperature', '°C', (s) => s.gpuTempCelsius);
  const mounts = new Set(input.snapshots.flatMap((s) => Object.keys(s.disks)));
  for (const mount of mounts) peakOf(`disk ${mount} used`, '%', (s) => s.disks[mount] ?? null);

  const { groups, kinds } = offenders(input.snapshots);
  return {
    from: input.from,
    to: input.to,
    alerts: input.alerts,
    timeline,
    peaks,
    topByCpuTime: [...groups].sort((a, b) => b.cpuSeconds - a.cpuSeconds).slice(0, top),
    topByPeakMemory: [...groups].sort((a, b) => b.peakRssBytes - a.peakRssBytes).slice(0, top),
    byKind: [...kinds].sort((a, b) => b.cpuSeconds - a.cpuSeconds),
    gaps: gaps(input),
    snapshots: input.snapshots.length,
    collectorProblems: input.collectorProblems ?? [],
    actions: input.actions ?? [],
  };
}

function offenders(snapshots: readonly SnapshotRecord[]): { groups: Offender[]; kinds: Offender[] } {
  // CPU time: per process identity, the growth of its cpuSeconds between its first and last appearance.
  const perProcess = new Map<string, { first: number; last: number; record: ProcessRecord }>();
  const groupPeak = new Map<string, { rss: number; at: number }>();
  const kindPeak = new Map<string, { rss: number; at: number }>();
  for (const s of snapshots) {
    const groupRss = new Map<string, number>();
    const kindRss = new Map<string, number>();
    for (const p of s.processes) {
      const id = `${p.pid}:${p.startTicks}`;
      const seen = perProcess.get(id);
      if (seen) {
        seen.last = p.cpuSeconds;
        seen.record = p;
      } else perProcess.set(id, { first: p.cpuSeconds, last: p.cpuSeconds, record: p });
      groupRss.set(p.group, (groupRss.get(p.group) ?? 0) + p.rssBytes);
      const kind = p.kind ?? 'other';
      kindRss.set(kind, (kindRss.get(kind) ?? 0) + p.rssBytes);
    }
    for (const [key, rss] of groupRss)
      if (rss > (groupPeak.get(key)?.rss ?? -1)) groupPeak.set(key, { rss, at: s.takenAt });
    for (const [key, rss] of kindRss)
      if (rss > (kindPeak.get(key)?.rss ?? -1)) kindPeak.set(key, { rss, at: s.takenAt });
  }
  const groups = new Map<string, { cpu: number; ids: number; record: ProcessRecord }>();
  const kinds = new Map<string, { cpu: number; ids: number }>();
  for (const { first, last, record } of perProcess.values()) {
    const used = Math.max(0, last - first);
    const g = groups.get(record.group) ?? { cpu: 0, ids: 0, record };
    g.cpu += used;
    g.ids++;
    groups.set(record.group, g);
    const kind = record.kind ?? 'other';
    const k = kinds.get(kind) ?? { cpu: 0, ids: 0 };
    k.cpu += used;
    k.ids++;
    kinds.set(kind, k);
  }
  return {
    groups: [...groups].map(([key, g]) => ({
      key,
      name: g.record.name,
      kind: g.record.kind,
      cpuSeconds: g.cpu,
      peakRssBytes: groupPeak.get(key)?.rss ?? 0,
      peakAt: groupPeak.get(key)?.at ?? 0,
      processes: g.ids,
    })),
    kinds: [...kinds].map(([key, k]) => ({
      key,
      name: key,
      kind: key === 'other' ? null : key,
      cpuSeconds: k.cpu,
      peakRssBytes: kindPeak.get(key)?.rss ?? 0,
      peakAt: kindPeak.get(key)?.at ?? 0,
      processes: k.ids,
    })),
  };
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
