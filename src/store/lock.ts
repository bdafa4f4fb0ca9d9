import { closeSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CLOCK_TICKS_PER_SEC, parseBootTime, parseProcStat } from '../collectors/processes.js';
import { errorCode, tryReadText } from '../host/files.js';
import { LIVE_PATHS } from '../host/paths.js';
import { ensurePrivateDir, openPrivate, readOwnFile, UnsafePath } from '../host/private-files.js';
import type { Heartbeat } from './types.js';

/** Another daemon of this user holds the lock. */
export class AlreadyRunning extends Error {
  constructor(readonly pid: number) {
    super(
      `vigil is already running (pid ${pid}); stop it first (kill ${pid}, or systemctl --user stop vigil)`,
    );
  }
}

/** btime is whole seconds and the start time 10 ms ticks: how far apart the two clocks may seem. */
const CLOCK_SLACK_MS = 2000;

/**
 * When `pid` started, ms since the epoch: `/proc/stat` btime plus the start time in `/proc/[pid]/stat`,
 * read with the process collector's parsers. Null when either cannot be read.
 */
function processStartMs(pid: number): number | null {
  const stat = tryReadText(join(LIVE_PATHS.procfs, String(pid), 'stat'));
  const boot = tryReadText(join(LIVE_PATHS.procfs, 'stat'));
  if (stat === undefined || boot === undefined) return null;
  try {
    return parseBootTime(boot) * 1000 + (parseProcStat(stat).startTicks / CLOCK_TICKS_PER_SEC) * 1000;
  } catch {
    return null;
  }
}

/**
 * Whether the process `pid` can be the daemon that wrote a pid file at `writtenAtMs`: alive, this user's,
 * and started before the file was written. A pid reused since — by another user's process (pid 1), after
 * a reboot (the pid file in the state directory outlives one), after a container restart — is not.
 */
function holdsPidFile(pid: number, writtenAtMs: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: gone; EPERM: another user's process, so not this user's daemon
  }
  try {
    if (statSync(join(LIVE_PATHS.procfs, String(pid))).uid !== (process.geteuid?.() ?? 0)) return false;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
  }
  const started = processStartMs(pid);
  return started === null || started <= writtenAtMs + CLOCK_SLACK_MS;
}

/** A pid file as written: the pid, and when it was written (its mtime). */
interface PidFile {
  readonly pid: number;
  readonly writtenAtMs: number;
}

/**
 * The pid file at `path`, or null when there is none, it is not a number, or it is not this user's own
 * regular file (vigil never trusts a pid file it cannot have written: another user's, or a symbolic link).
 */
function readPid(path: string): PidFile | null {
  try {
    const { text, stat } = readOwnFile(path);
    const pid = Number.parseInt(text, 10);
    return Number.isInteger(pid) && pid > 0 ? { pid, writtenAtMs: stat.mtimeMs } : null;
  } catch {
    return null;
  }
}

/** What the runtime directory says of the daemon: its pid file and the heartbeat written each cycle. */
export interface DaemonSighting {
  /** The pid in the pid file, alive or not; null without one. */
  readonly pid: number | null;
  /** The pid file names a live process. */
  readonly running: boolean;
  /** The latest heartbeat, whoever wrote it; null when there is none or it is not JSON. */
  readonly heartbeat: Heartbeat | null;
  /** Seconds since the heartbeat's last cycle. */
  readonly ageSecs: number | null;
  /** Running, and its own heartbeat came within three intervals (and 2 s): the daemon cycles. */
  readonly fresh: boolean;
}

/**
 * Reads `vigil.pid` and `heartbeat.json` in the runtime directory (`vigil health`, watch, service). Only
 * files of this user's own count, read without following a symbolic link: a pid file or heartbeat that
 * another user put there, or a pid that is no longer the daemon's, says nothing about this user's daemon.
 */
export function sightDaemon(runDir: string, now = Date.now()): DaemonSighting {
  const pidFile = readPid(join(runDir, 'vigil.pid'));
  const pid = pidFile?.pid ?? null;
  const running = pidFile !== null && holdsPidFile(pidFile.pid, pidFile.writtenAtMs);
  let heartbeat: Heartbeat | null = null;
  try {
    heartbeat = JSON.parse(readOwnFile(join(runDir, 'heartbeat.json')).text) as Heartbeat;
  } catch {
    heartbeat = null;
  }
  const ageSecs =
    heartbeat && typeof heartbeat.lastCycleAt === 'number' ? (now - heartbeat.lastCycleAt) / 1000 : null;
  const fresh =
    heartbeat !== null &&
    running &&
    heartbeat.pid === pid &&
    ageSecs !== null &&
    ageSecs * 1000 <= 3 * heartbeat.intervalMs + 2000;
  return { pid, running, heartbeat, ageSecs, fresh };
}

/**
 * One daemon per user: a pid file created exclusively (`O_EXCL | O_NOFOLLOW`, mode 0600) in the runtime
 * directory, which must be the user's own (see ensurePrivateDir). A file left by a daemon that died — its
 * pid gone, or reused by another process since — is taken over, as is one that is not the user's own
 * file; a live daemon's makes `acquire` throw AlreadyRunning.
 */
export class PidLock {
  readonly path: string;
  private held = false;

  constructor(readonly dir: string) {
    this.path = join(dir, 'vigil.pid');
  }

  /**
   * Takes the lock. Throws UnsafePath (one line: why) when the runtime directory is not the user's own,
   * AlreadyRunning when a daemon holds it. Returns what was changed to make the directory private, if
   * anything, for the log.
   */
  acquire(): string | null {
    const dir = ensurePrivateDir(this.dir, { symlink: 'refuse' });
    if (!dir.ok) throw new UnsafePath(`not started: ${dir.reason}`);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openPrivate(this.path, { exclusive: true });
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        this.held = true;
        return dir.note;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST' && !(error instanceof UnsafePath)) throw error;
        const held = readPid(this.path);
        if (held !== null && held.pid !== process.pid && holdsPidFile(held.pid, held.writtenAtMs))
          throw new AlreadyRunning(held.pid);
        try {
          unlinkSync(this.path);
        } catch {
          // another starter removed it first; try again
        }
      }
    }
    throw new Error(`cannot take the pid file ${this.path}`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    if (readPid(this.path)?.pid === process.pid) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
