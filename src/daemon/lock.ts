import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Heartbeat } from '../store/types.js';

/** Another daemon of this user holds the lock. */
export class AlreadyRunning extends Error {
  constructor(readonly pid: number) {
    super(
      `vigil is already running (pid ${pid}); stop it first (kill ${pid}, or systemctl --user stop vigil)`,
    );
  }
}

/** Whether a pid is alive (EPERM: alive, but another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a pid file, or null when there is none or it is not a number. */
export function readPidFile(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * One daemon per user: a pid file created exclusively in the runtime directory. A file left by a daemon
 * that died (its pid no longer alive) is taken over; a live one makes `acquire` throw AlreadyRunning.
 */
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

/** Reads `vigil.pid` and `heartbeat.json` in the runtime directory (`vigil health`, watch, service). */
export function sightDaemon(runDir: string, now = Date.now()): DaemonSighting {
  const pid = readPidFile(join(runDir, 'vigil.pid'));
  const running = pid !== null && isAlive(pid);
  let heartbeat: Heartbeat | null = null;
  try {
    heartbeat = JSON.parse(readFileSync(join(runDir, 'heartbeat.json'), 'utf8')) as Heartbeat;
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

export class PidLock {
  readonly path: string;
  private held = false;

  constructor(dir: string) {
    this.path = join(dir, 'vigil.pid');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = readPidFile(this.path);
        if (pid !== null && pid !== process.pid && isAlive(pid)) throw new AlreadyRunning(pid);
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
    if (readPidFile(this.path) === process.pid) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
