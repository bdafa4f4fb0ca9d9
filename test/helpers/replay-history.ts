import Database from 'better-sqlite3';
import { openStore } from '../../src/store/store.js';
import type { ProcessRecord, SnapshotRecord } from '../../src/store/types.js';

/**
 * A real history for the time-travel tests, written by the real store into a real SQLite file: one
 * snapshot a minute for an hour (at :05 past each minute), memory rising from 40 % to 95 % as a leaking
 * python server grows from 200 MiB to 6.5 GiB, a daemon run covering the hour, a memory alert raised at
 * minute 30 and resolved at minute 45 with the advisor's answer stored at minute 32, and an OOM event at
 * minute 50.
 */
export interface ReplayHistory {
  readonly path: string;
  /** The first snapshot's time, ms since the epoch; snapshot i is at start + i minutes. */
  readonly start: number;
  readonly count: number;
  readonly alertRaisedAt: number;
  readonly alertResolvedAt: number;
  readonly eventAt: number;
  readonly leakPid: number;
  readonly daemonPid: number;
}

export const MINUTE = 60_000;
const MIB = 2 ** 20;

function proc(
  pid: number,
  cmdline: string,
  rssBytes: number,
  cpuPercent: number,
  extra: Partial<ProcessRecord> = {},
) {
  const comm = cmdline.split(' ')[0]!.split('/').pop()!.slice(0, 15);
  return {
    pid,
    startTicks: pid * 100,
    comm,
    name: comm,
    cmdline,
    user: 'dev',
    kind: null,
    group: cmdline,
    cpuPercent,
    cpuSeconds: 10,
    rssBytes,
    swapBytes: 0,
    state: 'S',
    orphan: false,
    ...extra,
  } satisfies ProcessRecord;
}

/** Writes the history into `path` (created); `start` is the first snapshot's time. */
export function writeReplayHistory(path: string, start: number, count = 61): ReplayHistory {
  const store = openStore(path, { log: () => {} });
  const leakPid = 4242;
  const daemonPid = 777;
  const alertRaisedAt = start + 30 * MINUTE;
  const alertResolvedAt = start + 45 * MINUTE;
  const eventAt = start + 50 * MINUTE + 30_000;
  try {
    const run = store.beginRun(daemonPid, start - 10_000);
    for (let i = 0; i < count; i++) {
      const takenAt = start + i * MINUTE;
      const memUsedPercent = Math.round((40 + (55 * i) / (count - 1)) * 10) / 10;
      const snapshot: SnapshotRecord = {
        takenAt,
        memUsedPercent,
        memAvailableBytes: Math.round(((100 - memUsedPercent) / 100) * 16 * 1024 * MIB),
        swapUsedPercent: i < 40 ? 0 : i - 40,
        load1: 1 + i / 100,
        load5: 0.8,
        load15: 0.5,
        cpuPercent: 12.5,
        psiMemSomeAvg10: i > 40 ? 3.5 : 0,
        psiMemFullAvg10: i > 40 ? 1.2 : 0,
        psiCpuSomeAvg10: 0.4,
        psiIoFullAvg10: 0.1,
        cpuTempCelsius: 55,
        gpuTempCelsius: null,
        disks: { '/': 61.5, '/home': 40 },
        processes: [
          proc(leakPid, 'python3 /home/dev/leaky_server.py --port 8123', (200 + 100 * i) * MIB, 3, {
            kind: 'dev-server',
          }),
          proc(100, 'bash', 5 * MIB, 0),
          proc(300, 'node /home/dev/app/server.js', 300 * MIB, 1.5),
        ],
      };
      store.insertSnapshot(snapshot);
      store.touchRun(run, takenAt);
      if (takenAt === alertRaisedAt || (takenAt > alertRaisedAt && takenAt < alertResolvedAt)) {
        store.recordFiring(
          {
            fingerprint: 'memory_high|host',
            rule: 'memory_high',
            subject: 'host',
            severity: 'high',
            summary: `RAM ${memUsedPercent}% used; python3 leaky_server.py holds the most`,
            pids: [leakPid],
            since: alertRaisedAt,
            event: false,
            suggest: [],
          },
          takenAt,
        );
      }
      if (takenAt === alertResolvedAt) store.resolveAlert('memory_high|host', alertResolvedAt);
    }
    store.recordFiring(
      {
        fingerprint: 'oom_kill|9999',
        rule: 'oom_kill',
        subject: '9999',
        severity: 'critical',
        summary: 'the kernel killed chrome (9999) out of memory',
        pids: [9999],
        since: eventAt,
        event: true,
        suggest: [],
      },
      eventAt,
    );
    store.endRun(run, start + (count - 1) * MINUTE + 1000);
  } finally {
    store.close();
  }
  // The advisor's answer as the advisor stores it (a row of the advice table, the answer as JSON), written
  // here by hand so the history does not wait on the advisor's own API.
  const db = new Database(path);
  try {
    db.prepare(
      'INSERT INTO advice (at, fingerprint, alert_id, pid, cache_key, model, outcome, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      start + 32 * MINUTE,
      'memory_high|host',
      1,
      null,
      'test',
      'test',
      'ok',
      JSON.stringify('restart leaky_server.py: it grows 100 MiB a minute'),
    );
  } finally {
    db.close();
  }
  return { path, start, count, alertRaisedAt, alertResolvedAt, eventAt, leakPid, daemonPid };
}

/** `2026-12-07 03:10:05` in local time, as `--at` takes it. */
export function localMoment(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
