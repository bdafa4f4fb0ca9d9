import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIGIL_BIN } from './cli.js';

/** A private home for one test's daemon: config, state and runtime directories of its own. */
export interface DaemonHome {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly configDir: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  cleanup(): void;
}

export function daemonHome(): DaemonHome {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-daemon-'));
  const env = {
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_STATE_HOME: join(dir, 'state'),
    VIGIL_RUNTIME_DIR: join(dir, 'run'),
    VIGIL_CONFIG: '',
    NO_COLOR: '1',
  };
  mkdirSync(join(env.XDG_CONFIG_HOME, 'vigil', 'rules'), { recursive: true });
  return {
    dir,
    env,
    configDir: join(env.XDG_CONFIG_HOME, 'vigil'),
    stateDir: join(env.XDG_STATE_HOME, 'vigil'),
    runtimeDir: env.VIGIL_RUNTIME_DIR,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A running `vigil run` with its output collected. */
export class RunningDaemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(home: DaemonHome, args: readonly string[] = []) {
    this.child = spawn(process.execPath, [VIGIL_BIN, 'run', '--mode', 'observe', ...args], {
      env: { ...process.env, ...home.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until stderr (the log) or stdout (notifications) matches. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000, stream: 'stderr' | 'stdout' = 'stderr'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pattern.test(this[stream])) {
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${pattern} in ${stream}:\n${this[stream]}`);
      if (this.child.exitCode !== null)
        throw new Error(`daemon exited (${this.child.exitCode}) before ${pattern}:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const t0 = Date.now();
    this.child.kill(signal);
    const result = await this.exited;
    return { ...result, ms: Date.now() - t0 };
  }
}
