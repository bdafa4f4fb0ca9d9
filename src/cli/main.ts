import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ProblemsError } from '../config/problems.js';
import { vigilVersion } from '../host/version.js';
import { makeFixCommand, makeKillCommand, makeSnoozeCommand, makeVetoCommand } from './act.js';
import { makeAuditCommand } from './audit.js';
import { makeBundleCommand, makeVerifyBundleCommand } from './bundle.js';
import { makeCompletionCommand } from './completion.js';
import { makeConfigCommand } from './config-cmd.js';
import { UsageError } from './context.js';
import { makeExplainCommand } from './explain.js';
import { makeHealthCommand } from './health.js';
import { makeReportCommand } from './report.js';
import { makeRulesCommand } from './rules.js';
import { makeServiceCommand } from './service.js';
import { makeStatusCommand } from './status.js';
import { makeWatchCommand } from './watch.js';

/** Exit statuses, as documented in the man page: 0 ok, 1 runtime failure, 2 usage error. */
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export function makeProgram(): Command {
  const program = new Command('vigil')
    .description('A watchdog for Linux developer workstations')
    .version(vigilVersion(), '-V, --version')
    .option(
      '--config <file>',
      'configuration file (default: $VIGIL_CONFIG or $XDG_CONFIG_HOME/vigil/config.toml)',
    )
    .option('--procfs <dir>', 'procfs root to read (a copy or a container’s /proc)', undefined)
    .option('--sysfs <dir>', 'sysfs root to read', undefined)
    .option('--rootfs <dir>', 'root the mount points and /etc/passwd are resolved under', undefined)
    .option('--nvidia-smi <path>', 'nvidia-smi program to run', undefined)
    .showHelpAfterError('(run vigil --help for usage)')
    .exitOverride();
  program.addCommand(makeStatusCommand().exitOverride());
  program.addCommand(makeRulesCommand());
  program.addCommand(makeReportCommand());
  program.addCommand(makeHealthCommand());
  program.addCommand(makeKillCommand());
  program.addCommand(makeFixCommand());
  program.addCommand(makeVetoCommand());
  program.addCommand(makeSnoozeCommand());
  program.addCommand(makeAuditCommand());
  program.addCommand(makeBundleCommand());
  program.addCommand(makeVerifyBundleCommand());
  program.addCommand(makeExplainCommand());
  program.addCommand(makeWatchCommand());
  program.addCommand(makeServiceCommand());
  program.addCommand(makeConfigCommand());
  program.addCommand(makeCompletionCommand());
  program
    .command('run', { isDefault: false })
    .description('run the watchdog in the foreground (the same as vigil alone; vigil run --help for options)')
    .allowUnknownOption()
    .helpOption(false)
    .action(async () => {
      const { runDaemon } = await import('../daemon/main.js');
      process.exitCode = await runDaemon(process.argv.slice(process.argv.indexOf('run')));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = makeProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof ProblemsError) {
      process.stderr.write(
        `vigil: ${error.problems.length === 1 ? 'this file has a problem' : 'these files have problems'}:\n${error.message}\n`,
      );
      return EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`vigil: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`vigil: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_RUNTIME;
  }
}

/**
 * Runs only when this module is the program (bin/vigil.js, or main.js itself), so tests and the
 * completion and man-page checks can import makeProgram without parsing their own argv.
 */
function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return path;
    }
  };
  const script = real(argv1);
  return [new URL('../../bin/vigil.js', import.meta.url), new URL(import.meta.url)].some(
    (url) => real(fileURLToPath(url)) === script,
  );
}

if (isEntry()) process.exitCode = await main(process.argv);
