import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Mode } from '../config/schema.js';

export const UNIT_NAME = 'vigil.service';

/** `$XDG_CONFIG_HOME/systemd/user`, where systemd looks for a user's own units (systemd.unit(5)). */
export function userUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'systemd', 'user');
}

export function unitPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(userUnitDir(env), UNIT_NAME);
}

/** bin/vigil.js of this installation (dist/service/unit.js and src/service/unit.ts sit two levels down). */
export function vigilScript(): string {
  return fileURLToPath(new URL('../../bin/vigil.js', import.meta.url));
}

/** The node flag bin/vigil.js's shebang passes (measured in npm run bench: ~28 MB less resident). */
export const NODE_FLAGS = ['--max-semi-space-size=1'] as const;

export interface UnitOptions {
  readonly node: string;
  readonly script: string;
  readonly mode: Mode;
  /** Extra `vigil run` arguments, e.g. `--config <file>` when one was given at install time. */
  readonly args?: readonly string[];
  /** Pinned so the sandbox's writable paths and the daemon agree whatever the user manager's env. */
  readonly stateDir: string;
  /** Opt-in mount-namespace sandbox (needs unprivileged user namespaces, see `renderUnit`). */
  readonly sandbox?: boolean;
}

/**
 * One word of a command line in a unit file (systemd.service(5), "Command lines"): quoted when it holds
 * white space or quotes, with `\` and `"` escaped; `%` doubled (specifiers) and `$` doubled (variables).
 */
export function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * One word of a setting that is not a command line (Environment=, ReadWritePaths=): `%` doubled, quoted
 * like a command word when needed; `$` is left alone since these settings expand no variables.
 */
export function unitValue(value: string): string {
  const escaped = value.replace(/%/g, '%%');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The user unit. Limits keep the watchdog from ever becoming the problem (MemoryMax, CPUQuota, Nice, idle
 * I/O class, TasksMax; memory and CPU limits apply where user@.service delegates those controllers, the
 * default on systemd ≥ 244 distributions). Hardening is limited by default to what a user manager can
 * apply without namespaces (NoNewPrivileges, RestrictSUIDSGID, LockPersonality, RestrictRealtime,
 * RestrictNamespaces, SystemCallArchitectures — seccomp and prctl, allowed unprivileged once
 * no_new_privs is set). Mount-namespace options (ProtectSystem, ProtectHome, PrivateTmp, Protect*Kernel*)
 * are valid in user units only with PrivateUsers=yes, i.e. unprivileged user namespaces, which some
 * kernels disable and Ubuntu ≥ 23.10 restricts through AppArmor; a watchdog that then fails to start
 * is worse than one without them, so they come only with `sandbox`. PrivateTmp is never set: vigil must
 * see the real /tmp to judge its disk usage. MemoryDenyWriteExecute is never set: V8's JIT needs W+X pages.
 */
export function renderUnit(options: UnitOptions): string {
  const argv = [
    options.node,
    ...NODE_FLAGS,
    options.script,
    'run',
    '--mode',
    options.mode,
    ...(options.args ?? []),
  ];
  const lines = [
    '# Written by `vigil service install`; `vigil service uninstall` removes it.',
    '[Unit]',
    'Description=vigil, a watchdog for this workstation',
    'Documentation=man:vigil(1)',
    'StartLimitIntervalSec=300',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=notify',
    '# READY/WATCHDOG/STOPPING are sent by a systemd-notify child of the daemon, hence "all".',
    'NotifyAccess=all',
    'WatchdogSec=60',
    `ExecStart=${argv.map(unitWord).join(' ')}`,
    'ExecReload=kill -HUP $MAINPID',
    'Restart=on-failure',
    'RestartSec=10',
    'TimeoutStopSec=15',
    `Environment=${unitValue(`VIGIL_STATE_DIR=${options.stateDir}`)}`,
    '# Limits on vigil itself.',
    // The daemon holds ~80 MB; an advisor call adds a short-lived child of ~80 MB in the same cgroup.
    'MemoryHigh=192M',
    'MemoryMax=320M',
    'CPUQuota=25%',
    'TasksMax=64',
    'Nice=10',
    'IOSchedulingClass=idle',
    '# Hardening a user manager applies without namespaces.',
    'NoNewPrivileges=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    'RestrictNamespaces=yes',
    'SystemCallArchitectures=native',
    'UMask=0077',
  ];
  if (options.sandbox) {
    lines.push(
      '# --sandbox: a private user namespace makes the mount options below usable in a user unit;',
      '# the home stays visible (read-only) and only the state and runtime directories are writable.',
      'PrivateUsers=yes',
      'ProtectSystem=strict',
      'ProtectHome=read-only',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectControlGroups=yes',
      `ReadWritePaths=${unitValue(`-${options.stateDir}`)} -%t/vigil`,
    );
  }
  lines.push('', '[Install]', 'WantedBy=default.target', '');
  return lines.join('\n');
}
