import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** What a finished external command returned. */
export interface CommandResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Cut short by the deadline (or by `RunOptions.signal`): the group was killed, the output is partial. */
  readonly timedOut: boolean;
}

/** The command could not be started at all (ENOENT: not installed; EACCES: not executable). */
export class CommandNotFound extends Error {
  constructor(
    readonly program: string,
    readonly code: string,
  ) {
    super(`${program}: ${code === 'ENOENT' ? 'not installed or not on PATH' : code}`);
  }
}

/** Thrown by a caller whose command hit its deadline, so that whoever schedules it can back off. */
export class CommandTimedOut extends Error {
  override readonly name = 'CommandTimedOut';
  constructor(
    readonly program: string,
    readonly timeoutMs: number,
  ) {
    super(`${program} did not answer within ${timeoutMs} ms`);
  }
}

export interface RunOptions {
  readonly timeoutMs: number;
  /** Output beyond this many bytes is dropped (the command keeps running until it exits). */
  readonly maxOutputBytes?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Aborting ends the command as the deadline does (the daemon stopping). */
  readonly signal?: AbortSignal;
}

/**
 * How long the pipes may stay open once the program itself has exited. A child of it that inherited
 * stdout (a helper it forked, a daemon it started) can hold them open for ever; past this grace the
 * group is killed and the pipes are closed on vigil's side, so nothing waits on that child.
 */
export const PIPE_GRACE_MS = 200;

/** A program started in a process group of its own, with stdout and stderr piped to vigil. */
export interface GroupChild<Stdin extends Writable | null = Writable | null> {
  readonly child: ChildProcessByStdio<Stdin, Readable, Readable>;
  /** Sends a signal to every process of the group (none once the program and its pipes are gone). */
  signal(signal: NodeJS.Signals): void;
  /**
   * SIGKILL to the group and the pipes closed on vigil's side: the child's 'close' follows at once, even
   * when a grandchild that left the group (setsid) still holds the other end.
   */
  cut(): void;
}

/** Groups still running, killed if vigil exits before they do (process.exit on a stuck shutdown). */
const live = new Set<GroupChild>();
let exitHookInstalled = false;

/**
 * Starts a program from an argv array — never through a shell — as the leader of a new session and
 * process group (`setsid`, Node's `detached`), so that a deadline can kill it together with whatever it
 * forked: `kill(-pgid, SIGKILL)`. Once the program exits, its pipes get {@link PIPE_GRACE_MS} to reach
 * end of file; if they are still open then (a grandchild holds them), the group is killed and the pipes
 * closed. A grandchild that made a session of its own escapes the group kill, but no longer holds vigil.
 * The group is never signalled after the child's 'close' (its number may then belong to another group).
 */
export function startInGroup(
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin: 'pipe' },
): GroupChild<Writable>;
export function startInGroup(
  argv: readonly string[],
  options?: { env?: NodeJS.ProcessEnv; stdin?: 'ignore' },
): GroupChild<null>;
export function startInGroup(
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: 'ignore' | 'pipe' } = {},
): GroupChild {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error('startInGroup: empty argv');
  const child = spawn(program, args, {
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    detached: true,
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  const pgid = child.pid ?? null;
  let closed = false;
  let grace: NodeJS.Timeout | null = null;
  const group: GroupChild = {
    child,
    signal(signal) {
      if (pgid === null || pgid <= 1 || closed) return;
      try {
        process.kill(-pgid, signal);
      } catch {
        // ESRCH: every process of the group is gone already.
      }
    },
    cut() {
      group.signal('SIGKILL');
      child.stdin?.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
    },
  };
  if (pgid === null) return group; // spawn failed: 'error' then 'close' follow
  live.add(group);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const running of live) running.signal('SIGKILL');
    });
  }
  child.once('exit', () => {
    // The timer, then one turn of the event loop, so output already in the pipe is read before a cut.
    grace = setTimeout(
      () =>
        setImmediate(() => {
          if (!closed) group.cut();
        }),
      PIPE_GRACE_MS,
    );
  });
  child.once('close', () => {
    closed = true;
    if (grace !== null) clearTimeout(grace);
    live.delete(group);
  });
  return group;
}

/**
 * Runs a program from an argv array — never through a shell — and collects its output. The program runs
 * in a process group of its own (see {@link startInGroup}): at `timeoutMs` the whole group is killed, the
 * pipes are closed and the promise resolves at once, whatever the group's processes do with them; a
 * program that exits while a child of it holds stdout resolves after a short grace. Rejects only with
 * CommandNotFound (or a spawn error); every other outcome is a CommandResult.
 */
export function runCommand(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
  const [program] = argv;
  if (program === undefined) return Promise.reject(new Error('runCommand: empty argv'));
  const limit = options.maxOutputBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let group: GroupChild;
    try {
      group = startInGroup(argv, { env: options.env });
    } catch (error) {
      reject(error);
      return;
    }
    const { child } = group;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let settled = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    };
    const cutShort = () => {
      if (settled) return;
      timedOut = true;
      group.cut();
      // Exited already (a grandchild held the pipes): its own status; else it dies by our SIGKILL now.
      finish(child.exitCode, child.exitCode === null ? (child.signalCode ?? 'SIGKILL') : null);
    };
    const onAbort = () => cutShort();
    const timer = setTimeout(cutShort, options.timeoutMs);
    if (options.signal?.aborted) queueMicrotask(cutShort);
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < limit) out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < limit) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return; // a failed kill after the end: nothing to say
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error.code === 'ENOENT' || error.code === 'EACCES')
        reject(new CommandNotFound(program, error.code));
      else reject(error);
    });
    child.on('close', (exitCode, signal) => finish(exitCode, signal));
  });
}
