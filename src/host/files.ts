import { closeSync, openSync, readdirSync, readSync } from 'node:fs';

/**
 * Small, allocation-light file reads for procfs and sysfs. procfs files report a size of 0, so they are
 * read until EOF; one shared buffer serves every read on the hot path (the process scan reads thousands of
 * tiny files per cycle, and `readFileSync` would fstat and allocate for each one).
 */
let shared = Buffer.allocUnsafe(64 * 1024);

/** Reads a whole file as latin1-safe UTF-8 text. Throws the fs error (ENOENT, ESRCH, EACCES...) as is. */
export function readText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === shared.length) {
        const bigger = Buffer.allocUnsafe(shared.length * 2);
        shared.copy(bigger, 0, 0, length);
        shared = bigger;
      }
      const n = readSync(fd, shared, length, shared.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return shared.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** Reads a file, or returns undefined when it does not exist or cannot be read. */
export function tryReadText(path: string): string | undefined {
  try {
    return readText(path);
  } catch {
    return undefined;
  }
}

/** Reads a small sysfs attribute and trims the trailing newline; undefined if absent or unreadable. */
export function readAttribute(path: string): string | undefined {
  const text = tryReadText(path);
  return text === undefined ? undefined : text.trim();
}

/** Lists a directory, or returns an empty list when it does not exist. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The errno code of a thrown fs error, if any. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
