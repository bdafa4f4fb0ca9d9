import { formatBytes, formatDuration } from '../cli/format.js';
import type { Offender, Report } from './build.js';

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
const fixed = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/** The JSON form: a public contract (`alerts[]` names are documented in README.md). */
export function reportJson(r: Report): unknown {
  return {
    from: r.from,
    to: r.to,
    snapshots: r.snapshots,
    alerts: r.alerts.map((a) => ({
      id: a.id,
      rule: a.rule,
      severity: a.severity,
      summary: a.summary,
      pids: a.pids,
      subject: a.subject,
      firstSeen: a.firstSeen,
      lastSeen: a.lastSeen,
      resolvedAt: a.resolvedAt,
      count: a.count,
      event: a.event,
    })),
    peaks: r.peaks,
    topByCpuTime: r.topByCpuTime,
    topByPeakMemory: r.topByPeakMemory,
    byKind: r.byKind,
    actions: r.actions,
    collectorProblems: r.collectorProblems,
    gaps: r.gaps,
  };
}

/**
 * Markdown that pastes cleanly into an issue or a chat: headings, one table per section, no colour, no
 * line longer than the content needs.
 */
export function reportMarkdown(r: Report): string {
  const out: string[] = [];
  out.push(`# vigil report: ${time(r.from)} → ${time(r.to)} UTC`, '');
  out.push(
    `${r.alerts.length} alert(s), ${r.snapshots} snapshot(s), ${r.gaps.length} gap(s) in history.`,
    '',
  );
  out.push('## Timeline', '');
  if (r.timeline.length === 0) out.push('Nothing was raised.', '');
  else {
    out.push('| time (UTC) | event | severity | rule | summary |', '|---|---|---|---|---|');
    for (const e of r.timeline) {
      out.push(
        `| ${time(e.at)} | ${e.alert.event ? 'event' : e.what} | ${e.alert.severity} | \`${e.alert.rule}\` | ${cell(e.alert.summary)} |`,
      );
    }
    out.push('');
  }
  out.push('## Peaks', '');
  if (r.peaks.length === 0) out.push('No snapshots in this window.', '');
  else {
    out.push('| metric | peak | when (UTC) |', '|---|---|---|');
    for (const p of r.peaks) out.push(`| ${p.metric} | ${fixed(p.value)}${p.unit} | ${time(p.at)} |`);
    out.push('');
  }
  const offenderTable = (title: string, rows: readonly Offender[]) => {
    out.push(`## ${title}`, '');
    if (rows.length === 0) {
      out.push('None.', '');
      return;
    }
    out.push('| what | kind | CPU time | peak memory | processes |', '|---|---|---|---|---|');
    for (const o of rows) {
      out.push(
        `| ${cell(o.name)} | ${o.kind ?? ''} | ${formatDuration(o.cpuSeconds)} | ${formatBytes(o.peakRssBytes)} | ${o.processes} |`,
      );
    }
    out.push('');
  };
  offenderTable('Top by CPU time', r.topByCpuTime);
  offenderTable('Top by peak memory', r.topByPeakMemory);
  offenderTable('By kind', r.byKind);
  out.push('## Actions taken', '');
  if (r.actions.length === 0) out.push('None.', '');
  else {
    out.push('| time (UTC) | action | target | outcome |', '|---|---|---|---|');
    for (const a of r.actions) out.push(`| ${time(a.at)} | ${a.action} | ${cell(a.target)} | ${a.outcome} |`);
    out.push('');
  }
  out.push('## Collector problems', '');
  if (r.collectorProblems.length === 0) out.push('None.', '');
  else
    for (const c of r.collectorProblems)
      out.push(`- **${c.collector}** ${c.count}×, last ${time(c.lastAt)}: ${cell(c.error)}`);
  if (r.collectorProblems.length > 0) out.push('');
  out.push('## Gaps (daemon not running)', '');
  if (r.gaps.length === 0) out.push('None.');
  else
    for (const g of r.gaps)
      out.push(`- ${time(g.from)} → ${time(g.to)} (${formatDuration((g.to - g.from) / 1000)})`);
  return `${out.join('\n')}\n`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
}

/** The terminal form: the Markdown without its table syntax, aligned. */
export function reportText(r: Report): string {
  const out: string[] = [];
  out.push(
    `vigil report ${time(r.from)} → ${time(r.to)} UTC: ${r.alerts.length} alert(s), ${r.snapshots} snapshot(s)`,
    '',
  );
  out.push('Timeline');
  if (r.timeline.length === 0) out.push('  nothing was raised');
  for (const e of r.timeline) {
    out.push(
      `  ${time(e.at)}  ${(e.alert.event ? 'event' : e.what).padEnd(8)} ${e.alert.severity.padEnd(8)} ${e.alert.rule}: ${e.alert.summary}`,
    );
  }
  out.push('', 'Peaks');
  for (const p of r.peaks)
    out.push(`  ${p.metric.padEnd(32)} ${`${fixed(p.value)}${p.unit}`.padStart(8)}  at ${time(p.at)}`);
  const table = (title: string, rows: readonly Offender[]) => {
    out.push('', title);
    for (const o of rows) {
      out.push(
        `  ${o.name.slice(0, 40).padEnd(40)} ${(o.kind ?? '').padEnd(15)} ${formatDuration(o.cpuSeconds).padStart(8)} CPU ${formatBytes(o.peakRssBytes).padStart(9)} peak  ×${o.processes}`,
      );
    }
  };
  table('Top by CPU time', r.topByCpuTime);
  table('Top by peak memory', r.topByPeakMemory);
  table('By kind', r.byKind);
  out.push('', `Actions taken: ${r.actions.length === 0 ? 'none' : ''}`);
  for (const a of r.actions) out.push(`  ${time(a.at)} ${a.action} ${a.target}: ${a.outcome}`);
  out.push(`Collector problems: ${r.collectorProblems.length === 0 ? 'none' : ''}`);
  for (const c of r.collectorProblems)
    out.push(`  ${c.collector} ${c.count}×, last ${time(c.lastAt)}: ${c.error}`);
  out.push(`Gaps (daemon not running): ${r.gaps.length === 0 ? 'none' : ''}`);
  for (const g of r.gaps)
    out.push(`  ${time(g.from)} → ${time(g.to)} (${formatDuration((g.to - g.from) / 1000)})`);
  return `${out.join('\n')}\n`;
}
