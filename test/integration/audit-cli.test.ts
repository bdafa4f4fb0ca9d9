import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AuditLog, entryHash } from '../../src/store/audit-chain.js';
import { runVigil } from '../helpers/cli.js';
import { type DaemonHome, daemonHome } from '../helpers/daemon.js';

/**
 * `vigil` as a user runs it, with the audit, bundle and verify-bundle commands, which src/cli/main.ts does
 * not register yet: the built commands (dist/cli/audit.js, dist/cli/bundle.js) added to a program with
 * vigil's global options and exit statuses. Once main.ts registers them: `const vigil = runVigil;`.
 */
const vigil = runVigil;

const homes: DaemonHome[] = [];
after(() => {
  for (const h of homes) h.cleanup();
});
function home(): DaemonHome {
  const h = daemonHome();
  homes.push(h);
  return h;
}

/** A copy of `source`'s state (database and identity) in a new home, to tamper with. */
function copyOf(source: DaemonHome): DaemonHome {
  const h = home();
  cpSync(source.stateDir, h.stateDir, { recursive: true });
  return h;
}

function withDatabase<T>(h: DaemonHome, fn: (db: Database) => T): T {
  const db = new Database(join(h.stateDir, 'vigil.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('vigil audit', () => {
  let history: DaemonHome;
  let before0 = 0;

  before(() => {
    history = home();
    const run = runVigil(['run', '--once'], history.env);
    assert.equal(run.status, 0, run.stderr);
    // What the daemon appends as it raises, notifies and acts.
    withDatabase(history, (db) => {
      const log = new AuditLog(db);
      before0 = log.verify().entries;
      const now = Date.now();
      log.append(
        'alert_raised',
        { rule: 'ram_high', severity: 'high', summary: 'RAM 93% used' },
        now - 50_000,
      );
      log.append('notification', { channel: 'desktop', rule: 'ram_high' }, now - 49_000);
      log.append('action_proposed', { action: 'kill_process', pid: 4242, rule: 'ram_high' }, now - 48_000);
      log.append(
        'action_vetoed',
        { action: 'kill_process', pid: 4242, reason: 'vetoed by the user' },
        now - 47_000,
      );
      log.append('config_reload', { ok: true }, now - 46_000);
      log.append('alert_resolved', { rule: 'ram_high' }, now - 45_000);
    });
  });

  it('says there is no history yet, and exits 1, before the daemon ever ran', () => {
    const h = home();
    for (const args of [['audit'], ['audit', 'verify'], ['audit', 'export']]) {
      const run = vigil(args, h.env);
      assert.equal(run.status, 1, args.join(' '));
      assert.match(
        run.stderr,
        /no history yet \(.*vigil\.db does not exist\): start the daemon with vigil run/,
      );
    }
  });

  it('lists the entries of the window with their seq and kind, and says the chain is intact', () => {
    const run = vigil(['audit', '--since', '1h'], history.env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^time \(UTC\)\s+seq\s+kind\s+data$/m);
    assert.match(
      run.stdout,
      new RegExp(
        `\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+#${before0 + 1}\\s+alert_raised\\s+rule=ram_high severity=high summary="RAM 93% used"`,
      ),
    );
    assert.match(run.stdout, /action_vetoed\s+action=kill_process reason="vetoed by the user" pid=4242/);
    assert.match(run.stdout, new RegExp(`chain: ${before0 + 6} entries, chain intact\\n$`));
    const json = JSON.parse(vigil(['audit', '--since', '1h', '--json'], history.env).stdout);
    assert.equal(json.chain.ok, true);
    assert.deepEqual(
      json.entries.slice(-6).map((e: { kind: string }) => e.kind),
      ['alert_raised', 'notification', 'action_proposed', 'action_vetoed', 'config_reload', 'alert_resolved'],
    );
    assert.match(
      vigil(['audit', '--since', '1ms'], history.env).stdout,
      /^no audit entries since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/,
    );
  });

  it('verify exits 0 with the number of entries when the chain is intact', () => {
    const run = vigil(['audit', 'verify'], history.env);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `${before0 + 6} entries, chain intact\n`);
  });

  it('verify exits 1 naming the entry whose row was edited', () => {
    const h = copyOf(history);
    const seq = before0 + 3;
    withDatabase(h, (db) =>
      db.prepare("UPDATE audit SET data = replace(data, '4242', '4243') WHERE seq = ?").run(seq),
    );
    const run = vigil(['audit', 'verify'], h.env);
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr,
      `vigil: audit chain broken at seq ${seq}: its hash does not match its contents: the row was edited\n`,
    );
    assert.match(vigil(['audit', '--since', '1h'], h.env).stdout, new RegExp(`chain: BROKEN at seq ${seq}`));
  });

  it('verify exits 1 naming the entry after a deleted row', () => {
    const h = copyOf(history);
    const seq = before0 + 2;
    withDatabase(h, (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(seq));
    const run = vigil(['audit', 'verify'], h.env);
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `broken at seq ${seq + 1}: entry ${seq} is missing \\(deleted\\): seq jumps from ${seq - 1} to ${seq + 1}`,
      ),
    );
  });

  it('verify exits 1 naming a forged row inserted at the end with its own valid hash', () => {
    const h = copyOf(history);
    const last = before0 + 6;
    withDatabase(h, (db) => {
      const stale = db.prepare('SELECT hash FROM audit WHERE seq = ?').get(last - 1) as { hash: string };
      const forged = {
        seq: last + 1,
        at: Date.now(),
        kind: 'action_finished',
        dataJson: '{"outcome":"success"}',
      };
      db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(
        forged.seq,
        forged.at,
        forged.kind,
        forged.dataJson,
        stale.hash,
        entryHash({ ...forged, prevHash: stale.hash }),
      );
    });
    const run = vigil(['audit', 'verify', '--json'], h.env);
    assert.equal(run.status, 1);
    const verdict = JSON.parse(run.stdout);
    assert.equal(verdict.ok, false);
    assert.equal(verdict.seq, last + 1);
    assert.match(verdict.reason, new RegExp(`prev_hash does not match the hash of entry ${last}`));
  });

  it('exports the window as JSON, and with --sign as a bundle that verify-bundle accepts until it is altered', () => {
    const plain = vigil(['audit', 'export', '--since', '1h'], history.env);
    assert.equal(plain.status, 0, plain.stderr);
    const doc = JSON.parse(plain.stdout);
    assert.equal(doc.chain.ok, true);
    assert.equal(doc.entries.at(-1).kind, 'alert_resolved');

    const out = join(history.dir, 'audit.tar.gz');
    const signed = vigil(['audit', 'export', '--since', '1h', '--sign', '-o', out], history.env);
    assert.equal(signed.status, 0, signed.stderr);
    assert.match(
      signed.stdout,
      /^signed audit export written to .*audit\.tar\.gz \(\d+ entries, [\d.]+ (B|KiB)\)\nsigned by SHA256:/,
    );
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(statSync(join(history.stateDir, 'identity.key')).mode & 0o777, 0o600);
    const check = vigil(['verify-bundle', out], history.env);
    assert.equal(check.status, 0, check.stderr);
    assert.match(
      check.stdout,
      /^bundle intact: audit log export, 2 files, made .* by vigil \S+\nsigned by SHA256:\S+ \(this machine's identity\)\n$/,
    );

    // A changed entry, with the bundle re-packed by hand.
    const dir = join(history.dir, 'audit-extracted');
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', out, '-C', dir, '--strip-components=1']);
    const audit = readFileSync(join(dir, 'audit.json'), 'utf8');
    writeFileSync(join(dir, 'audit.json'), audit.replace('"pid": 4242', '"pid": 1'));
    const tampered = vigil(['verify-bundle', dir], history.env);
    assert.equal(tampered.status, 1);
    assert.match(
      tampered.stderr,
      /the bundle does not verify:\n {2}audit\.json was modified: its SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}\n/,
    );
  });
});
