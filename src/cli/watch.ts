import { Command, InvalidArgumentError, Option } from 'commander';
import { type GlobalOptions, sampleOptionsFrom, UsageError } from '../pipeline/options.js';

function parseIntervalSecs(value: string): number {
  const secs = Number(value);
  if (!Number.isFinite(secs) || secs < 0.2 || secs > 3600) {
    throw new InvalidArgumentError('expected seconds from 0.2 to 3600');
  }
  return secs;
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
    .description('the interactive dashboard: machine, processes, findings; keys as in htop (? for help)')
    .addOption(
      new Option('--interval <secs>', 'seconds between two refreshes')
        .default(1)
        .argParser(parseIntervalSecs),
    )
    .action(async (options: { interval: number }, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
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
      });
    });
}
