import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ProblemsError } from '../config/problems.js';
import { vigilVersion } from '../host/version.js';
import { UsageError } from '../pipeline/options.js';

/** Exit statuses, as documented in the man page: 0 ok, 1 runtime failure, 2 usage error. */
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/**
 * The commands, in the order `vigil --help` lists them, each group with the module that defines it. A
 * module is imported only when one of its commands runs (or when all are needed: help, completion, an
 * unknown word), so `vigil report` does not load the collectors, the dashboard or the service code.
 */
const COMMANDS: ReadonlyArray<readonly [names: readonly string[], load: () => Promise<Command[]>]> = [
  [['status'], async () => [(await import('./status.js')).makeStatusCommand()]],
  [['rules'], async () => [(await import('./rules.js')).makeRulesCommand()]],
  [['report'], async () => [(await import('./report.js')).makeReportCommand()]],
  [['health'], async () => [(await import('./health.js')).makeHealthCommand()]],
  [
    ['kill', 'fix', 'veto', 'snooze'],
    async () => {
      const act = await import('./act.js');
      return [act.makeKillCommand(), act.makeFixCommand(), act.makeVetoCommand(), act.makeSnoozeCommand()];
    },
  ],
  [['audit'], async () => [(await import('./audit.js')).makeAuditCommand()]],
  [
    ['bundle', 'verify-bundle'],
    async () => {
      const bundle = await import('./bundle.js');
      return [bundle.makeBundleCommand(), bundle.makeVerifyBundleCommand()];
    },
  ],
  [['explain'], async () => [(await import('./explain.js')).makeExplainCommand()]],
  [['watch'], async () => [(await import('./watch.js')).makeWatchCommand()]],
  [['service'], async () => [(await import('./service.js')).makeServiceCommand()]],
  [['config'], async () => [(await import('./config-cmd.js')).makeConfigCommand()]],
  [['completion'], async () => [(await import('./completion.js')).makeCompletionCommand()]],
];

/**
 * Makes `command` and its subcommands throw instead of calling process.exit (addCommand does not pass the
 * program's exitOverride on), so a usage error anywhere exits 2 through main().
 */
function throwOnExit(command: Command): Command {
  command.exitOverride();
  for (const sub of command.commands) throwOnExit(sub);
  return command;
}

/**
 * The command word of `args` (argv after node and the script): the first word that is neither a global
 * option of `program` nor the value of one.
 */
function commandWord(program: Command, args: readonly string[]): string | undefined {
  const takesValue = new Set(program.options.filter((o) => o.required).map((o) => o.long));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (takesValue.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * The CLI. With `argv`, only the module of the command it names is loaded; without (or for help, an
 * unknown word or no command at all) every command is, so help and completion list them all.
 */
export async function makeProgram(argv?: readonly string[]): Promise<Command> {
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
  const word = argv === undefined ? undefined : commandWord(program, argv.slice(2));
  // completion prints the whole CLI's tree, so it needs every command too.
  const named =
    word === undefined || word === 'completion'
      ? undefined
      : COMMANDS.find(([names]) => names.includes(word));
  const groups = word === 'run' ? [] : named ? [named] : COMMANDS;
  for (const commands of await Promise.all(groups.map(([, load]) => load()))) {
    for (const command of commands) program.addCommand(throwOnExit(command));
  }
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
  const program = await makeProgram(argv);
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

if (isEntry()) {
  // Belt and braces, as in the daemon's entry: files vigil creates are private even without a mode.
  process.umask(0o077);
  process.exitCode = await main(process.argv);
}
