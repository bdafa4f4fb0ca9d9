import { formatBytes, formatDuration } from '../model/format.js';
import type { Snapshot } from '../model/snapshot.js';
import type { Language } from '../model/text.js';
import { redact } from '../redact/redact.js';
import type { Finding } from '../rules/types.js';
import type { AlertRecord, SnapshotRecord } from '../store/types.js';
import type { FactSet, ProcessFacts } from '../understand/facts-schema.js';
import type { Advice } from './answer.js';

/**
 * `vigil explain <pid>`, the deterministic part: what vigil knows of a process without asking anyone —
 * kind, redacted cmdline, user, age, state, lineage (with the original parent that died, when vigil saw
 * it), cgroup and unit, children, open findings, and its memory and CPU over the kept history. Pure data
 * from a snapshot, its facts and the store, so `vigil watch` can show the same thing.
 */

export interface ExplainFacts {
  readonly pid: number;
  readonly startTicks: number;
  readonly name: string;
  readonly comm: string;
  readonly kind: string | null;
  readonly kindLabel: string | null;
  /** Secrets masked. */
  readonly cmdline: string;
  readonly user: string;
  readonly uid: number;
  readonly state: string;
  readonly startedAt: number;
  readonly ageSecs: number;
  readonly rssBytes: number;
  readonly rssPercent: number;
  /** Out in swap; null when unknown. */
  readonly swapBytes: number | null;
  readonly cpuPercent: number | null;
  readonly threads: number;
  readonly nice: number;
  /** Live ancestors, parent first, up to pid 1 (or the first one not in the snapshot). */
  readonly ancestors: ReadonlyArray<{ readonly pid: number; readonly name: string }>;
  readonly orphan: boolean;
  readonly orphanReason: string | null;
  /** The first parent vigil saw, when it is not the current one (it died). */
  readonly originalParent: string | null;
  readonly cgroup: string | null;
  /** The systemd unit or scope the cgroup names (`app-code-1234.scope`, `foo.service`). */
  readonly unit: string | null;
  readonly children: ReadonlyArray<{
    readonly pid: number;
    readonly name: string;
    readonly rssBytes: number;
  }>;
  readonly findings: ReadonlyArray<{
    readonly rule: string;
    readonly severity: string;
    readonly summary: string;
    readonly alertId: number | null;
    readonly since: number;
  }>;
  readonly history: {
    readonly samples: number;
    readonly from: number;
    readonly to: number;
    readonly rssFirstBytes: number;
    readonly rssLastBytes: number;
    readonly rssPeakBytes: number;
    readonly cpuMeanPercent: number;
    readonly cpuMaxPercent: number;
  } | null;
}

export interface ExplainInput {
  /** Open alerts from the store (those naming the pid are kept). */
  readonly alerts?: readonly AlertRecord[];
  /** Findings of a fresh look (point rules) or of the daemon's last cycle. */
  readonly findings?: readonly Finding[];
  /** Kept history snapshots: the process's own samples (same pid and start time) are summarised. */
  readonly history?: readonly SnapshotRecord[];
  readonly now?: number;
}

/** The systemd unit or scope a cgroup path names, or null. */
export function unitOfCgroup(cgroup: string | null): string | null {
  if (!cgroup) return null;
  const parts = cgroup.split('/').filter(Boolean).reverse();
  return parts.find((part) => /\.(service|scope)$/.test(part)) ?? null;
}

/** What vigil knows of `pid`, or null when the snapshot lacks it. */
export function explainFacts(
  pid: number,
  snapshot: Snapshot,
  facts: FactSet,
  input: ExplainInput = {},
): ExplainFacts | null {
  const processes = snapshot.processes ?? [];
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const p = byPid.get(pid);
  if (!p) return null;
  const now = input.now ?? snapshot.takenAt;
  const f = (facts.subjects.process ?? []).map((s) => s.facts as ProcessFacts).find((x) => x.pid === pid);
  const nameOf = (pid: number) => {
    const other = byPid.get(pid);
    const of = (facts.subjects.process ?? []).find((s) => (s.facts as ProcessFacts).pid === pid);
    return (of?.facts as ProcessFacts | undefined)?.name || other?.comm || '?';
  };
  const ancestors: Array<{ pid: number; name: string }> = [];
  let cursor = byPid.get(p.ppid);
  while (cursor && ancestors.length < 32) {
    ancestors.push({ pid: cursor.pid, name: nameOf(cursor.pid) });
    if (cursor.pid <= 1) break;
    cursor = byPid.get(cursor.ppid);
  }
  const children = processes
    .filter((c) => c.ppid === pid)
    .map((c) => ({ pid: c.pid, name: nameOf(c.pid), rssBytes: c.rssBytes }));
  const findings: Array<ExplainFacts['findings'][number]> = [
    ...(input.alerts ?? [])
      .filter((a) => a.pids.includes(pid) && a.resolvedAt === null)
      .map((a) => ({
        rule: a.rule,
        severity: a.severity,
        summary: a.summary,
        alertId: a.id,
        since: a.firstSeen,
      })),
  ];
  for (const finding of input.findings ?? []) {
    if (!finding.pids.includes(pid) || findings.some((x) => x.rule === finding.rule)) continue;
    findings.push({
      rule: finding.rule,
      severity: finding.severity,
      summary: finding.summary,
      alertId: null,
      since: finding.since,
    });
  }
  const points = (input.history ?? []).flatMap((s) =>
    s.processes
      .filter((r) => r.pid === pid && r.startTicks === p.startTicks)
      .map((r) => ({ at: s.takenAt, rss: r.rssBytes, cpu: r.cpuPercent })),
  );
  const memTotal = snapshot.memory?.totalBytes ?? 0;
  const original = f?.original_parent || null;
  return {
    pid,
    startTicks: p.startTicks,
    name: f?.name || p.comm,
    comm: p.comm,
    kind: f?.kind || null,
    kindLabel: f?.kind_label || null,
    cmdline: redact(p.cmdline || `[${p.comm}]`),
    user: p.user ?? String(p.uid),
    uid: p.uid,
    state: p.state,
    startedAt: p.startTime,
    ageSecs: Math.max(0, (now - p.startTime) / 1000),
    rssBytes: p.rssBytes,
    rssPercent: memTotal > 0 ? (p.rssBytes / memTotal) * 100 : 0,
    swapBytes: p.swapBytes,
    cpuPercent: p.cpuPercent,
    threads: p.threads,
    nice: p.nice,
    ancestors,
    orphan: f?.orphan ?? false,
    orphanReason: f?.orphan_reason || null,
    originalParent: original,
    cgroup: p.cgroup,
    unit: unitOfCgroup(p.cgroup),
    children,
    findings,
    history:
      points.length === 0
        ? null
        : {
            samples: points.length,
            from: points[0]!.at,
            to: points.at(-1)!.at,
            rssFirstBytes: points[0]!.rss,
            rssLastBytes: points.at(-1)!.rss,
            rssPeakBytes: Math.max(...points.map((x) => x.rss)),
            cpuMeanPercent: Math.round((points.reduce((s, x) => s + x.cpu, 0) / points.length) * 10) / 10,
            cpuMaxPercent: Math.max(...points.map((x) => x.cpu)),
          },
  };
}

const STATES: Record<Language, Record<string, string>> = {
  en: {
    R: 'running',
    S: 'sleeping',
    D: 'waiting on I/O (uninterruptible)',
    Z: 'zombie (exited, not reaped)',
    T: 'stopped',
    t: 'stopped by a tracer',
    I: 'idle',
    X: 'dead',
  },
  fr: {
    R: 'en cours d’exécution',
    S: 'en sommeil',
    D: 'en attente d’E/S (non interruptible)',
    Z: 'zombie (terminé, non récupéré)',
    T: 'arrêté',
    t: 'arrêté par un traceur',
    I: 'inactif',
    X: 'mort',
  },
};

const WORDS = {
  en: {
    process: 'process',
    kind: 'kind',
    none: 'none',
    user: 'user',
    state: 'state',
    age: 'running for',
    memory: 'memory',
    ofRam: 'of RAM',
    swap: 'swap',
    cpu: 'CPU',
    thread: 'thread',
    threads: 'threads',
    lineage: 'lineage',
    orphan: 'orphan',
    originalParent: 'first parent',
    exited: 'exited',
    notOrphan: 'not an orphan',
    cgroup: 'cgroup',
    unit: 'unit',
    children: 'children',
    findings: 'open findings',
    history: 'history',
    noHistory: 'none kept (the daemon keeps it: vigil run)',
    samples: 'samples',
    over: 'over',
    peak: 'peak',
    mean: 'mean',
    max: 'max',
    advice: 'advisor',
    options: 'options',
    textOnly: 'text only, never run by vigil',
    prevention: 'prevention',
    lessSure: 'the advisor is less sure than the catalog',
    alert: 'alert',
  },
  fr: {
    process: 'processus',
    kind: 'type',
    none: 'aucun',
    user: 'utilisateur',
    state: 'état',
    age: 'lancé depuis',
    memory: 'mémoire',
    ofRam: 'de la RAM',
    swap: 'swap',
    cpu: 'CPU',
    thread: 'thread',
    threads: 'threads',
    lineage: 'ascendance',
    orphan: 'orphelin',
    originalParent: 'premier parent',
    exited: 'terminé',
    notOrphan: 'pas orphelin',
    cgroup: 'cgroup',
    unit: 'unité',
    children: 'enfants',
    findings: 'constats ouverts',
    history: 'historique',
    noHistory: 'aucun (le démon le garde : vigil run)',
    samples: 'échantillons',
    over: 'sur',
    peak: 'pic',
    mean: 'moyenne',
    max: 'max',
    advice: 'conseiller',
    options: 'options',
    textOnly: 'texte seulement, jamais exécuté par vigil',
    prevention: 'prévention',
    lessSure: 'le conseiller est moins sûr que le catalogue',
    alert: 'alerte',
  },
} as const;

/** The deterministic part as text, in English or French. */
export function renderExplain(f: ExplainFacts, language: Language = 'en'): string {
  const w = WORDS[language];
  const out: string[] = [];
  const row = (label: string, value: string) => out.push(`${label.padEnd(14)} ${value}`);
  out.push(`${w.process} ${f.pid} ${f.name}`);
  row(
    w.kind,
    f.kind ? `${f.kind}${f.kindLabel && f.kindLabel !== f.kind ? ` (${f.kindLabel})` : ''}` : w.none,
  );
  row('cmdline', f.cmdline);
  row(w.user, `${f.user} (uid ${f.uid})`);
  row(w.state, `${f.state} ${STATES[language][f.state] ?? ''}`.trim());
  row(
    w.age,
    `${formatDuration(f.ageSecs)} (${new Date(f.startedAt).toISOString().replace('T', ' ').slice(0, 19)} UTC)`,
  );
  // Swap only when there is some: a process paged out shows what it really holds.
  const swap = f.swapBytes ? `, ${w.swap} ${formatBytes(f.swapBytes)}` : '';
  row(w.memory, `${formatBytes(f.rssBytes)} (${f.rssPercent.toFixed(1)}% ${w.ofRam})${swap}`);
  row(
    w.cpu,
    `${f.cpuPercent === null ? '-' : `${f.cpuPercent.toFixed(1)}%`}, ${f.threads} ${f.threads === 1 ? w.thread : w.threads}, nice ${f.nice}`,
  );
  const chain = [`${f.name} (${f.pid})`, ...f.ancestors.map((a) => `${a.name} (${a.pid})`)].join(' ← ');
  row(w.lineage, chain);
  row(w.orphan, f.orphan ? `${f.orphanReason ?? ''}` : w.notOrphan);
  if (f.originalParent) row(w.originalParent, `${f.originalParent} (${w.exited})`);
  row(w.cgroup, f.cgroup ?? '-');
  if (f.unit) row(w.unit, f.unit);
  row(
    w.children,
    f.children.length === 0
      ? w.none
      : `${f.children.length}: ${f.children
          .slice(0, 8)
          .map((c) => `${c.name} (${c.pid}, ${formatBytes(c.rssBytes)})`)
          .join(', ')}${f.children.length > 8 ? ', …' : ''}`,
  );
  if (f.findings.length === 0) row(w.findings, w.none);
  else {
    row(w.findings, '');
    for (const x of f.findings)
      out.push(
        `  ${x.severity.padEnd(8)} ${x.rule}${x.alertId !== null ? ` (${w.alert} ${x.alertId})` : ''}: ${x.summary}`,
      );
  }
  const h = f.history;
  row(
    w.history,
    h === null
      ? w.noHistory
      : `${formatBytes(h.rssFirstBytes)} → ${formatBytes(h.rssLastBytes)} ${w.over} ${formatDuration((h.to - h.from) / 1000)} (${w.peak} ${formatBytes(h.rssPeakBytes)}, ${h.samples} ${w.samples}); CPU ${w.mean} ${h.cpuMeanPercent}%, ${w.max} ${h.cpuMaxPercent}%`,
  );
  return `${out.join('\n')}\n`;
}

/** The advisor's part as text (after the deterministic part). */
export function renderAdvice(advice: Advice, language: Language = 'en'): string {
  const w = WORDS[language];
  const out = [`${w.advice} (${advice.model}, ${advice.severity}):`, `  ${advice.diagnostic}`];
  if (advice.suggestions.length > 0) out.push(`${w.options}:`);
  for (const s of advice.suggestions) {
    if (s.status === 'mapped')
      out.push(
        `  - ${s.action}${s.command ? `: ${s.command}` : ''} [${s.risk}, ${s.consent}${s.lowerConfidence ? `; ${w.lessSure}` : ''}] ${s.explanation}`,
      );
    else
      out.push(
        `  - ${w.textOnly}: ${s.modelCommand ?? `${s.type} ${s.target}`} (${s.reason}) ${s.explanation}`,
      );
  }
  if (advice.prevention) out.push(`${w.prevention}: ${advice.prevention}`);
  return `${out.join('\n')}\n`;
}
