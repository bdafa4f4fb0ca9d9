import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import { errorCode } from './files.js';
import { LIVE_PATHS } from './paths.js';

/**
 * Files that steer vigil (the config, the user's rules and kinds) are read only when nobody but their
 * user or root could have written them, as sshd's StrictModes does for authorized_keys:
 *
 * - the file is a regular file owned by the user or root, not writable by group or others;
 * - every directory on the way to it is owned by the user or root and not writable by group or others,
 *   unless it is sticky and owned by root (as /tmp): there, nobody can rename or remove another's entry;
 * - directories above the user's home are not checked when the way leads into the home (the system's
 *   layout, as sshd stops at the home), but they are when it leads elsewhere: /home matters for a file in
 *   /home/shared;
 * - a symbolic link is followed only when it is owned by the user or root, and the place it leads to
 *   passes the same checks, all the way from `/` or from the link's directory. So a dotfile manager's link
 *   from ~/.config/vigil/config.toml into ~/dotfiles works, and a link to someone else's file, or into a
 *   directory someone else can write, is refused;
 * - the file is opened (O_NOFOLLOW, O_NONBLOCK so that a FIFO cannot block the open), checked again with
 *   fstat on the open descriptor, compared (device and inode) with what the walk saw, and read through that
 *   same descriptor: a rename between the check and the read cannot slip another file in.
 *
 * Why the walk by path is enough for the directories: once every directory on the resolved path is
 * owned by the user or root and closed to others (or sticky and root's, with entries of the user's or
 * root's), only the user or root can change what the path leads to; an attacker cannot make a directory
 * of theirs look like one of the user's. The remaining race is the file itself, closed by the descriptor.
 */

/** Whose files may steer vigil: the user's (and root's), and where the user's home is. */
export interface TrustContext {
  readonly uid: number;
  /** The home directory, resolved; directories above it are not checked on the way into it. */
  readonly home: string | null;
}

export type TrustedRead =
  | { readonly ok: true; readonly path: string; readonly realPath: string; readonly text: string }
  | {
      readonly ok: false;
      /** missing: nothing to read; refused: someone else could have written it; unreadable: an I/O error. */
      readonly why: 'missing' | 'refused' | 'unreadable';
      readonly path: string;
      /** One line, naming what is wrong and, for a refusal, the command that fixes it. */
      readonly reason: string;
    };

export type TrustedDir =
  | { readonly ok: true; readonly path: string; readonly realPath: string; readonly names: string[] }
  | Extract<TrustedRead, { ok: false }>;

/** A file that steers vigil and was not used, with the line said about it (stderr, log, `vigil health`). */
export interface Refusal {
  readonly file: string;
  readonly reason: string;
  readonly line: string;
}

/** What vigil says when it does not use `file`: `refusing <what>, <effect>: <reason>`. */
export function refusal(
  file: string,
  reason: string,
  effect: string,
  trust: TrustContext = currentTrust(),
  what = show(file, trust),
): Refusal {
  return { file, reason, line: `refusing ${what}, ${effect}: ${reason}` };
}

/** The effect of a refused rule or kinds file: the rules asked for are missing, so no action runs. */
export const HOLD_OBSERVE = 'holding observe mode until vigil can trust it';

let current: TrustContext | null = null;

/** The running user, and their home from the password database (not $HOME, which the caller sets). */
export function currentTrust(): TrustContext {
  if (current) return current;
  const uid = process.getuid?.() ?? -1;
  let home: string | null = null;
  try {
    home = realpathSync(userInfo().homedir);
  } catch {
    home = null;
  }
  current = { uid, home };
  return current;
}

const MAX_SYMLINKS = 40;
const ATTEMPTS = 3;

/** Reads `path` if it can be trusted (see above); never throws for what the file system says. */
export function readTrustedFile(path: string, trust: TrustContext = currentTrust()): TrustedRead {
  // A file replaced between the walk and the open (an editor saving, or a swap) is walked again.
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const walked = walk(path, trust, 'file');
    if (!walked.ok) return walked;
    const read = readWalked(path, walked.realPath, walked.stat, trust);
    if (read !== CHANGED) return read;
  }
  return {
    ok: false,
    why: 'refused',
    path,
    reason: `${show(path, trust)} kept changing while vigil checked it: try again`,
  };
}

/** The names in directory `path` if it can be trusted (the same checks as for a file, for a directory). */
export function listTrustedDir(path: string, trust: TrustContext = currentTrust()): TrustedDir {
  const walked = walk(path, trust, 'directory');
  if (!walked.ok) return walked;
  try {
    return { ok: true, path, realPath: walked.realPath, names: readdirSync(walked.realPath) };
  } catch (error) {
    return failure(path, trust, error);
  }
}

/**
 * Why someone other than the user or root could replace what directory `path` holds, or null when no one
 * can: the same walk and checks as for a directory that steers vigil (every directory on the way, and
 * symbolic links). `groupWritable` accepts directories their group may write, for directories that only
 * have to be kept from other users: with user private groups (umask 002) that group is the user alone.
 */
export function directoryProblem(
  path: string,
  options: { groupWritable?: boolean } = {},
  trust: TrustContext = currentTrust(),
): string | null {
  const walked = walk(path, trust, 'directory', options.groupWritable ?? false);
  return walked.ok ? null : walked.reason;
}

const printed = new Set<string>();

/** Says `line` on stderr once per process (every command that loads the config says it, but once). */
export function warnOnce(line: string): void {
  if (printed.has(line)) return;
  printed.add(line);
  process.stderr.write(`vigil: ${line}\n`);
}

/** The one result that makes readTrustedFile walk again: the file was replaced between walk and open. */
const CHANGED: TrustedRead = { ok: false, why: 'unreadable', path: '', reason: 'changed' };

function readWalked(path: string, realPath: string, seen: BigIntStats, trust: TrustContext): TrustedRead {
  let fd: number;
  try {
    fd = openSyncNoFollow(realPath);
  } catch (error) {
    const code = errorCode(error);
    // Gone, or a symbolic link now: renamed since the walk.
    if (code === 'ENOENT' || code === 'ELOOP') return CHANGED;
    return failure(path, trust, error);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.dev !== seen.dev || st.ino !== seen.ino) return CHANGED;
    const bad = fileProblem(realPath, st, trust);
    if (bad) return { ok: false, why: 'refused', path, reason: bad };
    return { ok: true, path, realPath, text: readFileSync(fd, 'utf8') };
  } catch (error) {
    return failure(path, trust, error);
  } finally {
    closeSync(fd);
  }
}

function openSyncNoFollow(path: string): number {
  // openSync with numeric flags: O_NOFOLLOW refuses a final symlink, O_NONBLOCK keeps a FIFO from
  // blocking the open (fstat then refuses it); node opens with O_CLOEXEC itself.
  return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

type Walked = { ok: true; realPath: string; stat: BigIntStats } | Extract<TrustedRead, { ok: false }>;

/**
 * Resolves `path` one component at a time with lstat, following symbolic links by hand, and checks each
 * directory as the walk leaves it (so the check knows where the walk goes next: see `dirProblem`).
 */
function walk(path: string, trust: TrustContext, want: 'file' | 'directory', groupWritable = false): Walked {
  const start = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
  // Components still to walk, last first.
  const pending = start.split('/').reverse();
  let at = '/';
  let atStat: BigIntStats;
  try {
    atStat = lstatSync('/', { bigint: true });
  } catch (error) {
    return failure(path, trust, error);
  }
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name === '' || name === '.') continue;
    if (!atStat.isDirectory())
      return { ok: false, why: 'unreadable', path, reason: `${show(at, trust)} is not a directory` };
    const next = name === '..' ? parentOf(at) : at === '/' ? `/${name}` : `${at}/${name}`;
    if (name !== '..') {
      const bad = dirProblem(at, atStat, next, trust, groupWritable);
      if (bad) return { ok: false, why: 'refused', path, reason: bad };
    }
    let st: BigIntStats;
    try {
      st = lstatSync(next, { bigint: true });
    } catch (error) {
      return failure(path, trust, error);
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS)
        return { ok: false, why: 'refused', path, reason: `${show(path, trust)}: too many symbolic links` };
      if (!ownedByTrusted(st, trust))
        return {
          ok: false,
          why: 'refused',
          path,
          reason: `${show(next, trust)} is a symbolic link owned by ${userName(st.uid)}, not by you or root: remove it`,
        };
      let target: string;
      try {
        target = readlinkSync(next);
      } catch (error) {
        return failure(path, trust, error);
      }
      pending.push(...target.split('/').reverse());
      if (target.startsWith('/')) {
        at = '/';
        try {
          atStat = lstatSync('/', { bigint: true });
        } catch (error) {
          return failure(path, trust, error);
        }
      }
      continue;
    }
    at = next;
    atStat = st;
  }
  if (want === 'directory') {
    const bad = atStat.isDirectory()
      ? dirProblem(at, atStat, null, trust, groupWritable)
      : `${show(at, trust)} is not a directory`;
    return bad ? { ok: false, why: 'refused', path, reason: bad } : { ok: true, realPath: at, stat: atStat };
  }
  const bad = fileProblem(at, atStat, trust);
  return bad ? { ok: false, why: 'refused', path, reason: bad } : { ok: true, realPath: at, stat: atStat };
}

function parentOf(dir: string): string {
  const cut = dir.lastIndexOf('/');
  return cut <= 0 ? '/' : dir.slice(0, cut);
}

/** `a` is `b` or a directory above it (both resolved). */
function isAtOrAbove(a: string, b: string): boolean {
  return a === b || a === '/' || b.startsWith(`${a}/`);
}

function ownedByTrusted(st: BigIntStats, trust: TrustContext): boolean {
  return st.uid === BigInt(trust.uid) || st.uid === 0n;
}

/**
 * Why directory `dir` must not be trusted on the way to `next` (null when it can). A directory above the
 * home, on the way into it, is not checked: the home is the anchor, as for sshd. `groupWritable` accepts
 * a directory its group may write (see {@link directoryProblem}).
 */
function dirProblem(
  dir: string,
  st: BigIntStats,
  next: string | null,
  trust: TrustContext,
  groupWritable: boolean,
): string | null {
  if (!st.isDirectory()) return `${show(dir, trust)} is not a directory`;
  const { home } = trust;
  if (next !== null && home !== null && dir !== home && isAtOrAbove(dir, home) && isAtOrAbove(next, home))
    return null;
  if (!ownedByTrusted(st, trust))
    return `${show(dir, trust)} is owned by ${userName(st.uid)}, not by you or root: keep vigil's files in a directory of your own`;
  const writable = Number(st.mode & (groupWritable ? 0o002n : 0o022n));
  if (writable === 0) return null;
  if ((st.mode & 0o1000n) !== 0n && st.uid === 0n) return null;
  return writableBy(dir, writable, st.gid, trust);
}

/** Why the file `path` (its lstat or fstat) must not be trusted, or null. */
function fileProblem(path: string, st: BigIntStats, trust: TrustContext): string | null {
  if (!st.isFile()) return `${show(path, trust)} is ${kindOf(st)}, not a regular file`;
  if (!ownedByTrusted(st, trust))
    return `${show(path, trust)} is owned by ${userName(st.uid)}, not by you (${userName(trust.uid)}) or root: read it, then replace it with a copy of your own`;
  const writable = Number(st.mode & 0o022n);
  return writable === 0 ? null : writableBy(path, writable, st.gid, trust);
}

function writableBy(path: string, bits: number, gid: bigint, trust: TrustContext): string {
  const shown = show(path, trust);
  if (bits === 0o002) return `${shown} is writable by others: chmod o-w ${shown}`;
  const group = `group ${groupName(gid)}`;
  if (bits === 0o020) return `${shown} is writable by ${group}: chmod g-w ${shown}`;
  return `${shown} is writable by ${group} and others: chmod go-w ${shown}`;
}

function kindOf(st: BigIntStats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a special file';
}

function failure(path: string, trust: TrustContext, error: unknown): Extract<TrustedRead, { ok: false }> {
  const code = errorCode(error);
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return { ok: false, why: 'missing', path, reason: `${show(path, trust)}: no such file` };
  const detail =
    code === 'EACCES'
      ? 'permission denied'
      : code === 'ELOOP'
        ? 'too many symbolic links'
        : (code ?? String(error));
  return { ok: false, why: 'unreadable', path, reason: `cannot read ${show(path, trust)}: ${detail}` };
}

/** The path as a person types it: `~/…` inside the home, quoted when the shell would split it. */
export function showPath(path: string, trust: TrustContext = currentTrust()): string {
  return show(path, trust);
}

function show(path: string, trust: TrustContext): string {
  if (/[^\w@%+=:,./~-]/.test(path)) return `'${path.replace(/'/g, `'\\''`)}'`;
  const { home } = trust;
  if (home !== null && home !== '/' && (path === home || path.startsWith(`${home}/`)))
    return `~${path.slice(home.length)}`;
  return path;
}

/** The name of `id` in /etc/passwd or /etc/group (`name:x:id:…`), or null. Only for messages. */
function nameIn(file: 'passwd' | 'group', id: number | bigint): string | null {
  try {
    for (const line of readFileSync(`${LIVE_PATHS.etc}/${file}`, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] === String(id) && fields[0]) return fields[0];
    }
  } catch {
    // no names: the number says it
  }
  return null;
}

/** The name of user `uid` in the passwd file, or null. Only for messages. */
export function userNameOf(uid: number | bigint): string | null {
  return nameIn('passwd', uid);
}

function userName(uid: number | bigint): string {
  return userNameOf(uid) ?? `uid ${uid}`;
}

function groupName(gid: bigint): string {
  return nameIn('group', gid) ?? `gid ${gid}`;
}
