/**
 * What `vigil rules test --replay` prints: what today's rules would have fired over the stored history
 * and when, beside what fired then, a summary line, and what the replay could not see.
 */
import { formatProblem } from '../config/problems.js';
import { fit } from '../model/format.js';
import { machineShapeNow } from '../pipeline/history.js';
import type { GlobalOptions } from '../pipeline/options.js';
import { sampleOptionsFrom } from '../pipeline/options.js';
import { type ReplayReport, replayRules } from '../pipeline/replay.js';
import { loadRulesRuntime } from '../rules/runtime.js';
import { openHistory } from './audit.js';

/** Replays the last `windowMs` of history through the rules as loaded now (plus `file`'s, if given). */
export async function runReplay(
  global: GlobalOptions,
  windowMs: number,
  file: string | null,
  json: boolean,
): Promise<void> {
  const runtime = loadRulesRuntime({
    configPath: global.config,
    ...(file === null ? {} : { extraRuleFiles: [file] }),
  });
  for (const problem of runtime.problems) process.stderr.write(`${formatProblem(problem)}\n`);
  const store = await openHistory();
  if (store === null) return;
  const config = runtime.config.config;
  const to = Date.now();
  let report: ReplayReport;
  try {
    const shape = await machineShapeNow(sampleOptionsFrom(global));
    report = await replayRules({
      runtime,
      store,
      from: to - windowMs,
      to,
      shape,
      snapshotIntervalMs: config.history.snapshot_interval_secs * 1000,
    });
  } finally {
    store.close();
  }
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderReplay(report));
  if (runtime.problems.length > 0) process.exitCode = 1;
}

/** `2026-05-01 03:10:00` (UTC). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** From–to, the end's date left out when it is the start's. */
function span(from: number, to: number | null, open: string): string {
  if (to === null) return `${stamp(from)} – ${open}`;
  const end = stamp(to);
  return `${stamp(from)} – ${end.slice(0, 10) === stamp(from).slice(0, 10) ? end.slice(11) : end}`;
}

/** How many times each rule, `ram_high ×2, disk_low ×1`. */
function perRule(items: ReadonlyArray<{ rule: string }>): string {
  const counts = new Map<string, number>();
  for (const { rule } of items) counts.set(rule, (counts.get(rule) ?? 0) + 1);
  return [...counts].map(([rule, n]) => `${rule} ×${n}`).join(', ');
}

export function renderReplay(r: ReplayReport): string {
  const lines: string[] = [];
  const step = r.stepMs === null ? '' : `, one every ${Math.round(r.stepMs / 1000)} s`;
  lines.push(
    `Replayed ${r.snapshots} stored snapshot(s) from ${stamp(r.from)} to ${stamp(r.to)} UTC${step}, with ${r.rules.length} rules as loaded now.`,
    '',
  );
  lines.push(`Would have fired (${r.wouldFire.length}):`);
  if (r.wouldFire.length === 0) lines.push('  nothing');
  for (const e of r.wouldFire) {
    const end = e.cut === 'gap' ? 'a gap in the history' : 'still firing at the end';
    lines.push(
      `  ${e.severity.toUpperCase().padEnd(8)} ${e.rule} on ${e.subject === 'system' ? 'this machine' : e.subject}: ` +
        `${span(e.since, e.resolvedAt, end)} (fires ${stamp(e.firedAt).slice(11)})${e.firedThen ? '' : ' — did not fire then'}`,
      `           ${fit(e.summary, 120)}`,
    );
  }
  lines.push('', `Fired then (${r.firedThen.length}, from the alerts table):`);
  if (r.firedThen.length === 0) lines.push('  nothing');
  for (const a of r.firedThen) {
    const when = a.event ? `${stamp(a.since)} (event)` : span(a.since, a.resolvedAt, 'still open');
    lines.push(
      `  ${a.severity.toUpperCase().padEnd(8)} ${a.rule} on ${a.subject === 'system' ? 'this machine' : a.subject}: ${when}` +
        `${a.wouldFire ? '' : ' — would not fire now'}`,
      `           ${fit(a.summary, 120)}`,
    );
  }
  for (const e of r.errors) lines.push(`error in ${e.rule} (${e.count} time(s)): ${e.message}`);
  const both = r.wouldFire.filter((e) => e.firedThen).length;
  lines.push(
    '',
    `Summary: ${r.wouldFire.length} would have fired${r.wouldFire.length ? ` (${perRule(r.wouldFire)})` : ''}; ` +
      `${r.firedThen.length} fired then${r.firedThen.length ? ` (${perRule(r.firedThen)})` : ''}; ` +
      `${both} of the first fired then too.`,
    '',
    'Notes (what a replay cannot see):',
    ...r.notes.map((note) => `  - ${note}`),
  );
  return `${lines.join('\n')}\n`;
}
