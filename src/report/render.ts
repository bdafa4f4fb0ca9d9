import type { Advice } from '../advisor/answer.js';
import { fit, formatBytes, formatDuration } from '../model/format.js';
import type { Language } from '../model/text.js';
import type { Offender, Report } from './build.js';

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
const fixed = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/** The report's words in English and French (`general.language`). */
const WORDS = {
  en: {
    title: 'vigil report',
    counts: (a: number, s: number, g: number) => `${a} alert(s), ${s} snapshot(s), ${g} gap(s) in history.`,
    timeline: 'Timeline',
    nothingRaised: 'Nothing was raised.',
    timeHead: 'time (UTC)',
    event: 'event',
    raised: 'raised',
    resolved: 'resolved',
    severity: 'severity',
    alert: 'alert',
    user: 'user',
    command: 'command',
    rule: 'rule',
    summary: 'summary',
    peaks: 'Peaks',
    noSnapshots: 'No snapshots in this window.',
    metric: 'metric',
    peak: 'peak',
    when: 'when (UTC)',
    none: 'None.',
    what: 'what',
    kind: 'kind',
    cpuTime: 'CPU time',
    peakMemory: 'peak memory',
    processes: 'processes',
    topCpu: 'Top by CPU time',
    topMemory: 'Top by peak memory',
    byKind: 'By kind',
    actions: 'Actions taken',
    action: 'action',
    target: 'target',
    outcome: 'outcome',
    collectorProblems: 'Collector problems',
    last: 'last',
    gaps: 'Gaps (daemon not running)',
    at: 'at',
    metrics: {} as Record<string, string>,
  },
  fr: {
    title: 'rapport vigil',
    counts: (a: number, s: number, g: number) =>
      `${a} alerte(s), ${s} instantané(s), ${g} trou(s) dans l’historique.`,
    timeline: 'Chronologie',
    nothingRaised: 'Aucune alerte.',
    timeHead: 'heure (UTC)',
    event: 'événement',
    raised: 'levée',
    resolved: 'résolue',
    severity: 'gravité',
    alert: 'alerte',
    user: 'utilisateur',
    command: 'commande',
    rule: 'règle',
    summary: 'résumé',
    peaks: 'Pics',
    noSnapshots: 'Aucun instantané dans cette période.',
    metric: 'mesure',
    peak: 'pic',
    when: 'quand (UTC)',
    none: 'Aucun.',
    what: 'quoi',
    kind: 'type',
    cpuTime: 'temps CPU',
    peakMemory: 'mémoire au pic',
    processes: 'processus',
    topCpu: 'Les plus gourmands en CPU',
    topMemory: 'Les plus gourmands en mémoire',
    byKind: 'Par type',
    actions: 'Actions menées',
    action: 'action',
    target: 'cible',
    outcome: 'résultat',
    collectorProblems: 'Problèmes de collecte',
    last: 'dernier',
    gaps: 'Trous (démon arrêté)',
    at: 'à',
    metrics: {
      'RAM used': 'RAM utilisée',
      'swap used': 'swap utilisé',
      'load (1 min)': 'charge (1 min)',
      'CPU busy': 'CPU occupé',
      'memory pressure (some, 10 s)': 'pression mémoire (some, 10 s)',
      'CPU temperature': 'température CPU',
      'GPU temperature': 'température GPU',
    } as Record<string, string>,
  },
};

function metricName(lang: Language, metric: string): string {
  const direct = WORDS[lang].metrics[metric];
  if (direct) return direct;
  const disk = metric.match(/^disk (.*) used$/);
  return disk && lang === 'fr' ? `disque ${disk[1]} utilisé` : metric;
}

/** The advisor's answer in `alerts[].advice`: what it said and what vigil made of its suggestions. */
function adviceJson(advice: Advice): unknown {
  return {
    diagnostic: advice.diagnostic,
    severity: advice.severity,
    prevention: advice.prevention,
    model: advice.model,
    at: advice.at,
    suggestions: advice.suggestions.map((s) => ({
      status: s.status,
      action: s.action,
      command: s.command,
      risk: s.risk,
      consent: s.consent,
      reason: s.reason,
      explanation: s.explanation,
    })),
  };
}

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
      raisedSummary: a.raisedSummary ?? a.summary,
      pids: a.pids,
      subject: a.subject,
      firstSeen: a.firstSeen,
      lastSeen: a.lastSeen,
      resolvedAt: a.resolvedAt,
      count: a.count,
      event: a.event,
      ...(r.advice?.has(a.id) ? { advice: adviceJson(r.advice.get(a.id)!) } : {}),
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
export function reportMarkdown(r: Report, lang: Language = 'en'): string {
  const w = WORDS[lang];
  const out: string[] = [];
  out.push(`# ${w.title}: ${time(r.from)} → ${time(r.to)} UTC`, '');
  out.push(w.counts(r.alerts.length, r.snapshots, r.gaps.length), '');
  out.push(`## ${w.timeline}`, '');
  if (r.timeline.length === 0) out.push(w.nothingRaised, '');
  else {
    out.push(
      `| ${w.timeHead} | ${w.event} | ${w.alert} | ${w.severity} | ${w.rule} | ${w.summary} |`,
      '|---|---|---|---|---|---|',
    );
    for (const e of r.timeline) {
      out.push(
        `| ${time(e.at)} | ${e.alert.event ? w.event : w[e.what]} | ${e.alert.id} | ${e.alert.severity} | \`${e.alert.rule}\` | ${cell(e.summary)} |`,
      );
    }
    out.push('');
  }
  out.push(`## ${w.peaks}`, '');
  if (r.peaks.length === 0) out.push(w.noSnapshots, '');
  else {
    out.push(`| ${w.metric} | ${w.peak} | ${w.when} |`, '|---|---|---|');
    for (const p of r.peaks)
      out.push(`| ${cell(metricName(lang, p.metric))} | ${fixed(p.value)}${p.unit} | ${time(p.at)} |`);
    out.push('');
  }
  const offenderTable = (title: string, rows: readonly Offender[], byKind = false) => {
    out.push(`## ${title}`, '');
    if (rows.length === 0) {
      out.push(w.none, '');
      return;
    }
    const head = byKind ? [w.kind] : [w.user, w.command, w.kind];
    out.push(
      `| ${[...head, w.cpuTime, w.peakMemory, w.processes].join(' | ')} |`,
      `|${'---|'.repeat(head.length + 3)}`,
    );
    for (const o of rows) {
      const who = byKind
        ? [cell(o.name)]
        : [cell(o.user ?? ''), cell(o.command ?? o.name), cell(o.kind ?? '')];
      out.push(
        `| ${[...who, formatDuration(o.cpuSeconds), formatBytes(o.peakRssBytes), o.processes].join(' | ')} |`,
      );
    }
    out.push('');
  };
  offenderTable(w.topCpu, r.topByCpuTime);
  offenderTable(w.topMemory, r.topByPeakMemory);
  offenderTable(w.byKind, r.byKind, true);
  out.push(`## ${w.actions}`, '');
  if (r.actions.length === 0) out.push(w.none, '');
  else {
    out.push(
      `| ${w.timeHead} | ${w.alert} | ${w.what} | ${w.action} | ${w.target} | ${w.outcome} |`,
      '|---|---|---|---|---|---|',
    );
    for (const a of r.actions)
      out.push(
        `| ${time(a.at)} | ${a.alertId ?? ''} | ${cell(a.what)} | ${a.action} | ${cell(a.target)} | ${cell(a.outcome)} |`,
      );
    out.push('');
  }
  out.push(`## ${w.collectorProblems}`, '');
  if (r.collectorProblems.length === 0) out.push(w.none, '');
  else
    for (const c of r.collectorProblems)
      out.push(`- **${c.collector}** ${c.count}×, ${w.last} ${time(c.lastAt)}: ${cell(c.error)}`);
  if (r.collectorProblems.length > 0) out.push('');
  out.push(`## ${w.gaps}`, '');
  if (r.gaps.length === 0) out.push(w.none);
  else
    for (const g of r.gaps)
      out.push(`- ${time(g.from)} → ${time(g.to)} (${formatDuration((g.to - g.from) / 1000)})`);
  return `${out.join('\n')}\n`;
}

/**
 * Text from the machine (process names, summaries, targets, errors) as literal Markdown on one line: the
 * characters CommonMark and GitHub give meaning to inline are backslash-escaped (`*`, `_`, `` ` ``, `~`,
 * `[`, `]`, `<`, `>`, `&`, `|`, `\`), so a process named `[click](http://evil)` or `<img src=x>` shows as
 * written rather than as a link or HTML; and an `@` before a name gets a zero-width space after it, so
 * `@everyone` or `@org/team` pasted into an issue or a chat mentions nobody. Line-start syntax (`#`, `-`,
 * `>`) cannot occur: a cell never starts a line.
 */
export function markdownText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/[\\`*_~[\]<>&|]/g, '\\$&')
    .replace(/@(?=[\w-])/g, '@\u200b');
}

const cell = markdownText;

/** The terminal form: the Markdown without its table syntax, aligned. */
export function reportText(r: Report, lang: Language = 'en'): string {
  const w = WORDS[lang];
  const out: string[] = [];
  out.push(
    `${w.title} ${time(r.from)} → ${time(r.to)} UTC: ${w.counts(r.alerts.length, r.snapshots, r.gaps.length)}`,
    '',
  );
  out.push(w.timeline);
  if (r.timeline.length === 0) out.push(`  ${w.nothingRaised}`);
  // `#12` is the id `vigil fix 12` and `vigil veto 12` take.
  const idWidth = Math.max(0, ...r.timeline.map((e) => String(e.alert.id).length + 1));
  for (const e of r.timeline) {
    out.push(
      `  ${time(e.at)}  ${(e.alert.event ? w.event : w[e.what]).padEnd(10)} ${e.alert.severity.padEnd(8)} ${`#${e.alert.id}`.padStart(idWidth)} ${e.alert.rule}: ${e.summary}`,
    );
  }
  out.push('', w.peaks);
  for (const p of r.peaks)
    out.push(
      `  ${metricName(lang, p.metric).padEnd(32)} ${`${fixed(p.value)}${p.unit}`.padStart(8)}  ${w.at} ${time(p.at)}`,
    );
  const usage = (o: Offender) =>
    `${formatDuration(o.cpuSeconds).padStart(8)} CPU ${formatBytes(o.peakRssBytes).padStart(9)} peak  ×${o.processes}`;
  const table = (title: string, rows: readonly Offender[]) => {
    out.push('', title);
    if (rows.length === 0) out.push(`  ${w.none}`);
    const userWidth = Math.min(12, Math.max(0, ...rows.map((o) => (o.user ?? '').length)));
    for (const o of rows) {
      // The command last and whole: a user tells `python3 train.py` from `python3 serve.py` by it.
      out.push(
        `  ${usage(o)}  ${fit(o.user ?? '', userWidth, true)}  ${(o.kind ?? '').padEnd(15)} ${o.command ?? o.name}`,
      );
    }
  };
  table(w.topCpu, r.topByCpuTime);
  table(w.topMemory, r.topByPeakMemory);
  out.push('', w.byKind);
  if (r.byKind.length === 0) out.push(`  ${w.none}`);
  for (const o of r.byKind) out.push(`  ${usage(o)}  ${o.name}`);
  if (r.advice && r.advice.size > 0) {
    out.push('', lang === 'fr' ? 'Conseils' : 'Advice');
    for (const [id, advice] of r.advice) out.push(`  alert ${id} (${advice.model}): ${advice.diagnostic}`);
  }
  out.push('', `${w.actions}: ${r.actions.length === 0 ? w.none : ''}`);
  for (const a of r.actions)
    out.push(
      `  ${time(a.at)} ${a.alertId === null ? '' : `#${a.alertId} `}${a.what} (${a.action}; ${a.target}): ${a.outcome}`,
    );
  out.push(`${w.collectorProblems}: ${r.collectorProblems.length === 0 ? w.none : ''}`);
  for (const c of r.collectorProblems)
    out.push(`  ${c.collector} ${c.count}×, ${w.last} ${time(c.lastAt)}: ${c.error}`);
  out.push(`${w.gaps}: ${r.gaps.length === 0 ? w.none : ''}`);
  for (const g of r.gaps)
    out.push(`  ${time(g.from)} → ${time(g.to)} (${formatDuration((g.to - g.from) / 1000)})`);
  return `${out.join('\n')}\n`;
}
