import { CommandNotFound, runCommand } from '../host/command.js';

/**
 * The systemd notification protocol (sd_notify(3)) for a daemon started as `Type=notify`: READY=1 once it
 * works, WATCHDOG=1 at half of `WATCHDOG_USEC` while its loop makes progress, STOPPING=1 on the way out.
 * Without `NOTIFY_SOCKET` in the environment every method does nothing.
 *
 * Node has no AF_UNIX datagram sockets, so each message is sent by running `systemd-notify` (argv array,
 * never a shell). A message from a helper that exits at once can be dropped by systemd when it looks up the
 * sender's cgroup too late (systemd issue #2737); systemd-notify ≥ 246 closes that race by waiting on
 * BARRIER=1 until the manager has processed the message, which is why `--no-block` is never passed. The
 * unit must say `NotifyAccess=all`, since the sender is a child of the main process. Messages go out one
 * at a time, in order, so STOPPING=1 is never overtaken by a late watchdog ping. The three variables are
 * removed from the environment once read, so that children do not inherit them.
 */
export class SdNotify {
  private readonly socket: string | undefined;
  private readonly watchdogMs: number | null;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private lastProgress = Date.now();
  private disabled = false;
  /** Messages handed to the queue and not sent yet. */
  private pending = 0;
  private stopped = false;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly options: {
      readonly log: (line: string) => void;
      /** The program to run (tests may point at another; default systemd-notify on PATH). */
      readonly program?: string;
      readonly pid?: number;
    },
  ) {
    this.socket = env['NOTIFY_SOCKET'] || undefined;
    this.watchdogMs = watchdogIntervalMs(env, options.pid ?? process.pid);
    // As sd_notify's unset_environment does: the programs vigil runs (journalctl, systemctl…) must not
    // talk to systemd in vigil's name — systemd tools report ERRNO= to an inherited NOTIFY_SOCKET.
    for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) {
      delete env[name];
      delete process.env[name];
    }
  }

  /** Whether a service manager is listening (NOTIFY_SOCKET set and systemd-notify usable). */
  get enabled(): boolean {
    return this.socket !== undefined && !this.disabled;
  }

  /** The watchdog period systemd asked for, in ms, or null when it asked for none. */
  get watchdogPeriodMs(): number | null {
    return this.socket === undefined ? null : this.watchdogMs;
  }

  /**
   * Tells systemd the daemon is up (READY=1 with its MAINPID) and starts feeding the watchdog, if one is
   * set, every half period. `status` becomes the unit's status line in `systemctl --user status`.
   */
  ready(status?: string): void {
    if (!this.enabled || this.stopped) return;
    const pid = this.options.pid ?? process.pid;
    this.send(['--ready', `--pid=${pid}`, ...(status ? [`STATUS=${status}`] : [])]);
    if (this.watchdogMs !== null && this.timer === null) {
      this.timer = setInterval(() => this.feed(), Math.max(100, Math.floor(this.watchdogMs / 2)));
      this.timer.unref();
    }
  }

  /**
   * The daemon's loop went round once. The watchdog is fed only while this keeps happening within the
   * watchdog period, so a loop stuck on a hung await gets the service restarted.
   */
  alive(): void {
    this.lastProgress = Date.now();
  }

  /** STOPPING=1 and no more pings; resolves once every message queued so far has been handed over. */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.enabled && !this.stopped) this.send(['STOPPING=1']);
    this.stopped = true;
    return this.queue;
  }

  private feed(): void {
    if (this.watchdogMs === null || this.stopped) return;
    if (Date.now() - this.lastProgress > this.watchdogMs) return; // stalled: let systemd restart us
    if (this.pending > 0) return; // a slow systemd-notify: no pile of pings behind it
    this.send(['WATCHDOG=1']);
  }

  private send(args: readonly string[]): void {
    const program = this.options.program ?? 'systemd-notify';
    this.pending++;
    this.queue = this.queue.then(async () => {
      if (this.disabled) {
        this.pending--;
        return;
      }
      try {
        const result = await runCommand([program, ...args], {
          timeoutMs: 10_000,
          maxOutputBytes: 4096,
          env: { ...process.env, NOTIFY_SOCKET: this.socket },
        });
        if (result.exitCode !== 0) {
          const detail = result.stderr.trim() || (result.timedOut ? 'timed out' : `exit ${result.exitCode}`);
          this.options.log(`systemd notification ${args.join(' ')} failed: ${detail}`);
        }
      } catch (error) {
        if (error instanceof CommandNotFound) {
          this.disabled = true;
          this.options.log(
            `NOTIFY_SOCKET is set but ${program} is missing (${error.message}); systemd will not hear from vigil`,
          );
        } else {
          this.options.log(`systemd notification failed: ${(error as Error).message}`);
        }
      } finally {
        this.pending--;
      }
    });
  }
}

/**
 * `WATCHDOG_USEC` as ms, or null when unset, invalid, or meant for another process (`WATCHDOG_PID`
 * names a different pid, as sd_watchdog_enabled(3) checks).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!env['WATCHDOG_USEC'] || !Number.isFinite(usec) || usec <= 0) return null;
  const owner = env['WATCHDOG_PID'];
  if (owner && Number(owner) !== pid) return null;
  return usec / 1000;
}
