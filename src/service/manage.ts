import { existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runtimeDir, stateDir } from '../config/load.js';
import type { Mode } from '../config/schema.js';
import { CommandNotFound, runCommand } from '../host/command.js';
import { ensurePrivateDir, writeFileAtomicPrivate } from '../host/private-files.js';
import { sightDaemon } from '../store/lock.js';
import { renderUnit, UNIT_NAME, unitPath, userUnitDir, vigilScript } from './unit.js';

/** Where the commands write: stdout for results, stderr for notes. */
export interface ServiceIo {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/**
 * Whether `systemctl --user` can reach a user manager: its private socket or the session bus under
 * `$XDG_RUNTIME_DIR`, or a `DBUS_SESSION_BUS_ADDRESS`. Without one (ssh without a session, containers,
 * CI) vigil prints the commands instead of running them.
 */
export function hasUserBus(env: NodeJS.ProcessEnv): boolean {
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime && (existsSync(join(runtime, 'systemd', 'private')) || existsSync(join(runtime, 'bus'))))
    return true;
  return Boolean(env['DBUS_SESSION_BUS_ADDRESS']) && Boolean(runtime);
}

interface Systemctl {
  readonly ok: boolean;
  readonly output: string;
}

async function systemctl(io: ServiceIo, args: readonly string[]): Promise<Systemctl> {
  try {
    const result = await runCommand(['systemctl', '--user', ...args], { timeoutMs: 30_000, env: io.env });
    return {
      ok: result.exitCode === 0,
      output: (result.stdout.trim() || result.stderr.trim() || (result.timedOut ? 'timed out' : '')).trim(),
    };
  } catch (error) {
    if (error instanceof CommandNotFound) return { ok: false, output: error.message };
    throw error;
  }
}

function commandLine(args: readonly string[]): string {
  return ['systemctl', '--user', ...args].join(' ');
}

export interface InstallOptions {
  readonly mode: Mode;
  readonly now: boolean;
  readonly dryRun: boolean;
  readonly sandbox: boolean;
  /** `--config` given to vigil: passed on to the service so it reads the same file. */
  readonly config?: string;
}

/** `vigil service install`: 0 on success, 1 when systemctl failed (the unit is written all the same). */
export async function installService(io: ServiceIo, options: InstallOptions): Promise<number> {
  const state = stateDir(io.env);
  const unit = renderUnit({
    node: process.execPath,
    script: vigilScript(),
    mode: options.mode,
    args: options.config ? ['--config', options.config] : [],
    stateDir: state,
    sandbox: options.sandbox,
  });
  if (options.dryRun) {
    io.out(unit);
    return 0;
  }
  const path = unitPath(io.env);
  mkdirSync(dirname(path), { recursive: true });
  // The sandbox can only make existing directories writable.
  const privateState = ensurePrivateDir(state, { symlink: 'own' });
  if (!privateState.ok) {
    io.err(`vigil: ${privateState.reason}\n`);
    return 1;
  }
  writeFileAtomicPrivate(path, unit, { mode: 0o644 });
  io.out(`wrote ${path}\n`);
  const steps: string[][] = [['daemon-reload'], ['enable', ...(options.now ? ['--now'] : []), UNIT_NAME]];
  if (!hasUserBus(io.env)) {
    io.out(
      `no systemd user manager is reachable from here (no user bus); in your session, run:\n${steps.map((s) => `  ${commandLine(s)}\n`).join('')}`,
    );
    io.out(lingerHint(io.env));
    return 0;
  }
  for (const step of steps) {
    const result = await systemctl(io, step);
    if (!result.ok) {
      io.err(`vigil: ${commandLine(step)} failed: ${result.output}\n`);
      return 1;
    }
    io.out(`ran ${commandLine(step)}\n`);
  }
  if (!options.now) io.out(`start it now with: ${commandLine(['start', UNIT_NAME])}\n`);
  io.out(lingerHint(io.env));
  return 0;
}

function lingerHint(env: NodeJS.ProcessEnv): string {
  const user = env['USER'] || env['LOGNAME'] || '$USER';
  return `to keep it running while you are logged out: loginctl enable-linger ${user}\n`;
}

/** `vigil service uninstall`: stops and disables through systemctl when it can, then removes the unit. */
export async function uninstallService(io: ServiceIo): Promise<number> {
  const path = unitPath(io.env);
  if (!existsSync(path)) {
    io.out(`not installed (${path} does not exist)\n`);
    return 0;
  }
  const bus = hasUserBus(io.env);
  let status = 0;
  if (bus) {
    const result = await systemctl(io, ['disable', '--now', UNIT_NAME]);
    if (result.ok) io.out(`ran ${commandLine(['disable', '--now', UNIT_NAME])}\n`);
    else {
      io.err(`vigil: ${commandLine(['disable', '--now', UNIT_NAME])} failed: ${result.output}\n`);
      status = 1;
    }
  }
  // What `systemctl disable` removes, done by hand when it could not run.
  const wants = join(userUnitDir(io.env), 'default.target.wants', UNIT_NAME);
  if (isSymlink(wants)) unlinkSync(wants);
  unlinkSync(path);
  io.out(`removed ${path}\n`);
  if (bus) {
    const reload = await systemctl(io, ['daemon-reload']);
    if (!reload.ok) {
      io.err(`vigil: ${commandLine(['daemon-reload'])} failed: ${reload.output}\n`);
      status = 1;
    }
  } else {
    io.out(
      `no systemd user manager is reachable from here (no user bus); in your session, run:\n  ${commandLine(['stop', UNIT_NAME])}\n  ${commandLine(['daemon-reload'])}\n`,
    );
  }
  return status;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What `vigil service status` found; also printed as JSON with --json. */
export interface ServiceStatus {
  readonly installed: boolean;
  readonly path: string;
  /** The ExecStart line of the installed unit (to see which node and vigil it runs). */
  readonly execStart: string | null;
  readonly manager: { readonly enabled: string; readonly active: string } | null;
  readonly daemon: {
    readonly pid: number | null;
    readonly alive: boolean;
    readonly lastCycleAt: number | null;
    readonly heartbeatAgeSecs: number | null;
  };
}

export async function serviceStatus(io: ServiceIo): Promise<ServiceStatus> {
  const path = unitPath(io.env);
  const installed = existsSync(path);
  let execStart: string | null = null;
  if (installed) {
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ExecStart='));
    execStart = line ? line.slice('ExecStart='.length) : null;
  }
  let manager: ServiceStatus['manager'] = null;
  if (hasUserBus(io.env)) {
    // is-enabled / is-active print their answer and exit non-zero for "disabled", "inactive"…
    const enabled = await systemctl(io, ['is-enabled', UNIT_NAME]);
    const active = await systemctl(io, ['is-active', UNIT_NAME]);
    manager = { enabled: enabled.output || 'unknown', active: active.output || 'unknown' };
  }
  const { pid, running: alive, heartbeat } = sightDaemon(runtimeDir(io.env));
  const lastCycleAt = typeof heartbeat?.lastCycleAt === 'number' ? heartbeat.lastCycleAt : null;
  return {
    installed,
    path,
    execStart,
    manager,
    daemon: {
      pid,
      alive,
      lastCycleAt,
      heartbeatAgeSecs:
        lastCycleAt === null ? null : Math.max(0, Math.round((Date.now() - lastCycleAt) / 1000)),
    },
  };
}

export function formatServiceStatus(status: ServiceStatus): string {
  const lines = [`unit:      ${status.installed ? 'installed' : 'not installed'} (${status.path})`];
  if (status.execStart) lines.push(`runs:      ${status.execStart}`);
  if (status.manager) {
    lines.push(`enabled:   ${status.manager.enabled}`, `active:    ${status.manager.active}`);
  } else {
    lines.push('systemd:   no user manager reachable from here (no user bus); showing the daemon itself');
  }
  const d = status.daemon;
  lines.push(
    `daemon:    ${d.alive ? `running (pid ${d.pid})` : d.pid !== null ? `not running (stale pid file, pid ${d.pid})` : 'not running'}`,
  );
  lines.push(
    `heartbeat: ${d.heartbeatAgeSecs === null ? 'none' : `${d.heartbeatAgeSecs} s ago (${new Date(d.lastCycleAt!).toISOString()})`}`,
  );
  return `${lines.join('\n')}\n`;
}
