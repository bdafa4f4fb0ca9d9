/**
 * The daemon's hold on its history store (src/store/guard.ts), on a real SQLite file: a store call that
 * fails is noted, never thrown, and whether the store is failing is said once per change of state, judged
 * over a whole cycle's calls. The disk fills up for real as far as SQLite can tell: the connection's
 * `max_page_count` is set to the pages the file has, so a write that needs one more page fails with
 * SQLITE_FULL while reads go on, as on a full disk (test/integration/store-full.test.ts does it with a
 * full tmpfs under the real daemon).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StoreGuard } from '../../src/store/guard.js';
import type { OpenedStore } from '../../src/store/store.js';
import type { ProcessRecord, SnapshotRecord } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-guard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let made = 0;
/** A guard over a new store in its own state directory; its log lines in `logs`. */
function guarded(): { guard: StoreGuard; store: OpenedStore; logs: string[] } {
  const logs: string[] = [];
  const guard = new StoreGuard(join(dir, `state${made++}`), (line) => logs.push(line));
  const store = guard.open();
  assert.ok(store, logs.join('\n'));
  return { guard, store, logs };
}

const T0 = Date.UTC(2026, 5, 1, 12);

/** A history snapshot with 200 processes of their own: several pages of new rows. */
function snapshotAt(takenAt: number): SnapshotRecord {
  const processes: ProcessRecord[] = Array.from({ length: 200 }, (_, i) => ({
    pid: 1000 + i,
    startTicks: takenAt + i,
    comm: 'node',
    name: `node worker-${takenAt}-${i}`,
    cmdline: `node /home/dev/worker.js --shard ${takenAt}-${i} ${'x'.repeat(200)}`,
    user: 'dev',
    kind: null,
    group: `node worker.js ${takenAt}-${i}`,
    cpuPercent: 1,
    cpuSeconds: 2,
    rssBytes: 2 ** 20,
    state: 'S',
    orphan: false,
  }));
  return {
    takenAt,
    memUsedPercent: 50,
    memAvailableBytes: 2 ** 33,
    swapUsedPercent: 0,
    load1: 1,
    load5: 1,
    load15: 1,
    cpuPercent: 10,
    psiMemSomeAvg10: 0,
    psiMemFullAvg10: 0,
    psiCpuSomeAvg10: 0,
    psiIoFullAvg10: 0,
    cpuTempCelsius: null,
    gpuTempCelsius: null,
    disks: {},
    processes,
  };
}

/** The disk as SQLite sees it: no page more than the file has now (full), or room again. */
function disk(store: OpenedStore, state: 'full' | 'room'): void {
  const db = store.raw()!;
  if (state === 'room') {
    db.pragma('max_page_count = 1073741823');
    return;
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
}

/** One full cycle's store calls as the daemon makes them: a read, the cycle's writes, then the judgement. */
function cycle(guard: StoreGuard, at: number) {
  const alerts = guard.run((store) => store.openAlerts());
  guard.run((store) => store.batch(() => store.insertSnapshot(snapshotAt(at))));
  return { read: alerts !== undefined, state: guard.judge() };
}

describe('the history store judged once per cycle', () => {
  it('says "failing" once while the disk stays full, though reads go on working, and "writable again" once there is room', () => {
    const { guard, store, logs } = guarded();
    assert.deepEqual(cycle(guard, T0).state, { ok: true, error: null, path: store.path });
    disk(store, 'full');
    const full = [1, 2, 3, 4].map((n) => cycle(guard, T0 + n * 60_000));
    for (const { read, state } of full) {
      assert.ok(read, 'reads still answer on a full disk');
      assert.equal(state.ok, false);
      assert.match(state.error!, /disk is full/);
    }
    disk(store, 'room');
    const again = [5, 6].map((n) => cycle(guard, T0 + n * 60_000).state);
    assert.deepEqual(again, [
      { ok: true, error: null, path: store.path },
      { ok: true, error: null, path: store.path },
    ]);
    assert.equal(logs.filter((l) => l.startsWith('history store failing')).length, 1, logs.join('\n'));
    assert.match(logs.find((l) => l.startsWith('history store failing'))!, /collection and rules go on/);
    assert.equal(logs.filter((l) => l === 'history store writable again').length, 1, logs.join('\n'));
    assert.equal(
      logs.indexOf('history store writable again') > logs.findIndex((l) => /failing/.test(l)),
      true,
    );
    guard.close();
  });

  it('never throws out of a failing call: the call answers undefined and the cycle is judged failing', () => {
    const { guard, store } = guarded();
    disk(store, 'full');
    assert.equal(
      guard.run((s) => s.batch(() => s.insertSnapshot(snapshotAt(T0)))),
      undefined,
    );
    assert.equal(guard.judge().ok, false);
    disk(store, 'room');
    guard.close();
  });

  it('counts a failure the scheduler met on its own writes in the same judgement', () => {
    const { guard, logs } = guarded();
    guard.noteFailure('cannot write an action: the disk is full');
    assert.deepEqual(guard.judge(), {
      ok: false,
      error: 'cannot write an action: the disk is full',
      path: guard.path,
    });
    assert.equal(guard.judge().ok, true, 'a cycle without a failure wrote');
    assert.deepEqual(logs, [
      'history store failing (collection and rules go on): cannot write an action: the disk is full',
      'history store writable again',
    ]);
    guard.close();
  });

  it('runs without history when the state directory is not a directory, says why, and reports where it looked', () => {
    const logs: string[] = [];
    const notADir = join(dir, 'a-file');
    writeFileSync(notADir, 'not a directory');
    const guard = new StoreGuard(notADir, (line) => logs.push(line));
    assert.equal(guard.open(), null);
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^history unavailable, running without it: /);
    assert.equal(
      guard.run(() => 'called'),
      undefined,
      'no call reaches a store that is not there',
    );
    const state = guard.judge();
    assert.equal(state.ok, false);
    assert.equal(state.path, join(notADir, 'vigil.db'));
    assert.equal(state.error, logs[0]!.replace('history unavailable, running without it: ', ''));
    assert.equal(logs.length, 1, 'said once, at open');
  });
});
