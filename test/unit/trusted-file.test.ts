import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { listTrustedDir, readTrustedFile, type TrustContext } from '../../src/host/trusted-file.js';
import {
  attackerUser,
  mkdirAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * The trust check as the victim would run it: files and directories owned by real users (the victim, an
 * attacker, root), read with the victim's uid and home. Run as root, the suite makes the users; run as an
 * ordinary user, the victim is that user and the cases that need a second owner skip.
 */
const victim = victimUser();
const attacker = attackerUser();
const noVictim = typeof victim === 'string' ? victim : false;
const noAttacker = typeof attacker === 'string' ? attacker : noVictim;
const homes: UserHome[] = [];
const scratch: string[] = [];
after(() => {
  for (const h of homes) h.cleanup();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function trustOf(user: TestUser): TrustContext {
  return { uid: user.uid, home: realpathSync(user.home) };
}

function home(): UserHome {
  const h = userHome(victim as TestUser, 'trust');
  homes.push(h);
  return h;
}

/** A fresh directory in /tmp (root's sticky one), owned by `user`, with `mode`. */
function tmpDirOf(user: TestUser, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-trust-'));
  scratch.push(dir);
  return mkdirAs(user, dir, mode);
}

function refusedReason(path: string, trust: TrustContext): string {
  const read = readTrustedFile(path, trust);
  assert.equal(read.ok, false, `expected ${path} to be refused`);
  if (read.ok) throw new Error('unreachable');
  assert.equal(read.why, 'refused', read.reason);
  return read.reason;
}

describe('reading a file that steers vigil', { skip: noVictim }, () => {
  it('reads a file of the user’s own in directories of the user’s own, and says where it really is', () => {
    const h = home();
    const v = victim as TestUser;
    const file = writeFileAs(v, join(h.configDir, 'config.toml'), '[general]\nmode = "auto"\n');
    const read = readTrustedFile(file, trustOf(v));
    assert.deepEqual(read, {
      ok: true,
      path: file,
      realPath: realpathSync(file),
      text: '[general]\nmode = "auto"\n',
    });
  });

  it('refuses a file its group or others can write, naming the group and the chmod that fixes it', () => {
    const h = home();
    const v = victim as TestUser;
    const trust = trustOf(v);
    const file = writeFileAs(v, join(h.configDir, 'config.toml'), 'x = 1\n', 0o602);
    const shown = `~${file.slice(trust.home!.length)}`;
    assert.equal(refusedReason(file, trust), `${shown} is writable by others: chmod o-w ${shown}`);
    chmodSync(file, 0o620);
    assert.match(
      refusedReason(file, trust),
      new RegExp(`^${escapeRegExp(shown)} is writable by group \\S+: chmod g-w ${escapeRegExp(shown)}$`),
    );
    chmodSync(file, 0o666);
    assert.match(refusedReason(file, trust), /is writable by group \S+ and others: chmod go-w /);
  });

  it('refuses a file another user owns, and names that user, not a number', { skip: noAttacker }, () => {
    const h = home();
    const v = victim as TestUser;
    const a = attacker as TestUser;
    const file = writeFileAs(a, join(h.configDir, 'config.toml'), '[general]\nmode = "auto"\n', 0o644);
    assert.match(
      refusedReason(file, trustOf(v)),
      /config\.toml is owned by vigil-attacker, not by you \(vigil-victim\) or root: read it, then replace it with a copy of your own$/,
    );
  });

  it('refuses a file below a directory others can write (0777), or below another user’s directory', () => {
    const h = home();
    const v = victim as TestUser;
    const trust = trustOf(v);
    const file = writeFileAs(v, join(h.configDir, 'config.toml'), 'x = 1\n');
    chmodSync(h.configDir, 0o777);
    assert.match(
      refusedReason(file, trust),
      /^~\/\S+\/config\/vigil is writable by group \S+ and others: chmod go-w ~\/\S+\/config\/vigil$/,
    );
    chmodSync(h.configDir, 0o700);
    if (typeof attacker === 'string') return;
    chownSync(h.configDir, attacker.uid, attacker.gid);
    assert.match(refusedReason(file, trust), /config\/vigil is owned by vigil-attacker, not by you or root/);
  });

  it('passes a sticky directory of root’s on the way (as /tmp), but not a sticky one of the user’s', () => {
    const v = victim as TestUser;
    const trust = trustOf(v);
    const dir = tmpDirOf(v, 0o700);
    const file = writeFileAs(v, join(dir, 'config.toml'), 'x = 1\n');
    assert.equal(statSync(tmpdir()).mode & 0o1777, 0o1777, 'the temp directory is sticky and open');
    assert.equal(readTrustedFile(file, trust).ok, true);
    chmodSync(dir, 0o1777);
    assert.match(refusedReason(file, trust), /is writable by group \S+ and others: chmod go-w/);
  });

  it('follows a symlink into the user’s dotfiles, as a dotfile manager makes it', () => {
    const h = home();
    const v = victim as TestUser;
    const dotfiles = mkdirAs(v, join(h.dir, 'dotfiles'));
    writeFileAs(v, join(dotfiles, 'vigil.toml'), 'interval = 7\n');
    const link = join(h.configDir, 'config.toml');
    symlinkSync('../../dotfiles/vigil.toml', link);
    if (v.uid !== process.getuid?.()) lchownSync(link, v.uid, v.gid);
    const read = readTrustedFile(link, trustOf(v));
    assert.ok(read.ok, read.ok ? '' : read.reason);
    assert.equal(read.text, 'interval = 7\n');
    assert.equal(read.realPath, realpathSync(join(dotfiles, 'vigil.toml')));
    // The same link into dotfiles that others can write is refused at the directory.
    chmodSync(dotfiles, 0o777);
    assert.match(refusedReason(link, trustOf(v)), /dotfiles is writable by group \S+ and others/);
  });

  it('refuses a symlink to another user’s file in /tmp, and a symlink another user owns', {
    skip: noAttacker,
  }, () => {
    const h = home();
    const v = victim as TestUser;
    const a = attacker as TestUser;
    const trust = trustOf(v);
    // A file the attacker made right in /tmp, and one in a directory of the attacker's there.
    const loose = join(tmpdir(), `vigil-trust-evil-${process.pid}.toml`);
    scratch.push(loose);
    writeFileAs(a, loose, '[general]\nmode = "auto"\n', 0o644);
    const theirs = tmpDirOf(a, 0o755);
    const inTheirs = writeFileAs(a, join(theirs, 'evil.toml'), '[general]\nmode = "auto"\n', 0o644);
    const toLoose = join(h.configDir, 'rules', 'loose.toml');
    symlinkSync(loose, toLoose);
    lchownSync(toLoose, v.uid, v.gid);
    assert.match(refusedReason(toLoose, trust), /vigil-trust-evil-\d+\.toml is owned by vigil-attacker/);
    const toTheirs = join(h.configDir, 'rules', 'theirs.toml');
    symlinkSync(inTheirs, toTheirs);
    lchownSync(toTheirs, v.uid, v.gid);
    assert.match(
      refusedReason(toTheirs, trust),
      /vigil-trust-\w+ is owned by vigil-attacker, not by you or root/,
    );
    // The attacker's own link, even to a file of the victim's.
    const mine = writeFileAs(v, join(h.configDir, 'mine.toml'), 'x = 1\n');
    const planted = join(h.configDir, 'rules', 'planted.toml');
    symlinkSync(mine, planted);
    lchownSync(planted, a.uid, a.gid);
    assert.match(
      refusedReason(planted, trust),
      /rules\/planted\.toml is a symbolic link owned by vigil-attacker, not by you or root: remove it$/,
    );
  });

  it('refuses a FIFO at once instead of waiting for a writer, and a symlink loop', () => {
    const h = home();
    const v = victim as TestUser;
    const fifo = join(h.configDir, 'config.toml');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    chownSync(fifo, v.uid, v.gid);
    assert.match(refusedReason(fifo, trustOf(v)), /config\.toml is a FIFO, not a regular file$/);
    const loop = join(h.configDir, 'kinds.toml');
    symlinkSync('kinds.toml', loop);
    lchownSync(loop, v.uid, v.gid);
    assert.match(refusedReason(loop, trustOf(v)), /too many symbolic links/);
  });

  it('says missing, not refused, for a file or a directory that is not there', () => {
    const h = home();
    const trust = trustOf(victim as TestUser);
    for (const path of [join(h.configDir, 'absent.toml'), join(h.configDir, 'nowhere', 'config.toml')]) {
      const read = readTrustedFile(path, trust);
      assert.equal(read.ok, false);
      assert.equal(read.ok ? null : read.why, 'missing');
    }
  });

  it('does not check the directories above the home on the way into it, but does on the way elsewhere', () => {
    const v = victim as TestUser;
    // An open, non-sticky directory holding a home and a directory beside it.
    const base = tmpDirOf(v, 0o777);
    const userHomeDir = mkdirAs(v, join(base, 'home'));
    const beside = mkdirAs(v, join(base, 'beside'));
    const trust: TrustContext = { uid: v.uid, home: realpathSync(userHomeDir) };
    const inHome = writeFileAs(v, join(userHomeDir, 'config.toml'), 'x = 1\n');
    const elsewhere = writeFileAs(v, join(beside, 'config.toml'), 'x = 1\n');
    assert.equal(readTrustedFile(inHome, trust).ok, true);
    assert.match(refusedReason(elsewhere, trust), /vigil-trust-\w+ is writable by group \S+ and others/);
  });

  it('lists a directory only when it can be trusted', () => {
    const h = home();
    const v = victim as TestUser;
    const rules = join(h.configDir, 'rules');
    writeFileAs(v, join(rules, 'mine.toml'), '');
    const listed = listTrustedDir(rules, trustOf(v));
    assert.deepEqual(listed.ok ? listed.names : listed.reason, ['mine.toml']);
    chmodSync(rules, 0o777);
    const open = listTrustedDir(rules, trustOf(v));
    assert.equal(open.ok, false);
    assert.match(open.ok ? '' : open.reason, /rules is writable by group \S+ and others: chmod go-w/);
  });
});

describe('a rename race between the check and the read', { skip: noVictim }, () => {
  it('never loads the other file’s content, while a check-then-read by path does', async () => {
    const v = victim as TestUser;
    const h = home();
    const live = join(h.configDir, 'config.toml');
    const good = '[general]\nmode = "observe"\n';
    const evil = '[general]\nmode = "auto"\nnvidia_smi = "/tmp/attacker"\n';
    writeFileAs(v, live, good);
    // Forever: a fresh file of the victim's renamed over the config, then one another user owns (or, run
    // as an ordinary user, one that others can write).
    const a = typeof attacker === 'string' ? null : attacker;
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs');
         const [live, good, evil, vu, vg, au, ag] = process.argv.slice(1);
         const put = (text, uid, gid, mode, tmp) => {
           fs.writeFileSync(tmp, text);
           if (Number(uid) >= 0) fs.chownSync(tmp, Number(uid), Number(gid));
           fs.chmodSync(tmp, mode);
           fs.renameSync(tmp, live);
         };
         for (;;) {
           put(good, vu, vg, 0o600, live + '.good');
           put(evil, au, ag, au === '-1' ? 0o666 : 0o644, live + '.evil');
         }`,
        live,
        good,
        evil,
        String(process.getuid?.() === 0 ? v.uid : -1),
        String(v.gid),
        String(a ? a.uid : -1),
        String(a ? a.gid : -1),
      ],
      { stdio: 'ignore' },
    );
    const trust = trustOf(v);
    const env = { XDG_CONFIG_HOME: join(h.dir, 'config') };
    const seen = { loaded: 0, refused: 0, evilLoaded: 0, naiveFooled: 0 };
    try {
      // Wait for the swapper to start (the first evil file).
      while (!readFileSync(live, 'utf8').includes('auto')) await new Promise((r) => setTimeout(r, 5));
      for (let i = 0; i < 20_000 && (seen.naiveFooled < 20 || seen.loaded + seen.refused < 2000); i++) {
        const loaded = loadConfig(undefined, env, { trust, warn: () => {} });
        if (loaded.refused) seen.refused++;
        else if (loaded.file) seen.loaded++;
        if (loaded.config.general.mode === 'auto' || loaded.config.general.nvidia_smi !== 'nvidia-smi')
          seen.evilLoaded++;
        // The check this replaces: stat the path, then read the path.
        const st = statSync(live);
        const trusted = (st.uid === v.uid || st.uid === 0) && (st.mode & 0o022) === 0;
        if (trusted && readFileSync(live, 'utf8').includes('auto')) seen.naiveFooled++;
      }
    } finally {
      swapper.kill('SIGKILL');
    }
    assert.ok(seen.loaded > 0 && seen.refused > 0, `both files were seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.naiveFooled > 0, `the swap raced a check-then-read: ${JSON.stringify(seen)}`);
    process.stdout.write(`# race: ${JSON.stringify(seen)}\n`);
    assert.equal(seen.evilLoaded, 0, `the other file's content was never loaded: ${JSON.stringify(seen)}`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
