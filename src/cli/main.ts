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
 * Commander's own errors ("error: unknown option '--bogus'", "(Did you mean …?)" on a line of its own)
 * in vigil's style: one line, prefixed `vigil: `, as every other error vigil prints.
 */
function vigilStyle(text: string): string {
  const line = text
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
    .trimEnd();
  return `vigil: ${line}\n`;
}

/**
 * Makes `command` and its subcommands throw instead of calling process.exit (addCommand does not pass the
 * program's exitOverride on), so a usage error anywhere exits 2 through main(), and say their errors in
 * vigil's style.
 */
function throwOnExit(command: Command): Command {
  command.exitOverride();
  command.configureOutput({ outputError: (text, write) => write(vigilStyle(text)) });
  for (const sub of command.commands) throwOnExit(sub);
  return command;
}

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours) between two words. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The error for a word that names no command, with the nearest command when one is close. */
function unknownCommand(word: string, names: readonly string[]): UsageError {
  const near = names
    .map((name) => ({ name, d: distance(word, name) }))
    .filter(({ name, d }) => d <= Math.max(1, Math.floor(name.length / 3)))
    .sort((x, y) => x.d - y.d)[0];
  return new UsageError(
    `unknown command '${word}' ${near ? `(did you mean ${near.name}?)` : '(vigil --help lists the commands)'}`,
  );
}

/** Every command word vigil knows (run, help and those of COMMANDS). */
const COMMAND_NAMES: readonly string[] = ['run', 'help', ...COMMANDS.flatMap(([names]) => names)];

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
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(vigilStyle(text)) });
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

/**
 * What the words after the global options ask for, when commander would answer it wrongly: a word that
 * is no command (commander would print the whole help), `help` of one (the same), and `help run` (run
 * parses its own options, so commander knows none of them).
 */
async function preParse(program: Command, argv: readonly string[]): Promise<number | null> {
  const args = argv.slice(2);
  const word = commandWord(program, args);
  if (word === undefined) return null;
  if (!COMMAND_NAMES.includes(word)) throw unknownCommand(word, COMMAND_NAMES);
  if (word !== 'help') return null;
  const topic = args.slice(args.indexOf('help') + 1).find((a) => !a.startsWith('-'));
  if (topic === undefined) return null;
  if (!COMMAND_NAMES.includes(topic)) throw unknownCommand(topic, COMMAND_NAMES);
  if (topic !== 'run') return null;
  process.stdout.write((await import('../daemon/args.js')).RUN_USAGE);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const program = await makeProgram(argv);
  try {
    const answered = await preParse(program, argv);
    if (answered !== null) return answered;
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
