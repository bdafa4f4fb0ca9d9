import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadOrCreateIdentity, verifySignature } from '../../src/audit/identity.js';
import { maskUrl, sanitizeConfigToml } from '../../src/redact/data.js';
import {
  AUDIT_KINDS,
  AuditLog,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  verifyEntries,
} from '../../src/store/audit-chain.js';
import { openStore } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
let made = 0;

/** A real history database (all migrations) with `count` audit entries, one a minute from T0. */
function chainOf(count: number) {
  const path = join(dir, `chain${made++}`, 'vigil.db');
  const store = openStore(path, { log: () => {} });
  const db = store.raw()!;
  const log = new AuditLog(db);
  for (let i = 0; i < count; i++) {
    log.append(AUDIT_KINDS[i % AUDIT_KINDS.length]!, { n: i, summary: `entry number ${i}` }, T0 + i * 60_000);
  }
  const row = (seq: number) =>
    db.prepare('SELECT seq, at, kind, data, prev_hash, hash FROM audit WHERE seq = ?').get(seq) as {
      seq: number;
      at: number;
      kind: string;
      data: string;
      prev_hash: string;
      hash: string;
    };
  return { store, db, log, row };
}

describe('the audit hash chain', () => {
  it('verifies a chain of twelve entries of every kind, each linked to the one before it', () => {
    const { store, log } = chainOf(12);
    const verdict = log.verify();
    assert.equal(verdict.ok, true);
    assert.equal(verdict.entries, 12);
    const entries = log.list();
    assert.equal(entries.length, 12);
    assert.equal(entries[0]!.prevHash, GENESIS_HASH);
    for (let i = 1; i < entries.length; i++) assert.equal(entries[i]!.prevHash, entries[i - 1]!.hash);
    assert.deepEqual(verdict.ok && verdict.head, { seq: 12, hash: entries[11]!.hash });
    assert.deepEqual(entries.map((e) => e.kind).slice(0, 10), [...AUDIT_KINDS]);
    store.close();
  });

  it('says a database from before the audit table must be upgraded by the daemon', () => {
    const db = new Database(join(dir, 'old.db'));
    db.exec('CREATE TABLE snapshots (taken_at INTEGER PRIMARY KEY)');
    assert.throws(
      () => new AuditLog(db),
      /old\.db has no audit table: it was written by an older vigil; run the daemon once/,
    );
    db.close();
  });

  it('an empty chain verifies with zero entries', () => {
    const { store, log } = chainOf(0);
    assert.deepEqual(log.verify(), { ok: true, entries: 0, head: null });
    store.close();
  });

  it('catches a row whose data was edited, naming its seq', () => {
    const { store, db, log } = chainOf(10);
    db.prepare(
      "UPDATE audit SET data = replace(data, 'entry number 5', 'nothing happened') WHERE seq = 6",
    ).run();
    const verdict = log.verify();
    assert.equal(verdict.ok, false);
    assert.equal(!verdict.ok && verdict.seq, 6);
    assert.match(!verdict.ok ? verdict.reason : '', /hash does not match its contents: the row was edited/);
    store.close();
  });

  it('catches an edited time or kind, and data re-serialised with spaces', () => {
    for (const edit of [
      'UPDATE audit SET at = at + 1 WHERE seq = 3',
      "UPDATE audit SET kind = 'policy_refusal' WHERE seq = 3",
      `UPDATE audit SET data = '{"n": 2, "summary": "entry number 2"}' WHERE seq = 3`,
    ]) {
      const { store, db, log } = chainOf(5);
      db.prepare(edit).run();
      const verdict = log.verify();
      assert.equal(!verdict.ok && verdict.seq, 3, edit);
      store.close();
    }
  });

  it('catches a deleted row at the entry after the gap', () => {
    const { store, db, log } = chainOf(10);
    db.prepare('DELETE FROM audit WHERE seq = 4').run();
    const verdict = log.verify();
    assert.equal(!verdict.ok && verdict.seq, 5);
    assert.match(!verdict.ok ? verdict.reason : '', /entry 4 is missing \(deleted\): seq jumps from 3 to 5/);
    assert.equal(verdict.entries, 3);
    store.close();
  });

  it('catches the first rows deleted', () => {
    const { store, db, log } = chainOf(6);
    db.prepare('DELETE FROM audit WHERE seq <= 2').run();
    const verdict = log.verify();
    assert.equal(!verdict.ok && verdict.seq, 3);
    assert.match(!verdict.ok ? verdict.reason : '', /the chain starts at seq 3: entries 1–2 are missing/);
    store.close();
  });

  it('catches a forged row appended with a self-consistent hash but the wrong prev link', () => {
    const { store, db, log, row } = chainOf(10);
    const forged = {
      seq: 11,
      at: T0 + 3_600_000,
      kind: 'action_finished',
      dataJson: '{"outcome":"success"}',
    };
    const prevHash = row(9).hash; // not entry 10's
    db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(
      forged.seq,
      forged.at,
      forged.kind,
      forged.dataJson,
      prevHash,
      entryHash({ ...forged, prevHash }),
    );
    const verdict = log.verify();
    assert.equal(!verdict.ok && verdict.seq, 11);
    assert.match(!verdict.ok ? verdict.reason : '', /prev_hash does not match the hash of entry 10/);
    store.close();
  });

  it('catches a forged row slipped into the middle, however well it is chained itself', () => {
    const { store, db, log, row } = chainOf(10);
    // Make room at seq 6 and forge an entry there that links correctly to entry 5.
    db.prepare('UPDATE audit SET seq = seq + 1000 WHERE seq >= 6').run();
    db.prepare('UPDATE audit SET seq = seq - 999 WHERE seq >= 1000').run();
    const forged = { seq: 6, at: T0 + 5 * 60_000 + 1, kind: 'action_vetoed', dataJson: '{"by":"user"}' };
    const prevHash = row(5).hash;
    db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(
      forged.seq,
      forged.at,
      forged.kind,
      forged.dataJson,
      prevHash,
      entryHash({ ...forged, prevHash }),
    );
    const verdict = log.verify();
    assert.equal(!verdict.ok && verdict.seq, 7, JSON.stringify(verdict));
    assert.match(!verdict.ok ? verdict.reason : '', /prev_hash does not match the hash of entry 6/);
    store.close();
  });

  it('catches a row inserted before the first entry', () => {
    const { store, db, log } = chainOf(3);
    const forged = { seq: 0, at: T0 - 1, kind: 'config_reload', dataJson: '{}', prevHash: GENESIS_HASH };
    db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(
      forged.seq,
      forged.at,
      forged.kind,
      forged.dataJson,
      forged.prevHash,
      entryHash(forged),
    );
    const verdict = log.verify();
    assert.equal(!verdict.ok && verdict.seq, 0);
    store.close();
  });

  it('catches two rows swapped, by content or by seq', () => {
    {
      const { store, db, log } = chainOf(6);
      db.prepare(`UPDATE audit SET (at, kind, data, prev_hash, hash) =
        (SELECT at, kind, data, prev_hash, hash FROM audit AS o WHERE o.seq = 7 - audit.seq) WHERE seq IN (3, 4)`).run();
      const verdict = log.verify();
      assert.equal(!verdict.ok && verdict.seq, 3);
      store.close();
    }
    {
      const { store, db, log } = chainOf(6);
      db.prepare('UPDATE audit SET seq = -seq WHERE seq IN (3, 4)').run();
      db.prepare('UPDATE audit SET seq = 7 + seq WHERE seq IN (-3, -4)').run();
      const verdict = log.verify();
      assert.equal(!verdict.ok && verdict.seq, 3);
      assert.match(!verdict.ok ? verdict.reason : '', /prev_hash does not match the hash of entry 2/);
      store.close();
    }
  });

  it('appends inside the caller’s transaction, and rolls back with it', () => {
    const { store, log } = chainOf(2);
    store.batch(() => {
      log.append('alert_raised', { rule: 'ram_high' }, T0 + 10);
      log.append('notification', { channel: 'desktop' }, T0 + 11);
    });
    assert.throws(() =>
      store.batch(() => {
        log.append('alert_resolved', { rule: 'ram_high' }, T0 + 12);
        throw new Error('the cycle failed');
      }),
    );
    const next = log.append('config_reload', { ok: true }, T0 + 13);
    assert.equal(next.seq, 5);
    assert.deepEqual(log.verify(), { ok: true, entries: 5, head: { seq: 5, hash: next.hash } });
    store.close();
  });

  it('keeps one chain when two connections append in turn', () => {
    const { store, db, log } = chainOf(1);
    const other = new Database(db.name);
    const otherLog = new AuditLog(other);
    for (let i = 0; i < 20; i++) (i % 2 === 0 ? log : otherLog).append('ai_call', { i }, T0 + i);
    assert.deepEqual(
      otherLog.verify().ok && log.verify().ok && [log.verify().entries, otherLog.verify().entries],
      [21, 21],
    );
    other.close();
    store.close();
  });

  it('lists a window oldest first, and only the newest with a limit', () => {
    const { store, log } = chainOf(10);
    const window = log.list({ since: T0 + 2 * 60_000, until: T0 + 5 * 60_000 });
    assert.deepEqual(
      window.map((e) => e.seq),
      [3, 4, 5, 6],
    );
    assert.deepEqual(
      log.list({ limit: 3 }).map((e) => e.seq),
      [8, 9, 10],
    );
    assert.deepEqual(window[0]!.data, { n: 2, summary: 'entry number 2' });
    store.close();
  });

  it('re-checks an exported slice of the chain on its own', () => {
    const { store, log } = chainOf(8);
    const slice = log.slice({ since: T0 + 3 * 60_000 });
    assert.equal(verifyEntries(slice, { fromGenesis: false }).ok, true);
    assert.equal(verifyEntries(slice).ok, false, 'a slice does not start at the genesis');
    const edited = slice.map((e) => (e.seq === 6 ? { ...e, data: { ...e.data, n: 99 } } : e));
    assert.deepEqual(verifyEntries(edited, { fromGenesis: false }), {
      ok: false,
      seq: 6,
      reason: 'its hash does not match its contents: the row was edited',
      entries: 2,
    });
    store.close();
  });
});

describe('canonical JSON', () => {
  it('gives the same text whatever order the keys were built in, with no whitespace', () => {
    const a = { b: 1, a: { d: [1, { y: 2, x: 1 }], c: null }, s: 'é "q"' };
    const b = { s: 'é "q"', a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1,"s":"é \\"q\\""}');
  });

  it('makes entries appended with keys in another order hash alike', () => {
    const one = chainOf(0);
    const two = chainOf(0);
    const x = one.log.append(
      'action_proposed',
      { action: 'kill_process', pid: 4242, plan: { b: 2, a: 1 } },
      T0,
    );
    const y = two.log.append(
      'action_proposed',
      { plan: { a: 1, b: 2 }, pid: 4242, action: 'kill_process' },
      T0,
    );
    assert.equal(x.hash, y.hash);
    assert.equal(one.row(1).data, '{"action":"kill_process","pid":4242,"plan":{"a":1,"b":2}}');
    one.store.close();
    two.store.close();
  });

  it('leaves out undefined members and writes non-finite numbers as null, as JSON does', () => {
    assert.equal(
      canonicalJson({ a: undefined, b: [undefined, Number.NaN], c: 1.5 }),
      '{"b":[null,null],"c":1.5}',
    );
    assert.throws(() => canonicalJson(10n), /cannot represent a bigint/);
  });
});

describe('redaction of appended data', () => {
  it('masks secrets in strings, values under key-like names and URL credentials before they are stored', () => {
    const { store, log, row } = chainOf(0);
    const entry = log.append('ai_call', {
      cmdline: 'python3 server.py --api-key sk-ant-api03-SECRETSECRETSECRET --port 80',
      nested: { api_key: 'plainvalue123', list: ['GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123'] },
      webhook: 'https://hooks.slack.com/services/T0AB12CD3/B0AB12CD3/WEBHOOKSECRET0000?token=QUERYSECRET',
      inputTokens: 1234,
      model: 'claude-sonnet-4-5',
    });
    const stored = row(1).data;
    for (const secret of ['SECRETSECRETSECRET', 'plainvalue123', 'ghp_abc', 'WEBHOOKSECRET', 'QUERYSECRET']) {
      assert.ok(!stored.includes(secret), `${secret} in ${stored}`);
    }
    assert.equal(entry.data['cmdline'], 'python3 server.py --api-key ‹redacted› --port 80');
    assert.deepEqual(entry.data['nested'], { api_key: '‹redacted›', list: ['GITHUB_TOKEN=‹redacted›'] });
    assert.equal(
      entry.data['webhook'],
      'https://hooks.slack.com/services/‹redacted›/‹redacted›/‹redacted›?token=‹redacted›',
    );
    assert.equal(entry.data['inputTokens'], 1234, 'numbers are kept, even under a key-like name');
    assert.equal(entry.data['model'], 'claude-sonnet-4-5');
    assert.equal(log.verify().ok, true);
    store.close();
  });

  it('masks URL user info, token-like path segments and every query value, keeping host and plain words', () => {
    assert.equal(
      maskUrl('https://admin:hunter2@am.example.com:9093/api/v2/alerts?apikey=abc&x=1#frag'),
      'https://‹redacted›@am.example.com:9093/api/v2/alerts?apikey=‹redacted›&x=‹redacted›#‹redacted›',
    );
    assert.equal(
      maskUrl('https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789'),
      'https://discord.com/api/webhooks/‹redacted›/‹redacted›',
    );
  });

  it('shows the configuration with every key and no secret value, comments dropped', () => {
    const toml = [
      '# old hook: https://hooks.slack.com/services/T1/B1/COMMENTSECRET',
      '[notifications]',
      'webhook_url = "https://hooks.example.com/hook/XYZSECRETTOKEN123?token=querysecret"',
      'alertmanager_url = "https://bob:pa55word@am.example.com/"',
      'min_severity = "high"',
      '[ai]',
      'api_key_env = "ANTHROPIC_API_KEY"',
      'max_tokens = 2048',
      'base_url = "https://proxy.example.com/v1?key=sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ"',
      '[ai.pasted]',
      'api_key_env = "sk-ant-api03-PASTEDKEYINSTEADOFNAME0123456789"',
    ].join('\n');
    const shown = sanitizeConfigToml(toml);
    assert.ok(
      !shown.includes('PASTEDKEY'),
      `a key pasted where its variable's name goes is masked:\n${shown}`,
    );
    for (const secret of ['COMMENTSECRET', 'XYZSECRETTOKEN123', 'querysecret', 'pa55word', 'sk-proj-']) {
      assert.ok(!shown.includes(secret), `${secret} in:\n${shown}`);
    }
    for (const kept of [
      'webhook_url = "https://hooks.example.com/hook/‹redacted›?token=‹redacted›"',
      'alertmanager_url = "https://‹redacted›@am.example.com/"',
      'min_severity = "high"',
      // The name of the variable that holds the key, not the key: shown, so support can tell what was set.
      'api_key_env = "ANTHROPIC_API_KEY"',
      'max_tokens = 2048',
      'base_url = "https://proxy.example.com/v1?key=‹redacted›"',
    ]) {
      assert.ok(shown.includes(kept), `${kept} missing from:\n${shown}`);
    }
  });

  it('masks a configuration that does not parse line by line', () => {
    const shown = sanitizeConfigToml(
      '[notifications\nwebhook_url = "https://h.example.com/x/TOKEN1234567890abc"\nwebhook_token = plain # note secret\n',
    );
    assert.ok(
      !shown.includes('TOKEN1234567890abc') && !shown.includes('plain') && !shown.includes('note'),
      shown,
    );
    assert.match(shown, /webhook_token = "‹redacted›"/);
  });
});

describe('the signing identity', () => {
  it('is created on first use with the private key readable by its owner alone, and reused after', () => {
    const state = join(dir, 'identity-new', 'vigil');
    const first = loadOrCreateIdentity(state);
    assert.equal(statSync(join(state, 'identity.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(state, 'identity.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(readFileSync(join(state, 'identity.pub'), 'utf8'), first.publicKeyPem);
    assert.match(first.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    const second = loadOrCreateIdentity(state);
    assert.equal(second.fingerprint, first.fingerprint);
    assert.equal(second.publicKeyPem, first.publicKeyPem);
  });

  it('refuses a private key others can read, as ssh does, saying how to fix it', () => {
    const state = join(dir, 'identity-open');
    loadOrCreateIdentity(state);
    chmodSync(join(state, 'identity.key'), 0o644);
    assert.throws(
      () => loadOrCreateIdentity(state),
      /identity\.key has mode 0644: it must be readable by you alone; run chmod 600 /,
    );
    chmodSync(join(state, 'identity.key'), 0o600);
    assert.ok(loadOrCreateIdentity(state).fingerprint.startsWith('SHA256:'));
  });

  it('signs so that the signature verifies, and a flipped byte in the data or the signature does not', () => {
    const identity = loadOrCreateIdentity(join(dir, 'identity-sign'));
    const data = Buffer.from('{"files":{"report.md":"abc"}}');
    const signature = identity.sign(data);
    assert.equal(signature.length, 64);
    assert.equal(verifySignature(identity.publicKeyPem, data, signature), true);
    const flippedData = Buffer.from(data);
    flippedData[3]! ^= 1;
    assert.equal(verifySignature(identity.publicKeyPem, flippedData, signature), false);
    const flippedSignature = Buffer.from(signature);
    flippedSignature[10]! ^= 0x80;
    assert.equal(verifySignature(identity.publicKeyPem, data, flippedSignature), false);
    const stranger = loadOrCreateIdentity(join(dir, 'identity-stranger'));
    assert.equal(verifySignature(stranger.publicKeyPem, data, signature), false);
    assert.equal(verifySignature('not a key', data, signature), false);
  });
});
