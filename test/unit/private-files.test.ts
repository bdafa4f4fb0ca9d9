import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ensurePrivateDir,
  openPrivate,
  readOwnFile,
  UnsafePath,
  writeFileAtomicPrivate,
} from '../../src/host/private-files.js';

/**
 * The primitives every private file of vigil goes through, on real files. The attacks with two real
 * users are in test/integration/runtime-dir.test.ts and file-modes.test.ts.
 */

const dir = mkdtempSync(join(tmpdir(), 'vigil-private-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('private directories', () => {
  it('refuses a directory whose parent anyone may write without the sticky bit: it could be swapped', () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const result = ensurePrivateDir(join(open, 'vigil'));
    assert.equal(result.ok, false);
    assert.match(
      (result as { reason: string }).reason,
      /could be replaced by another user: \S*\/open is writable by others: chmod o-w \S*\/open$/,
    );
  });

  it('refuses one when any directory further up lets someone else swap the way to it', () => {
    const above = join(dir, 'above');
    mkdirSync(join(above, 'closed'), { recursive: true });
    chmodSync(above, 0o777);
    chmodSync(join(above, 'closed'), 0o755);
    const result = ensurePrivateDir(join(above, 'closed', 'vigil'));
    assert.equal(result.ok, false);
    assert.match(
      (result as { reason: string }).reason,
      /could be replaced by another user: \S*\/above is writable by others: chmod o-w \S*\/above$/,
    );
  });

  it('accepts a parent its group may write: with user private groups that group is the user alone', () => {
    const shared = join(dir, 'upg');
    mkdirSync(shared);
    chmodSync(shared, 0o775);
    assert.deepEqual(ensurePrivateDir(join(shared, 'vigil')), { ok: true, note: null });
    assert.equal(modeOf(join(shared, 'vigil')), 0o700);
  });

  it("follows the user's own link to a state directory on another disk and makes its target private", () => {
    const target = join(dir, 'elsewhere');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    symlinkSync(target, join(dir, 'linked'));
    assert.equal(ensurePrivateDir(join(dir, 'linked')).ok, false, 'the runtime directory is never a link');
    const result = ensurePrivateDir(join(dir, 'linked'), { symlink: 'own' });
    assert.deepEqual(result, {
      ok: true,
      note: `made ${join(dir, 'linked')} private to you (mode 0755 -> 0700)`,
    });
    assert.equal(modeOf(target), 0o700);
  });
});

describe('private files', () => {
  it('replaces a link at the path instead of writing through it, and leaves no temporary behind', () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'mine\n');
    const path = join(dir, 'heartbeat.json');
    symlinkSync(victim, path);
    writeFileAtomicPrivate(path, '{"pid":1}');
    assert.equal(readFileSync(victim, 'utf8'), 'mine\n');
    assert.equal(readFileSync(path, 'utf8'), '{"pid":1}');
    assert.equal(modeOf(path), 0o600);
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes('.tmp-')),
      [],
    );
  });

  it('gives a file the mode asked for whatever the umask, and tightens a wider existing one', () => {
    const old = process.umask(0);
    try {
      writeFileAtomicPrivate(join(dir, 'public.pem'), 'key', { mode: 0o644 });
      assert.equal(modeOf(join(dir, 'public.pem')), 0o644);
      const log = join(dir, 'log.jsonl');
      writeFileSync(log, '', { mode: 0o666 });
      chmodSync(log, 0o666);
      closeSync(openPrivate(log, { append: true }));
      assert.equal(modeOf(log), 0o600);
    } finally {
      process.umask(old);
    }
  });

  it('will not open a link for writing, nor read a FIFO (which would hang the reader)', () => {
    symlinkSync(join(dir, 'victim.txt'), join(dir, 'link.log'));
    assert.throws(() => openPrivate(join(dir, 'link.log'), { append: true }), UnsafePath);
    execFileSync('mkfifo', [join(dir, 'vigil.pid')]);
    assert.throws(() => readOwnFile(join(dir, 'vigil.pid')), /is not a regular file/);
    assert.throws(() => readOwnFile(join(dir, 'link.log')), /is a symbolic link/);
  });
});
