import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';

/** Converts the Journal Export Format into a real journal file (Debian package systemd-journal-remote). */
export const JOURNAL_REMOTE = '/usr/lib/systemd/systemd-journal-remote';

/** The reason a test gives when it skips for want of systemd-journal-remote. */
export const JOURNAL_REMOTE_MISSING = 'needs systemd-journal-remote (Debian package systemd-journal-remote)';

/** One journal entry: a text value, or raw bytes (for a non-UTF-8 MESSAGE, say). */
export type ExportEntry = Record<string, string | number[]>;

/** A boot id for entries that do not bring their own. */
const DEFAULT_BOOT_ID = '0f3c6a2e9b1d4c7e8a5f2b6d9e0c1a47';

/** True when systemd-journal-remote is installed and executable here. */
export function journalRemoteAvailable(): boolean {
  try {
    accessSync(JOURNAL_REMOTE, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Serialises entries in the Journal Export Format (https://systemd.io/JOURNAL_EXPORT_FORMATS/): a text
 * field is `KEY=value\n`; a value holding a newline or given as bytes is written binary-safe, as
 * `KEY\n`, its length as a 64-bit little-endian integer, the bytes and `\n`; entries end with a blank
 * line. `__REALTIME_TIMESTAMP` (µs since the epoch), `__MONOTONIC_TIMESTAMP` (µs since boot) and
 * `_BOOT_ID` are filled in when an entry lacks them (now, one second apart, a fixed boot id); `__CURSOR`
 * is never written, the journal makes its own.
 */
export function journalExport(entries: readonly ExportEntry[]): Buffer {
  const parts: Buffer[] = [];
  const nowMicros = Date.now() * 1000;
  entries.forEach((entry, i) => {
    const fields: ExportEntry = {
      __REALTIME_TIMESTAMP: String(nowMicros - (entries.length - i) * 1_000_000),
      __MONOTONIC_TIMESTAMP: String((i + 1) * 1_000_000),
      _BOOT_ID: DEFAULT_BOOT_ID,
      ...entry,
    };
    for (const [key, value] of Object.entries(fields)) {
      if (key === '__CURSOR') continue;
      if (typeof value === 'string' && !value.includes('\n')) {
        parts.push(Buffer.from(`${key}=${value}\n`, 'utf8'));
        continue;
      }
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(bytes.length));
      parts.push(Buffer.from(`${key}\n`, 'utf8'), length, bytes, Buffer.from('\n'));
    }
    parts.push(Buffer.from('\n'));
  });
  return Buffer.concat(parts);
}

/**
 * Appends `entries` to the journal file `file` (created when missing; its name must end in `.journal`)
 * by piping the export stream to `systemd-journal-remote --output=<file> -`, which appends to an
 * existing file. Throws with the tool's own message when it fails.
 */
export function appendJournalEntries(file: string, entries: readonly ExportEntry[]): void {
  const run = spawnSync(JOURNAL_REMOTE, [`--output=${file}`, '-'], {
    input: journalExport(entries),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (run.error !== undefined) throw new Error(`cannot run ${JOURNAL_REMOTE}: ${run.error.message}`);
  if (run.status !== 0 || !existsSync(file)) {
    throw new Error(`${JOURNAL_REMOTE} failed (status ${run.status}): ${run.stderr.trim()}`);
  }
}

/** Writes `entries` into a new journal file in `dir` (a fresh name, never appending) and returns its path. */
export function buildJournalFile(dir: string, entries: readonly ExportEntry[]): string {
  let path = join(dir, 'entries.journal');
  for (let n = 1; existsSync(path); n++) path = join(dir, `entries-${n}.journal`);
  appendJournalEntries(path, entries);
  return path;
}
