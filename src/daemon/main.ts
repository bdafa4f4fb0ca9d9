import { resolve } from 'node:path';
import { ProblemsError } from '../config/problems.js';
import { UnsafePath } from '../host/private-files.js';
import { sampleOptionsFrom, UsageError } from '../pipeline/options.js';
import { loadRulesRuntime } from '../rules/runtime.js';
import { AlreadyRunning } from '../store/lock.js';
import { ArgsError, parseRunArgs, RUN_USAGE } from './args.js';
import { Daemon } from './daemon.js';

/**
 * `vigil` and `vigil run`: the daemon in the foreground. Kept apart from the commander CLI so that the
 * long-running process loads only what it uses (commander alone is ~4 MB resident).
 * Exit status: 0 stopped cleanly, 1 runtime failure (another daemon running), 2 usage or config errors —
 * in which case nothing was started.
 */
export async function runDaemon(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let options: ReturnType<typeof parseRunArgs>;
  try {
    options = parseRunArgs(args);
  } catch (error) {
    if (error instanceof ArgsError) {
      process.stderr.write(`vigil: ${error.message}\n${RUN_USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  try {
    const runtime = loadRulesRuntime({ configPath: options.config, env });
    const config = runtime.config.config;
    const sampling = sampleOptionsFrom(
      {
        procfs: options.procfs ?? config.general.procfs,
        sysfs: options.sysfs ?? config.general.sysfs,
        rootfs: options.rootfs,
        nvidiaSmi: options.nvidiaSmi ?? config.general.nvidia_smi,
      },
      { journalFile: options.journalFile, journalDir: options.journalDir },
    );
    const daemon = new Daemon({
      runtime,
      sampling,
      mode: options.mode ?? null,
      intervalMs: (options.intervalSecs ?? config.general.interval_secs) * 1000,
      once: options.once,
      exitAfterMs: options.exitAfterSecs === undefined ? null : options.exitAfterSecs * 1000,
      configPath: options.config ? resolve(options.config) : undefined,
      env,
      log: (line) => process.stderr.write(`${line}\n`),
      notify: (line) => process.stdout.write(`${line}\n`),
    });
    return await daemon.run();
  } catch (error) {
    if (error instanceof ProblemsError) {
      process.stderr.write(`vigil: not started, the configuration has problems:\n${error.message}\n`);
      return 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`vigil: ${error.message}\n`);
      return 2;
    }
    if (error instanceof AlreadyRunning || error instanceof UnsafePath) {
      process.stderr.write(`vigil: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`vigil: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
