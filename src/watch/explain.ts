import { formatBytes, formatDuration, formatPercent } from '../model/format.js';
import type { ProcessSample } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { KIND_LABELS, type Kind } from '../understand/classify.js';
import { formatMoment, type ProcRow, type WatchFrame } from './model.js';

const STATE_NAMES: Readonly<Record<string, string>> = {
  R: 'running',
  S: 'sleeping',
  D: 'in uninterruptible wait (usually I/O)',
  Z: 'a zombie (exited, not yet reaped by its parent)',
  T: 'stopped',
  t: 'stopped by a debugger',
  I: 'idle',
  X: 'dead',
};

/** `an MCP server`, `a language server`: a kind's label with its article (a kind of its own is named as it is). */
export function aKind(kind: string): string {
  const label = KIND_LABELS[kind as Kind] ?? kind;
  // "an" before a vowel, and before an initialism read from a letter said with a vowel (MCP: "em-see-pee").
  return `${/^([aeiou]|[AEFHILMNORSX][A-Z])/i.test(label) && !/^(u[bnrst][aeiou]|eu|one)/i.test(label) ? 'an' : 'a'} ${label}`;
}

/** `1 thread`, `8 threads`. */
function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The deterministic part of `e` (explain), shown at once: what the process is, its lineage up to pid 1
 * (and the parent it lost, for an orphan), its children, and the findings naming it. The cmdline is
 * redacted, as `vigil kill` and `vigil explain` show it. A group row explains its oldest member and
 * lists the others.
 */
export function explainRow(frame: WatchFrame, row: ProcRow): string[] {
  if (frame.replay) return explainStored(frame, row);
  const processes = frame.snapshot.processes ?? [];
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const p = byPid.get(row.pid);
  const lines: string[] = [];
  if (!p) return [`pid ${row.pid} is no longer in the process table`];
  const info = frame.info.get(p.pid);
  const age = formatDuration((frame.snapshot.takenAt - p.startTime) / 1000);
  lines.push(
    `pid ${p.pid} ${p.comm}${info?.kind ? ` — ${aKind(info.kind)}` : ''}, user ${p.user ?? p.uid}, up ${age}, ${STATE_NAMES[p.state] ?? `state ${p.state}`}`,
  );
  lines.push(`  ${redact(p.cmdline || `[${p.comm}]`)}`);
  lines.push(
    `  CPU ${formatPercent(p.cpuPercent, 1)}, ${formatBytes(p.rssBytes)} resident${p.swapBytes ? `, ${formatBytes(p.swapBytes)} in swap` : ''}, ${count(p.threads, 'thread')}${p.tty ? `, terminal ${p.tty}` : ''}${p.gpuMemoryBytes ? `, ${formatBytes(p.gpuMemoryBytes)} GPU memory` : ''}`,
  );
  if (p.cgroup) lines.push(`  cgroup ${p.cgroup}`);
  lines.push(`lineage: ${lineage(p, byPid)}`);
  if (info?.orphan) {
    lines.push(
      `  orphaned: its parent${info.originalParent ? ` (${info.originalParent})` : ''} exited and it was re-parented to pid ${p.ppid}`,
    );
  }
  const children = processes.filter((c) => c.ppid === p.pid);
  if (children.length > 0) {
    const shown = children
      .slice(0, 6)
      .map((c) => `${c.comm} (${c.pid})`)
      .join(', ');
    lines.push(`${count(children.length, 'child', 'children')}: ${shown}${children.length > 6 ? ', …' : ''}`);
  }
  if (row.count > 1) {
    lines.push(
      `group of ${row.count} identical processes, ${formatBytes(row.rssBytes)} together: pids ${row.members
        .slice(0, 12)
        .map((m) => m.pid)
        .join(' ')}${row.count > 12 ? ' …' : ''}`,
    );
  }
  const pids = new Set(row.members.map((m) => m.pid));
  const findings = frame.alerts.filter((a) => a.pids.some((pid) => pids.has(pid)));
  if (findings.length === 0) lines.push('findings: none');
  for (const f of findings) lines.push(`finding: ${f.severity.toUpperCase()} ${f.rule}: ${f.summary}`);
  return lines;
}

/**
 * `e` on a frame from the history: what the stored snapshot kept of the process (kind, user, state,
 * cmdline as stored, CPU and memory) and the alerts open then naming it. No advisor: it explains a pid
 * running now, which may be another process by now.
 */
function explainStored(frame: WatchFrame, row: ProcRow): string[] {
  const stored = frame.replay!.record.processes.find(
    (p) => p.pid === row.pid && `p${p.pid}:${p.startTicks}` === row.key,
  );
  if (!stored) return [`pid ${row.pid} is not in the stored snapshot`];
  const lines = [
    `pid ${stored.pid} ${stored.comm}${stored.kind ? ` — ${aKind(stored.kind)}` : ''}, user ${stored.user}, ${STATE_NAMES[stored.state] ?? `state ${stored.state}`}${stored.orphan ? ', orphaned' : ''}`,
    `  ${redact(stored.cmdline || `[${stored.comm}]`)}`,
    `  CPU ${formatPercent(stored.cpuPercent, 1)}, ${formatBytes(stored.rssBytes)} resident${stored.swapBytes ? `, ${formatBytes(stored.swapBytes)} in swap` : ''}, ${formatDuration(stored.cpuSeconds)} of CPU time`,
    `as stored at ${formatMoment(frame.snapshot.takenAt)}: lineage, children, threads and cgroup are not kept in history, and the advisor explains only processes running now`,
  ];
  const findings = frame.alerts.filter((a) => a.pids.includes(stored.pid));
  if (findings.length === 0) lines.push('findings open then: none');
  for (const f of findings)
    lines.push(`finding open then: ${f.severity.toUpperCase()} ${f.rule}: ${f.summary}`);
  return lines;
}

/** `python3 (4242) ← node (4200) ← bash (100) ← systemd (1)`: parents as far as the snapshot knows. */
export function lineage(p: ProcessSample, byPid: ReadonlyMap<number, ProcessSample>): string {
  const chain: string[] = [`${p.comm} (${p.pid})`];
  const seen = new Set([p.pid]);
  let at = byPid.get(p.ppid);
  while (at && !seen.has(at.pid) && chain.length < 12) {
    chain.push(`${at.comm} (${at.pid})`);
    seen.add(at.pid);
    at = byPid.get(at.ppid);
  }
  return chain.join(' ← ');
}

/**
 * The advisor's stored answer as lines: its diagnostic, each action with its command, and prevention
 * (the advisor's JSON shape); any other JSON or text is shown as it is.
 */
export function adviceText(raw: string): string {
  // Stored advice is the advisor's text: written out like a process name (rows stored before vigil did
  // so as it stored them may hold escape sequences), line by line, so the lines given here stay lines.
  return adviceLines(raw)
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}

function adviceLines(raw: string): string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return raw.trim();
  }
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  const a = value as {
    diagnostic?: unknown;
    actions?: unknown;
    prevention?: unknown;
  };
  const parts: string[] = [];
  if (typeof a.diagnostic === 'string') parts.push(a.diagnostic);
  if (Array.isArray(a.actions)) {
    for (const action of a.actions as Array<Record<string, unknown>>) {
      const what =
        typeof action['explanation'] === 'string' ? action['explanation'] : String(action['type'] ?? '');
      const command = typeof action['command'] === 'string' ? ` (${action['command']})` : '';
      parts.push(`→ ${what}${command}`);
    }
  }
  if (typeof a.prevention === 'string') parts.push(`prevention: ${a.prevention}`);
  return parts.length > 0 ? parts.join('\n') : JSON.stringify(value);
}
