import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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
