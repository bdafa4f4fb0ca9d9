import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { stateDir } from '../config/load.js';
import { writeOutputFile } from '../host/private-files.js';
import { formatBytes } from '../model/format.js';
import { DAY_MS, parseSince, positiveInteger } from '../pipeline/options.js';
import type { AuditEntry, ChainVerdict } from '../store/audit-chain.js';
import type { OpenedStore } from '../store/store.js';

/**
 * `vigil audit`: the audit log — every alert, notification, action, policy refusal, config reload and AI
 * call, as a hash chain (src/store/audit-chain.ts).
 *
 *     vigil audit [--since 24h] [--json]             the entries of a window, and whether the chain holds
 *     vigil audit verify [--json]                    exit 0 "N entries, chain intact", 1 naming the break
 *     vigil audit export [--since 24h] [--sign] [-o FILE]
 */

/** The history database, or null (said on stderr, exit status 1) when there is none yet. */
export async function openHistory(): Promise<OpenedStore | null> {
  const path = join(stateDir(), 'vigil.db');
  if (!existsSync(path)) {
    process.stderr.write(`vigil: no history yet (${path} does not exist): start the daemon with vigil run\n`);
    process.exitCode = 1;
    return null;
  }
  const { openStore } = await import('../store/store.js');
  return openStore(path, {
    log: (m) => process.stderr.write(`vigil: ${m}\n`),
    quickCheck: false,
    reading: true,
  });
}

/** The audit log of an open store; throws (exit 1) when the database cannot be read. */
export async function auditLogOf(store: OpenedStore) {
  const log = store.audit;
  if (log === null) throw store.problem ?? new Error(`cannot open ${store.path}`);
  return log;
}

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** The interesting part of an entry's data on one line: known fields first, then the rest as key=value. */
export function describeEntry(entry: AuditEntry, width = 160): string {
  const first = ['rule', 'action', 'channel', 'severity', 'summary', 'reason', 'outcome'];
  const keys = [
    ...first.filter((k) => k in entry.data),
    ...Object.keys(entry.data)
      .filter((k) => !first.includes(k))
      .sort(),
  ];
  const parts = keys.map((k) => {
    const v = entry.data[k];
    return `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`;
  });
  const text = parts.join(' ');
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export function verdictLine(verdict: ChainVerdict): string {
  return verdict.ok
    ? `${verdict.entries} entries, chain intact`
    : `audit chain broken at seq ${verdict.seq}: ${verdict.reason}`;
}

function makeListCommand(): Command {
  return new Command('list')
    .description('the entries of a window (the default), and whether the chain is intact')
    .addOption(
      new Option('--since <duration>', 'the last DURATION (24h, 90m, 7d)')
        .default(DAY_MS, '24h')
        .argParser(parseSince),
    )
    .addOption(
      new Option('--limit <n>', 'at most the N newest entries').argParser(positiveInteger('--limit')),
    )
    .option('--json', 'JSON: {from, to, chain, entries[]} (seq, at, kind, data, prevHash, hash)')
    .action(async (options: { since: number; limit?: number; json?: boolean }) => {
      const since = options.since;
      const store = await openHistory();
      if (store === null) return;
      try {
        const log = await auditLogOf(store);
        const to = Date.now();
        const from = to - since;
        const entries = log.list({ since: from, until: to, limit: options.limit });
        const chain = log.verify();
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ from, to, chain, entries }, null, 2)}\n`);
          return;
        }
        const lines: string[] = [];
        if (entries.length === 0) lines.push(`no audit entries since ${time(from)} UTC`);
        else {
          const kindWidth = Math.max(...entries.map((e) => e.kind.length));
          const seqWidth = String(entries[entries.length - 1]!.seq).length + 1;
          lines.push(
            `${'time (UTC)'.padEnd(19)}  ${'seq'.padStart(seqWidth)}  ${'kind'.padEnd(kindWidth)}  data`,
          );
          for (const e of entries)
            lines.push(
              `${time(e.at)}  ${`#${e.seq}`.padStart(seqWidth)}  ${e.kind.padEnd(kindWidth)}  ${describeEntry(e)}`,
            );
        }
        lines.push('');
        lines.push(
          chain.ok
            ? `chain: ${verdictLine(chain)}`
            : `chain: BROKEN at seq ${chain.seq}: ${chain.reason} (see vigil audit verify)`,
        );
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        store.close();
      }
    });
}

function makeVerifyCommand(): Command {
  return new Command('verify')
    .description(
      'walk the whole chain: exit 0 when intact, 1 naming the first entry edited, deleted or inserted',
    )
    .option('--json', 'JSON: {ok, entries, head} or {ok: false, seq, reason}')
    .action(async (options: { json?: boolean }) => {
      const store = await openHistory();
      if (store === null) return;
      try {
        const verdict = (await auditLogOf(store)).verify();
        if (options.json) process.stdout.write(`${JSON.stringify(verdict, null, 2)}\n`);
        else if (verdict.ok) process.stdout.write(`${verdictLine(verdict)}\n`);
        else process.stderr.write(`vigil: ${verdictLine(verdict)}\n`);
        process.exitCode = verdict.ok ? 0 : 1;
      } finally {
        store.close();
      }
    });
}

function makeExportCommand(): Command {
  return new Command('export')
    .description('the entries of a window as JSON, or with --sign as a signed evidence bundle (.tar.gz)')
    .addOption(
      new Option('--since <duration>', 'the last DURATION (24h, 90m, 7d)')
        .default(DAY_MS, '24h')
        .argParser(parseSince),
    )
    .option('--sign', 'write a signed evidence bundle (audit.json, manifest.json, manifest.sig)')
    .option(
      '-o, --output <file>',
      'where to write (default: stdout; with --sign, vigil-audit-<host>-<time>.tar.gz)',
    )
    .action(async (options: { since: number; sign?: boolean; output?: string }) => {
      const since = options.since;
      const store = await openHistory();
      if (store === null) return;
      try {
        const log = await auditLogOf(store);
        const { auditDocument } = await import('../audit/bundle.js');
        const to = Date.now();
        const from = to - since;
        const chain = log.verify();
        const doc = auditDocument({ from, to, chain, entries: log.slice({ since: from, until: to }) });
        if (!options.sign) {
          const text = `${JSON.stringify(doc, null, 2)}\n`;
          if (options.output === undefined || options.output === '-') process.stdout.write(text);
          else {
            writeOutputFile(options.output, text);
            process.stderr.write(`vigil: ${doc.entries.length} audit entries written to ${options.output}\n`);
          }
          if (!chain.ok) process.stderr.write(`vigil: warning: ${verdictLine(chain)}\n`);
          return;
        }
        const [
          { auditEvidenceFiles, defaultBundleName, resolveOutput, writeBundle },
          { loadOrCreateIdentity },
        ] = await Promise.all([import('../audit/bundle.js'), import('../audit/identity.js')]);
        const written = writeBundle({
          path: resolveOutput(options.output, defaultBundleName('audit', to)),
          kind: 'evidence',
          title: 'audit log export',
          files: auditEvidenceFiles(doc),
          identity: loadOrCreateIdentity(stateDir()),
          window: { from, to },
          audit: { ok: chain.ok, entries: chain.entries, head: chain.ok ? chain.head : null },
          now: to,
        });
        process.stdout.write(
          `signed audit export written to ${written.path} (${doc.entries.length} entries, ${formatBytes(written.sizeBytes)})\n` +
            `signed by ${written.manifest.signer.fingerprint}; check it with: vigil verify-bundle ${written.path}\n`,
        );
        if (!chain.ok) process.stderr.write(`vigil: warning: ${verdictLine(chain)}\n`);
      } finally {
        store.close();
      }
    });
}

export function makeAuditCommand(): Command {
  const audit = new Command('audit').description(
    'the audit log: alerts, notifications, actions, refusals, reloads and AI calls, as a hash chain',
  );
  audit.addCommand(makeListCommand(), { isDefault: true });
  audit.addCommand(makeVerifyCommand());
  audit.addCommand(makeExportCommand());
  return audit;
}
