import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const VIGIL_BIN = fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));

export interface VigilRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `vigil` (bin/vigil.js → dist/) as a user would, with NO_COLOR unless env says otherwise. */
export function runVigil(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): VigilRun {
  const result = spawnSync(process.execPath, [VIGIL_BIN, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
