import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatProblem } from '../config/problems.js';
import { writeFileAtomicPrivate } from '../host/private-files.js';
import type { Snapshot } from '../model/snapshot.js';
import type { RulesRuntime } from '../rules/runtime.js';
import type { StoreGuard, StoreState } from './guard.js';
import type { Heartbeat } from './types.js';

/** What the daemon process costs, read at each heartbeat (the process's own; tests pass their own). */
export interface ProcessMeter {
  /** CPU time used so far, µs (process.cpuUsage). */
  cpuUsage(): { readonly user: number; readonly system: number };
  rssBytes(): number;
  /** A monotonic clock, ms: what the CPU share of the last stretch divides by. */
  monoMs(): number;
}

const PROCESS_METER: ProcessMeter = {
  cpuUsage: () => process.cpuUsage(),
  rssBytes: () => process.memoryUsage.rss(),
  monoMs: () => performance.now(),
};

/** What a full cycle tells the heartbeat; the rest (pid, start, cost) the builder knows itself. */
export interface HeartbeatCycle {
  /** The cycle's sample: its time and each collector's state. */
  readonly snapshot: Pick<Snapshot, 'takenAt' | 'collectors'>;
  readonly mode: string;
  readonly journal: Heartbeat['journal'];
  /** Config and rules in force, and why the last reload was refused (null: it was not). */
  readonly runtime: RulesRuntime;
  readonly configError: string | null;
  readonly firing: number;
  /** Each notification channel's state; undefined before the notifier is made. */
  readonly notifications?: Heartbeat['notifications'] | undefined;
}

export interface HeartbeatBuilderOptions {
  /** The runtime directory: `heartbeat.json` goes beside the pid file (see lock.ts). */
  readonly runtimeDir: string;
  readonly startedAt: number;
  readonly intervalMs: number;
  readonly pid?: number;
  readonly meter?: ProcessMeter;
}

/**
 * The daemon's heartbeat, once per full cycle: what it is doing (mode, collectors, store, journal,
 * config, rules, notification channels) and what it costs (resident memory, CPU since the previous
 * heartbeat and in all). It goes to the store (`vigil health`, `vigil report`, the heartbeat history) and
 * to `heartbeat.json` beside the pid file, where {@link sightDaemon} reads it, so `vigil health` can tell a
 * failing store from a dead daemon.
 */
export class HeartbeatBuilder {
  private readonly meter: ProcessMeter;
  private readonly pid: number;
  private mark: { usage: { user: number; system: number }; at: number };

  constructor(private readonly options: HeartbeatBuilderOptions) {
    this.meter = options.meter ?? PROCESS_METER;
    this.pid = options.pid ?? process.pid;
    this.mark = { usage: this.meter.cpuUsage(), at: this.meter.monoMs() };
  }

  /**
   * The heartbeat of a cycle, with the store's state as judged for it; the CPU share counts from the
   * previous heartbeat (or from the start).
   */
  build(cycle: HeartbeatCycle, store: StoreState): Heartbeat {
    const at = this.meter.monoMs();
    const usage = this.meter.cpuUsage();
    const cpuMicros = usage.user + usage.system - (this.mark.usage.user + this.mark.usage.system);
    const cpuPercent = (cpuMicros / 1000 / Math.max(1, at - this.mark.at)) * 100;
    this.mark = { usage, at };
    const { runtime, configError } = cycle;
    return {
      pid: this.pid,
      startedAt: this.options.startedAt,
      lastCycleAt: cycle.snapshot.takenAt,
      intervalMs: this.options.intervalMs,
      mode: cycle.mode,
      collectors: cycle.snapshot.collectors,
      rssBytes: this.meter.rssBytes(),
      cpuPercent: Math.round(cpuPercent * 100) / 100,
      cpuSeconds: (usage.user + usage.system) / 1e6,
      store,
      journal: cycle.journal,
      config: { ok: configError === null, path: runtime.config.path, error: configError },
      rules: { count: runtime.rules.rules.length, problems: runtime.problems.map(formatProblem) },
      firing: cycle.firing,
      ...(cycle.notifications ? { notifications: cycle.notifications } : {}),
    };
  }

  /**
   * The cycle's heartbeat: the store judged over the cycle's calls (see StoreGuard.judge), then the
   * heartbeat written to the store (a failure there is judged at the next cycle) and to `heartbeat.json`
   * (a runtime directory gone is not an error: health will say the heartbeat is stale).
   */
  beat(cycle: HeartbeatCycle, guard: StoreGuard): Heartbeat {
    const heartbeat = this.build(cycle, guard.judge());
    guard.run((store) => store.writeHeartbeat(heartbeat));
    try {
      writeFileAtomicPrivate(join(this.options.runtimeDir, 'heartbeat.json'), JSON.stringify(heartbeat));
    } catch {
      // the runtime directory is gone: health will say the heartbeat is stale
    }
    return heartbeat;
  }
}
