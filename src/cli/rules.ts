import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { formatProblem } from '../config/problems.js';
import { fit } from '../model/format.js';
import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import { type GlobalOptions, positiveDuration, UsageError } from '../pipeline/options.js';

/** The rule machinery (CEL, TOML, schemas), loaded only by the command that runs, not by every command. */
async function machinery() {
  const [{ SHIPPED_RULES_DIR }, { loadRulesRuntime }] = await Promise.all([
    import('../rules/load.js'),
    import('../rules/runtime.js'),
  ]);
  const where = (file: string): string => {
    const shipped = relative(SHIPPED_RULES_DIR, file);
    return shipped.startsWith('..') ? file : `rules/${shipped}`;
  };
  return { loadRulesRuntime, where };
}

/**
 * Reads a `vigil status --json` document back into a Snapshot. The JSON has no argv (only the joined
 * cmdline), so arguments are split at spaces: good enough for kinds and grouping.
 */
export function snapshotFromStatusJson(text: string, file: string): Snapshot {
  let data: Snapshot & { processes?: Array<ProcessSample & { argv?: string[] }> };
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || typeof data.takenAt !== 'number') {
    throw new UsageError(`${file}: not a vigil status --json snapshot (no takenAt)`);
  }
  return {
    ...data,
    collectors: data.collectors ?? [],
    processes: data.processes?.map((p) => ({
      ...p,
      argv: p.argv ?? (p.cmdline ? p.cmdline.split(' ') : []),
      startTicks: p.startTicks ?? 0,
      kernelThread: p.kernelThread ?? false,
    })),
  };
}

export function makeRulesCommand(): Command {
  const rules = new Command('rules').description('list, check and try the detection rules');

  rules
    .command('list')
    .description('every rule: id, severity, scope, source file, enabled')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { loadRulesRuntime, where } = await machinery();
      const global = command.optsWithGlobals() as GlobalOptions;
      const runtime = loadRulesRuntime({ configPath: global.config });
      const rows = runtime.rules.all.map((r) => ({
        id: r.id,
        severity: r.spec.severity,
        scope: r.spec.scope,
        file: where(r.file),
        line: r.line,
        enabled: r.spec.enabled,
        needsHistory: r.needsHistory,
        title: r.spec.title,
      }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'ID'.padEnd(22)} ${'SEVERITY'.padEnd(9)} ${'SCOPE'.padEnd(8)} ${'ENABLED'.padEnd(8)} SOURCE\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `${r.id.padEnd(22)} ${r.severity.padEnd(9)} ${r.scope.padEnd(8)} ${(r.enabled ? 'yes' : 'no').padEnd(8)} ${r.file}${r.line ? `:${r.line}` : ''}${r.needsHistory ? '  (needs history)' : ''}\n`,
        );
      }
      for (const problem of runtime.problems) process.stderr.write(`problem: ${formatProblem(problem)}\n`);
    });

  rules
    .command('check')
    .description('check rule files (default: the shipped and your own); exit 1 on any problem')
    .argument('[files...]', 'rule files to check, on top of the shipped rules')
    .action(async (files: string[], _options: unknown, command: Command) => {
      const { loadRulesRuntime, where } = await machinery();
      const global = command.optsWithGlobals() as GlobalOptions;
      const extra = files.map((f) => resolve(f));
      const runtime = loadRulesRuntime({
        configPath: global.config,
        extraRuleFiles: extra,
        userRules: extra.length === 0,
      });
      for (const problem of runtime.problems) process.stderr.write(`${formatProblem(problem)}\n`);
      const count = runtime.rules.all.length;
      // A refused file (said above, on its own line) was not checked at all: as bad as a problem.
      if (runtime.problems.length > 0 || runtime.refused.length > 0) {
        const refused = runtime.refused.length > 0 ? `, ${runtime.refused.length} file(s) refused` : '';
        process.stderr.write(
          `${runtime.problems.length} problem(s)${refused}; ${count} rule(s) loaded fine\n`,
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${count} rules OK (${runtime.rules.files.map(where).join(', ')})\n`);
    });

  rules
    .command('test')
    .description(
      'evaluate the rules of FILE against a saved `vigil status --json` snapshot, or replay the current rules over the stored history',
    )
    .argument('[file]', 'rule file (with --replay: applied on top of the current rules)')
    .option('--snapshot <snap.json>', 'a snapshot saved with vigil status --json > snap.json')
    .addOption(
      new Option(
        '--replay <duration>',
        'judge the current rules again over the last DURATION of history (24h, 90m): what would have fired and when, beside what fired',
      ).argParser(positiveDuration('--replay')),
    )
    .option('--json', 'print the findings (or the replay) as JSON')
    .action(
      async (
        file: string | undefined,
        options: { snapshot?: string; replay?: number; json?: boolean },
        command: Command,
      ) => {
        const global = command.optsWithGlobals() as GlobalOptions;
        if ((options.snapshot === undefined) === (options.replay === undefined))
          throw new UsageError(
            'rules test needs --snapshot <snap.json> or --replay <duration> (one of them)',
          );
        if (options.replay !== undefined) {
          const { runReplay } = await import('./rules-replay.js');
          await runReplay(
            global,
            options.replay,
            file === undefined ? null : resolve(file),
            options.json === true,
          );
          return;
        }
        if (file === undefined) throw new UsageError('rules test --snapshot needs the rule file to test');
        await testOnSnapshot(global, file, options.snapshot!, options.json === true);
      },
    );

  return rules;
}

/**
 * The rules of `file` judged on a saved snapshot, through a Watcher whose source is that snapshot, every
 * `for` taken as elapsed.
 */
async function testOnSnapshot(global: GlobalOptions, file: string, snapshotFile: string, json: boolean) {
  const { loadRulesRuntime } = await machinery();
  const { Watcher } = await import('../pipeline/watcher.js');
  const { SnapshotSource } = await import('../pipeline/source.js');
  let text: string;
  try {
    text = readFileSync(snapshotFile, 'utf8');
  } catch (error) {
    throw new UsageError(`--snapshot ${snapshotFile}: ${(error as Error).message}`);
  }
  const snapshot = snapshotFromStatusJson(text, snapshotFile);
  const path = resolve(file);
  const runtime = loadRulesRuntime({
    configPath: global.config,
    extraRuleFiles: [path],
    userRules: false,
  });
  for (const problem of runtime.problems) process.stderr.write(`${formatProblem(problem)}\n`);
  const tested = runtime.rules.rules.filter((r) => r.file === path);
  if (tested.length === 0) {
    process.stderr.write(`${file}: no enabled rule to test\n`);
    process.exitCode = 1;
    return;
  }
  // The facts may read the lineage of a process where the snapshot was taken: the --procfs given.
  const source = new SnapshotSource(() => snapshot, {
    paths: { procfs: global.procfs ?? '/proc', etc: '/etc' },
  });
  const watcher = new Watcher({ ...runtime, rules: { ...runtime.rules, rules: tested } }, null, {
    source,
    trackLeaks: false,
    learnBaselines: false,
  });
  const { evaluation } = await watcher.cycle({ ignoreDurations: true });
  const { firing, raised, errors } = evaluation;
  const findings = [...firing, ...raised.filter((f) => f.event)];
  if (json) {
    process.stdout.write(`${JSON.stringify({ findings, errors }, null, 2)}\n`);
  } else {
    for (const rule of tested) {
      const mine = findings.filter((f) => f.rule === rule.id);
      process.stdout.write(
        `${rule.id}: ${mine.length === 0 ? 'no match' : `${mine.length} match(es)`}${rule.forMs > 0 ? ` (its for = ${rule.spec.for} is taken as elapsed)` : ''}\n`,
      );
      for (const f of mine)
        process.stdout.write(
          `  ${f.severity.toUpperCase().padEnd(8)} ${fit(f.summary, 120)}${f.pids.length ? `  [pids ${f.pids.join(' ')}]` : ''}\n`,
        );
    }
    for (const e of errors) process.stdout.write(`error in ${e.rule} on ${e.subject}: ${e.message}\n`);
  }
  if (runtime.problems.length > 0) process.exitCode = 1;
}
