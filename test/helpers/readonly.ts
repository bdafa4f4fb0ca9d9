import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const isRoot = process.getuid?.() === 0;

/**
 * Makes `target` read-only in a way that holds for this user: chmod for an ordinary user; for root, who
 * ignores permissions, the immutable attribute (chattr +i). Returns how to undo it, or why it cannot.
 */
export function makeReadOnly(target: string, isDirectory: boolean): (() => void) | string {
  if (!isRoot) {
    const mode = statSync(target).mode & 0o777;
    chmodSync(target, isDirectory ? 0o555 : 0o444);
    return () => {
      chmodSync(target, mode);
      // SQLite gives the -wal and -shm it creates the mode of the database file
      for (const extra of isDirectory ? [] : [`${target}-wal`, `${target}-shm`]) {
        if (existsSync(extra)) chmodSync(extra, mode);
      }
    };
  }
  try {
    execFileSync('chattr', ['+i', target], { stdio: 'pipe' });
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    return `running as root, and chattr +i failed (${detail}): needs chattr (Debian package e2fsprogs) on a file system with the immutable attribute`;
  }
  return () => execFileSync('chattr', ['-i', target]);
}

/** Whether creating a file in `directory` really fails now. */
export function cannotCreateIn(directory: string): boolean {
  try {
    writeFileSync(join(directory, 'probe'), '');
    rmSync(join(directory, 'probe'));
    return false;
  } catch {
    return true;
  }
}
