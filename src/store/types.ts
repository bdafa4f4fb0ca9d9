import type { Severity } from '../config/schema.js';
import type { CollectorStatus } from '../model/snapshot.js';
import type { BaselineRow } from '../understand/baseline.js';

/**
 * What the history database holds, as the rest of vigil sees it. Times are ms since the epoch. The store
 * `openStore` (src/store/store.ts) opens implements `HistoryStore` on better-sqlite3 (src/store/opened.ts,
 * each table in its repository); `vigil report` and `vigil health` read through it; the daemon writes
 * through it.
 */

/** A process as kept in history: enough to name it, group it and rank it. */
export interface ProcessRecord {
  readonly pid: number;
  readonly startTicks: number;
  readonly comm: string;
  /** Short display name (`python3 mcp_server_fetch`). */
  readonly name: string;
  /** Redacted cmdline (secrets masked by the caller), cut to 512 characters. */
  readonly cmdline: string;
  readonly user: string;
  readonly kind: string | null;
  /** Normalised cmdline shared by identical processes. */
  readonly group: string;
  readonly cpuPercent: number;
  /** utime + stime since the process started. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Out in swap; null when unknown (snapshots stored before vigil read swap); absent counts as unknown. */
  readonly swapBytes?: number | null;
  readonly state: string;
  readonly orphan: boolean;
}

/** One row of history: system metrics plus the processes worth keeping. */
export interface SnapshotRecord {
  readonly takenAt: number;
  readonly memUsedPercent: number | null;
  readonly memAvailableBytes: number | null;
  readonly swapUsedPercent: number | null;
  readonly load1: number | null;
  readonly load5: number | null;
  readonly load15: number | null;
  readonly cpuPercent: number | null;
  readonly psiMemSomeAvg10: number | null;
  readonly psiMemFullAvg10: number | null;
  readonly psiCpuSomeAvg10: number | null;
  readonly psiIoFullAvg10: number | null;
  /** Hottest CPU and GPU sensors, °C. */
  readonly cpuTempCelsius: number | null;
  readonly gpuTempCelsius: number | null;
  /** Used % per mount point. */
  readonly disks: Readonly<Record<string, number>>;
  /** Top processes by CPU and by memory, and every process involved in a finding. */
  readonly processes: readonly ProcessRecord[];
}

export interface AlertRecord {
  /** Row id: `vigil fix <id>`, `vigil veto <id>` name alerts by it. */
  readonly id: number;
  /** rule + '|' + subject. */
  readonly fingerprint: string;
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  /** The latest summary: the alert's words as it last fired. */
  readonly summary: string;
  /** The summary when it was raised (what `vigil report` shows); absent means `summary`. */
  readonly raisedSummary?: string;
  readonly pids: readonly number[];
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** null while firing. */
  readonly resolvedAt: number | null;
  /** Cycles it was seen firing. */
  readonly count: number;
  /** Journal events are raised and resolved at once. */
  readonly event: boolean;
  readonly suggest: readonly string[];
}

/** The daemon's own report of itself, written every cycle. */
export interface Heartbeat {
  readonly pid: number;
  readonly startedAt: number;
  readonly lastCycleAt: number;
  readonly intervalMs: number;
  readonly mode: string;
  readonly collectors: readonly CollectorStatus[];
  readonly rssBytes: number;
  /** CPU used by the daemon since the previous heartbeat, 100 = one core. */
  readonly cpuPercent: number;
  /** Total CPU seconds since start. */
  readonly cpuSeconds: number;
  readonly store: { readonly ok: boolean; readonly error: string | null; readonly path: string };
  readonly journal: {
    readonly state: 'following' | 'restarting' | 'unsupported' | 'off';
    readonly detail: string | null;
  };
  readonly config: { readonly ok: boolean; readonly path: string; readonly error: string | null };
  readonly rules: { readonly count: number; readonly problems: readonly string[] };
  readonly firing: number;
  /** Each notification channel's state (absent in heartbeats written before it existed). */
  readonly notifications?: {
    readonly channels: ReadonlyArray<{
      readonly name: string;
      readonly state: 'ok' | 'failing' | 'unsupported';
      readonly detail: string | null;
      readonly pending: number | null;
      readonly lastDeliveredAt: number | null;
    }>;
    readonly queuePersistent: boolean | null;
  };
}

/** A stretch of time the daemon was running (from its runs table); gaps are what lies between. */
export interface RunRecord {
  readonly pid: number;
  readonly startedAt: number;
  readonly lastSeenAt: number;
  /** null when it did not stop cleanly (killed, crashed, still running). */
  readonly endedAt: number | null;
}

/** Rule state kept across restarts so a 5-minute condition is not reset by one. */
export interface RuleStateRecord {
  readonly fingerprint: string;
  readonly pendingSince: number;
  readonly firing: boolean;
  readonly clearingSince: number | null;
}

/** What the store needs of a firing finding to open or update its alert. */
export interface FiringFinding {
  readonly fingerprint: string;
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly pids: readonly number[];
  readonly since: number;
  readonly event: boolean;
  readonly suggest: readonly string[];
}

export interface HistoryStore {
  readonly path: string;
  /** Records the start of a daemon run; returns its id. */
  beginRun(pid: number, startedAt: number): number;
  touchRun(runId: number, now: number): void;
  endRun(runId: number, now: number): void;
  runsBetween(from: number, to: number): RunRecord[];

  insertSnapshot(snapshot: SnapshotRecord): void;
  snapshotsBetween(from: number, to: number): SnapshotRecord[];

  /**
   * Records a finding that is firing: opens an alert (fingerprint not open) or updates the open one
   * (last seen, count, severity, summary, pids). Returns the alert and whether it is new.
   */
  recordFiring(finding: FiringFinding, now: number): { alert: AlertRecord; isNew: boolean };
  /** Closes the open alert of a fingerprint. */
  resolveAlert(fingerprint: string, now: number): AlertRecord | null;
  openAlerts(): AlertRecord[];
  alertById(id: number): AlertRecord | null;
  /** Alerts active at any time in [from, to]. */
  alertsBetween(from: number, to: number): AlertRecord[];

  loadBaselines(): BaselineRow[];
  saveBaselines(rows: readonly BaselineRow[]): void;

  getJournalCursor(): string | null;
  setJournalCursor(cursor: string): void;

  saveRuleStates(states: readonly RuleStateRecord[]): void;
  loadRuleStates(): RuleStateRecord[];

  writeHeartbeat(heartbeat: Heartbeat): void;
  /** The newest heartbeat written, or null. */
  latestHeartbeat(): Heartbeat | null;
  /** Collectors that reported an error in heartbeats within [from, to]: how often, the last error. */
  collectorProblemsBetween(
    from: number,
    to: number,
  ): Array<{ collector: string; error: string; count: number; lastAt: number }>;
  /** Runs `fn` in one transaction (a cycle's writes): one fsync instead of many. */
  batch<T>(fn: () => T): T;
  /** Deletes at most `maxRows` rows older than `before`; returns how many. Called each cycle: small steps. */
  prune(before: number, maxRows: number): number;
  /** `PRAGMA quick_check` result: 'ok' or the first problem. */
  quickCheck(): string;
  sizeBytes(): number;
  close(): void;
}
