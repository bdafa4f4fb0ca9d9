/**
 * Where vigil reads the operating system from. Every collector resolves its files through these roots,
 * never through a literal `/proc` or `/sys`, so that a fixture tree, a container's /proc or another
 * machine's copy can be analysed (the same idea as node_exporter's `--path.procfs`).
 */
export interface HostPaths {
  /** procfs mount, `/proc` on a live machine. */
  readonly procfs: string;
  /** sysfs mount, `/sys` on a live machine. */
  readonly sysfs: string;
  /** Directory holding `passwd`, used to turn uids into user names. */
  readonly etc: string;
  /** Prefix for mount points when asking the file system for its size (statfs). */
  readonly rootfs: string;
}

export const LIVE_PATHS: HostPaths = { procfs: '/proc', sysfs: '/sys', etc: '/etc', rootfs: '/' };
