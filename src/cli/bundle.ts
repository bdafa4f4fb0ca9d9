import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { AuditDocument, SupportBundleInput, WrittenBundle } from '../audit/bundle.js';
import { configPath, loadConfig, stateDir } from '../config/load.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import { defaultConfig } from '../config/schema.js';
import { errorCode } from '../host/files.js';
import { formatBytes } from '../model/format.js';
import { DAY_MS, type GlobalOptions, parseSince } from '../pipeline/options.js';
import { redactText, sanitizeConfigToml } from '../redact/data.js';
import type { Report } from '../report/build.js';
import type { OpenedStore } from '../store/store.js';
import { auditLogOf, openHistory, verdictLine } from './audit.js';

/**
 * `vigil bundle`: a support bundle to ask someone else for help (the report, recent history, alerts,
 * actions, health, the configuration without its secrets, the audit log), signed with this machine's
 * identity; `vigil verify-bundle FILE` checks any vigil bundle; `signReport` makes `vigil report --sign`'s
 * evidence bundle. The format is described in src/audit/bundle.ts.
 */

/** snapshots.json keeps at most the newest this many history rows (two hours at the default interval). */
export const BUNDLE_MAX_SNAPSHOTS = 120;

/**
 * Writes a report as a signed evidence bundle (report.md, report.json, manifest.json, manifest.sig):
 * `output` as `-o` gives it (a file, or a directory to put `vigil-report-<host>-<time>.tar.gz` in; the
 * current directory by default). The identity is made in `stateDirectory` when there is none.
 */
export async function signReport(
  report: Report,
  options: { output?: string; stateDirectory?: string; now?: number } = {},
): Promise<WrittenBundle> {
  const [{ defaultBundleName, reportEvidenceFiles, resolveOutput, writeBundle }, { loadOrCreateIdentity }] =
    await Promise.all([import('../audit/bundle.js'), import('../audit/identity.js')]);
  const now = options.now ?? Date.now();
  return writeBundle({
    path: resolveOutput(options.output, defaultBundleName('report', now)),
    kind: 'evidence',
    title: 'signed report',
    files: reportEvidenceFiles(report),
    identity: loadOrCreateIdentity(options.stateDirectory ?? stateDir()),
    window: { from: report.from, to: report.to },
    now,
  });
}

/** The lines a command prints after writing a bundle. */
export function describeWritten(what: string, written: WrittenBundle): string {
  const files = Object.keys(written.manifest.files).length;
  return (
    `${what} written to ${written.path} (${files} files, ${formatBytes(written.sizeBytes)})\n` +
    `signed by ${written.manifest.signer.fingerprint}; check it with: vigil verify-bundle ${written.path}\n`
  );
}

/** The configuration file as it can be shown: secrets masked, with a header saying what it is. */
function configForBundle(explicit: string | undefined): { toml: string; intervalMs: number } {
  const path = configPath(explicit);
  let intervalMs = defaultConfig().history.snapshot_interval_secs * 1000;
  const header = [`# ${path}, as vigil bundle found it: secret values masked, comments dropped`];
  try {
    const loaded = loadConfig(explicit);
    intervalMs = loaded.config.history.snapshot_interval_secs * 1000;
    // Refused: someone else could have written it, so vigil did not read it, and neither does the bundle.
    if (loaded.refused) return { toml: `${redactText(`# ${loaded.refused.line}`)}\n`, intervalMs };
    if (loaded.file === null)
      return { toml: `# ${path} does not exist: every default applies\n`, intervalMs };
  } catch (error) {
    const problems = error instanceof ProblemsError ? error.problems.map(formatProblem) : [String(error)];
    header.push('# it has problems:', ...problems.map((p) => `#   ${p.replace(/\n/g, ' ')}`));
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return {
      toml: `${redactText(header.join('\n'))}\n# cannot read it: ${errorCode(error) ?? (error as Error).message}\n`,
      intervalMs,
    };
  }
  return { toml: `${redactText(header.join('\n'))}\n\n${sanitizeConfigToml(text)}`, intervalMs };
}

/** Rows of the actions table touched in the window, their JSON columns parsed. */
function actionsBetween(store: OpenedStore, from: number, to: number): SupportBundleInput['actions'] {
  const actions = store.actions;
  if (actions === null) return { error: store.problem?.message ?? 'the database cannot be opened' };
  try {
    const rows = actions.rowsTouchedBetween(from, to);
    return rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) {
        if (typeof value === 'string' && ['target', 'before', 'after'].includes(key)) {
          try {
            out[key] = JSON.parse(value);
            continue;
          } catch {
            // kept as text
          }
        }
        out[key] = value;
      }
      return out;
    });
  } catch (error) {
    return { error: `cannot read the actions table: ${(error as Error).message}` };
  }
}

/**
 * Gathers and writes a support bundle of the last `sinceMs`. Returns null (exit status 1, said on stderr)
 * when there is no history database yet.
 */
export async function makeSupportBundle(options: {
  sinceMs: number;
  output?: string;
  config?: string;
  now?: number;
}): Promise<{ written: WrittenBundle; audit: AuditDocument | { error: string } } | null> {
  const store = await openHistory();
  if (store === null) return null;
  const [bundle, { loadOrCreateIdentity }, { reportFromStore }, { unpackSamples }, { checkHealth }] =
    await Promise.all([
      import('../audit/bundle.js'),
      import('../audit/identity.js'),
      import('../report/gather.js'),
      import('../store/codec.js'),
      import('./health.js'),
    ]);
  try {
    const to = options.now ?? Date.now();
    const from = to - options.sinceMs;
    const config = configForBundle(options.config);
    // The same report as `vigil report`; of the window's snapshots only the newest are kept whole.
    const { report, history } = await reportFromStore(
      store,
      { from, to },
      { snapshotIntervalMs: config.intervalMs },
    );
    const alerts = report.alerts;
    const first = Math.max(0, history.snapshots.length - BUNDLE_MAX_SNAPSHOTS);
    const kept = history.snapshots
      .slice(first)
      .map((s, i) => ({ ...s, processes: unpackSamples(history.packed[first + i]!, history.identities) }));
    let health: unknown;
    try {
      health = await checkHealth(options.config);
    } catch (error) {
      health = { error: `vigil health failed: ${(error as Error).message}` };
    }
    let audit: AuditDocument | { error: string };
    try {
      const log = await auditLogOf(store);
      audit = bundle.auditDocument({
        from,
        to,
        chain: log.verify(),
        entries: log.slice({ since: from, until: to }),
      });
    } catch (error) {
      audit = { error: `cannot read the audit log: ${(error as Error).message}` };
    }
    const written = bundle.writeBundle({
      path: bundle.resolveOutput(options.output, bundle.defaultBundleName('bundle', to)),
      kind: 'support',
      title: 'support bundle',
      files: bundle.supportBundleFiles({
        from,
        to,
        report,
        snapshots: kept,
        snapshotsLeftOut: history.snapshots.length - kept.length,
        alerts,
        actions: actionsBetween(store, from, to),
        health,
        configToml: config.toml,
        audit,
      }),
      identity: loadOrCreateIdentity(stateDir()),
      window: { from, to },
      audit:
        'error' in audit
          ? null
          : {
              ok: audit.chain.ok,
              entries: audit.chain.entries,
              head: audit.chain.ok ? audit.chain.head : null,
            },
      now: to,
    });
    return { written, audit };
  } finally {
    store.close();
  }
}

export function makeBundleCommand(): Command {
  return new Command('bundle')
    .description(
      'a support bundle to ask for help: report, recent history, alerts, actions, health, config without secrets; signed',
    )
    .addOption(
      new Option('--since <duration>', 'the last DURATION (24h, 90m, 7d)')
        .default(DAY_MS, '24h')
        .argParser(parseSince),
    )
    .option('-o, --output <file>', 'where to write (default: vigil-bundle-<host>-<time>.tar.gz here)')
    .action(async (options: { since: number; output?: string }, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const sinceMs = options.since;
      const made = await makeSupportBundle({ sinceMs, output: options.output, config: global.config });
      if (made === null) return;
      process.stdout.write(describeWritten('support bundle', made.written));
      process.stdout.write(
        'secrets are masked (cmdline options and tokens, key-like config values, URL credentials): look it over before you send it\n',
      );
      if ('error' in made.audit) process.stderr.write(`vigil: warning: ${made.audit.error}\n`);
      else if (!made.audit.chain.ok)
        process.stderr.write(`vigil: warning: ${verdictLine(made.audit.chain)}\n`);
    });
}

export function makeVerifyBundleCommand(): Command {
  return new Command('verify-bundle')
    .description(
      'check a vigil bundle: its signature and every file; exit 0 when intact, 1 naming what is wrong',
    )
    .argument('<file>', 'the bundle: a .tar.gz, or the directory it was extracted to')
    .option('--fingerprint <fp>', 'require this signer (SHA256:…, as vigil bundle printed it)')
    .option('--json', 'JSON: {ok, problems[], fingerprint, files[], manifest}')
    .action(async (file: string, options: { fingerprint?: string; json?: boolean }) => {
      const [{ verifyBundle }, { fingerprintOf, readPublicKey }] = await Promise.all([
        import('../audit/bundle.js'),
        import('../audit/identity.js'),
      ]);
      const verdict = verifyBundle(file, { fingerprint: options.fingerprint });
      process.exitCode = verdict.ok ? 0 : 1;
      if (options.json) {
        process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
        return;
      }
      if (!verdict.ok) {
        process.stderr.write(
          `vigil: ${file}: the bundle does not verify:\n${verdict.problems.map((p) => `  ${p}`).join('\n')}\n`,
        );
        return;
      }
      const m = verdict.manifest!;
      let local: string | null = null;
      try {
        const pem = readPublicKey(stateDir());
        local = pem === null ? null : fingerprintOf(pem);
      } catch {
        local = null;
      }
      const whose =
        local === verdict.fingerprint
          ? "this machine's identity"
          : "not this machine's identity: compare the fingerprint with the one the sender gives you";
      process.stdout.write(
        `bundle intact: ${m.title}, ${verdict.files.length} files, made ${m.created} on ${m.host} by vigil ${m.vigilVersion}\n` +
          `signed by ${verdict.fingerprint} (${whose})\n`,
      );
    });
}
