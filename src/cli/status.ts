import { Command, Option } from 'commander';
import {
  type GlobalOptions,
  positiveInteger,
  sampleOptionsFrom,
  wholeNumberUpTo,
} from '../pipeline/options.js';

/**
 * `vigil status`: the command and its options. What it does (collect, judge, render) is in
 * ./status-view.ts and ./status-judge.ts, loaded when it runs, so other commands do not load the
 * collectors to list status among them.
 */

/** `status --check`'s status when a collector failed and nothing critical was seen: not known. */
export const EXIT_CHECK_UNKNOWN = 3;

interface StatusOptions {
  json?: boolean;
  check?: boolean;
  sample: number;
  journalFile?: string;
  journalDir?: string;
  journalSince?: string;
  top: number;
  wide?: boolean;
}

export function makeStatusCommand(): Command {
  return new Command('status')
    .description('show a snapshot of the machine: CPU, memory, pressure, disks, network, GPUs, top processes')
    .option('--json', 'print one JSON object (schema in README.md)')
    .option(
      '--check',
      'exit 0, 1 or 2 for no, warning-level or critical findings, 3 when a collector failed (for scripts and prompts)',
    )
    .addOption(
      new Option('--sample <ms>', 'sampling window for CPU % and rates')
        .default(500)
        .argParser(wholeNumberUpTo('--sample', 60_000, 'milliseconds')),
    )
    .addOption(
      new Option('--top <n>', 'processes listed by CPU and by memory')
        .default(10)
        .argParser(positiveInteger('--top')),
    )
    .option('--wide', 'whole command lines, never cut (as ps ww)')
    .option('--journal-file <path>', 'read journal entries from this journal file (offline analysis)')
    .option('--journal-dir <dir>', 'read journal entries from this journal directory (offline analysis)')
    .option('--journal-since <time>', 'journalctl --since for the live journal', '-1h')
    .action(async (options: StatusOptions, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const sampling = sampleOptionsFrom(global, options);
      const { takeStatusLook, statusJson, renderStatus, checkStatus, statusWidth } = await import(
        './status-view.js'
      );
      const { snapshot, judgement } = await takeStatusLook(sampling, options.sample, global.config);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(statusJson(snapshot, judgement), null, 2)}\n`);
      } else {
        const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
        // On a terminal, the view fits its height unless --top was given: the findings stay on screen.
        const fitted = process.stdout.isTTY === true && command.getOptionValueSource('top') === 'default';
        const view = {
          color,
          top: options.top,
          width: statusWidth(process.env['COLUMNS'], process.stdout.columns),
          wide: options.wide === true,
          ...(fitted && process.stdout.rows ? { rows: process.stdout.rows } : {}),
        };
        process.stdout.write(renderStatus(snapshot, view, judgement));
      }
      if (options.check) {
        process.exitCode = checkStatus(judgement.findings);
        // A check that could not look must not say healthy: a failed collector (not one whose source
        // is absent here) makes it 3, "unknown" as in the monitoring-plugin convention, unless what
        // it could see is already critical.
        const failed = snapshot.collectors.filter((c) => !c.ok && c.unsupported === null);
        if (failed.length > 0) {
          const names = failed.map((c) => c.name);
          const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
          process.stderr.write(
            `vigil: status --check could not look: the ${list} collector${names.length === 1 ? '' : 's'} failed (status --json gives each one's error)\n`,
          );
          if (process.exitCode !== 2) process.exitCode = EXIT_CHECK_UNKNOWN;
        }
      }
    });
}
