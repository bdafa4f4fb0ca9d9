import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildReport, type ReportInput } from '../../src/report/build.js';
import { reportMarkdown, reportText } from '../../src/report/render.js';
import { openStore } from '../../src/store/store.js';
import type { AlertRecord, ProcessRecord, SnapshotRecord } from '../../src/store/types.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 0, 0);
const proc = (
  pid: number,
  group: string,
  cpuSeconds: number,
  rssBytes: number,
  kind: string | null,
): ProcessRecord => ({
  pid,
  startTicks: pid * 10,
  comm: group,
  name: group,
  cmdline: group,
  user: 'dev',
  kind,
  group,
  cpuPercent: 0,
  cpuSeconds,
  rssBytes,
  state: 'S',
  orphan: false,
});
const snap = (at: number, mem: number, processes: ProcessRecord[]): SnapshotRecord => ({
  takenAt: at,
  memUsedPercent: mem,
  memAvailableBytes: null,
  swapUsedPercent: 0,
  load1: 1,
  load5: 1,
  load15: 1,
  cpuPercent: 10,
  psiMemSomeAvg10: null,
  psiMemFullAvg10: null,
  psiCpuSomeAvg10: null,
  psiIoFullAvg10: null,
  cpuTempCelsius: null,
  gpuTempCelsius: null,
  disks: { '/': 50 },
  processes,
});
const alert: AlertRecord = {
  id: 7,
  fingerprint: 'ram_high|system',
  rule: 'ram_high',
  subject: 'system',
  severity: 'high',
  summary: 'RAM 91% used',
  pids: [],
  firstSeen: T0 + H,
  lastSeen: T0 + 2 * H,
  resolvedAt: T0 + 2 * H,
  count: 60,
  event: false,
  suggest: [],
};

describe('vigil report, built from history', () => {
  const input: ReportInput = {
    from: T0,
    to: T0 + 10 * H,
    alerts: [alert],
    snapshots: [
      snap(T0 + H, 60, [
        proc(1, 'mcp', 100, 1e9, 'mcp-server'),
        proc(2, 'mcp', 50, 1e9, 'mcp-server'),
        proc(3, 'vite', 10, 2e8, 'dev-server'),
      ]),
      snap(T0 + 2 * H, 91, [
        proc(1, 'mcp', 400, 1.5e9, 'mcp-server'),
        proc(2, 'mcp', 80, 1e9, 'mcp-server'),
        proc(3, 'vite', 20, 3e8, 'dev-server'),
      ]),
    ],
    runs: [{ pid: 1, startedAt: T0, lastSeenAt: T0 + 3 * H, endedAt: T0 + 3 * H }],
    snapshotIntervalMs: 60_000,
  };
  const report = buildReport(input);

  it('tallies the same offenders straight from a real store’s packed samples', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-report-'));
    try {
      const store = openStore(join(dir, 'vigil.db'));
      for (const s of input.snapshots) store.insertSnapshot(s);
      const history = store.historyBetween(T0, T0 + 10 * H);
      assert.ok(
        history.snapshots.every((s) => s.processes.length === 0),
        'processes left packed',
      );
      const packed = buildReport({ ...input, snapshots: history.snapshots, packed: history });
      store.close();
      for (const key of ['topByCpuTime', 'topByPeakMemory', 'byKind', 'peaks'] as const)
        assert.deepEqual(packed[key], report[key], key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts raised and resolved alerts on one timeline', () => {
    assert.deepEqual(
      report.timeline.map((e) => [e.what, e.at]),
      [
        ['raised', T0 + H],
        ['resolved', T0 + 2 * H],
      ],
    );
  });

  it('finds each peak and when it happened', () => {
    const ram = report.peaks.find((p) => p.metric === 'RAM used')!;
    assert.deepEqual([ram.value, ram.at], [91, T0 + 2 * H]);
  });

  it('ranks groups by CPU time used in the window and by the memory they held at once', () => {
    assert.deepEqual(
      report.topByCpuTime.map((o) => [o.key, o.cpuSeconds, o.processes]),
      [
        ['mcp', 330, 2],
        ['vite', 10, 1],
      ],
    );
    assert.equal(report.topByPeakMemory[0]!.peakRssBytes, 2.5e9);
    assert.deepEqual(
      report.byKind.map((o) => o.key),
      ['mcp-server', 'dev-server'],
    );
  });

  it('names the gap when the daemon was not running', () => {
    assert.deepEqual(report.gaps, [{ from: T0 + 3 * H + 180_000, to: T0 + 10 * H }]);
  });

  it('speaks English or French as general.language says', () => {
    assert.match(reportMarkdown(report), /^# vigil report: 2026-11-20 00:00 → 2026-11-20 10:00 UTC/);
    assert.match(
      reportMarkdown(report),
      /\| 2026-11-20 01:00 \| raised \| 7 \| high \| `ram_high` \| RAM 91% used \|/,
    );
    const fr = reportMarkdown(report, 'fr');
    assert.match(fr, /^# rapport vigil: /);
    assert.match(fr, /\| 2026-11-20 02:00 \| résolue \| 7 \| high \| `ram_high` \|/);
    assert.match(fr, /\| RAM utilisée \| 91% \|/);
    assert.match(fr, /## Trous \(démon arrêté\)/);
    assert.match(reportText(report, 'fr'), /^rapport vigil .*1 alerte\(s\), 2 instantané\(s\), 1 trou\(s\)/);
  });
});
