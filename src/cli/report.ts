import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, stateDir } from '../config/load.js';
import { DAY_MS, type GlobalOptions, parseSince, positiveInteger, UsageError } from '../pipeline/options.js';
import { reportFromStore } from '../report/gather.js';
import { reportJson, reportMarkdown, reportText } from '../report/render.js';

/**
 * `--from` and `--to`: `2026-11-20`, `2026-11-20T03:00`, `2026-11-20 03:00` (UTC unless an offset is
 * given), or ms since the epoch.
 */
function timeOption(option: string): (text: string) => number {
  return (text) => {
    if (/^\d{12,}$/.test(text)) return Number(text);
    const iso = text.includes('T') || !text.includes(' ') ? text : text.replace(' ', 'T');
    const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) || /^\d{4}-\d\d-\d\d$/.test(iso) ? iso : `${iso}Z`;
    const ms = Date.parse(withZone);
    if (Number.isNaN(ms))
      throw new UsageError(
        `${option} ${JSON.stringify(text)}: not a time (use 2026-11-20T03:00 or ms since the epoch)`,
      );
    return ms;
  };
}

export function makeReportCommand(): Command {
  return new Command('report')
    .description('what happened: alerts raised and resolved, peaks, top offenders, actions, gaps')
    .addOption(
      new Option('--since <duration>', 'the last DURATION (24h, 90m, 7d)')
        .default(DAY_MS, '24h')
        .argParser(parseSince),
    )
    .addOption(new Option('--from <time>', 'start of the window (with --to)').argParser(timeOption('--from')))
    .addOption(new Option('--to <time>', 'end of the window (default: now)').argParser(timeOption('--to')))
    .addOption(new Option('--top <n>', 'offenders listed').default(10).argParser(positiveInteger('--top')))
    .option('--json', 'JSON (alerts[] with rule, severity, summary, pids, firstSeen, lastSeen, resolvedAt)')
    .option('--markdown', 'Markdown, to paste into an issue or a chat')
    .option('--sign', 'write a signed evidence bundle of the report (Ed25519, vigil verify-bundle checks it)')
    .option('-o, --output <file>', 'where --sign writes the bundle')
    .action(
      async (
        options: {
          since: number;
          from?: number;
          to?: number;
          top: number;
          json?: boolean;
          markdown?: boolean;
          sign?: boolean;
          output?: string;
        },
        command: Command,
      ) => {
        const global = command.optsWithGlobals() as GlobalOptions;
        const config = loadConfig(global.config).config;
        const to = options.to ?? Date.now();
        const from = options.from ?? to - options.since;
        if (from >= to) throw new UsageError('the window is empty: --from must be before --to');
        const path = join(stateDir(), 'vigil.db');
        if (!existsSync(path)) {
          process.stderr.write(
            `vigil: no history yet (${path} does not exist): start the daemon with vigil run\n`,
          );
          process.exitCode = 1;
          return;
        }
        const { openStore } = await import('../store/store.js');
        const store = openStore(path, {
          log: (m) => process.stderr.write(`vigil: ${m}\n`),
          quickCheck: false,
          reading: true,
        });
        try {
          const { report } = await reportFromStore(
            store,
            { from, to },
            { snapshotIntervalMs: config.history.snapshot_interval_secs * 1000, top: options.top },
          );
          if (options.sign) {
            const { signReport, describeWritten } = await import('./bundle.js');
            process.stdout.write(
              describeWritten('signed report', await signReport(report, { output: options.output })),
            );
            return;
          }
          if (options.json) process.stdout.write(`${JSON.stringify(reportJson(report), null, 2)}\n`);
          else if (options.markdown) process.stdout.write(reportMarkdown(report, config.general.language));
          else process.stdout.write(reportText(report, config.general.language));
        } finally {
          store.close();
        }
      },
    );
}
