import { existsSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import type { SampleOptions } from '../collectors/index.js';
import type { JournalSource } from '../collectors/types.js';
import type { HostPaths } from '../host/paths.js';
import { parseDuration } from '../model/duration.js';

/** Global options every command accepts (see `vigil --help`). */
export interface GlobalOptions {
  config?: string;
  procfs?: string;
  sysfs?: string;
  rootfs?: string;
  nvidiaSmi?: string;
}

/** A mistake in how vigil was called: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function existingDir(option: string, path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute) || !statSync(absolute).isDirectory()) {
    throw new UsageError(`${option} ${path}: no such directory`);
  }
  return absolute;
}

export function hostPathsFrom(options: GlobalOptions): HostPaths {
  const rootfs = options.rootfs ? existingDir('--rootfs', options.rootfs) : '/';
  return {
    procfs: options.procfs ? existingDir('--procfs', options.procfs) : '/proc',
    sysfs: options.sysfs ? existingDir('--sysfs', options.sysfs) : '/sys',
    etc: join(rootfs, 'etc'),
    rootfs,
  };
}

export function journalSourceFrom(options: { journalFile?: string; journalDir?: string }): JournalSource {
  if (options.journalFile && options.journalDir) {
    throw new UsageError('--journal-file and --journal-dir cannot be used together');
  }
  if (options.journalFile) {
    const path = resolve(options.journalFile);
    if (!existsSync(path)) throw new UsageError(`--journal-file ${options.journalFile}: no such file`);
    return { kind: 'file', path };
  }
  if (options.journalDir)
    return { kind: 'directory', path: existingDir('--journal-dir', options.journalDir) };
  return { kind: 'system' };
}

export function sampleOptionsFrom(
  global: GlobalOptions,
  local: { journalFile?: string; journalDir?: string; journalSince?: string } = {},
): SampleOptions {
  return {
    paths: hostPathsFrom(global),
    nvidiaSmi: global.nvidiaSmi ?? 'nvidia-smi',
    journal: journalSourceFrom(local),
    journalSince: local.journalSince ?? '-1h',
    commandTimeoutMs: 5000,
  };
}

/**
 * The command line's values, one strict parser per kind, each used as a commander argParser. A value
 * that is not exactly what the kind means is refused with a UsageError (one line on stderr, exit 2)
 * naming the option and the value: `Number()` alone would take `0x10`, ` 12`, `1e3` and `` for numbers.
 */
const WHOLE = /^[1-9][0-9]*$/;

/** A whole number of 1 or more, in plain decimal digits (`--top 5`, `--limit 20`, an alert id). */
export function positiveInteger(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!WHOLE.test(text) || !Number.isSafeInteger(n))
      throw new UsageError(`${option} ${JSON.stringify(text)}: expected a whole number of 1 or more`);
    return n;
  };
}

/** A whole number of `unit` from 0 to `max`, in plain decimal digits (`status --sample 500`). */
export function wholeNumberUpTo(option: string, max: number, unit: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^(0|[1-9][0-9]*)$/.test(text) || n > max)
      throw new UsageError(
        `${option} ${JSON.stringify(text)}: expected a whole number of ${unit} from 0 to ${max}`,
      );
    return n;
  };
}

/** The largest pid Linux hands out (PID_MAX_LIMIT, 2^22, the ceiling of /proc/sys/kernel/pid_max). */
const PID_MAX_LIMIT = 4_194_304;

/** A process id as ps and kill write it: plain decimal digits, 1 to 2^22. */
export function parsePid(text: string): number {
  const n = Number(text);
  if (!WHOLE.test(text) || n > PID_MAX_LIMIT)
    throw new UsageError(`pid ${JSON.stringify(text)}: expected a process id, a whole number such as 1234`);
  return n;
}

/** A duration longer than zero, in the rule files' syntax (`24h`, `90m`, `7d`, `1h30m`). */
export function positiveDuration(option: string): (text: string) => number {
  return (text) => {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch {
      throw new UsageError(`${option} ${JSON.stringify(text)}: not a duration (use e.g. 90m, 24h, 7d)`);
    }
    if (!(ms > 0)) throw new UsageError(`${option} ${JSON.stringify(text)}: the window is empty`);
    return ms;
  };
}

/** The default `--since` window: the last day. */
export const DAY_MS = 86_400_000;

/** `--since` values: `24h`, `90m`, `7d` (the rule files' duration syntax, as `vigil report`). */
export const parseSince = positiveDuration('--since');

/**
 * A signal by name, with or without SIG, in any case (`HUP`, `sigint`, `SIGUSR1`): one of the names this
 * system knows (os.constants.signals). Numbers are refused: their meaning differs between architectures.
 */
export function parseSignal(text: string): NodeJS.Signals {
  const name = text.toUpperCase().replace(/^(?!SIG)/, 'SIG');
  if (!Object.hasOwn(constants.signals, name))
    throw new UsageError(
      `--signal ${JSON.stringify(text)}: not a signal name (e.g. HUP, INT, TERM, KILL; kill -l lists them)`,
    );
  return name as NodeJS.Signals;
}
