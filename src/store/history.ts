import { type PackedSample, type ProcessIdentity, packSamples, unpackSamples } from './codec.js';
import { type Connection, hundredths } from './connection.js';
import type { ProcessRecord, RunRecord, SnapshotRecord } from './types.js';

/**
 * The history proper: the daemon's runs, the snapshots it took, and the process identities they refer to
 * (tables `runs`, `snapshots`, `procs`; schema.ts says why a snapshot keeps its processes packed).
 */

export interface PackedHistory {
  readonly snapshots: SnapshotRecord[];
  /** The `procs` rows the samples refer to, by id. */
  readonly identities: ReadonlyMap<number, ProcessIdentity>;
  readonly packed: readonly Uint8Array[];
}

/** A `snapshots` row as `.raw()` gives it (SELECT * order). */
export type SnapshotRow = [
  takenAt: number,
  memUsedPercent: number | null,
  memAvailableBytes: number | null,
  swapUsedPercent: number | null,
  load1: number | null,
  load5: number | null,
  load15: number | null,
  cpuPercent: number | null,
  psiMemSomeAvg10: number | null,
  psiMemFullAvg10: number | null,
  psiCpuSomeAvg10: number | null,
  psiIoFullAvg10: number | null,
  cpuTempCelsius: number | null,
  gpuTempCelsius: number | null,
  disks: string,
  procs: Uint8Array,
];

const SQL = {
  beginRun: 'INSERT INTO runs (pid, started_at, last_seen_at) VALUES (?, ?, ?)',
  touchRun: 'UPDATE runs SET last_seen_at = max(last_seen_at, ?) WHERE id = ?',
  endRun: 'UPDATE runs SET last_seen_at = max(last_seen_at, @now), ended_at = @now WHERE id = @id',
  runsBetween: `SELECT pid, started_at AS startedAt, last_seen_at AS lastSeenAt, ended_at AS endedAt FROM runs
    WHERE started_at <= @to AND coalesce(ended_at, last_seen_at) >= @from ORDER BY started_at, id`,

  procsOf:
    'SELECT id, comm, name, cmdline, user, kind, grp AS "group" FROM procs WHERE pid = ? AND start_ticks = ?',
  seeProc:
    'UPDATE procs SET first_seen = min(first_seen, @at), last_seen = max(last_seen, @at) WHERE id = @id',
  insertProc: `INSERT INTO procs (pid, start_ticks, comm, name, cmdline, user, kind, grp, first_seen, last_seen)
    VALUES (@pid, @startTicks, @comm, @name, @cmdline, @user, @kind, @group, @at, @at)`,
  procsBetween: `SELECT id, pid, start_ticks, comm, name, cmdline, user, kind, grp FROM procs
    WHERE last_seen >= @from AND first_seen <= @to`,
  insertSnapshot: 'INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  snapshotsBetween: 'SELECT * FROM snapshots WHERE taken_at BETWEEN ? AND ? ORDER BY taken_at',

  pruneSnapshots: `DELETE FROM snapshots WHERE taken_at IN
    (SELECT taken_at FROM snapshots WHERE taken_at < @before ORDER BY taken_at LIMIT @limit)`,
  pruneRuns: `DELETE FROM runs WHERE id IN
    (SELECT id FROM runs WHERE coalesce(ended_at, last_seen_at) < @before ORDER BY id LIMIT @limit)`,
  // A process row goes once no snapshot left can refer to it: seen last before the cut-off and before the
  // oldest snapshot kept (snapshots are pruned in steps, so some older than the cut-off may remain).
  pruneProcs: `DELETE FROM procs WHERE id IN
    (SELECT id FROM procs
      WHERE last_seen < min(@before, coalesce((SELECT min(taken_at) FROM snapshots), @before))
      ORDER BY last_seen LIMIT @limit)`,
} as const;

export class HistoryTable {
  constructor(private readonly conn: Connection) {}

  // -- runs ---------------------------------------------------------------------------------------------

  beginRun(pid: number, startedAt: number): number {
    return this.conn.write('a run', () =>
      Number(this.conn.statement(SQL.beginRun).run(pid, startedAt, startedAt).lastInsertRowid),
    );
  }

  touchRun(runId: number, now: number): void {
    this.conn.write('a run', () => this.conn.statement(SQL.touchRun).run(now, runId));
  }

  endRun(runId: number, now: number): void {
    this.conn.write('a run', () => this.conn.statement(SQL.endRun).run({ now, id: runId }));
  }

  runsBetween(from: number, to: number): RunRecord[] {
    return this.conn.read('runs', () =>
      this.conn.statement<[object], RunRecord>(SQL.runsBetween).all({ from, to }),
    );
  }

  // -- snapshots ----------------------------------------------------------------------------------------

  insertSnapshot(snapshot: SnapshotRecord): void {
    const takenAt = Math.round(snapshot.takenAt);
    this.conn.write('a snapshot', () => {
      const samples: PackedSample[] = snapshot.processes.map((p) => ({
        ...p,
        id: this.processId(p, takenAt),
      }));
      const disks: Record<string, number> = {};
      for (const [mount, usedPercent] of Object.entries(snapshot.disks))
        disks[mount] = hundredths(usedPercent);
      this.conn
        .statement(SQL.insertSnapshot)
        .run(
          takenAt,
          snapshot.memUsedPercent,
          snapshot.memAvailableBytes === null ? null : Math.round(snapshot.memAvailableBytes),
          snapshot.swapUsedPercent,
          snapshot.load1,
          snapshot.load5,
          snapshot.load15,
          snapshot.cpuPercent,
          snapshot.psiMemSomeAvg10,
          snapshot.psiMemFullAvg10,
          snapshot.psiCpuSomeAvg10,
          snapshot.psiIoFullAvg10,
          snapshot.cpuTempCelsius,
          snapshot.gpuTempCelsius,
          JSON.stringify(disks),
          packSamples(samples),
        );
    });
  }

  /** The `procs` row of a process with exactly this identity and text, created when new. */
  private processId(p: ProcessRecord, takenAt: number): number {
    type Row = Pick<ProcessRecord, 'comm' | 'name' | 'cmdline' | 'user' | 'kind' | 'group'> & { id: number };
    const rows = this.conn.statement<[number, number], Row>(SQL.procsOf).all(p.pid, p.startTicks);
    const known = rows.find(
      (r) =>
        r.comm === p.comm &&
        r.name === p.name &&
        r.cmdline === p.cmdline &&
        r.user === p.user &&
        r.kind === p.kind &&
        r.group === p.group,
    );
    if (known !== undefined) {
      this.conn.statement(SQL.seeProc).run({ at: takenAt, id: known.id });
      return known.id;
    }
    const result = this.conn.statement<[object]>(SQL.insertProc).run({
      pid: p.pid,
      startTicks: p.startTicks,
      comm: p.comm,
      name: p.name,
      cmdline: p.cmdline,
      user: p.user,
      kind: p.kind,
      group: p.group,
      at: takenAt,
    });
    return Number(result.lastInsertRowid);
  }

  snapshotsBetween(from: number, to: number): SnapshotRecord[] {
    return this.conn.read('snapshots', () => {
      const { snapshots, identities, packed } = this.readHistory(from, to);
      return snapshots.map((s, i) => ({ ...s, processes: unpackSamples(packed[i]!, identities) }));
    });
  }

  historyBetween(from: number, to: number): PackedHistory {
    return this.conn.read('snapshots', () => this.readHistory(from, to));
  }

  /** The window's snapshots with their processes still packed, and the identities they refer to. */
  private readHistory(from: number, to: number): PackedHistory {
    const identities = new Map<number, ProcessIdentity>();
    addIdentities(
      identities,
      this.conn.statement<[object], IdentityRow>(SQL.procsBetween).raw().all({ from, to }),
    );
    // Row by row: each raw row is garbage once mapped, so a week's rows never all survive a scavenge.
    const rows = this.conn
      .statement<[number, number], SnapshotRow>(SQL.snapshotsBetween)
      .raw()
      .iterate(from, to);
    const packed: Uint8Array[] = [];
    const snapshots: SnapshotRecord[] = [];
    for (const row of rows) {
      packed.push(row[15]);
      snapshots.push(snapshotOfRow(row));
    }
    return { snapshots, identities, packed };
  }

  // -- retention (steps of the store's prune; the caller holds the transaction) ---------------------------

  pruneSnapshots(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.pruneSnapshots).run({ before, limit }).changes;
  }

  pruneRuns(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.pruneRuns).run({ before, limit }).changes;
  }

  /** Process identities no snapshot refers to any more: after the snapshots. */
  pruneProcs(before: number, limit: number): number {
    return this.conn.statement<[object]>(SQL.pruneProcs).run({ before, limit }).changes;
  }
}

/** A `procs` row as `.raw()` gives it: id, then the identity's fields. */
export type IdentityRow = [number, number, number, string, string, string, string, string | null, string];

/** Adds `rows` (of `procs`) to `identities`, by id. */
export function addIdentities(identities: Map<number, ProcessIdentity>, rows: readonly IdentityRow[]): void {
  for (const [id, pid, startTicks, comm, name, cmdline, user, kind, group] of rows)
    identities.set(id, { pid, startTicks, comm, name, cmdline, user, kind, group });
}

/** A stored snapshot row as a record, its processes not decoded (`processes` is empty). */
export function snapshotOfRow(row: SnapshotRow): SnapshotRecord {
  return {
    takenAt: row[0],
    memUsedPercent: row[1],
    memAvailableBytes: row[2],
    swapUsedPercent: row[3],
    load1: row[4],
    load5: row[5],
    load15: row[6],
    cpuPercent: row[7],
    psiMemSomeAvg10: row[8],
    psiMemFullAvg10: row[9],
    psiCpuSomeAvg10: row[10],
    psiIoFullAvg10: row[11],
    cpuTempCelsius: row[12],
    gpuTempCelsius: row[13],
    disks: parseDisks(row[14]),
    processes: [],
  };
}

/** The `disks` column (mount → used %), or none when it does not hold such an object. */
function parseDisks(text: string): Record<string, number> {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(
      Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
    );
  } catch {
    return {};
  }
}
