import { closeSync, lstatSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Severity } from '../config/schema.js';
import { errorCode } from '../host/files.js';
import { ensurePrivateDir, openPrivate } from '../host/private-files.js';
import { type DirectChannel, noticeRecord } from './channel.js';

/**
 * The notifications log: `notifications.jsonl` in the state directory, one JSON object per notice (the
 * shape of {@link noticeRecord}, the same as `webhook_format = "json"`), appended as it happens. Before a
 * line would take the file past `maxBytes` it is rotated as logrotate does: `.1` is the newest old file,
 * `.<keep>` the oldest, and the one before goes. Files are private to the user: 0600 whatever the umask,
 * never written through a symbolic link, in a directory of the user's own that is 0700 (checked before the
 * first line; another user's directory makes the channel fail, saying why).
 */

export const NOTIFICATIONS_LOG = 'notifications.jsonl';
export const LOG_MAX_BYTES = 5 * 1024 * 1024;
export const LOG_KEEP = 3;

export function createLogChannel(options: {
  dir: string;
  minSeverity: Severity;
  maxBytes?: number;
  /** Rotated files kept besides the live one. */
  keep?: number;
}): DirectChannel {
  const path = join(options.dir, NOTIFICATIONS_LOG);
  const maxBytes = options.maxBytes ?? LOG_MAX_BYTES;
  const keep = options.keep ?? LOG_KEEP;
  let dirChecked = false;
  return {
    name: 'log',
    queued: false,
    minSeverity: options.minSeverity,
    unsupported: null,
    async deliver(notice) {
      const line = `${JSON.stringify(noticeRecord(notice))}\n`;
      const checkDir = () => {
        const dir = ensurePrivateDir(options.dir, { symlink: 'own' });
        if (!dir.ok) throw new Error(dir.reason);
        dirChecked = true;
      };
      try {
        if (!dirChecked) checkDir();
        const size = sizeOf(path);
        if (size > 0 && size + Buffer.byteLength(line) > maxBytes) rotate(path, keep);
        try {
          append(path, line);
        } catch (error) {
          // The directory was removed while vigil ran: made again (and checked), as at the first line.
          if (errorCode(error) !== 'ENOENT') throw error;
          checkDir();
          append(path, line);
        }
      } catch (error) {
        throw new Error(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

/** Appends one line to the log, created 0600 when missing; never through a symbolic link. */
function append(path: string, line: string): void {
  const fd = openPrivate(path, { append: true });
  try {
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number {
  try {
    return lstatSync(path).size;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 0;
    throw error;
  }
}

/** path.<keep-1> → path.<keep>, …, path → path.1 (renames overwrite; the oldest goes). */
export function rotate(path: string, keep: number): void {
  if (keep <= 0) {
    unlinkSync(path);
    return;
  }
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
  renameSync(path, `${path}.1`);
}
