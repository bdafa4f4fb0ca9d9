import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from 'node:fs';

/**
 * Small, allocation-light file reads for procfs and sysfs. procfs files report a size of 0, so they are
 * read until EOF; one shared buffer serves every read on the hot path (the process scan reads thousands of
 * tiny files per cycle, and `readFileSync` would fstat and allocate for each one).
 *
 * A tree given with `--procfs` may hold anything where a procfs file is expected: a FIFO (a blocking
 * open(2) would stop vigil for good), a symlink to /dev/zero or /dev/urandom (a read to EOF that never
 * ends), a terminal. So files are opened non-blocking and without becoming a controlling terminal —
 * harmless for regular procfs and sysfs files — and read up to {@link MAX_READ_BYTES}. No fstat is made
 * on the way: only a read that finds nothing, would wait, or runs over the limit asks what the file is,
 * so the error can say (a FIFO, a character device).
 */
let shared = Buffer.allocUnsafe(64 * 1024);
const SHARED_KEEP_BYTES = 1024 * 1024;

/**
 * The most read from one file: above the largest procfs files vigil reads (a cmdline is at most 6 MiB,
 * ARG_MAX with an unlimited stack; /proc/net/tcp is ~150 bytes a socket), and what /dev/zero gives in
 * a few milliseconds.
 */
export const MAX_READ_BYTES = 16 * 1024 * 1024;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** An error for a file that is not what a procfs or sysfs file can be; `code` says which way. */
function notAProcFile(fd: number, why: string, code: string): Error {
  let kind = 'not a regular file';
  try {
    const stats = fstatSync(fd);
    if (stats.isFIFO()) kind = 'a FIFO';
    else if (stats.isCharacterDevice()) kind = 'a character device';
    else if (stats.isBlockDevice()) kind = 'a block device';
    else if (stats.isSocket()) kind = 'a socket';
    else if (stats.isFile()) kind = 'a regular file';
  } catch {
    // kind stays vague
  }
  return Object.assign(new Error(`${kind} that ${why}`), { code });
}

/**
 * Reads a whole file as UTF-8 text. Throws the fs error (ENOENT, ESRCH, EACCES...) as is, and an error
 * with code EFBIG for a file larger than `maxBytes`, EAGAIN for one whose read would wait (a FIFO with a
 * writer), ENODATA for a FIFO or device that gives nothing.
 */
export function readText(path: string, maxBytes = MAX_READ_BYTES): string {
  const fd = openSync(path, OPEN_FLAGS);
  try {
    let length = 0;
    for (;;) {
      if (length === shared.length) {
        if (length >= maxBytes)
          throw notAProcFile(fd, `gives more than ${Math.round(maxBytes / 1048576)} MiB`, 'EFBIG');
        const bigger = Buffer.allocUnsafe(Math.min(shared.length * 2, maxBytes));
        shared.copy(bigger, 0, 0, length);
        shared = bigger;
      }
      let n: number;
      try {
        n = readSync(fd, shared, length, shared.length - length, null);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'EAGAIN')
          throw notAProcFile(fd, 'would make vigil wait', 'EAGAIN');
        throw error;
      }
      if (n === 0) break;
      length += n;
    }
    // A FIFO without a writer reads as empty: name it (an empty regular file is fine, and rare).
    if (length === 0) {
      const stats = fstatSync(fd);
      if (!stats.isFile() && !stats.isDirectory()) throw notAProcFile(fd, 'gives nothing', 'ENODATA');
    }
    return shared.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
    // One large read (a huge cmdline, /proc/net/tcp on a busy host) does not keep its buffer for good.
    if (shared.length > SHARED_KEEP_BYTES) shared = Buffer.allocUnsafe(64 * 1024);
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
