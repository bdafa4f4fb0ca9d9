import {
  CommandNotFound,
  type CommandResult,
  type GroupChild,
  runCommand,
  startInGroup,
} from '../host/command.js';
import type { JournalEntry } from '../model/snapshot.js';
import {
  describeJournalSource,
  exitText,
  JOURNALCTL_NOT_INSTALLED,
  type JournalPriority,
  journalMatchArgs,
  journalSourceArgs,
  noJournalText,
  parseJournalJson,
} from './journal.js';
import type { JournalSource } from './types.js';

/**
 * What the follower is doing. `following`: a `journalctl -f` child is running. `restarting`: it exited
 * or could not start and is waiting out its backoff. `unsupported`: journalctl is not installed, or there
 * is no journal to follow (probed again every `reprobeMs`). `off`: before `start()` and after `stop()`.
 */
export type JournalFollowerState = 'following' | 'restarting' | 'unsupported' | 'off';

export interface JournalFollowerOptions {
  readonly source: JournalSource;
  /** Cursor of the last entry delivered by a previous run (stored by the daemon), or null for none. */
  readonly cursor: string | null;
  /** Path or name of the journalctl program (tests point this at a missing one). */
  readonly journalctl?: string;
  /** Least severe priority followed; `warning` unless told otherwise (see `journalMatchArgs`). */
  readonly priority?: JournalPriority;
  /** New entries, in journal order, a batch per chunk of journalctl output. Never re-delivered. */
  onEntries(entries: JournalEntry[]): void;
  /** Cursor of the last entry of each batch, once `onEntries` returned: the position to store. */
  onCursor?(cursor: string): void;
  /** Every state change and every restart, with a detail saying why (null when there is nothing to add). */
  onState?(state: JournalFollowerState, detail: string | null): void;
  /** A line of journalctl output that was skipped (garbled, truncated, too long), and why. */
  onSkip?(reason: string): void;
  /** Wait before restarting a dead journalctl: `initial`, doubling per failure up to `max`. */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /** How often a machine without a journal is probed again. */
  readonly reprobeMs?: number;
  /** Wall clock in ms, to measure how long a journalctl ran. */
  readonly now?: () => number;
}

const DEFAULT_BACKOFF_MS = { initial: 1_000, max: 60_000 } as const;
const DEFAULT_REPROBE_MS = 5 * 60_000;
/** Upper bound for the probe (`journalctl -n 0 --show-cursor`), which normally answers in milliseconds. */
const PROBE_TIMEOUT_MS = 10_000;
/** `stop()` sends SIGTERM, SIGKILL after this long, and gives up waiting after `STOP_WAIT_MS`. */
const STOP_KILL_MS = 500;
const STOP_WAIT_MS = 1_000;
/** A line longer than this without a newline is dropped rather than buffered further. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;
/** How much of journalctl's stderr is kept to explain an exit. */
const STDERR_TAIL_CHARS = 4_096;

/** One `journalctl -f` child and what it has said so far. */
interface FollowRun {
  /** journalctl in a process group of its own (see startInGroup). */
  readonly group: GroupChild;
  readonly startedAtMs: number;
  /** Output after the last newline: the start of a line still being written. */
  partial: string;
  stderrTail: string;
  /** Set when the run is being ended on purpose (a callback failed): why, for the restart detail. */
  failure: string | null;
  spawnError: NodeJS.ErrnoException | null;
  ended: boolean;
  readonly closed: Promise<void>;
  markClosed(): void;
}

type ProbeOutcome =
  | { readonly kind: 'ok'; readonly tailCursor: string | null }
  | { readonly kind: 'not-installed' }
  | { readonly kind: 'no-journal' }
  | { readonly kind: 'failed'; readonly detail: string };

/**
 * Follows the systemd journal continuously with `journalctl -f -o json`, selecting what the journal
 * collector selects (`journalMatchArgs`: warnings and worse, plus the systemd-oomd and earlyoom kill
 * reports), and hands new entries to callbacks. A callback API rather than an EventEmitter: each
 * callback has one typed signature, and there is exactly one listener, the daemon.
 *
 * Position. With a cursor (the last one delivered, from `options.cursor` or from this run) journalctl is
 * started with `--after-cursor <cursor> -n all`, so nothing is missed or repeated across restarts of the
 * child or of the daemon. Without one the follower starts at the end of the journal, so a fresh daemon
 * does not replay history: a probe, `journalctl -n 0 --show-cursor`, prints the cursor of the journal's
 * last entry, and following starts after it. That anchor (not reported: no entry was delivered) is also
 * what a restart resumes from until the first entry arrives, so entries written while journalctl was
 * down are never skipped. If the probe shows no cursor (an empty journal), following starts with `-n 0`.
 *
 * journalctl quirks handled here (systemd 252): `-f` alone means `-n 10`, so resuming needs `-n all` or
 * only ten entries after the cursor come back. `-f` also implies `-b` (the current boot only) unless
 * `--merge` is given, which would drop the last entries of the previous boot when the daemon resumes
 * after a reboot, and ignore entries of a new boot appended to a followed file; so `--merge` is passed
 * (for the system journal it also merges remote journals under /var/log/journal/remote, which a
 * workstation normally lacks). With no journal at all, `journalctl -f` prints nothing and waits forever,
 * so the probe decides: "No journal files were found." on its stderr means `unsupported`, probed again
 * every `reprobeMs`. A cursor journalctl rejects ("Failed to seek to cursor") is dropped and following
 * restarts from the end of the journal, saying so in the state detail.
 *
 * Failures. If journalctl exits, is killed or cannot start, it is restarted after a backoff that starts at
 * `backoffMs.initial` and doubles up to `backoffMs.max`; a child that ran at least `backoffMs.max` counts
 * as healthy and resets the backoff. journalctl not installed (ENOENT) is `unsupported` for good. Nothing
 * throws out of this class: every failure is a state change with a detail. A throwing `onEntries` counts
 * as a failed delivery: the cursor does not advance, journalctl is restarted and the same entries come
 * again; exceptions from `onCursor`, `onState` and `onSkip` are ignored.
 *
 * Lines are buffered across chunks (a chunk may end mid-line or mid-character); a line that is not a
 * journal entry is skipped through `onSkip`, and so is an unfinished line left when journalctl dies (the
 * entry comes again after the restart, since the cursor did not pass it).
 */
export class JournalFollower {
  readonly #options: JournalFollowerOptions;
  readonly #program: string;
  readonly #backoff: { readonly initial: number; readonly max: number };
  readonly #reprobeMs: number;
  readonly #now: () => number;

  #active = false;
  /** Bumped by every start() and stop(), so late work of an earlier life is dropped. */
  #epoch = 0;
  #state: JournalFollowerState = 'off';
  #stateDetail: string | null = null;
  /** Where the next journalctl starts: after this cursor, or at the end of the journal when null. */
  #resumeCursor: string | null;
  #lastDelivered: string | null;
  #run: FollowRun | null = null;
  #probing: Promise<unknown> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failures = 0;

  constructor(options: JournalFollowerOptions) {
    this.#options = options;
    this.#program = options.journalctl ?? 'journalctl';
    this.#backoff = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.#reprobeMs = options.reprobeMs ?? DEFAULT_REPROBE_MS;
    this.#now = options.now ?? Date.now;
    this.#resumeCursor = options.cursor;
    this.#lastDelivered = options.cursor;
  }

  get state(): JournalFollowerState {
    return this.#state;
  }

  /** Cursor of the last entry delivered (or the one given at construction). */
  get cursor(): string | null {
    return this.#lastDelivered;
  }

  /** Pid of the running `journalctl -f`, or null; for tests and `vigil health`. */
  get childPid(): number | null {
    return this.#run?.group.child.pid ?? null;
  }

  /** Starts following; returns at once. Calling it while started does nothing. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#epoch++;
    this.#failures = 0;
    void this.#launch(this.#epoch);
  }

  /**
   * Stops following: kills journalctl's process group (SIGTERM, SIGKILL after 0.5 s, pipes closed) and
   * waits for it to exit, at most one second; a probe under way is waited for within the same second (it
   * normally takes milliseconds, and its own timeout ends it otherwise). Once called, no entries, cursors
   * or skips are reported; the last callback is the state `off`, before the returned promise resolves.
   * The follower can be started again and resumes after the last entry it delivered.
   */
  async stop(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    this.#epoch++;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const run = this.#run;
    this.#run = null;
    const waits: Promise<unknown>[] = [];
    let killTimer: NodeJS.Timeout | null = null;
    if (run !== null && !run.ended) {
      run.group.signal('SIGTERM');
      killTimer = setTimeout(() => run.group.cut(), STOP_KILL_MS);
      waits.push(run.closed);
    }
    if (this.#probing !== null) waits.push(this.#probing);
    let waitTimer: NodeJS.Timeout | null = null;
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((resolve) => {
        waitTimer = setTimeout(resolve, STOP_WAIT_MS);
      }),
    ]);
    if (waitTimer !== null) clearTimeout(waitTimer);
    if (killTimer !== null) clearTimeout(killTimer);
    this.#setState('off', null);
  }

  /** Probes the journal, then spawns `journalctl -f`. Every outcome ends in a state change. */
  async #launch(epoch: number): Promise<void> {
    this.#timer = null;
    const probing = this.#probe().catch(
      (error: unknown): ProbeOutcome => ({
        kind: 'failed',
        detail: `journal probe failed: ${(error as Error).message}`,
      }),
    );
    this.#probing = probing;
    const probe = await probing;
    if (this.#probing === probing) this.#probing = null;
    if (epoch !== this.#epoch) return;
    switch (probe.kind) {
      case 'not-installed':
        this.#setState('unsupported', JOURNALCTL_NOT_INSTALLED);
        return;
      case 'no-journal':
        this.#setState(
          'unsupported',
          `${noJournalText(this.#options.source)}; looking again every ${seconds(this.#reprobeMs)}`,
        );
        this.#schedule(epoch, this.#reprobeMs);
        return;
      case 'failed':
        this.#retry(epoch, probe.detail);
        return;
      case 'ok':
        if (this.#resumeCursor === null) this.#resumeCursor = probe.tailCursor;
        this.#spawn(epoch);
        return;
    }
  }

  /**
   * `journalctl --no-pager -n 0 --show-cursor [source]`: prints no entry, but "-- cursor: <c>" for the
   * last entry of the journal, or "No journal files were found." on stderr when there is none (JSON
   * output would print nothing in either case, hence the default output format here).
   */
  async #probe(): Promise<ProbeOutcome> {
    const argv = [
      this.#program,
      '--no-pager',
      '-n',
      '0',
      '--show-cursor',
      ...journalSourceArgs(this.#options.source),
    ];
    let result: CommandResult;
    try {
      result = await runCommand(argv, { timeoutMs: PROBE_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof CommandNotFound && error.code === 'ENOENT') return { kind: 'not-installed' };
      return { kind: 'failed', detail: `cannot run ${this.#program}: ${(error as Error).message}` };
    }
    if (/no journal files were found/i.test(result.stderr)) return { kind: 'no-journal' };
    if (result.timedOut) {
      return { kind: 'failed', detail: `journalctl did not answer within ${seconds(PROBE_TIMEOUT_MS)}` };
    }
    if (result.exitCode !== 0) {
      const why = lastLine(result.stderr) ?? lastLine(result.stdout) ?? 'no output';
      return {
        kind: 'failed',
        detail: `journalctl failed (${exitText(result.exitCode, result.signal)}): ${why}`,
      };
    }
    const match = /^-- cursor: (\S+)\s*$/m.exec(result.stdout);
    return { kind: 'ok', tailCursor: match?.[1] ?? null };
  }

  #spawn(epoch: number): void {
    const resume = this.#resumeCursor;
    const args = [
      '-f',
      '-o',
      'json',
      '--no-pager',
      '-q',
      '--merge',
      ...journalSourceArgs(this.#options.source),
    ];
    if (resume === null) args.push('-n', '0');
    else args.push('-n', 'all', '--after-cursor', resume);
    args.push(...journalMatchArgs(this.#options.priority ?? 'warning'));

    let group: GroupChild;
    try {
      group = startInGroup([this.#program, ...args]);
    } catch (error) {
      this.#retry(epoch, `cannot start journalctl: ${(error as Error).message}`);
      return;
    }
    let markClosed = () => {};
    const { child } = group;
    const run: FollowRun = {
      group,
      startedAtMs: this.#now(),
      partial: '',
      stderrTail: '',
      failure: null,
      spawnError: null,
      ended: false,
      closed: new Promise<void>((resolve) => {
        markClosed = resolve;
      }),
      markClosed: () => markClosed(),
    };
    this.#run = run;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.#onData(run, chunk));
    child.stderr?.on('data', (chunk: string) => {
      run.stderrTail = (run.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    child.on('spawn', () => {
      if (this.#run === run && this.#active)
        this.#setState('following', describeJournalSource(this.#options.source));
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      // A failed spawn is followed by 'close'; an error after spawning (a failed kill) changes nothing.
      if (child.pid === undefined) run.spawnError = error;
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      run.ended = true;
      run.markClosed();
      this.#onClose(epoch, run, code, signal);
    });
  }

  #onData(run: FollowRun, chunk: string): void {
    if (this.#run !== run || !this.#active || run.failure !== null) return;
    run.partial += chunk;
    const end = run.partial.lastIndexOf('\n');
    if (end < 0) {
      if (run.partial.length > MAX_LINE_CHARS) {
        this.#skip(`journalctl -f: dropped a line longer than ${MAX_LINE_CHARS} characters`);
        run.partial = '';
      }
      return;
    }
    const complete = run.partial.slice(0, end);
    run.partial = run.partial.slice(end + 1);
    const { entries, skipped } = parseJournalJson(complete);
    for (const reason of skipped) this.#skip(`journalctl -f: ${reason}`);
    if (entries.length > 0) this.#deliver(run, entries);
  }

  #deliver(run: FollowRun, entries: JournalEntry[]): void {
    try {
      this.#options.onEntries(entries);
    } catch (error) {
      // Not delivered: keep the cursor where it was and have journalctl read these entries again.
      run.failure = `onEntries failed: ${(error as Error).message}`;
      run.group.cut();
      return;
    }
    let cursor: string | null = null;
    for (const entry of entries) if (entry.cursor !== null) cursor = entry.cursor;
    if (cursor === null) return;
    this.#resumeCursor = cursor;
    this.#lastDelivered = cursor;
    try {
      this.#options.onCursor?.(cursor);
    } catch {
      // The daemon's business; the follower itself already moved on.
    }
  }

  #onClose(epoch: number, run: FollowRun, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#run !== run) return;
    this.#run = null;
    if (epoch !== this.#epoch || !this.#active) return;
    if (run.spawnError?.code === 'ENOENT') {
      this.#setState('unsupported', JOURNALCTL_NOT_INSTALLED);
      return;
    }
    if (run.partial.trim() !== '' && run.failure === null) {
      this.#skip('journalctl -f: dropped the unfinished last line of a journalctl that exited');
    }
    if (this.#now() - run.startedAtMs >= this.#backoff.max) this.#failures = 0;
    let why: string;
    if (run.failure !== null) why = run.failure;
    else if (run.spawnError !== null) why = `cannot start journalctl: ${run.spawnError.message}`;
    else {
      const said = lastLine(run.stderrTail);
      why = `journalctl exited (${exitText(code, signal)})${said === null ? '' : `: ${said}`}`;
    }
    if (/failed to seek to cursor/i.test(run.stderrTail) && this.#resumeCursor !== null) {
      why += `; cursor ${this.#resumeCursor} is unusable, following from the end of the journal instead`;
      this.#resumeCursor = null;
    }
    this.#retry(epoch, why);
  }

  /** Waits out the backoff, then launches again. */
  #retry(epoch: number, why: string): void {
    const delayMs = Math.min(this.#backoff.max, this.#backoff.initial * 2 ** this.#failures);
    this.#failures++;
    this.#setState('restarting', `${why}; restarting in ${seconds(delayMs)}`);
    this.#schedule(epoch, delayMs);
  }

  #schedule(epoch: number, delayMs: number): void {
    if (epoch !== this.#epoch) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#launch(epoch), delayMs);
  }

  #setState(state: JournalFollowerState, detail: string | null): void {
    // A probe that finds no journal again is not news; every restart is.
    if (state !== 'restarting' && state === this.#state && detail === this.#stateDetail) return;
    this.#state = state;
    this.#stateDetail = detail;
    try {
      this.#options.onState?.(state, detail);
    } catch {
      // A listener's failure must not stop the follower.
    }
  }

  #skip(reason: string): void {
    try {
      this.#options.onSkip?.(reason);
    } catch {
      // As above.
    }
  }
}

function lastLine(text: string): string | null {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const line = lines[lines.length - 1];
  return line === undefined ? null : line.trim();
}

function seconds(ms: number): string {
  return ms >= 1_000 && ms % 1_000 === 0 ? `${ms / 1_000} s` : `${ms} ms`;
}
