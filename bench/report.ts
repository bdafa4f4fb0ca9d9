/**
 * The report section: `vigil report` over a week of history, and the size of that week on disk. The week
 * is synthetic but written through the real store the way the daemon writes it at the default settings
 * (see history.ts), into a temporary state directory; `vigil report` and `vigil health` then run as a
 * user would run them, each a whole program from spawn to exit.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildHistory, type HistoryFacts, SNAPSHOTS } from './history.js';
import {
  importDist,
  median,
  ROOT,
  type Row,
  row,
  type Section,
  type SectionResult,
  type SpawnTiming,
  timeProgram,
  VIGIL_BIN,
  vigilEnv,
  withVerdict,
} from './lib.js';

const SECTION = 'report';
const RUNS = 5;
const STAGE_RUNS = 4;
/** From the issue: `vigil report` over 7 days at most this, and the database at 7 days at most 64 MB. */
const TARGET_REPORT_MS = 300;
const TARGET_DATABASE_MB = 64;
const MB = 1024 * 1024;

/** The parts of `vigil report --json` checked here. */
interface ReportJson {
  readonly snapshots?: number;
  readonly alerts?: unknown[];
}

interface Contender {
  readonly label: string;
  readonly args: readonly string[];
  /** Exit statuses that mean it worked (`vigil health` exits 1 when no daemon runs, as here). */
  readonly ok: readonly number[];
  readonly target: boolean;
}

const CONTENDERS: readonly Contender[] = [
  { label: 'report --since 7d (text)', args: ['report', '--since', '7d'], ok: [0], target: true },
  { label: 'report --since 7d --json', args: ['report', '--since', '7d', '--json'], ok: [0], target: true },
  {
    label: 'report --since 7d --markdown',
    args: ['report', '--since', '7d', '--markdown'],
    ok: [0],
    target: true,
  },
  { label: 'health', args: ['health'], ok: [0, 1], target: false },
];

interface Stages {
  readonly readMs: number;
  readonly buildMs: number;
  readonly renderMs: number;
}

/**
 * Where `vigil report` spends its time, timed inside this process on dist/ with the calls
 * src/cli/report.ts makes: reading the window from the store, building the report, rendering the text.
 * The first call is cold (this process has not run that code yet: interpreted, then baseline-compiled),
 * as in every `vigil report`; the later ones show what the same code costs once optimised.
 */
async function reportStages(dbPath: string, runs: number): Promise<{ cold: Stages; warm: Stages }> {
  const { openStore } = await importDist<typeof import('../src/store/store.js')>('store/store.js');
  const { buildReport } = await importDist<typeof import('../src/report/build.js')>('report/build.js');
  const { reportText } = await importDist<typeof import('../src/report/render.js')>('report/render.js');
  const samples: Stages[] = [];
  for (let i = 0; i < runs; i++) {
    const store = openStore(dbPath);
    try {
      const to = Date.now();
      const from = to - 7 * 24 * 3_600_000;
      const started = performance.now();
      const alerts = store.alertsBetween(from, to);
      const history = store.historyBetween(from, to);
      const runs = store.runsBetween(from, to);
      const collectorProblems = store.collectorProblemsBetween(from, to);
      const read = performance.now();
      const report = buildReport({
        from,
        to,
        alerts,
        snapshots: history.snapshots,
        packed: history,
        runs,
        snapshotIntervalMs: 60_000,
        collectorProblems,
        top: 10,
      });
      const built = performance.now();
      reportText(report);
      samples.push({ readMs: read - started, buildMs: built - read, renderMs: performance.now() - built });
    } finally {
      store.close();
    }
  }
  const warm = samples.slice(1);
  return {
    cold: samples[0]!,
    warm: {
      readMs: median(warm.map((s) => s.readMs)),
      buildMs: median(warm.map((s) => s.buildMs)),
      renderMs: median(warm.map((s) => s.renderMs)),
    },
  };
}

function describeFailure(c: Contender, t: SpawnTiming): string {
  const line = t.stderr.split('\n').find((l) => l.trim() !== '') ?? '';
  return `\`vigil ${c.args.join(' ')}\` exited with ${t.status}${line ? `: ${line.trim()}` : ''}`;
}

async function run(log: (line: string) => void): Promise<SectionResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const home = mkdtempSync(join(tmpdir(), 'vigil-bench-report-'));
  try {
    const env = vigilEnv(home);
    const dbPath = join(home, 'state', 'vigil', 'vigil.db');
    mkdirSync(join(home, 'run'), { recursive: true });
    log(`  writing ${SNAPSHOTS} snapshots (7 days, one a minute) and a cycle every 5 s into ${dbPath}`);
    const facts: HistoryFacts = await buildHistory(dbPath, Date.now(), log);
    log(
      `  written in ${(facts.buildMs / 1000).toFixed(1)} s: ${facts.snapshots} snapshots, ` +
        `${facts.alerts} alerts, ${(facts.openSizeBytes / MB).toFixed(1)} MB`,
    );

    const base = { section: SECTION, peer: null, peerName: '—' } as const;
    rows.push(
      withVerdict(
        row({
          ...base,
          metric: 'database at 7 days (db + -wal, store open)',
          vigil: facts.openSizeBytes / MB,
          target: `≤ ${TARGET_DATABASE_MB} MB`,
          unit: 'MB',
        }),
        facts.openSizeBytes / MB,
        TARGET_DATABASE_MB,
      ),
      row({
        ...base,
        metric: 'database at 7 days, closed',
        vigil: facts.closedSizeBytes / MB,
        target: '—',
        unit: 'MB',
      }),
    );

    const nodeFloor = median(
      Array.from({ length: RUNS }, () => timeProgram([process.execPath, '-e', '']).wallMs),
    );
    const argv = (c: Contender) => [process.execPath, VIGIL_BIN, ...c.args];
    // One run each first: the page cache holds the database and dist/ for every timed run alike, and a
    // command that fails is reported instead of timed.
    const failures = new Map<Contender, string>();
    let jsonDoc: ReportJson | null = null;
    for (const c of CONTENDERS) {
      const t = timeProgram(argv(c), { cwd: ROOT, env });
      if (t.status === null || !c.ok.includes(t.status) || t.stdout.length === 0) {
        failures.set(c, describeFailure(c, t));
        continue;
      }
      if (c.args.includes('--json')) {
        try {
          jsonDoc = JSON.parse(t.stdout.toString('utf8')) as ReportJson;
        } catch (error) {
          failures.set(c, `\`vigil ${c.args.join(' ')}\` printed invalid JSON: ${(error as Error).message}`);
        }
      }
    }
    log(`  ${RUNS} × ${CONTENDERS.map((c) => `vigil ${c.args.join(' ')}`).join(', ')}, interleaved`);
    const times = new Map<Contender, number[]>(CONTENDERS.map((c) => [c, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const c of CONTENDERS) {
        if (failures.has(c)) continue;
        const t = timeProgram(argv(c), { cwd: ROOT, env });
        if (t.status === null || !c.ok.includes(t.status)) {
          failures.set(c, `run ${i + 1}: ${describeFailure(c, t)}`);
          continue;
        }
        times.get(c)!.push(t.wallMs);
      }
    }
    for (const c of CONTENDERS) {
      const failure = failures.get(c);
      const target = c.target ? `≤ ${TARGET_REPORT_MS} ms` : '—';
      if (failure !== undefined) {
        rows.push(
          row({
            ...base,
            metric: c.label,
            vigil: null,
            target,
            unit: 'ms',
            verdict: 'skipped',
            note: failure,
          }),
        );
        notes.push(`skipped: ${failure}`);
        continue;
      }
      const value = median(times.get(c)!);
      const r = row({ ...base, metric: c.label, vigil: value, target, unit: 'ms' });
      rows.push(c.target ? withVerdict(r, value, TARGET_REPORT_MS) : r);
    }

    log(`  ${STAGE_RUNS} × the stages of vigil report in this process`);
    const stages = await reportStages(dbPath, STAGE_RUNS);
    const stage = (metric: string, value: number) =>
      row({ ...base, metric: `in-process: ${metric}`, vigil: value, target: '—', unit: 'ms' });
    rows.push(
      stage('read 7 days from the store, first call', stages.cold.readMs),
      stage('buildReport, first call', stages.cold.buildMs),
      stage('render text, first call', stages.cold.renderMs),
      stage('read 7 days, warm (median)', stages.warm.readMs),
      stage('buildReport, warm (median)', stages.warm.buildMs),
    );

    const seen = jsonDoc?.snapshots;
    notes.push(
      `the week: ${facts.snapshots} snapshots (${facts.processesPerSnapshot.toFixed(1)} processes each, ` +
        `${facts.processIdentities} distinct processes), ${facts.cycles} cycles 5 s apart each writing a ` +
        `heartbeat, ${facts.alerts} alerts (${facts.events} journal events, ${facts.firingAtEnd} still ` +
        `firing), ${facts.runs} daemon runs; written through dist/store/store.js in ` +
        `${(facts.buildMs / 1000).toFixed(1)} s, one transaction per simulated hour. Baselines were saved ` +
        'hourly (the daemon saves them each minute: the same rows).',
      `vigil report: spawn to exit of \`node bin/vigil.js …\` with XDG_STATE_HOME on that week, stdout to a ` +
        `pipe, median of ${RUNS}; \`--json\` saw ${seen ?? '?'} snapshots and ${jsonDoc?.alerts?.length ?? '?'} ` +
        `alerts (the \`--since 7d\` window starts after the first snapshots once the clock moved on). ` +
        `Floor: bare \`node -e ''\` takes ${nodeFloor.toFixed(0)} ms here. No peer: no other tool reads ` +
        "vigil's history, and `sqlite3 … count(*)` or `ps aux` would not do the same work.",
      '`vigil health` here finds no running daemon (exit 1) and runs PRAGMA quick_check on the week.',
      'in-process rows: the calls src/cli/report.ts makes, timed in this process on dist/: ' +
        'alertsBetween + historyBetween + runsBetween + collectorProblemsBetween ("read"), buildReport, ' +
        `reportText. "First call" is cold code as in every \`vigil report\`; "warm" is the median of the ` +
        `${STAGE_RUNS - 1} calls after it. The rest of a run is node start-up, loading dist/ and opening the store.`,
    );
    if (seen !== undefined && seen < facts.snapshots - 10) {
      notes.push(`anomaly: the report saw ${seen} of ${facts.snapshots} snapshots`);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return { rows, notes };
}

export const reportSection: Section = {
  name: SECTION,
  description: 'vigil report and health over 7 days of synthetic history; database size at 7 days',
  run,
};
