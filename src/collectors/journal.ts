import { CommandNotFound, CommandTimedOut, runCommand } from '../host/command.js';
import type { JournalEntry } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { type Collector, type JournalSource, Unsupported } from './types.js';

/** How many entries one read returns at most (journalctl `-n`). */
export const DEFAULT_JOURNAL_LIMIT = 500;

/** syslog priority names accepted by journalctl `-p`, most to least severe. */
export type JournalPriority = 'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug';

/** journald's own default for a record that carries no PRIORITY field (LOG_INFO). */
const DEFAULT_PRIORITY = 6;

/** A field value as `journalctl -o json` prints it: see the notes on `parseJournalJson`. */
type JsonValue = string | number | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Parses `journalctl -o json` output: one JSON object per line (systemd.journal-fields(7), "JSON format" in
 * journalctl(1)). Older systemd prints `{ "K" : "v", ... }`, newer prints compact `{"K":"v",...}`; both are
 * plain JSON, so a JSON parser reads either. Field order is not stable.
 *
 * Value shapes: every value is a string, including numbers. A value that is not valid UTF-8 (or holds
 * control characters) is an array of byte values, decoded here as UTF-8 with U+FFFD for bad sequences. A
 * field repeated within one entry is an array of such values. A field too large to show is `null`.
 *
 * Read: `__REALTIME_TIMESTAMP` (microseconds since the epoch, becomes `time` in ms), `PRIORITY`,
 * `SYSLOG_IDENTIFIER`, `_SYSTEMD_UNIT` (else `UNIT` or `USER_UNIT`, which PID 1 and user managers set on
 * messages about a unit), `_PID`, `_TRANSPORT`, `MESSAGE`, `MESSAGE_ID`, `__CURSOR`. Every other field
 * (`_HOSTNAME`, `_BOOT_ID`, `__MONOTONIC_TIMESTAMP`, `_SOURCE_MONOTONIC_TIMESTAMP`, kernel device fields...)
 * is ignored: nothing downstream uses it yet.
 *
 * A line that is not a JSON object or lacks a usable `__REALTIME_TIMESTAMP` is skipped with a reason;
 * nothing throws. A missing `PRIORITY` counts as 6 (info), as journald itself assumes.
 */
export function parseJournalJson(text: string): { entries: JournalEntry[]; skipped: string[] } {
  const entries: JournalEntry[] = [];
  const skipped: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `journal line ${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      skipped.push(`${where}: not JSON (${(error as Error).message}): ${preview(line)}`);
      continue;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      skipped.push(`${where}: not a JSON object: ${preview(line)}`);
      continue;
    }
    const fields = record as Record<string, JsonValue>;
    const realtime = firstText(fields['__REALTIME_TIMESTAMP']);
    if (realtime === null || !/^\d+$/.test(realtime)) {
      skipped.push(`${where}: no usable __REALTIME_TIMESTAMP (${JSON.stringify(realtime)})`);
      continue;
    }
    entries.push({
      time: Math.floor(Number(realtime) / 1000),
      priority: parsePriority(firstText(fields['PRIORITY'])),
      identifier: shown(firstText(fields['SYSLOG_IDENTIFIER'])),
      unit: shown(
        firstText(fields['_SYSTEMD_UNIT']) ?? firstText(fields['UNIT']) ?? firstText(fields['USER_UNIT']),
      ),
      pid: parsePid(firstText(fields['_PID'])),
      transport: firstText(fields['_TRANSPORT']),
      // Secrets masked where the text enters vigil (a program may log its own token or a URL with a
      // password), before anything stores, shows or sends it; then made printable.
      message: printable(redact(messageText(fields['MESSAGE']))),
      messageId: firstText(fields['MESSAGE_ID']),
      cursor: firstText(fields['__CURSOR']),
    });
  }
  return { entries, skipped };
}

/**
 * The argv of one read: warnings and worse (`-p warning`, priorities 0..4), JSON, no pager, no hints
 * (`-q`), at most `limit` of the most recent entries. The live journal is read back to `since` (e.g.
 * `-1h`); a copied journal file or directory from another machine is read without `--since`, since its
 * entries may be of any age, so the `limit` most recent ones come back.
 */
export function journalctlArgs(
  source: JournalSource,
  since: string,
  limit: number = DEFAULT_JOURNAL_LIMIT,
  priority: JournalPriority = 'warning',
): string[] {
  const argv = ['journalctl', '-o', 'json', '--no-pager', '-q'];
  argv.push(...journalSourceArgs(source));
  if (source.kind === 'system') argv.push('--since', since);
  argv.push('-n', String(limit));
  argv.push(...journalMatchArgs(priority));
  return argv;
}

/**
 * The journalctl matches that select what vigil reads, shared by the one-shot collector and the
 * follower (src/collectors/journal-follower.ts). `-p` cannot be OR-ed with other matches, so the priority
 * filter is spelled as PRIORITY= matches (journalctl ORs matches on one field) and the OOM killers that
 * log below warning are added as further alternatives after `+`: systemd-oomd logs its kills at notice,
 * earlyoom prints them on stderr, which journald files at info. Without them the oom_kill rule would be
 * blind to both.
 */
export function journalMatchArgs(priority: JournalPriority = 'warning'): string[] {
  const args: string[] = [];
  const level = PRIORITY_NAMES.indexOf(priority);
  for (let p = 0; p <= level; p++) args.push(`PRIORITY=${p}`);
  for (const identifier of OOM_KILLERS_BELOW_WARNING) args.push('+', `SYSLOG_IDENTIFIER=${identifier}`);
  return args;
}

/** Syslog priorities in order, 0 (emerg) to 7 (debug). */
const PRIORITY_NAMES: readonly JournalPriority[] = [
  'emerg',
  'alert',
  'crit',
  'err',
  'warning',
  'notice',
  'info',
  'debug',
];

/** Programs whose kill reports vigil must read whatever their priority. */
export const OOM_KILLERS_BELOW_WARNING = ['systemd-oomd', 'earlyoom'] as const;

export interface JournalCollectorOptions {
  /** Path or name of the journalctl program (tests point this at a missing or fake one). */
  readonly journalctl?: string;
  readonly limit?: number;
  /** Least severe priority read; `warning` unless told otherwise. */
  readonly priority?: JournalPriority;
}

/**
 * Reads recent warnings from the systemd journal through `journalctl -o json` (see `journalctlArgs`).
 *
 * With JSON output, journalctl says nothing at all when there is no journal: on a machine without
 * systemd as pid 1 and with no journal files (a container, a non-systemd distribution) it exits 0 with
 * empty stdout and stderr, exactly as on a quiet machine. So an empty answer is followed by one probe,
 * `journalctl --no-pager -n 0` on the same source, which prints "No journal files were found." on stderr
 * when there are none; once a source is known to have files the probe is not repeated.
 */
export function createJournalCollector(options: JournalCollectorOptions = {}): Collector<JournalEntry[]> {
  const program = options.journalctl ?? 'journalctl';
  const limit = options.limit ?? DEFAULT_JOURNAL_LIMIT;
  const priority = options.priority ?? 'warning';
  const sourcesWithFiles = new Set<string>();

  return {
    name: 'journal',
    async collect(ctx, report) {
      const source = ctx.journal;
      const argv = journalctlArgs(source, ctx.journalSince, limit, priority);
      argv[0] = program;
      const result = await run(argv, ctx.commandTimeoutMs, ctx.signal);
      if (result.exitCode !== 0) {
        const why = firstLine(result.stderr) ?? firstLine(result.stdout) ?? 'no output';
        throw new Error(
          `${describeJournalSource(source)}: journalctl failed (${exitText(result.exitCode, result.signal)}): ${why}`,
        );
      }
      for (const line of result.stderr.split('\n')) {
        if (line.trim() !== '') report.skip(`journalctl: ${line.trim()}`);
      }
      const { entries, skipped } = parseJournalJson(result.stdout);
      for (const reason of skipped) report.skip(reason);
      if (entries.length > 0 || skipped.length > 0) return entries;

      const key = JSON.stringify(source);
      if (!sourcesWithFiles.has(key)) {
        const probe = await run(
          [program, '--no-pager', '-n', '0', ...journalSourceArgs(source)],
          ctx.commandTimeoutMs,
          ctx.signal,
        );
        if (/no journal files were found/i.test(probe.stderr)) {
          if (source.kind === 'system') throw new Unsupported(noJournalText(source));
          throw new Error(`${describeJournalSource(source)}: ${noJournalText(source)}`);
        }
        if (probe.exitCode === 0) sourcesWithFiles.add(key);
      }
      return entries;
    },
  };
}

/** The journalctl options that pick the journal: none for the system journal, `--file`, `--directory`. */
export function journalSourceArgs(source: JournalSource): string[] {
  switch (source.kind) {
    case 'system':
      return [];
    case 'file':
      return ['--file', source.path];
    case 'directory':
      return ['--directory', source.path];
  }
}

async function run(argv: string[], timeoutMs: number, signal: AbortSignal | undefined) {
  let result: Awaited<ReturnType<typeof runCommand>>;
  try {
    result = await runCommand(argv, { timeoutMs, signal });
  } catch (error) {
    if (error instanceof CommandNotFound && error.code === 'ENOENT') {
      throw new Unsupported(JOURNALCTL_NOT_INSTALLED);
    }
    throw error;
  }
  if (result.timedOut) throw new CommandTimedOut('journalctl', timeoutMs);
  return result;
}

/** What journalctl says when it is missing. */
export const JOURNALCTL_NOT_INSTALLED = 'journalctl not found (Debian package systemd)';

/** A source as a person names it: `system journal`, `journal file …`, `journal directory …`. */
export function describeJournalSource(source: JournalSource): string {
  switch (source.kind) {
    case 'system':
      return 'system journal';
    case 'file':
      return `journal file ${source.path}`;
    case 'directory':
      return `journal directory ${source.path}`;
  }
}

/** Why a source has nothing to read: no journal on this machine, no file, no journal files in a directory. */
export function noJournalText(source: JournalSource): string {
  switch (source.kind) {
    case 'system':
      return 'no systemd journal on this machine';
    case 'file':
      return `no journal file at ${source.path}`;
    case 'directory':
      return `no journal files in ${source.path} (journal files end in .journal)`;
  }
}

/** How a program ended: `exit 1`, `killed by SIGKILL`. */
export function exitText(code: number | null, signal: string | null): string {
  return code === null ? `killed by ${signal ?? 'a signal'}` : `exit ${code}`;
}

function firstLine(text: string): string | null {
  const line = text.split('\n').find((l) => l.trim() !== '');
  return line === undefined ? null : line.trim();
}

/**
 * The start of a skipped line, for the log: redacted before it is cut (a cut token would no longer look
 * like one), and printable. Only the first 4 KiB is looked at, since a garbled line may be megabytes.
 */
function preview(line: string): string {
  const shown = printable(redact(line.slice(0, 4096)));
  return shown.length > 120 ? `${shown.slice(0, 120)}...` : shown;
}

/** The text of a field: a string, bytes decoded as UTF-8, or the first of several values. */
function firstText(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) {
    if (isByteArray(value)) return decodeBytes(value);
    for (const item of value) {
      const text = firstText(item);
      if (text !== null) return text;
    }
  }
  return null;
}

/** Text any local program could have logged, with its control characters written out (see printable). */
function shown(text: string | null): string | null {
  return text === null ? null : printable(text);
}

/** MESSAGE may repeat within one entry; its values are joined by newlines rather than dropped. */
function messageText(value: JsonValue | undefined): string {
  if (Array.isArray(value) && !isByteArray(value)) {
    return value
      .map((item) => firstText(item))
      .filter((text): text is string => text !== null)
      .join('\n');
  }
  return firstText(value) ?? '';
}

function isByteArray(value: JsonValue[]): value is number[] {
  return (
    value.length > 0 && value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256)
  );
}

function decodeBytes(bytes: number[]): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
}

function parsePriority(text: string | null): number {
  if (text === null || !/^[0-7]$/.test(text.trim())) return DEFAULT_PRIORITY;
  return Number(text);
}

function parsePid(text: string | null): number | null {
  if (text === null || !/^\d+$/.test(text)) return null;
  const pid = Number(text);
  return pid > 0 ? pid : null;
}
