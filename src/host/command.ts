import { spawn } from 'node:child_process';

/** What a finished external command returned. */
export interface CommandResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
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

export interface RunOptions {
  readonly timeoutMs: number;
  /** Output beyond this many bytes is dropped (the command keeps running until it exits). */
  readonly maxOutputBytes?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs a program from an argv array — never through a shell — and collects its output. A hang is cut by
 * `timeoutMs` (SIGKILL). Rejects only with CommandNotFound; every other outcome is a CommandResult.
 */
export function runCommand(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(new Error('runCommand: empty argv'));
  const limit = options.maxOutputBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < limit) out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < limit) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT' || error.code === 'EACCES')
        reject(new CommandNotFound(program, error.code));
      else reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}
