import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { runtimeDir, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import { formatBytes, formatDuration } from '../model/format.js';
import { collectorNotes } from '../model/snapshot.js';
import type { GlobalOptions } from '../pipeline/options.js';
import { sightDaemon } from '../store/lock.js';
import type { Heartbeat } from '../store/types.js';

export interface HealthReport {
  readonly healthy: boolean;
  /** One line: why it is unhealthy, or what is fine. */
  readonly reason: string;
  readonly daemon: { running: boolean; pid: number | null; heartbeatAgeSecs: number | null; fresh: boolean };
  readonly database: {
    path: string;
    exists: boolean;
    sizeBytes: number | null;
    integrity: string | null;
    ok: boolean;
    error: string | null;
  };
  readonly collectors: ReadonlyArray<{
    name: string;
    ok: boolean;
    durationMs: number;
    error: string | null;
    unsupported: string | null;
    /** Timeouts in a row and the backoff they earned; a run still waiting for its command. */
    timeouts: number;
    backoffMs: number | null;
    inFlightMs: number | null;
    /** The same in words ('' when there is nothing to say). */
    notes: string;
  }>;
  readonly journal: Heartbeat['journal'] | null;
  /** The daemon's notification channels as its last heartbeat saw them. */
  readonly notifications: NonNullable<Heartbeat['notifications']> | null;
  /** `refused`: the file exists but someone else could have written it, so the defaults apply. */
  readonly config: { ok: boolean; path: string; problems: string[]; refused: string | null };
  /** `refused`: user rule or kinds files not loaded for the same reason (vigil holds observe mode). */
  readonly rules: { count: number; problems: string[]; refused: string[] };
  readonly self: {
    rssBytes: number;
    cpuPercent: number;
    cpuSeconds: number;
    mode: string;
    intervalMs: number;
    startedAt: number;
  } | null;
}

/**
 * Is the watchdog itself well? The daemon's pid file and the heartbeat beside it (fresh within three
 * intervals), the database (size, quick integrity check, and whether the daemon can write it), each
 * collector's last run, the journal follower, config and rules as they load now, and the daemon's own
 * cost.
 */
export async function checkHealth(
  configPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HealthReport> {
  const [{ openStore }, { loadRulesRuntime }] = await Promise.all([
    import('../store/store.js'),
    import('../rules/runtime.js'),
  ]);
  const now = Date.now();
  const { pid, running, heartbeat, ageSecs: age, fresh } = sightDaemon(runtimeDir(env), now);

  const dbPath = heartbeat?.store.path ?? join(stateDir(env), 'vigil.db');
  const database: HealthReport['database'] = {
    path: dbPath,
    exists: existsSync(dbPath),
    sizeBytes: null,
    integrity: null,
    ok: true,
    error: null,
  };
  if (database.exists) {
    try {
      database.sizeBytes = statSync(dbPath).size;
      // health only reads: a database this user cannot write is the daemon's to report (its heartbeat).
      const store = openStore(dbPath, {
        log: (message) => process.stderr.write(`vigil: ${message}\n`),
        reading: true,
      });
      try {
        database.integrity = store.quickCheck();
        database.sizeBytes = store.sizeBytes();
      } finally {
        store.close();
      }
    } catch (error) {
      database.error = (error as Error).message;
    }
  }
  if (heartbeat && fresh && !heartbeat.store.ok)
    database.error = heartbeat.store.error ?? 'the daemon cannot write it';
  database.ok = database.error === null && (database.integrity === null || database.integrity === 'ok');

  let config: HealthReport['config'];
  let rules: HealthReport['rules'];
  try {
    const runtime = loadRulesRuntime({ configPath, env });
    const refusedConfig = runtime.config.refused;
    config = { ok: true, path: runtime.config.path, problems: [], refused: refusedConfig?.line ?? null };
    rules = {
      count: runtime.rules.rules.length,
      problems: runtime.problems.map(formatProblem),
      refused: runtime.refused.filter((r) => r !== refusedConfig).map((r) => r.line),
    };
  } catch (error) {
    const problems =
      error instanceof ProblemsError ? error.problems.map(formatProblem) : [(error as Error).message];
    config = { ok: false, path: configPath ?? '', problems, refused: null };
    rules = { count: 0, problems: [], refused: [] };
  }

  const collectors = (heartbeat?.collectors ?? []).map((c) => ({
    name: c.name,
    ok: c.ok,
    durationMs: c.durationMs,
    error: c.error,
    unsupported: c.unsupported,
    timeouts: c.timeouts ?? 0,
    backoffMs: c.backoffMs ?? null,
    inFlightMs: c.inFlightMs ?? null,
    notes: collectorNotes(c).join('; '),
  }));
  const failing = collectors.filter((c) => !c.ok);
  const failingChannel = fresh ? heartbeat?.notifications?.channels.find((c) => c.state === 'failing') : null;

  let reason: string;
  if (!running)
    reason =
      pid === null
        ? 'the daemon is not running (start it with vigil run or vigil service install --now)'
        : `the daemon (pid ${pid}) is not running: a stale pid file`;
  else if (!fresh)
    reason = `the daemon (pid ${pid}) has not completed a cycle for ${age === null ? 'ever' : formatDuration(age)}: it may be hung`;
  else if (!database.ok)
    reason = `the history store is failing: ${database.error ?? `integrity check says ${database.integrity}`}`;
  else if (config.refused) reason = config.refused;
  else if (rules.refused.length > 0) reason = rules.refused[0]!;
  else if (!config.ok) reason = `the configuration has problems: ${config.problems[0]}`;
  else if (rules.problems.length > 0) reason = `a rule file has problems: ${rules.problems[0]}`;
  else if (failing.length > 0)
    reason = `collector ${failing[0]!.name} is failing: ${failing[0]!.error}${failing[0]!.notes ? ` (${failing[0]!.notes})` : ''}`;
  else if (failingChannel)
    reason = `notification channel ${failingChannel.name} is failing: ${failingChannel.detail}`;
  else if (heartbeat && !heartbeat.config.ok)
    reason = `the daemon refused a config reload: ${heartbeat.config.error?.split('\n')[0]}`;
  else
    reason = `healthy: daemon pid ${pid}, last cycle ${formatDuration(age ?? 0)} ago, ${rules.count} rules, ${heartbeat?.firing ?? 0} firing`;
  const healthy = reason.startsWith('healthy');

  return {
    healthy,
    reason,
    daemon: { running, pid, heartbeatAgeSecs: age, fresh },
    database,
    collectors,
    journal: heartbeat?.journal ?? null,
    notifications: fresh ? (heartbeat?.notifications ?? null) : null,
    config,
    rules,
    // The cost is the running daemon's: a stopped one's last heartbeat says nothing about now.
    self:
      heartbeat && running
        ? {
            rssBytes: heartbeat.rssBytes,
            cpuPercent: heartbeat.cpuPercent,
            cpuSeconds: heartbeat.cpuSeconds,
            mode: heartbeat.mode,
            intervalMs: heartbeat.intervalMs,
            startedAt: heartbeat.startedAt,
          }
        : null,
  };
}

export function renderHealth(h: HealthReport): string {
  const lines = [h.reason, ''];
  const age = h.daemon.heartbeatAgeSecs;
  const lastCycle = age === null ? '' : `last cycle ${formatDuration(age)} ago`;
  lines.push(
    h.daemon.running
      ? `daemon     running, pid ${h.daemon.pid}${lastCycle ? `, ${lastCycle}` : ''}${h.self ? `, mode ${h.self.mode}, every ${h.self.intervalMs / 1000} s, up ${formatDuration((Date.now() - h.self.startedAt) / 1000)}` : ''}`
      : `daemon     not running${lastCycle ? ` (its ${lastCycle})` : ''}`,
  );
  if (h.self)
    lines.push(
      `its cost   the daemon (pid ${h.daemon.pid}): ${formatBytes(h.self.rssBytes)} resident, ${h.self.cpuPercent.toFixed(2)}% CPU, ${h.self.cpuSeconds.toFixed(1)} CPU s since it started`,
    );
  lines.push(
    `database   ${h.database.path}${h.database.exists ? `, ${formatBytes(h.database.sizeBytes)}, integrity ${h.database.integrity ?? 'unknown'}` : ' (not created yet)'}${h.database.error ? `, FAILING: ${h.database.error}` : ''}`,
  );
  lines.push(
    `journal    ${h.journal ? `${h.journal.state}${h.journal.detail ? ` (${h.journal.detail})` : ''}` : 'unknown'}`,
  );
  if (h.notifications) {
    const channels = h.notifications.channels.map((c) => {
      const queued = c.pending ? `, ${c.pending} queued` : '';
      const state = c.state === 'ok' ? 'ok' : c.state === 'failing' ? 'FAILING' : 'unsupported';
      return `${c.name} ${state}${c.detail ? ` (${c.detail})` : ''}${queued}`;
    });
    lines.push(`notify     ${channels.join('; ') || 'no channel'}`);
  }
  lines.push(
    `config     ${h.config.refused ? `REFUSED: ${h.config.refused}` : h.config.ok ? `ok (${h.config.path})` : `PROBLEMS: ${h.config.problems.join('; ')}`}`,
  );
  lines.push(
    `rules      ${h.rules.count} loaded${h.rules.refused.length ? `, REFUSED: ${h.rules.refused.join('; ')}` : ''}${h.rules.problems.length ? `, PROBLEMS: ${h.rules.problems.join('; ')}` : ''}`,
  );
  if (h.collectors.length > 0) {
    lines.push(h.daemon.running ? 'collectors' : 'collectors (when the daemon last ran)');
    for (const c of h.collectors) {
      const state = `${c.error ? `FAILING: ${c.error}` : c.unsupported ? `unsupported: ${c.unsupported}` : 'ok'}${c.notes ? ` (${c.notes})` : ''}`;
      lines.push(`  ${c.name.padEnd(10)} ${`${c.durationMs.toFixed(1)} ms`.padStart(10)}  ${state}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function makeHealthCommand(): Command {
  return new Command('health')
    .description('is the watchdog itself well: daemon, heartbeat, database, collectors, config; exit 0 or 1')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const health = await checkHealth(global.config);
      process.stdout.write(options.json ? `${JSON.stringify(health, null, 2)}\n` : renderHealth(health));
      process.exitCode = health.healthy ? 0 : 1;
    });
}
