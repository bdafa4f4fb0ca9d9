import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { packSamples, unpackSamples } from '../../src/store/codec.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import {
  COLLECTOR_PROBLEM_BUCKET_MS,
  HEARTBEAT_HISTORY_MAX_AGE_MS,
  type OpenedStore,
  openStore,
  StoreError,
} from '../../src/store/store.js';
import type { Heartbeat, ProcessRecord, SnapshotRecord } from '../../src/store/types.js';
import type { BaselineRow } from '../../src/understand/baseline.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 14, 0, 0, 0);

let opened = 0;
/** A new store in a new file; warnings collected in `logs`. */
function fresh(name = `db${opened++}`): { store: OpenedStore; path: string; logs: string[] } {
  const path = join(dir, name, 'vigil.db');
  const logs: string[] = [];
  const store = openStore(path, { log: (m) => logs.push(m) });
  return { store, path, logs };
}

/** Deterministic values in [0, 1) (xorshift32). */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function proc(over: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    pid: 4242,
    startTicks: 123_456,
    comm: 'python3',
    name: 'python3 mcp_server_fetch',
    cmdline: 'python3 -m mcp_server_fetch --port 41000 --workdir /tmp/mcp-x1y2',
    user: 'dev',
    kind: 'mcp-server',
    group: 'python3 -m mcp_server_fetch --port N --workdir /tmp/mcp-N',
    cpuPercent: 85.25,
    cpuSeconds: 311.42,
    rssBytes: 1_288_490_188,
    swapBytes: 268_435_456,
    state: 'S',
    orphan: true,
    ...over,
  };
}

function snapshot(takenAt: number, processes: readonly ProcessRecord[] = [proc()]): SnapshotRecord {
  return {
    takenAt,
    memUsedPercent: 61.37,
    memAvailableBytes: 12_884_901_888,
    swapUsedPercent: 9.06,
    load1: 1.52,
    load5: 1.18,
    load15: 0.97,
    cpuPercent: 31.4,
    psiMemSomeAvg10: 0.4,
    psiMemFullAvg10: 0,
    psiCpuSomeAvg10: null,
    psiIoFullAvg10: null,
    cpuTempCelsius: 58,
    gpuTempCelsius: null,
    disks: { '/': 78.25, '/home': 41.5 },
    processes,
  };
}

function heartbeat(lastCycleAt: number, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    pid: 777,
    startedAt: T0,
    lastCycleAt,
    intervalMs: 5000,
    mode: 'observe',
    collectors: [
      { name: 'processes', ok: true, durationMs: 4.2, error: null, unsupported: null },
      { name: 'gpu', ok: true, durationMs: 0, error: null, unsupported: 'nvidia-smi not found' },
    ],
    rssBytes: 48_000_000,
    cpuPercent: 0.8,
    cpuSeconds: 12.5,
    store: { ok: true, error: null, path: '/home/dev/.local/state/vigil/vigil.db' },
    journal: { state: 'following', detail: null },
    config: { ok: true, path: '/home/dev/.config/vigil/config.toml', error: null },
    rules: { count: 14, problems: [] },
    firing: 1,
    ...over,
  };
}

const finding = (subject: string, over: Partial<Parameters<OpenedStore['recordFiring']>[0]> = {}) => ({
  fingerprint: `ram_high|${subject}`,
  rule: 'ram_high',
  subject,
  severity: 'high' as const,
  summary: 'RAM 91% used',
  pids: [] as number[],
  since: T0,
  event: false,
  suggest: ['notify_only'],
  ...over,
});

function raw(path: string): Database {
  return new Database(path, { readonly: true });
}

describe('history store: schema and migrations', () => {
  it('creates a new database at the newest schema, in WAL mode, with every table', () => {
    const { store, path, logs } = fresh();
    assert.equal(store.problem, null);
    assert.equal(store.writable, true);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    store.close();
    const db = raw(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    for (const table of [
      'alerts',
      'baselines',
      'collector_problems',
      'heartbeat',
      'heartbeat_history',
      'kv',
      'procs',
      'rule_states',
      'runs',
      'snapshots',
    ]) {
      assert.ok(tables.includes(table), `table ${table} in ${tables.join(', ')}`);
    }
    db.close();
    assert.deepEqual(logs, [], 'a new database is not worth a warning');
  });

  it('migrates a version-1 database made by hand and keeps its history', () => {
    const path = join(dir, 'v1', 'vigil.db');
    mkdirSync(join(dir, 'v1'));
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    // The schema as version 1 shipped it (a fixture: migration 1 must never change).
    db.exec(`
      CREATE TABLE runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, started_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL, ended_at INTEGER);
      CREATE TABLE procs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,
        comm TEXT NOT NULL, name TEXT NOT NULL, cmdline TEXT NOT NULL, user TEXT NOT NULL, kind TEXT,
        grp TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
      CREATE INDEX procs_identity ON procs (pid, start_ticks);
      CREATE INDEX procs_last_seen ON procs (last_seen);
      CREATE TABLE snapshots (taken_at INTEGER PRIMARY KEY, mem_used_percent REAL, mem_available_bytes INTEGER,
        swap_used_percent REAL, load1 REAL, load5 REAL, load15 REAL, cpu_percent REAL, psi_mem_some_avg10 REAL,
        psi_mem_full_avg10 REAL, psi_cpu_some_avg10 REAL, psi_io_full_avg10 REAL, cpu_temp_celsius REAL,
        gpu_temp_celsius REAL, disks TEXT NOT NULL, procs BLOB NOT NULL);
      CREATE TABLE alerts (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, rule TEXT NOT NULL,
        subject TEXT NOT NULL, severity TEXT NOT NULL, summary TEXT NOT NULL, pids TEXT NOT NULL,
        suggest TEXT NOT NULL, event INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
        resolved_at INTEGER, count INTEGER NOT NULL);
      CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE resolved_at IS NULL;
      CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;
      CREATE TABLE baselines (metric TEXT NOT NULL, hour INTEGER NOT NULL, count REAL NOT NULL, mean REAL NOT NULL,
        m2 REAL NOT NULL, PRIMARY KEY (metric, hour)) WITHOUT ROWID;
      CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE rule_states (fingerprint TEXT PRIMARY KEY, pending_since INTEGER NOT NULL,
        firing INTEGER NOT NULL, clearing_since INTEGER) WITHOUT ROWID;
      CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL, body TEXT NOT NULL);
      PRAGMA user_version = 1;
    `);
    db.prepare('INSERT INTO runs (pid, started_at, last_seen_at, ended_at) VALUES (?, ?, ?, ?)').run(
      10,
      T0,
      T0 + 5 * MINUTE,
      T0 + 5 * MINUTE,
    );
    db.prepare(
      `INSERT INTO alerts (fingerprint, rule, subject, severity, summary, pids, suggest, event, first_seen,
        last_seen, resolved_at, count) VALUES ('disk_low|/', 'disk_low', '/', 'medium', 'only 4% free on /',
        '[]', '["notify_only"]', 0, ?, ?, NULL, 3)`,
    ).run(T0, T0 + MINUTE);
    db.prepare("INSERT INTO kv (key, value) VALUES ('journal.cursor', 's=abc;i=42')").run();
    db.prepare('INSERT INTO heartbeat (id, at, body) VALUES (1, ?, ?)').run(
      T0 + 5 * MINUTE,
      JSON.stringify(heartbeat(T0 + 5 * MINUTE)),
    );
    db.close();

    const logs: string[] = [];
    const store = openStore(path, { log: (m) => logs.push(m) });
    assert.equal(store.problem, null);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.match(
      logs.join('\n'),
      new RegExp(`migrated the history schema from version 1 to ${SCHEMA_VERSION}`),
    );
    assert.deepEqual(store.runsBetween(0, T0 + DAY), [
      { pid: 10, startedAt: T0, lastSeenAt: T0 + 5 * MINUTE, endedAt: T0 + 5 * MINUTE },
    ]);
    assert.equal(store.openAlerts()[0]?.summary, 'only 4% free on /');
    assert.equal(store.getJournalCursor(), 's=abc;i=42');
    // Migration 2 carried the last heartbeat into the new history table.
    assert.deepEqual(
      store.heartbeatsBetween(0, T0 + DAY).map((h) => [h.at, h.pid, h.rssBytes, h.storeOk]),
      [[T0 + 5 * MINUTE, 777, 48_000_000, true]],
    );
    store.insertSnapshot(snapshot(T0 + 6 * MINUTE));
    assert.equal(store.snapshotsBetween(0, T0 + DAY).length, 1);
    store.close();

    const again: string[] = [];
    openStore(path, { log: (m) => again.push(m) }).close();
    assert.deepEqual(again, [], 'a migrated database is not migrated twice');
  });

  it('refuses a database written by a newer vigil, and leaves it untouched', () => {
    const path = join(dir, 'newer', 'vigil.db');
    openStore(path, { log: () => {} }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();

    const logs: string[] = [];
    const store = openStore(path, { log: (m) => logs.push(m) });
    assert.equal(store.problem?.code, 'too-new');
    assert.match(store.problem.message, /newer than this vigil knows.*upgrade vigil/);
    assert.equal(store.writable, false);
    assert.throws(
      () => store.openAlerts(),
      (e) => e instanceof StoreError && e.code === 'too-new',
    );
    assert.throws(
      () => store.beginRun(1, T0),
      (e) => e instanceof StoreError && e.code === 'too-new',
    );
    assert.match(logs.join('\n'), /newer than this vigil knows/);
    store.close();

    const check = raw(path);
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION + 5);
    check.close();
  });
});

describe('history store: alerts', () => {
  it('opens an alert, counts each cycle it fires, resolves it, then opens a new one for the same fingerprint', () => {
    const { store } = fresh();
    const first = store.recordFiring(finding('system', { pids: [4242] }), T0 + 30_000);
    assert.equal(first.isNew, true);
    assert.deepEqual(
      { ...first.alert, id: 0 },
      {
        id: 0,
        fingerprint: 'ram_high|system',
        rule: 'ram_high',
        subject: 'system',
        severity: 'high',
        summary: 'RAM 91% used',
        raisedSummary: 'RAM 91% used',
        pids: [4242],
        firstSeen: T0,
        lastSeen: T0 + 30_000,
        resolvedAt: null,
        count: 1,
        event: false,
        suggest: ['notify_only'],
      },
    );

    const second = store.recordFiring(
      finding('system', { severity: 'critical', summary: 'RAM 97% used', pids: [4242, 4243] }),
      T0 + 35_000,
    );
    assert.equal(second.isNew, false);
    assert.equal(second.alert.id, first.alert.id);
    assert.equal(second.alert.count, 2);
    assert.equal(second.alert.lastSeen, T0 + 35_000);
    assert.equal(second.alert.firstSeen, T0);
    assert.equal(second.alert.severity, 'critical');
    assert.equal(second.alert.summary, 'RAM 97% used');
    assert.equal(second.alert.raisedSummary, 'RAM 91% used', 'the words it was raised with are kept');
    assert.deepEqual(second.alert.pids, [4242, 4243]);
    assert.deepEqual(
      store.openAlerts().map((a) => a.id),
      [first.alert.id],
    );

    const resolved = store.resolveAlert('ram_high|system', T0 + 90_000);
    assert.equal(resolved?.resolvedAt, T0 + 90_000);
    assert.equal(resolved?.count, 2);
    assert.deepEqual(store.openAlerts(), []);
    assert.equal(store.resolveAlert('ram_high|system', T0 + 95_000), null, 'nothing left open to resolve');

    const again = store.recordFiring(finding('system', { since: T0 + 120_000 }), T0 + 150_000);
    assert.equal(again.isNew, true);
    assert.notEqual(again.alert.id, first.alert.id);
    assert.equal(again.alert.firstSeen, T0 + 120_000);
    assert.equal(store.alertById(first.alert.id)?.resolvedAt, T0 + 90_000, 'the old alert keeps its history');
    assert.equal(store.alertById(9999), null);
    store.close();
  });

  it('never holds two open alerts for one fingerprint, even when another writer tries', () => {
    const { store, path } = fresh();
    store.recordFiring(finding('/home'), T0);
    const other = new Database(path);
    assert.throws(
      () =>
        other
          .prepare(
            `INSERT INTO alerts (fingerprint, rule, subject, severity, summary, pids, suggest, event, first_seen,
              last_seen, resolved_at, count) VALUES ('ram_high|/home', 'ram_high', '/home', 'low', '', '[]', '[]',
              0, 0, 0, NULL, 1)`,
          )
          .run(),
      /UNIQUE constraint failed/,
    );
    other.close();
    store.close();
  });

  it('records a journal event as an alert raised and resolved at once', () => {
    const { store } = fresh();
    const oom = {
      fingerprint: 'oom_kill|s=1f2e;i=99',
      rule: 'oom_kill',
      subject: 's=1f2e;i=99',
      severity: 'high' as const,
      summary: 'the kernel OOM killer killed node (pid 8123, 3.1 GiB)',
      pids: [8123],
      since: T0 + 10_000,
      event: true,
      suggest: [],
    };
    const { alert, isNew } = store.recordFiring(oom, T0 + 12_000);
    assert.equal(isNew, true);
    assert.equal(alert.event, true);
    assert.equal(alert.resolvedAt, T0 + 12_000);
    assert.deepEqual(store.openAlerts(), []);
    assert.equal(store.resolveAlert(oom.fingerprint, T0 + 13_000), null);
    assert.deepEqual(
      store.alertsBetween(T0, T0 + MINUTE).map((a) => a.summary),
      ['the kernel OOM killer killed node (pid 8123, 3.1 GiB)'],
    );
    store.close();
  });

  it('lists the alerts active at any time in a window, open ones included', () => {
    const { store } = fresh();
    store.recordFiring(finding('early', { since: T0 }), T0);
    store.resolveAlert('ram_high|early', T0 + 10 * MINUTE);
    store.recordFiring(finding('spanning', { since: T0 + 5 * MINUTE }), T0 + 5 * MINUTE);
    store.resolveAlert('ram_high|spanning', T0 + 60 * MINUTE);
    store.recordFiring(finding('open', { since: T0 + 40 * MINUTE }), T0 + 40 * MINUTE);
    store.recordFiring(finding('late', { since: T0 + 100 * MINUTE }), T0 + 100 * MINUTE);
    const subjects = (from: number, to: number) => store.alertsBetween(from, to).map((a) => a.subject);
    assert.deepEqual(subjects(T0 + 20 * MINUTE, T0 + 50 * MINUTE), ['spanning', 'open']);
    assert.deepEqual(subjects(T0, T0 + 5 * MINUTE), ['early', 'spanning']);
    assert.deepEqual(subjects(T0 + 200 * MINUTE, T0 + 300 * MINUTE), ['open', 'late']);
    store.close();
  });
});

describe('history store: snapshots, runs and state', () => {
  it('gives back a snapshot as it was stored, processes, nulls and disks included', () => {
    const { store } = fresh();
    const ls = proc({
      pid: 9001,
      startTicks: 77,
      comm: 'tsserver',
      name: 'node tsserver.js',
      cmdline: 'node /usr/lib/tsserver.js --useInferredProjectPerProjectRoot',
      kind: null,
      group: 'node /usr/lib/tsserver.js --useInferredProjectPerProjectRoot',
      cpuPercent: 0,
      cpuSeconds: 0.01,
      rssBytes: 2 ** 40 + 4096,
      state: 'R',
      orphan: false,
    });
    const s = snapshot(T0, [proc(), ls, proc({ pid: 4243, state: 'Z', rssBytes: 0 })]);
    store.insertSnapshot(s);
    assert.deepEqual(store.snapshotsBetween(T0, T0), [s]);
    store.close();
  });

  it('returns snapshots in time order, both ends of the window included', () => {
    const { store } = fresh();
    for (const m of [3, 1, 2, 0, 4]) store.insertSnapshot(snapshot(T0 + m * MINUTE));
    assert.deepEqual(
      store.snapshotsBetween(T0 + MINUTE, T0 + 3 * MINUTE).map((s) => (s.takenAt - T0) / MINUTE),
      [1, 2, 3],
    );
    store.close();
  });

  it("stores a process's name and cmdline once however many snapshots show it, and a changed cmdline anew", () => {
    const { store, path } = fresh();
    for (let m = 0; m < 30; m++) store.insertSnapshot(snapshot(T0 + m * MINUTE, [proc({ cpuPercent: m })]));
    const renamed = proc({ cmdline: 'postgres: checkpointer' });
    store.insertSnapshot(snapshot(T0 + 30 * MINUTE, [renamed]));
    const snaps = store.snapshotsBetween(T0, T0 + DAY);
    assert.equal(snaps[29]?.processes[0]?.cpuPercent, 29);
    assert.equal(snaps[29]?.processes[0]?.cmdline, proc().cmdline, 'history keeps the cmdline of its time');
    assert.equal(snaps[30]?.processes[0]?.cmdline, 'postgres: checkpointer');
    store.close();
    const db = raw(path);
    assert.equal(db.prepare('SELECT count(*) FROM procs').pluck().get(), 2);
    db.close();
  });

  it('packs a process sample into 30 bytes and back, joined with its identity', () => {
    const { cpuPercent, cpuSeconds, rssBytes, swapBytes, state, orphan, ...identity } = proc({
      cpuPercent: 412.37,
      cpuSeconds: 86_400.25,
      rssBytes: 3 * 2 ** 30,
      state: 'D',
    });
    const sample = { id: 7, cpuPercent, cpuSeconds, rssBytes, swapBytes, state, orphan };
    const packed = packSamples([sample, { ...sample, id: 8, state: 'S' }, { ...sample, orphan: false }]);
    assert.equal(packed.length, 1 + 3 * 30);
    assert.deepEqual(unpackSamples(packed, new Map([[7, identity]])), [
      proc({ cpuPercent, cpuSeconds, rssBytes, state }),
      proc({ cpuPercent, cpuSeconds, rssBytes, state, orphan: false }),
    ]);
  });

  it('records daemon runs and finds those overlapping a window', () => {
    const { store } = fresh();
    const first = store.beginRun(100, T0);
    store.touchRun(first, T0 + 10 * MINUTE);
    store.endRun(first, T0 + 11 * MINUTE);
    const second = store.beginRun(200, T0 + 60 * MINUTE);
    store.touchRun(second, T0 + 70 * MINUTE);
    assert.notEqual(first, second);
    assert.deepEqual(store.runsBetween(T0 + 5 * MINUTE, T0 + 65 * MINUTE), [
      { pid: 100, startedAt: T0, lastSeenAt: T0 + 11 * MINUTE, endedAt: T0 + 11 * MINUTE },
      { pid: 200, startedAt: T0 + 60 * MINUTE, lastSeenAt: T0 + 70 * MINUTE, endedAt: null },
    ]);
    assert.deepEqual(
      store.runsBetween(T0 + 20 * MINUTE, T0 + 30 * MINUTE),
      [],
      'a gap between runs has no run',
    );
    store.close();
  });

  it('keeps baselines, the journal cursor and rule states across a reopen', () => {
    const { store, path } = fresh();
    const rows: BaselineRow[] = [
      { metric: 'cpu.percent', hour: 3, count: 840, mean: 5.123456789, m2: 1234.5678 },
      { metric: 'cpu.percent', hour: 15, count: 31, mean: 70.5, m2: 0.25 },
      { metric: 'memory.usedBytes', hour: 3, count: 2, mean: 9e9, m2: 1e18 },
    ];
    store.saveBaselines(rows);
    store.saveBaselines([{ metric: 'cpu.percent', hour: 15, count: 32, mean: 70.25, m2: 0.5 }]);
    assert.equal(store.getJournalCursor(), null);
    store.setJournalCursor('s=a;i=1');
    store.setJournalCursor('s=a;i=2');
    store.saveRuleStates([
      { fingerprint: 'load_high|system', pendingSince: T0, firing: false, clearingSince: null },
      { fingerprint: 'ram_high|system', pendingSince: T0 - MINUTE, firing: true, clearingSince: T0 },
    ]);
    store.saveRuleStates([
      { fingerprint: 'ram_high|system', pendingSince: T0 - MINUTE, firing: true, clearingSince: null },
    ]);
    store.close();

    const reopened = openStore(path, { log: () => {} });
    assert.deepEqual(reopened.loadBaselines(), [
      rows[0],
      { metric: 'cpu.percent', hour: 15, count: 32, mean: 70.25, m2: 0.5 },
      rows[2],
    ]);
    assert.equal(reopened.getJournalCursor(), 's=a;i=2');
    assert.deepEqual(reopened.loadRuleStates(), [
      { fingerprint: 'ram_high|system', pendingSince: T0 - MINUTE, firing: true, clearingSince: null },
    ]);
    reopened.close();
  });

  it('commits a batch of writes together, or none of them', () => {
    const { store } = fresh();
    store.batch(() => {
      store.insertSnapshot(snapshot(T0));
      store.recordFiring(finding('system'), T0);
      store.setJournalCursor('c1');
    });
    assert.throws(() =>
      store.batch(() => {
        store.insertSnapshot(snapshot(T0 + MINUTE));
        store.setJournalCursor('c2');
        throw new Error('the cycle failed half-way');
      }),
    );
    assert.equal(store.snapshotsBetween(0, T0 + DAY).length, 1);
    assert.equal(store.getJournalCursor(), 'c1');
    store.close();
  });
});

describe('history store: heartbeats and retention', () => {
  it('keeps the latest heartbeat, one history row a minute, and counts collector errors', () => {
    const { store } = fresh();
    const gpuFailing = heartbeat(0, {
      collectors: [
        { name: 'gpu', ok: false, durationMs: 5000, error: 'nvidia-smi timed out', unsupported: null },
      ],
    });
    for (let s = 0; s < 3 * 60 * 60; s += 5) {
      const at = T0 + s * 1000;
      store.writeHeartbeat(
        s % 60 === 0 ? { ...gpuFailing, lastCycleAt: at } : heartbeat(at, { cpuSeconds: s / 100 }),
      );
    }
    assert.equal(store.latestHeartbeat()?.lastCycleAt, T0 + (3 * 60 * 60 - 5) * 1000);
    const history = store.heartbeatsBetween(0, T0 + DAY);
    assert.equal(history.length, 180, 'three hours at one row a minute');
    assert.ok(history.every((h, i) => i === 0 || h.at - history[i - 1]!.at === MINUTE));
    assert.deepEqual(store.collectorProblemsBetween(T0, T0 + DAY), [
      { collector: 'gpu', error: 'nvidia-smi timed out', count: 180, lastAt: T0 + (3 * 60 - 1) * MINUTE },
    ]);
    const lastHour = store.collectorProblemsBetween(T0 + 2 * 60 * MINUTE, T0 + 3 * 60 * MINUTE);
    assert.ok(
      lastHour[0] !== undefined && Math.abs(lastHour[0].count - 60) <= COLLECTOR_PROBLEM_BUCKET_MS / MINUTE,
      `about 60 errors in the last hour, counted per ${COLLECTOR_PROBLEM_BUCKET_MS / MINUTE}-minute bucket`,
    );
    store.close();
  });

  it('never keeps more than 31 days of heartbeat history, even if nothing prunes', () => {
    const { store } = fresh();
    const HOUR = 60 * MINUTE;
    const hours = HEARTBEAT_HISTORY_MAX_AGE_MS / HOUR + 10;
    for (let h = 0; h < hours; h++) store.writeHeartbeat(heartbeat(T0 + h * HOUR));
    const history = store.heartbeatsBetween(0, Number.MAX_SAFE_INTEGER);
    const newest = T0 + (hours - 1) * HOUR;
    assert.equal(history.at(-1)?.at, newest);
    assert.equal(history[0]?.at, newest - HEARTBEAT_HISTORY_MAX_AGE_MS, 'the oldest went first');
    store.close();
  });

  it('prunes old rows in steps of at most maxRows, and never an open alert', () => {
    const { store, path } = fresh();
    const cutoff = T0 + 100 * MINUTE;
    store.batch(() => {
      const run = store.beginRun(1, T0);
      store.endRun(run, T0 + 50 * MINUTE);
      store.beginRun(2, T0 + 200 * MINUTE);
      for (let m = 0; m < 150; m++) {
        // a process that lives for ten snapshots, so process rows go as their last snapshot does
        store.insertSnapshot(snapshot(T0 + m * MINUTE, [proc({ pid: 10_000 + Math.floor(m / 10) })]));
        store.writeHeartbeat(heartbeat(T0 + m * MINUTE));
      }
      for (let i = 0; i < 30; i++) {
        store.recordFiring(finding(`old${i}`, { since: T0 + i * MINUTE }), T0 + i * MINUTE);
        store.resolveAlert(`ram_high|old${i}`, T0 + (i + 1) * MINUTE);
      }
      store.recordFiring(finding('still-open', { since: T0 }), T0);
      store.recordFiring(finding('resolved-recently', { since: T0 }), T0);
      store.resolveAlert('ram_high|resolved-recently', cutoff + MINUTE);
    });
    const count = (table: string) => {
      const db = raw(path);
      const n = db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      db.close();
      return n;
    };
    assert.equal(count('procs'), 15);

    const steps: number[] = [];
    for (let deleted = store.prune(cutoff, 40); deleted > 0; deleted = store.prune(cutoff, 40))
      steps.push(deleted);
    assert.ok(steps.length >= 6 && steps.every((n) => n <= 40), `steps ${steps.join(' ')}`);
    // 100 snapshots, 100 heartbeat rows, 30 resolved alerts, 1 finished run, 10 process rows
    assert.equal(
      steps.reduce((a, b) => a + b, 0),
      100 + 100 + 30 + 1 + 10,
    );

    assert.equal(store.snapshotsBetween(0, Number.MAX_SAFE_INTEGER)[0]?.takenAt, cutoff);
    assert.equal(count('snapshots'), 50);
    assert.equal(count('procs'), 5);
    assert.equal(store.heartbeatsBetween(0, Number.MAX_SAFE_INTEGER).length, 50);
    assert.deepEqual(
      store.openAlerts().map((a) => a.subject),
      ['still-open'],
    );
    assert.deepEqual(
      store.alertsBetween(0, Number.MAX_SAFE_INTEGER).map((a) => a.subject),
      ['still-open', 'resolved-recently'],
    );
    assert.deepEqual(
      store.runsBetween(0, Number.MAX_SAFE_INTEGER).map((r) => r.pid),
      [2],
    );
    assert.equal(store.prune(cutoff, 0), 0);
    // every snapshot kept still names its processes
    for (const s of store.snapshotsBetween(0, Number.MAX_SAFE_INTEGER)) assert.equal(s.processes.length, 1);
    store.close();
  });
});

describe('history store: a week of history', () => {
  it('holds 7 days of default history (10,080 snapshots of 25 processes) in at most 64 MB', (t) => {
    const { store } = fresh('week');
    const next = uniform(42);
    const cmdlines = [
      (i: number) =>
        `node /home/dev/.npm/_npx/9f8e7d6c5b4a/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /home/dev/projects/app-${i}`,
      (i: number) =>
        `/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none --crashpad-handler-pid=${1200 + i} --user-data-dir=/home/dev/.config/Code --field-trial-handle=3,i,${i}`,
      (i: number) => `python3 -m mcp_server_fetch --user-agent vigil --ignore-robots-txt --port ${41000 + i}`,
      (i: number) =>
        `node /home/dev/.vscode/extensions/ms-python.vscode-pylance-2026.11.1/dist/server.bundle.js --cancellationReceive=file:${i}abcdef --node-ipc --clientProcessId=${1200 + i}`,
    ];
    const resident = Array.from({ length: 60 }, (_, i) => {
      const cmdline = cmdlines[i % cmdlines.length]!(i);
      return proc({
        pid: 3000 + i,
        startTicks: 100_000 + i,
        comm: i % 4 === 2 ? 'python3' : 'node',
        name: cmdline.split(' ').slice(0, 2).join(' ').slice(0, 64),
        cmdline,
        kind: ['mcp-server', 'editor', 'mcp-server', 'language-server'][i % 4]!,
        group: cmdline.replace(/\d+/g, 'N'),
      });
    });
    let nextPid = 20_000;
    const started = performance.now();
    store.batch(() => {
      const run = store.beginRun(777, T0);
      for (let m = 0; m < 7 * 24 * 60; m++) {
        const takenAt = T0 + m * MINUTE;
        const processes: ProcessRecord[] = [];
        for (let k = 0; k < 22; k++) {
          processes.push({
            ...resident[(m + k * 7) % resident.length]!,
            cpuPercent: Math.round(next() * 40_000) / 100,
            cpuSeconds: Math.round((m * 3.7 + k) * 100) / 100,
            rssBytes: Math.floor(next() * 600_000) * 4096,
            state: next() < 0.9 ? 'S' : 'R',
            orphan: next() < 0.2,
          });
        }
        // three short-lived build processes a minute: a new process row each, the worst case for size
        for (let k = 0; k < 3; k++) {
          const pid = nextPid++;
          const cmdline = `node /home/dev/projects/app/node_modules/.bin/vite build --mode production --outDir /tmp/build-${pid}`;
          processes.push(
            proc({
              pid,
              startTicks: 5_000_000 + m * 6000 + k,
              comm: 'node',
              name: 'node vite',
              cmdline,
              kind: 'build',
              group: cmdline.replace(/\d+/g, 'N'),
              cpuPercent: Math.round(next() * 10_000) / 100,
              cpuSeconds: Math.round(next() * 3000) / 100,
              rssBytes: Math.floor(next() * 200_000) * 4096,
              state: 'R',
              orphan: false,
            }),
          );
        }
        store.insertSnapshot({
          ...snapshot(takenAt, processes),
          memUsedPercent: 40 + next() * 50,
          load1: next() * 8,
          cpuPercent: next() * 100,
          disks: { '/': 70 + next() * 10, '/home': 50 + next() * 5, '/boot/efi': 12.5 },
        });
        // the daemon's heartbeat every 5 s
        for (let s = 0; s < 12; s++)
          store.writeHeartbeat(heartbeat(takenAt + s * 5000, { cpuSeconds: m * 0.3 }));
        // an alert every 5 minutes that fires for a minute (12 cycles), then resolves
        if (m % 5 === 0) {
          const f = finding(`${3000 + (m % 60)}:${m}`, { rule: 'orphan_cpu', since: takenAt - 2 * MINUTE });
          for (let c = 0; c < 12; c++) store.recordFiring(f, takenAt + c * 5000);
          store.resolveAlert(f.fingerprint, takenAt + MINUTE);
        }
        store.touchRun(run, takenAt);
      }
    });
    const buildMs = performance.now() - started;
    store.close();

    const week = openStore(join(dir, 'week', 'vigil.db'), { log: () => {} });
    const bytes = week.sizeBytes();
    const mib = (bytes / 2 ** 20).toFixed(1);
    t.diagnostic(`7 days of history: ${mib} MiB (${bytes} bytes), built in ${(buildMs / 1000).toFixed(1)} s`);
    assert.ok(bytes <= 64 * 2 ** 20, `${mib} MiB`);

    const times: number[] = [];
    let snaps: SnapshotRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const begin = performance.now();
      snaps = week.snapshotsBetween(T0, T0 + 7 * DAY);
      times.push(performance.now() - begin);
    }
    t.diagnostic(`snapshotsBetween over 7 days: ${times.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
    assert.equal(snaps.length, 10_080);
    assert.equal(
      snaps.reduce((n, s) => n + s.processes.length, 0),
      10_080 * 25,
    );
    assert.equal(snaps[0]?.processes[24]?.kind, 'build');
    const begin = performance.now();
    assert.equal(week.quickCheck(), 'ok');
    t.diagnostic(`quick_check: ${(performance.now() - begin).toFixed(0)} ms`);
    assert.equal(week.alertsBetween(T0, T0 + 7 * DAY).length, 10_080 / 5);
    week.close();
  });
});
