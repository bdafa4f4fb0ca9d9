import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { errorCode } from './files.js';
import { directoryProblem, userNameOf } from './trusted-file.js';

/**
 * Files only their user can reach: the state directory (database, log, key), the runtime directory (pid
 * file, heartbeat) and what vigil writes where the user asks (bundles, units). Another local user must not
 * be able to read them, plant them, or turn a write of vigil's into a write somewhere else:
 *
 * - A directory is the user's own and `0700` ({@link ensurePrivateDir}): created so, tightened when it is
 *   the user's and wider, refused when another user owns it, when it is a symbolic link that the user did
 *   not make, or when someone else could rename it away: a directory on the way to it is another user's,
 *   or writable by everyone without the sticky bit (the walk of host/trusted-file.ts, which also lets the
 *   group write, for user private groups).
 * - A file is opened with `O_NOFOLLOW` (never written through a symbolic link), its owner checked on the
 *   open descriptor (`fstat`, so nothing can be swapped in between) and its mode set with `fchmod`, so the
 *   umask never widens it.
 * - A file replaced whole is written to a temporary created with `O_EXCL | O_NOFOLLOW` under an
 *   unpredictable name, then renamed over the old one (rename replaces a symbolic link, never follows it).
 * - Readers open with `O_NOFOLLOW | O_NONBLOCK` (a FIFO put in the file's place cannot hang them) and
 *   refuse a file that is not a regular file of their own user.
 */

/** A path vigil will not use, with the one-line reason to show. */
export class UnsafePath extends Error {
  override readonly name = 'UnsafePath';
}

/** The outcome of {@link ensurePrivateDir}: usable (with what was changed, if anything), or why not. */
export type PrivateDir =
  | { readonly ok: true; readonly note: string | null }
  | { readonly ok: false; readonly reason: string };

export interface PrivateDirOptions {
  /**
   * What a symbolic link at `path` means. `refuse` (the runtime directory: nobody has a reason to link
   * it); `own` (the state directory, which a user may move to another disk): followed when the user made
   * the link, refused when someone else did. Default `refuse`.
   */
  readonly symlink?: 'refuse' | 'own';
}

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } =
  constants;

/** The uid files must belong to: the process's effective uid. */
function myUid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? 0;
}

/** `uid 1001 (vigil-attacker)`, or `uid 1001` when the passwd file has no name for it. */
function describeUser(uid: number): string {
  const name = userNameOf(uid);
  return name === null ? `uid ${uid}` : `uid ${uid} (${name})`;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function refuse(reason: string): PrivateDir {
  return { ok: false, reason };
}

/**
 * Makes sure `path` is a directory of this user's that no one else can enter or change: creates it (and
 * missing parents) with mode 0700 when it does not exist; takes away group and other permissions from one
 * of this user's that has them; refuses one owned by another user, a symbolic link (see
 * {@link PrivateDirOptions.symlink}) or one that a directory on the way to it lets someone else replace.
 * A mode that cannot be changed (a read-only or immutable file system, where nobody can change the
 * contents either) is said in `note` but does not refuse the directory.
 */
export function ensurePrivateDir(path: string, options: PrivateDirOptions = {}): PrivateDir {
  const uid = myUid();
  let created = false;
  let link: Stats;
  try {
    link = lstatSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return refuse((error as Error).message);
    try {
      makeDirectories(path);
      created = true;
    } catch (made) {
      if (errorCode(made) !== 'EEXIST') return refuse((made as Error).message);
    }
    try {
      link = lstatSync(path);
    } catch (again) {
      return refuse((again as Error).message);
    }
  }
  let follow = false;
  if (link.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      // gone meanwhile: the open below says so
    }
    if (options.symlink !== 'own')
      return refuse(
        `${path} is a symbolic link (to ${target}), not a directory of yours: refused; remove it`,
      );
    if (link.uid !== uid)
      return refuse(
        `${path} is a symbolic link (to ${target}) made by ${describeUser(link.uid)}, not by you: refused; remove it`,
      );
    follow = true;
  }
  const parentProblem = directoryProblem(dirname(path), { groupWritable: true });
  if (parentProblem !== null) return refuse(`${path} could be replaced by another user: ${parentProblem}`);

  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ELOOP')
      return refuse(`${path} turned into a symbolic link while vigil checked it: refused`);
    if (code === 'ENOTDIR') return refuse(`${path} is not a directory: move it away`);
    return refuse((error as Error).message);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isDirectory()) return refuse(`${path} is not a directory: move it away`);
    if (stat.uid !== uid)
      return refuse(
        `${path} belongs to ${describeUser(stat.uid)}, not to you (${describeUser(uid)}): refused; ` +
          'remove it, or point vigil at a directory of your own',
      );
    const mode = stat.mode & 0o777;
    const wanted = created ? 0o700 : mode & 0o700;
    if (mode === wanted) return { ok: true, note: null };
    try {
      fchmodSync(fd, wanted);
    } catch (error) {
      return {
        ok: true,
        note: `${path} has mode ${octal(mode)} and cannot be made private: ${(error as Error).message}`,
      };
    }
    return {
      ok: true,
      note: created ? null : `made ${path} private to you (mode ${octal(mode)} -> ${octal(wanted)})`,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p` with mode 0700 for every directory it makes (as the XDG base directory specification asks).
 * Not Node's `recursive`, which spins forever under /proc.
 */
function makeDirectories(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    const parent = dirname(path);
    if (errorCode(error) !== 'ENOENT' || parent === path) throw error;
    try {
      makeDirectories(parent);
    } catch (above) {
      if (errorCode(above) !== 'EEXIST') throw above;
    }
    mkdirSync(path, { mode: 0o700 });
  }
}

/** Throws UnsafePath unless `fd` is a regular file of this user's; sets its mode to `mode` when asked. */
function checkOwnFile(fd: number, path: string, mode?: number): Stats {
  const stat = fstatSync(fd);
  if (!stat.isFile()) throw new UnsafePath(`${path} is not a regular file: refused; move it away`);
  const uid = myUid();
  if (stat.uid !== uid)
    throw new UnsafePath(
      `${path} belongs to ${describeUser(stat.uid)}, not to you (${describeUser(uid)}): refused; remove it`,
    );
  if (mode !== undefined && (stat.mode & 0o777) !== mode) fchmodSync(fd, mode);
  return stat;
}

/** Turns the errno of an `O_NOFOLLOW` open of a symbolic link into an UnsafePath; others pass as they are. */
function openError(error: unknown, path: string): Error {
  if (errorCode(error) === 'ELOOP')
    return new UnsafePath(`${path} is a symbolic link: vigil does not write through one; remove it`, {
      cause: error,
    });
  if (errorCode(error) === 'ENXIO')
    return new UnsafePath(`${path} is a FIFO or socket, not a file: refused; remove it`, { cause: error });
  return error as Error;
}

/**
 * Opens `path` for writing without following a symbolic link, creating it with `mode` (default 0600) when
 * missing; `exclusive` fails with EEXIST when it exists, `append` appends. An existing file must be this
 * user's and gets `mode` if it had another (a log left 0644 by an older vigil becomes 0600). Returns the
 * descriptor; the caller closes it. Throws UnsafePath for a link, a foreign file or a special file.
 */
export function openPrivate(
  path: string,
  options: { append?: boolean; exclusive?: boolean; mode?: number } = {},
): number {
  const mode = options.mode ?? 0o600;
  const flags =
    O_WRONLY |
    O_CREAT |
    O_NOFOLLOW |
    O_NONBLOCK |
    (options.append ? O_APPEND : 0) |
    (options.exclusive ? O_EXCL : 0);
  let fd: number;
  try {
    fd = openSync(path, flags, mode);
  } catch (error) {
    throw openError(error, path);
  }
  try {
    checkOwnFile(fd, path, mode);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** Writes all of `data` to `fd`. */
function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
}

/**
 * Replaces `path` whole with `data`: written to `<path>.tmp-<pid>-<random>` (created with `O_EXCL |
 * O_NOFOLLOW`, so neither a planted file nor a symbolic link is ever written through), given `mode`
 * (default 0600) whatever the umask, then renamed over `path`. A reader sees the old file or the new one,
 * never half of one; the temporary is removed when anything fails. `durable` syncs the data first.
 */
export function writeFileAtomicPrivate(
  path: string,
  data: string | Buffer,
  options: { mode?: number; durable?: boolean } = {},
): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = openPrivate(temporary, { exclusive: true, mode: options.mode ?? 0o600 });
  try {
    try {
      writeAll(fd, bytes);
      if (options.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // renamed or never written
    }
    throw error;
  }
}

/**
 * Writes a file where the user asked (`-o FILE`: a bundle, an audit export) as {@link
 * writeFileAtomicPrivate} does, mode 0600. An existing regular file is replaced; anything else there — a
 * symbolic link (planted in /tmp, or /dev/stdout), a device, a FIFO, a directory — is refused, so vigil
 * neither writes through it nor replaces it.
 */
export function writeOutputFile(path: string, data: string | Buffer): void {
  let stat: Stats | null = null;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  if (stat !== null && !stat.isFile()) {
    const what = stat.isSymbolicLink()
      ? 'a symbolic link'
      : stat.isDirectory()
        ? 'a directory'
        : 'not a regular file';
    throw new UnsafePath(
      `${path} is ${what}: vigil neither writes through nor replaces one; give a new file name`,
    );
  }
  writeFileAtomicPrivate(path, data, { durable: true });
}

/**
 * Creates `path` with `data` only when it does not exist yet (`O_EXCL`), mode `mode` (default 0600)
 * whatever the umask. Throws EEXIST when it does.
 */
export function createPrivateFile(
  path: string,
  data: string | Buffer,
  options: { mode?: number; durable?: boolean } = {},
): void {
  const fd = openPrivate(path, { exclusive: true, mode: options.mode ?? 0o600 });
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (options.durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Before a library creates `path` itself (SQLite creates its database 0644 under umask 000, and gives its
 * -wal and -shm the database's mode): creates it empty with mode 0600 when `create` and it is missing, and
 * takes group and other permissions away from an existing file of this user's. Best effort: a file that
 * cannot be opened (read-only directory, a symbolic link the user made) is left to the library, which
 * says what is wrong with it; only another user's file is refused.
 */
export function preparePrivateFile(path: string, options: { create?: boolean } = {}): void {
  let fd: number;
  try {
    fd = openSync(path, (options.create ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (error) {
    if (options.create && errorCode(error) !== 'ELOOP' && errorCode(error) !== 'ENOENT') {
      preparePrivateFile(path, { create: false });
    }
    return;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return;
    if (stat.uid !== myUid())
      throw new UnsafePath(
        `${path} belongs to ${describeUser(stat.uid)}, not to you (${describeUser(myUid())}): refused; remove it`,
      );
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      try {
        fchmodSync(fd, mode & 0o700);
      } catch {
        // read-only or immutable: nobody can change it either
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a file this user owns: opened with `O_NOFOLLOW | O_NONBLOCK`, then checked on the descriptor
 * (a regular file, this user's) before it is read, so nothing can be swapped in between. Throws the fs
 * error (ENOENT…) as is, and UnsafePath for a link, a special file or another user's file.
 */
export function readOwnFile(path: string): { text: string; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    throw openError(error, path);
  }
  try {
    const stat = checkOwnFile(fd, path);
    return { text: readFileSync(fd, 'utf8'), stat };
  } finally {
    closeSync(fd);
  }
}
