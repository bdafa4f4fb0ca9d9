import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Lifetime of each extra process, in seconds. The bench kills them itself (at the end, on error, on
 * SIGINT/SIGTERM); this bound only matters if the bench is killed with SIGKILL, so nothing it made
 * outlives it by more than a few minutes.
 */
const LIFETIME_SECS = 600;

/** All live sets, so one exit hook can kill every one of them whatever path the bench leaves by. */
const live = new Set<Sleepers>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const set of live) set.stop();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, async () => {
      // Reap before leaving, so no killed sleeper lingers as a zombie for init to collect.
      await Promise.all([...live].map((set) => set.stopAndReap(3000).catch(() => {})));
      process.stderr.write(`\nbench: ${signal}, extra processes killed\n`);
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** The comm field of /proc/[pid]/stat, or undefined when the process is gone. */
function commOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
  } catch {
    return undefined;
  }
}

/**
 * Extra sleeping processes that make the process table bigger. Each is a direct child of the bench
 * (`sleep`, no shell, stdio ignored, same process group), so a Ctrl-C at the terminal reaches them too,
 * and the bench holds a handle to every one it kills.
 */
export class Sleepers {
  private readonly children: ChildProcess[] = [];

  get size(): number {
    return this.children.length;
  }

  /** Spawns more sleepers until `total` exist, then waits until /proc shows each one as `sleep`. */
  async grow(total: number, timeoutMs = 60_000): Promise<void> {
    hookExit();
    live.add(this);
    const fresh: ChildProcess[] = [];
    while (this.children.length < total) {
      const child = spawn('sleep', [String(LIFETIME_SECS)], { stdio: 'ignore' });
      child.on('error', () => {
        // reported below as a process that never showed up
      });
      this.children.push(child);
      fresh.push(child);
      // Yield now and then so the event loop can reap and the spawn errors surface.
      if (fresh.length % 200 === 0) await sleep(0);
    }
    const deadline = Date.now() + timeoutMs;
    let waiting = fresh;
    while (waiting.length > 0) {
      waiting = waiting.filter((child) => child.pid === undefined || commOf(child.pid) !== 'sleep');
      if (waiting.length === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`${waiting.length} of ${fresh.length} sleep processes did not appear in /proc`);
      }
      await sleep(50);
    }
  }

  /** Kills every sleeper (SIGKILL) and forgets them. Synchronous, so it is safe in an exit hook. */
  stop(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    this.children.length = 0;
    live.delete(this);
  }

  /** Resolves once every killed sleeper is reaped, so /proc no longer lists them. */
  async stopAndReap(timeoutMs = 10_000): Promise<void> {
    const pids = this.children.map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
    const exits = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        }),
    );
    this.stop();
    await Promise.race([Promise.all(exits), sleep(timeoutMs)]);
    const left = pids.filter((pid) => commOf(pid) === 'sleep').length;
    if (left > 0) throw new Error(`${left} sleep processes still listed in /proc after SIGKILL`);
  }
}
