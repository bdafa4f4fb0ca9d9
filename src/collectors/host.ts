import { hostname } from 'node:os';
import { join } from 'node:path';
import { readAttribute } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import type { HostInfo } from '../model/snapshot.js';

/**
 * Host name, kernel release and uptime from procfs (`sys/kernel/hostname`, `sys/kernel/osrelease`,
 * `uptime`), so that a copied /proc describes its own machine. Missing files fall back to this process's
 * view (hostname) or to neutral values; this never throws.
 */
export function readHostInfo(paths: HostPaths): HostInfo {
  const uptime = Number.parseFloat(readAttribute(join(paths.procfs, 'uptime')) ?? '');
  return {
    hostname: readAttribute(join(paths.procfs, 'sys/kernel/hostname')) ?? hostname(),
    kernel: readAttribute(join(paths.procfs, 'sys/kernel/osrelease')) ?? 'unknown',
    uptimeSecs: Number.isFinite(uptime) ? uptime : 0,
  };
}
