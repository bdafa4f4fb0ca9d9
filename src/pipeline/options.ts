import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
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

/** `--since` values: `24h`, `90m`, `7d` (the rule files' duration syntax, as `vigil report`). */
export function parseSince(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError(`--since: ${(error as Error).message}`);
  }
  if (!(ms > 0)) throw new InvalidArgumentError(`--since ${text}: the window is empty`);
  return ms;
}
