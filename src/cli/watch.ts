import { Command, Option } from 'commander';
import { DURATION, parseDuration } from '../model/duration.js';
import { type GlobalOptions, sampleOptionsFrom, UsageError } from '../pipeline/options.js';

function parseIntervalSecs(value: string): number {
  const secs = Number(value);
  if (value.trim() === '' || !/^\d*\.?\d+$/.test(value) || secs < 0.2 || secs > 3600)
    throw new UsageError(`--interval ${JSON.stringify(value)}: expected seconds from 0.2 to 3600`);
  return secs;
}

const MOMENT_EXAMPLES = '"today 03:10", "yesterday 23:00", "2026-12-07 03:10", "03:10", "-2h" or "2h ago"';
const TIME_OF_DAY = String.raw`(\d{1,2}):(\d{2})(?::(\d{2}))?`;

/**
 * The moment `vigil watch --at` names, in ms since the epoch, in local time:
 * - `today 03:10`, `yesterday 23:00` (seconds optional: `today 03:10:05`);
 * - `2026-12-07 03:10` (or `2026-12-07T03:10`, seconds optional);
 * - `03:10` alone: the latest 03:10 that is not in the future (today's, or yesterday's before 03:10);
 * - `-2h` or `2h ago`: that long before now, in the rules' duration syntax (`90m`, `1h30m`, `2d`).
 * Anything else, a date or time that does not exist, or a moment in the future is a UsageError of one
 * line (exit 2).
 */
export function parseMoment(text: string, now: number = Date.now()): number {
  const said = `--at ${JSON.stringify(text)}`;
  const value = text.trim().toLowerCase().replace(/\s+/g, ' ');
  const ago = /^-(\S+)$/.exec(value) ?? /^(\S+) ago$/.exec(value);
  if (ago && DURATION.test(ago[1]!)) return now - parseDuration(ago[1]!);
  if (DURATION.test(value)) throw new UsageError(`${said}: say which way, as "-${value}" or "${value} ago"`);

  const at = (day: Date, h: string, m: string, sec: string | undefined): number => {
    const [hours, minutes, seconds] = [Number(h), Number(m), Number(sec ?? 0)];
    if (hours > 23 || minutes > 59 || seconds > 59) throw new UsageError(`${said}: no such time of day`);
    return new Date(day.getFullYear(), day.getMonth(), day.getDate(), hours, minutes, seconds).getTime();
  };
  const past = (ms: number): number => {
    if (ms > now)
      throw new UsageError(
        `${said} is in the future (it is ${new Date(now).toTimeString().slice(0, 5)} now): the history holds only the past`,
      );
    return ms;
  };
  const today = new Date(now);
  let match = new RegExp(`^(today|yesterday) ${TIME_OF_DAY}$`).exec(value);
  if (match) {
    const day =
      match[1] === 'today' ? today : new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    return past(at(day, match[2]!, match[3]!, match[4]));
  }
  match = new RegExp(`^(\\d{4})-(\\d{2})-(\\d{2})[ t]${TIME_OF_DAY}$`).exec(value);
  if (match) {
    const [year, month, date] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const day = new Date(year, month - 1, date);
    if (day.getFullYear() !== year || day.getMonth() !== month - 1 || day.getDate() !== date)
      throw new UsageError(`${said}: no such date`);
    return past(at(day, match[4]!, match[5]!, match[6]));
  }
  match = new RegExp(`^${TIME_OF_DAY}$`).exec(value);
  if (match) {
    const ms = at(today, match[1]!, match[2]!, match[3]);
    if (ms <= now) return ms;
    return at(
      new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1),
      match[1]!,
      match[2]!,
      match[3],
    );
  }
  throw new UsageError(`${said}: not a moment; use e.g. ${MOMENT_EXAMPLES}`);
}

/**
 * ink decides once, when it is loaded, whether it runs in CI (the `CI` or `CONTINUOUS_INTEGRATION`
 * variable, see is-in-ci) and then draws no interactive frames. `vigil watch` on a terminal is
 * interactive whatever the environment says, so the variables are dropped before ink is loaded.
 */
export function forgetCi(env: NodeJS.ProcessEnv = process.env): void {
  delete env['CI'];
  delete env['CONTINUOUS_INTEGRATION'];
}

/**
 * The advisor's answer about a pid for the dashboard's `e`: `vigil explain PID --json` in a child, so the
 * screen never waits and the advisor's rules (key, budget, cache, redaction, validation) are the ones
 * `vigil explain` applies. Resolves with the text to show; rejects with why there is none.
 */
export async function adviceFromExplain(
  pid: number,
  global: GlobalOptions,
  language: 'en' | 'fr',
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const [{ runCommand }, { fileURLToPath }, { renderAdvice }] = await Promise.all([
    import('../host/command.js'),
    import('node:url'),
    import('../advisor/explain.js'),
  ]);
  const bin = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));
  const passed = (['config', 'procfs', 'sysfs', 'rootfs', 'nvidiaSmi'] as const).flatMap((key) => {
    const value = global[key];
    const flag = key === 'nvidiaSmi' ? '--nvidia-smi' : `--${key}`;
    return value ? [flag, value] : [];
  });
  // In a process group of its own with a deadline, as every program vigil starts: the advisor child it
  // starts in turn goes with it.
  const run = await runCommand([process.execPath, bin, ...passed, 'explain', String(pid), '--json'], {
    timeoutMs: 120_000,
    maxOutputBytes: 8 * 1024 * 1024,
    env,
  });
  const stdout = run.stdout;
  if (!stdout.trim()) {
    throw new Error(
      run.timedOut
        ? 'vigil explain did not answer within 120 s'
        : run.stderr.trim().split('\n')[0] || `vigil explain exited ${run.exitCode ?? run.signal}`,
    );
  }
  const answer = JSON.parse(stdout) as {
    advice: Parameters<typeof renderAdvice>[0] | null;
    advisor: { state: string; detail: string | null };
  };
  if (answer.advice) return renderAdvice(answer.advice, language);
  throw new Error(answer.advisor.detail ?? answer.advisor.state);
}

/** `vigil watch`: the interactive dashboard. React and ink are loaded only here, on demand. */
export function makeWatchCommand(): Command {
  return new Command('watch')
    .description(
      'the interactive dashboard: machine, processes, findings, now or as they were (--at); keys as in htop (? for help)',
    )
    .addOption(
      new Option('--interval <secs>', 'seconds between two refreshes')
        .default(1)
        .argParser(parseIntervalSecs),
    )
    .option(
      '--at <when>',
      `the dashboard as it was then, from the stored history: ${MOMENT_EXAMPLES} (local time)`,
    )
    .action(async (options: { interval: number; at?: string }, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const at = options.at === undefined ? undefined : parseMoment(options.at);
      let history: import('../store/open-timeline.js').OpenedTimeline | undefined;
      if (at !== undefined) {
        const [{ formatMoment }, { historyPath, openTimeline }] = await Promise.all([
          import('../store/timeline.js'),
          import('../store/open-timeline.js'),
        ]);
        history = openTimeline(historyPath());
        const span = 'timeline' in history ? history.timeline.span() : null;
        const problem =
          'problem' in history
            ? history.problem
            : span === null
              ? `no history yet: ${history.path} holds no snapshot (the daemon, vigil run, stores one a minute)`
              : at < span.firstAt
                ? `no history at ${formatMoment(at)}: it starts at ${formatMoment(span.firstAt)}`
                : null;
        if (problem !== null) {
          if ('timeline' in history) history.close();
          process.stderr.write(`vigil: ${problem}\n`);
          process.exitCode = 1;
          return;
        }
      }
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        if (history && 'timeline' in history) history.close();
        throw new UsageError('watch needs a terminal (for a one-off look from a script, use vigil status)');
      }
      const sampling = sampleOptionsFrom(global);
      const { loadRulesRuntime } = await import('../rules/runtime.js');
      const runtime = loadRulesRuntime({ configPath: global.config });
      forgetCi();
      // React's development build costs the dashboard about twice the CPU and memory.
      process.env['NODE_ENV'] ??= 'production';
      const { runWatch } = await import('../watch/run.js');
      await runWatch({
        runtime,
        sampling,
        global,
        intervalMs: Math.round(options.interval * 1000),
        color: !process.env['NO_COLOR'] && process.env['TERM'] !== 'dumb',
        ...(runtime.config.config.ai.enabled
          ? {
              explain: (pid: number) =>
                adviceFromExplain(pid, global, runtime.config.config.general.language),
            }
          : {}),
        ...(at === undefined ? {} : { at }),
        ...(history === undefined ? {} : { history }),
      });
    });
}
