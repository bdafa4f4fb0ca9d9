/**
 * `npm run bench`: measures vigil beside a peer (ps, top, systeminformation...) in the same run on the
 * same machine and prints ratios. Targets are reported as met or not met; a missed target never fails the
 * run — only a crash of the bench itself exits non-zero.
 *
 *   node --import tsx bench/run.ts [--only <section>] [--json] [--daemon-secs N]
 *
 * Sections are an explicit list below; each returns rows that are printed as one table at the end.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_DAEMON_SECS, daemonSection } from './daemon.js';
import {
  type BenchOptions,
  formatNumber,
  formatRatio,
  machineInfo,
  type Row,
  renderTable,
  type Section,
} from './lib.js';
import { reportSection } from './report.js';
import { rulesSection } from './rules.js';
import { snapshotSection } from './snapshot.js';
import { watchSection } from './watch.js';

/** Every section, in the order they run. Adding one means adding a line here. */
const SECTIONS: readonly Section[] = [
  snapshotSection,
  rulesSection,
  reportSection,
  daemonSection,
  watchSection,
];

function usage(): string {
  const names = SECTIONS.map((s) => `  ${s.name.padEnd(10)} ${s.description}`).join('\n');
  return (
    'usage: node --import tsx bench/run.ts [--only <section>[,<section>…]] [--json] [--daemon-secs N]\n\n' +
    `  --daemon-secs N   how long the daemon section runs (default ${DEFAULT_DAEMON_SECS})\n\n` +
    `sections:\n${names}\n`
  );
}

/** One line per row that has a target: what it means in words. */
function interpret(r: Row): string {
  const tag = r.verdict === 'met' ? 'met    ' : r.verdict === 'not met' ? 'NOT MET' : 'skipped';
  if (r.verdict === 'skipped') return `${tag}  ${r.section}: ${r.metric} — ${r.note ?? 'not measured'}`;
  const value = `${formatNumber(r.vigil)} ${r.unit}`;
  // "N× faster" only where it says something: a ratio within 5% of 1.00× is a tie.
  const faster =
    r.ratio !== null && r.ratio > 0 && r.ratio < 0.95 ? `, ${(1 / r.ratio).toFixed(1)}× faster` : '';
  const against =
    r.peer !== null
      ? ` vs ${formatNumber(r.peer)} ${r.unit} for ${r.peerName} (${formatRatio(r.ratio)}${faster})`
      : '';
  return `${tag}  ${r.section}: ${r.metric}: ${value}${against}; target ${r.target}`;
}

async function main(): Promise<number> {
  let values: { only?: string; json?: boolean; help?: boolean; 'daemon-secs'?: string };
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        'daemon-secs': { type: 'string', default: String(DEFAULT_DAEMON_SECS) },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${usage()}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const daemonSecs = Number(values['daemon-secs']);
  if (!Number.isFinite(daemonSecs) || daemonSecs < 20) {
    process.stderr.write(`bench: --daemon-secs ${values['daemon-secs']}: expected at least 20 seconds\n`);
    return 2;
  }
  const options: BenchOptions = { daemonSecs };
  const wanted = values.only?.split(',').map((name) => name.trim());
  const unknown = wanted?.filter((name) => !SECTIONS.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`bench: no section named "${unknown.join('", "')}"\n${usage()}`);
    return 2;
  }
  const chosen = wanted === undefined ? SECTIONS : SECTIONS.filter((s) => wanted.includes(s.name));

  const machine = machineInfo();
  // Progress goes to stderr so `--json` leaves stdout a single JSON document.
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (!values.json) {
    process.stdout.write(
      `vigil bench · ${machine.cores} cores (${machine.cpuModel}) · ${machine.memoryGiB} GiB · ` +
        `node ${machine.node} · kernel ${machine.kernel} · ${machine.processes} processes at start\n\n`,
    );
  }

  const rows: Row[] = [];
  const notes: string[] = [];
  const started = performance.now();
  for (const section of chosen) {
    log(`[${section.name}] ${section.description}`);
    const sectionStarted = performance.now();
    const result = await section.run((line) => log(`[${section.name}] ${line}`), options);
    rows.push(...result.rows);
    notes.push(...result.notes.map((note) => `${section.name}: ${note}`));
    log(`[${section.name}] done in ${((performance.now() - sectionStarted) / 1000).toFixed(1)} s`);
  }
  const totalSecs = (performance.now() - started) / 1000;

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ machine, totalSecs, rows, notes }, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [''];
  out.push(renderTable(rows));
  out.push('', 'ratio = vigil ÷ peer: below 1.00× vigil is faster (or smaller).', '');
  const judged = rows.filter((r) => r.verdict !== undefined);
  if (judged.length > 0) out.push('targets:', ...judged.map((r) => `  ${interpret(r)}`), '');
  if (notes.length > 0) out.push('notes:', ...notes.map((n) => `  ${n}`), '');
  out.push(`bench took ${totalSecs.toFixed(1)} s; targets are informative, a miss does not fail the run.`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(
    `bench crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
}
