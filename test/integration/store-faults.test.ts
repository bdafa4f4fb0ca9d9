import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { openStore, StoreError } from '../../src/store/store.js';
import type { ProcessRecord, SnapshotRecord } from '../../src/store/types.js';
import { cannotCreateIn, makeReadOnly } from '../helpers/readonly.js';

/**
 * The history store under real faults: a writer killed with SIGKILL mid-transaction, garbage and damaged
 * files at the database path, a read-only directory or file, and a full file system.
 */

const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'vigil-store-faults-'));
const undo: Array<() => void> = [];
after(() => {
  for (const step of undo.reverse()) step();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

function proc(pid: number): ProcessRecord {
  return {
    pid,
    startTicks: 1000 + pid,
    comm: 'node',
    name: 'node mcp-server',
    cmdline: `node /home/dev/.npm/_npx/1a2b/node_modules/mcp-server/dist/index.js --port ${40000 + (pid % 1000)}`,
    user: 'dev',
    kind: 'mcp-server',
    group: 'node /home/dev/.npm/_npx/N/node_modules/mcp-server/dist/index.js --port N',
    cpuPercent: 12.5,
    cpuSeconds: 30.25,
    rssBytes: 200 * 1024 * 1024,
    state: 'S',
    orphan: false,
  };
}

function snapshot(takenAt: number): SnapshotRecord {
  return {
    takenAt,
    memUsedPercent: 55.5,
    memAvailableBytes: 8 * 2 ** 30,
    swapUsedPercent: 0,
    load1: 0.5,
    load5: 0.4,
    load15: 0.3,
    cpuPercent: 12,
    psiMemSomeAvg10: 0,
    psiMemFullAvg10: 0,
    psiCpuSomeAvg10: 0,
    psiIoFullAvg10: 0,
    cpuTempCelsius: 50,
    gpuTempCelsius: null,
    disks: { '/': 40 },
    processes: [proc(101), proc(102)],
  };
}

/** `PRAGMA integrity_check` on a connection of its own (the full check, not the store's quick one). */
function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** A database with a little history, closed cleanly. */
function seed(path: string): void {
  const store = openStore(path, { log: () => {} });
  assert.equal(store.problem, null);
  store.insertSnapshot(snapshot(T0));
  store.recordFiring(
    {
      fingerprint: 'disk_low|/',
      rule: 'disk_low',
      subject: '/',
      severity: 'medium',
      summary: 'only 4% free on /',
      pids: [],
      since: T0,
      event: false,
      suggest: ['notify_only'],
    },
    T0,
  );
  store.setJournalCursor('s=seed;i=1');
  store.close();
}

describe('history store: kill -9 in the middle of writes', () => {
  /** A writer in its own process: batches of snapshots, alerts, heartbeats and pruning, as fast as it can. */
  const writer = join(dir, 'writer.ts');
  writeFileSync(
    writer,
    `
import { openStore } from ${JSON.stringify(pathToFileURL(join(REPO, 'src/store/store.ts')).href)};
const [path, first] = process.argv.slice(2);
const store = openStore(path, { log: (m) => process.stderr.write(m + '\\n') });
if (store.problem) { process.stderr.write(String(store.problem) + '\\n'); process.exit(2); }
const T0 = ${T0};
const SNAPSHOTS_AT = T0 + 10 * 365 * 86_400_000; // far from the alerts' times, so prune never takes them
const proc = (pid) => ({ pid, startTicks: pid * 7, comm: 'python3', name: 'python3 worker', cmdline: 'python3 worker.py --id ' + pid,
  user: 'dev', kind: null, group: 'python3 worker.py --id N', cpuPercent: pid % 100, cpuSeconds: pid, rssBytes: pid * 4096,
  state: 'R', orphan: pid % 2 === 0 });
const run = store.beginRun(process.pid, T0);
for (let i = Number(first); ; i++) {
  const now = T0 + i * 5000;
  store.batch(() => {
    for (let k = 0; k < 4; k++) {
      store.insertSnapshot({ takenAt: SNAPSHOTS_AT + i * 4 + k, memUsedPercent: 50, memAvailableBytes: 1e9,
        swapUsedPercent: 0, load1: 1, load5: 1, load15: 1, cpuPercent: 10, psiMemSomeAvg10: 0, psiMemFullAvg10: 0,
        psiCpuSomeAvg10: 0, psiIoFullAvg10: 0, cpuTempCelsius: null, gpuTempCelsius: null, disks: { '/': 40 },
        processes: Array.from({ length: 25 }, (_, p) => proc(i * 100 + p)) });
    }
    const subject = 'pid:' + (i % 7);
    store.recordFiring({ fingerprint: 'orphan_cpu|' + subject, rule: 'orphan_cpu', subject, severity: 'medium',
      summary: 'cycle ' + i, pids: [i % 7], since: now, event: false, suggest: ['kill_process'] }, now);
    if (i % 3 === 0) store.resolveAlert('orphan_cpu|pid:' + ((i + 3) % 7), now);
    store.writeHeartbeat({ pid: process.pid, startedAt: T0, lastCycleAt: now, intervalMs: 5000, mode: 'observe',
      collectors: [], rssBytes: 1e7, cpuPercent: 1, cpuSeconds: i, store: { ok: true, error: null, path },
      journal: { state: 'off', detail: null }, config: { ok: true, path: 'c', error: null },
      rules: { count: 1, problems: [] }, firing: 1 });
    store.touchRun(run, now);
    store.prune(now - 60_000, 20);
  });
  process.stdout.write(i + '\\n'); // after the commit: every number printed is durable
}
`,
  );

  /** Runs the writer from `first`, kills it with SIGKILL after `killAfterMs`; the last batch it committed. */
  function writeUntilKilled(path: string, first: number, killAfterMs: number): Promise<number> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, ['--import', 'tsx', writer, path, String(first)], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let timer: NodeJS.Timeout | undefined;
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.on('exit', (code, signal) => {
        clearTimeout(guard);
        clearTimeout(timer);
        const lines = out.split('\n');
        lines.pop(); // a line cut by the kill, or the empty string after the last newline
        if (signal !== 'SIGKILL' || lines.length === 0) {
          fail(new Error(`the writer ended with ${signal ?? `status ${code}`} before writing: ${err}`));
          return;
        }
        done(Number(lines.at(-1)));
      });
    });
  }

  it('leaves a database that passes integrity_check and keeps every committed batch, kill after kill', async (t) => {
    const path = join(dir, 'killed', 'vigil.db');
    const SNAPSHOTS_AT = T0 + 10 * 365 * 86_400_000;
    const ADDED_AT = SNAPSHOTS_AT - 86_400_000;
    let next = 0;
    let walSeen = 0;
    const kills = 5;
    for (let round = 0; round < kills; round++) {
      const last = await writeUntilKilled(path, next, 150 + round * 90);
      assert.ok(last >= next, `round ${round}: the writer committed batches ${next}..${last}`);
      if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) walSeen++;

      const logs: string[] = [];
      const store = openStore(path, { log: (m) => logs.push(m) });
      assert.equal(store.problem, null, `round ${round}: ${store.problem?.message}`);
      assert.deepEqual(logs, [], 'nothing was moved aside');
      assert.equal(store.quickCheck(), 'ok');
      const snapshots = store.snapshotsBetween(SNAPSHOTS_AT, SNAPSHOTS_AT + 1e9);
      // Every batch printed, in this round and the ones before, is there, and whole: a batch is four
      // snapshots in one transaction. One more may be, committed before the kill cut its number off.
      const batches = snapshots.length / 4;
      assert.ok(Number.isInteger(batches), `${snapshots.length} snapshots: a batch was cut in half`);
      assert.ok(
        batches === last + 1 || batches === last + 2,
        `round ${round}: ${batches} batches for 0..${last}`,
      );
      assert.ok(snapshots.every((s, i) => s.takenAt === SNAPSHOTS_AT + i && s.processes.length === 25));
      const added = store.snapshotsBetween(ADDED_AT, ADDED_AT + kills);
      assert.equal(added.length, round, 'rows added between kills are still there');
      // new rows can be written after the crash
      store.insertSnapshot(snapshot(ADDED_AT + round));
      assert.ok(store.openAlerts().length <= 7);
      store.close();
      assert.equal(integrity(path), 'ok', `round ${round}`);
      const db = new Database(path, { readonly: true });
      const doubled = db
        .prepare(
          'SELECT fingerprint FROM alerts WHERE resolved_at IS NULL GROUP BY fingerprint HAVING count(*) > 1',
        )
        .all();
      db.close();
      assert.deepEqual(doubled, [], 'never two open alerts for one fingerprint');
      t.diagnostic(`kill ${round + 1}: batches ${next}..${last} kept`);
      next = last + 1;
    }
    assert.ok(walSeen > 0, 'at least one kill left committed data in the -wal for recovery to replay');
  });
});

describe('history store: files that are not a usable database', () => {
  it('moves a garbage file aside as vigil.db.corrupt-<time>, says so, and starts a fresh database', () => {
    const folder = join(dir, 'garbage');
    mkdirSync(folder);
    const path = join(folder, 'vigil.db');
    const garbage = Buffer.concat([Buffer.from('this is not SQLite\n'), randomBytes(64 * 1024)]);
    writeFileSync(path, garbage);
    writeFileSync(`${path}-wal`, randomBytes(4096));

    const logs: string[] = [];
    const store = openStore(path, { log: (m) => logs.push(m), now: () => Date.UTC(2026, 10, 21, 9, 58, 12) });
    const aside = 'vigil.db.corrupt-2026-11-21T09:58:12.000Z';
    assert.equal(store.problem, null);
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^WARNING: .*vigil\.db was not a usable SQLite database/);
    assert.ok(logs[0]!.includes(join(folder, aside)), logs[0]);
    assert.deepEqual(readFileSync(join(folder, aside)), garbage, 'the old file is kept as it was');
    assert.ok(existsSync(join(folder, `${aside}-wal`)), 'its -wal went with it');

    store.insertSnapshot(snapshot(T0));
    assert.equal(store.snapshotsBetween(T0, T0).length, 1);
    store.close();
    assert.equal(integrity(path), 'ok');
  });

  it('moves aside an SQLite file whose pages fail quick_check', () => {
    const folder = join(dir, 'damaged');
    const path = join(folder, 'vigil.db');
    const store = openStore(path, { log: () => {} });
    for (let i = 0; i < 40; i++) {
      store.recordFiring(
        {
          fingerprint: `r|${i}`,
          rule: 'r',
          subject: String(i),
          severity: 'low',
          summary: 'x'.repeat(300),
          pids: [],
          since: T0,
          event: false,
          suggest: [],
        },
        T0,
      );
    }
    store.close();
    const db = new Database(path, { readonly: true });
    const root = db
      .prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'alerts'")
      .pluck()
      .get() as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    // Scribble over the cell pointers of the alerts table's root page.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, (root - 1) * pageSize + 8);
    closeSync(fd);

    const logs: string[] = [];
    const reopened = openStore(path, { log: (m) => logs.push(m) });
    assert.equal(reopened.problem, null);
    assert.match(logs.join('\n'), /WARNING: .* \(quick_check: Tree \d+ page \d+ cell/);
    assert.equal(readdirSync(folder).filter((f) => /^vigil\.db\.corrupt-[-0-9T:.]+Z$/.test(f)).length, 1);
    assert.deepEqual(reopened.openAlerts(), [], 'a new, empty history');
    assert.equal(reopened.quickCheck(), 'ok');
    reopened.close();
  });
});

describe('history store: a database that cannot be written', () => {
  /** Checks a store opened on an unwritable database: no throw, reads work, writes throw clearly. */
  function assertReadOnlyStore(path: string): void {
    const logs: string[] = [];
    const store = openStore(path, { log: (m) => logs.push(m) });
    assert.equal(store.writable, false);
    assert.equal(store.problem?.code, 'unwritable', store.problem?.message);
    assert.match(logs.join('\n'), /history store failing: cannot open .*vigil\.db for writing/);

    assert.equal(store.snapshotsBetween(T0, T0).length, 1, 'reads still work');
    assert.equal(store.openAlerts()[0]?.summary, 'only 4% free on /');
    assert.equal(store.getJournalCursor(), 's=seed;i=1');
    assert.equal(store.quickCheck(), 'ok');

    for (const write of [
      () => store.insertSnapshot(snapshot(T0 + 60_000)),
      () => store.setJournalCursor('s=seed;i=2'),
      () => store.prune(T0, 10),
    ]) {
      assert.throws(write, (error) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'unwritable');
        assert.equal(error.path, path);
        assert.match(
          error.message,
          /make the file \(with its -wal and -shm\) and its directory writable by this user/,
        );
        return true;
      });
    }
    store.close();
  }

  it('in a read-only directory, opens without throwing, reads the history and refuses writes', (t) => {
    const folder = join(dir, 'read-only-dir');
    const path = join(folder, 'vigil.db');
    seed(path);
    const restore = makeReadOnly(folder, true);
    if (typeof restore === 'string') return t.skip(restore);
    undo.push(restore);
    try {
      if (!cannotCreateIn(folder))
        return t.skip('the directory could still be written after making it read-only');
      assertReadOnlyStore(path);
      // With no database at all there is nothing to read: every call says why.
      const missing = openStore(join(folder, 'other.db'), { log: () => {} });
      assert.equal(missing.problem?.code, 'unwritable');
      assert.throws(() => missing.openAlerts(), /other\.db does not exist and cannot be created/);
      assert.match(missing.quickCheck(), /does not exist/);
      missing.close();
    } finally {
      restore();
      undo.pop();
    }
    assert.equal(integrity(path), 'ok');
  });

  it('with the database file made read-only, opens without throwing, reads the history and refuses writes', (t) => {
    const folder = join(dir, 'read-only-file');
    const path = join(folder, 'vigil.db');
    seed(path);
    const restore = makeReadOnly(path, false);
    if (typeof restore === 'string') return t.skip(restore);
    undo.push(restore);
    try {
      assertReadOnlyStore(path);
    } finally {
      restore();
      undo.pop();
    }
    const store = openStore(path, { log: () => {} });
    assert.equal(store.problem, null, 'writable again once the file is');
    store.close();
  });

  it('on a full file system, fails each write with "disk is full" and recovers once space is freed', (t: TestContext) => {
    const mount = join(dir, 'small-fs');
    mkdirSync(mount);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'vigil-test', mount], { stdio: 'pipe' });
    } catch (error) {
      const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
      return t.skip(`cannot mount a 2 MiB tmpfs to fill (${detail}): needs root with CAP_SYS_ADMIN`);
    }
    undo.push(() => execFileSync('umount', [mount]));
    try {
      const path = join(mount, 'vigil.db');
      const store = openStore(path, { log: () => {} });
      store.insertSnapshot(snapshot(T0));
      let fillers = 0;
      try {
        for (;;) writeFileSync(join(mount, `filler-${fillers++}`), Buffer.alloc(64 * 1024));
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
      let failure: unknown;
      for (let m = 1; m < 500 && failure === undefined; m++) {
        try {
          store.insertSnapshot(snapshot(T0 + m * 60_000));
        } catch (error) {
          failure = error;
        }
      }
      assert.ok(failure instanceof StoreError, String(failure));
      assert.equal(failure.code, 'full');
      assert.match(failure.message, /the disk is full .*history is not recorded until space is freed/);
      assert.equal(store.problem, failure);
      assert.equal(store.snapshotsBetween(T0, T0).length, 1, 'reads still work');

      // Opening on the full disk works too; writes fail the same way.
      const second = openStore(path, { log: () => {} });
      assert.equal(second.problem, null);
      assert.throws(() => second.insertSnapshot(snapshot(T0 - 60_000)), /disk is full/);
      second.close();

      for (let i = 0; i < fillers; i++) rmSync(join(mount, `filler-${i}`), { force: true });
      store.insertSnapshot(snapshot(T0 + 999 * 60_000));
      assert.equal(store.problem, null, 'the next write that succeeds clears the problem');
      assert.equal(store.quickCheck(), 'ok');
      store.close();
      assert.equal(integrity(path), 'ok');
    } finally {
      execFileSync('umount', [mount]);
      undo.pop();
    }
  });
});
