import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { verifyBundle } from '../../src/audit/bundle.js';
import { signReport } from '../../src/cli/bundle.js';
import { buildReport } from '../../src/report/build.js';
import { AuditLog } from '../../src/store/audit-chain.js';
import { openStore } from '../../src/store/store.js';
import { runVigil, type VigilRun } from '../helpers/cli.js';
import { type DaemonHome, daemonHome } from '../helpers/daemon.js';
import { cmdlineOf, killAll, stateOf, waitUntil } from '../helpers/procs.js';

/**
 * `vigil` as a user runs it, with the audit, bundle and verify-bundle commands, which src/cli/main.ts does
 * not register yet: the built commands (dist/cli/audit.js, dist/cli/bundle.js) added to a program with
 * vigil's global options and exit statuses. Once main.ts registers them: `const vigil = runVigil;`.
 */
const vigil = runVigil;

/** The secrets planted on this machine; none may appear in a bundle. */
const CMDLINE_SECRET = 'sk-ant-api03-SECRETSECRETSECRET';
const WEBHOOK_TOKEN = 'WEBHOOKSECRETTOKEN0123456789';
const QUERY_SECRET = 'querysecret4567';
const ALERTMANAGER_PASSWORD = 'hunter2hunter2';
const SECRETS = [CMDLINE_SECRET, 'SECRETSECRETSECRET', WEBHOOK_TOKEN, QUERY_SECRET, ALERTMANAGER_PASSWORD];

/**
 * Three identical python processes with an API key on their command line, orphaned the way an agent
 * CLI's MCP servers are (their node parent exits, leaving them a pipe on stdin), so the daemon flags them
 * as a ghost storm and keeps them, cmdline and all, in its history.
 */
function spawnSecretHolders(count: number): number[] {
  const script = `
    const { spawn } = require('node:child_process');
    const pids = [];
    for (let i = 0; i < ${count}; i++) {
      const child = spawn('python3', ['-c', 'import time; time.sleep(60)', '--api-key', ${JSON.stringify(CMDLINE_SECRET)}], { stdio: ['pipe', 'ignore', 'ignore'] });
      pids.push(child.pid);
    }
    setTimeout(() => { process.stdout.write(pids.join(' ')); process.exit(0); }, 300);
  `;
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim().split(' ').map(Number);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

function extract(archive: string, into: string): string {
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', archive, '-C', into]);
  const [top] = readdirSync(into);
  return join(into, top!);
}

const started = new Set<number>();
let h: DaemonHome;
let bundlePath: string;
let extracted: string;
let bundleRun: VigilRun;

before(async () => {
  h = daemonHome();
  writeFileSync(
    join(h.configDir, 'config.toml'),
    [
      '# the hook we used before: https://hooks.example.com/old/OLDCOMMENTEDSECRET',
      '[thresholds]',
      'max_duplicate_processes = 2',
      'ghost_storm_min_ram_percent = 0.0',
      '',
      '[notifications]',
      `webhook_url = "http://127.0.0.1:9/hooks/T0001/B0002/${WEBHOOK_TOKEN}?token=${QUERY_SECRET}"`,
      `alertmanager_url = "http://vigil:${ALERTMANAGER_PASSWORD}@127.0.0.1:9/"`,
      '',
    ].join('\n'),
  );
  const pids = spawnSecretHolders(3);
  for (const pid of pids) started.add(pid);
  await waitUntil(
    () => pids.every((pid) => stateOf(pid) !== null && cmdlineOf(pid).includes(CMDLINE_SECRET)),
    'the processes holding a secret',
  );
  const run = runVigil(['run', '--once'], h.env, 60_000);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /ghost_process_storm/, 'the daemon saw the processes holding the secret');
  // What the daemon appends when it notifies through the webhook.
  const db = new Database(join(h.stateDir, 'vigil.db'));
  new AuditLog(db).append('notification', {
    channel: 'webhook',
    url: `http://127.0.0.1:9/hooks/T0001/B0002/${WEBHOOK_TOKEN}?token=${QUERY_SECRET}`,
    rule: 'ghost_process_storm',
  });
  db.close();
  bundlePath = join(h.dir, 'support.tar.gz');
  bundleRun = vigil(['bundle', '--since', '1h', '-o', bundlePath], h.env);
  extracted = extract(bundlePath, join(h.dir, 'extracted'));
});

after(() => {
  killAll(started);
  h?.cleanup();
});

describe('vigil bundle', () => {
  it('writes a signed .tar.gz readable by you alone, naming its signer', () => {
    assert.equal(bundleRun.status, 0, bundleRun.stderr);
    assert.match(
      bundleRun.stdout,
      /^support bundle written to .*support\.tar\.gz \(9 files, [\d.]+ KiB\)\nsigned by SHA256:[A-Za-z0-9+/]{43}; check it with: vigil verify-bundle /,
    );
    assert.equal(statSync(bundlePath).mode & 0o777, 0o600);
    assert.equal(statSync(join(h.stateDir, 'identity.key')).mode & 0o777, 0o600);
  });

  it('opens with tar into one directory holding the report, history, health, config, audit and manifest', () => {
    assert.match(extracted, /support$/);
    assert.deepEqual(readdirSync(extracted).sort(), [
      'README.txt',
      'actions.json',
      'alerts.json',
      'audit.json',
      'config.toml',
      'health.json',
      'manifest.json',
      'manifest.sig',
      'report.json',
      'report.md',
      'snapshots.json',
    ]);
    const read = (name: string) => readFileSync(join(extracted, name), 'utf8');
    assert.match(read('report.md'), /^# vigil report: /);
    assert.match(read('report.md'), /ghost_process_storm/);
    const alerts = JSON.parse(read('alerts.json')).alerts;
    assert.ok(alerts.some((a: { rule: string }) => a.rule === 'ghost_process_storm'));
    // The report is the one `vigil report` gives for the window: the same alerts, offenders and actions
    // (the bundle masks a little more text: `<secret>` placeholders become ‹redacted›).
    const report = JSON.parse(read('report.json'));
    const direct = JSON.parse(runVigil(['report', '--since', '1h', '--json'], h.env).stdout);
    const shape = (r: typeof report) => ({
      alerts: r.alerts.map((a: Record<string, unknown>) => [a['id'], a['rule'], a['severity'], a['pids']]),
      offenders: r.topByPeakMemory.map((o: Record<string, unknown>) => [o['peakRssBytes'], o['processes']]),
      kinds: r.byKind.map((o: Record<string, unknown>) => [o['key'], o['peakRssBytes']]),
      actions: r.actions.length,
      advice: r.alerts.filter((a: Record<string, unknown>) => a['advice']).length,
    });
    assert.deepEqual(shape(report), shape(direct));
    assert.ok(report.alerts.length > 0 && report.topByPeakMemory.length > 0);
    // The newest snapshots keep their processes whole: the secret holders, with the secret masked.
    const { snapshots } = JSON.parse(read('snapshots.json'));
    assert.ok(
      snapshots.at(-1).processes.some((p: { cmdline: string }) => p.cmdline.includes('--api-key ‹redacted›')),
      'the last snapshot lists the secret holders',
    );
    assert.equal(typeof JSON.parse(read('health.json')).healthy, 'boolean');
    assert.ok(Array.isArray(JSON.parse(read('actions.json')).actions));
    const audit = JSON.parse(read('audit.json'));
    assert.equal(audit.chain.ok, true);
    assert.ok(audit.entries.some((e: { kind: string }) => e.kind === 'notification'));
    const manifest = JSON.parse(read('manifest.json'));
    assert.equal(manifest.kind, 'support');
    assert.equal(manifest.vigilVersion, JSON.parse(readFileSync('package.json', 'utf8')).version);
    assert.match(manifest.signer.publicKey, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(Object.keys(manifest.files).length, 9);
  });

  it('holds none of the secrets, though the processes and the webhook are in it with their secrets masked', () => {
    for (const file of filesUnder(extracted)) {
      const text = readFileSync(file, 'utf8');
      for (const secret of [...SECRETS, 'OLDCOMMENTEDSECRET'])
        assert.ok(!text.includes(secret), `${secret} found in ${file}`);
    }
    const whole = gunzipSync(readFileSync(bundlePath)).toString('utf8');
    for (const secret of SECRETS) assert.ok(!whole.includes(secret), `${secret} found in the archive`);
    // The secrets were there to leak: the processes are in the history, the hook in the config and audit.
    assert.match(readFileSync(join(extracted, 'snapshots.json'), 'utf8'), /--api-key ‹redacted›/);
    const config = readFileSync(join(extracted, 'config.toml'), 'utf8');
    assert.match(
      config,
      /webhook_url = "http:\/\/127\.0\.0\.1:9\/hooks\/‹redacted›\/‹redacted›\/‹redacted›\?token=‹redacted›"/,
    );
    assert.match(config, /alertmanager_url = "http:\/\/‹redacted›@127\.0\.0\.1:9\/"/);
    assert.match(config, /max_duplicate_processes = 2/);
    assert.match(
      readFileSync(join(extracted, 'audit.json'), 'utf8'),
      /"url": "http:\/\/127\.0\.0\.1:9\/hooks\/‹redacted›/,
    );
  });

  it('says there is no history yet, and exits 1, before the daemon ever ran', () => {
    const fresh = daemonHome();
    try {
      const run = vigil(['bundle'], fresh.env);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /no history yet/);
    } finally {
      fresh.cleanup();
    }
  });
});

describe('vigil verify-bundle', () => {
  it('accepts the bundle as written and as extracted, saying it is this machine’s identity', () => {
    for (const target of [bundlePath, extracted]) {
      const run = vigil(['verify-bundle', target], h.env);
      assert.equal(run.status, 0, run.stderr);
      assert.match(
        run.stdout,
        /^bundle intact: support bundle, 9 files, made \S+ on \S+ by vigil \S+\nsigned by SHA256:\S+ \(this machine's identity\)\n$/,
      );
    }
  });

  it('is checkable without vigil: the signature verifies with OpenSSL, as README.txt says', (t) => {
    const version = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (version.status !== 0 || !/^OpenSSL 3/.test(version.stdout)) {
      t.skip('needs OpenSSL 3 (Debian package openssl)');
      return;
    }
    const manifest = JSON.parse(readFileSync(join(extracted, 'manifest.json'), 'utf8'));
    const pem = join(h.dir, 'signer.pem');
    const sig = join(h.dir, 'manifest.sig.bin');
    writeFileSync(pem, manifest.signer.publicKey);
    writeFileSync(sig, Buffer.from(readFileSync(join(extracted, 'manifest.sig'), 'utf8'), 'base64'));
    const check = spawnSync(
      'openssl',
      [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        pem,
        '-rawin',
        '-in',
        join(extracted, 'manifest.json'),
        '-sigfile',
        sig,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /Signature Verified Successfully/);
  });

  it('fails naming a file that was changed, in the directory and re-packed with tar', () => {
    const copy = extract(bundlePath, join(h.dir, 'tampered'));
    appendFileSync(join(copy, 'report.md'), '\nNothing to see here.\n');
    const repacked = join(h.dir, 'tampered.tar.gz');
    execFileSync('tar', ['-czf', repacked, '-C', join(h.dir, 'tampered'), 'support']);
    for (const target of [copy, repacked]) {
      const run = vigil(['verify-bundle', target], h.env);
      assert.equal(run.status, 1);
      assert.match(
        run.stderr,
        /the bundle does not verify:\n {2}report\.md was modified: its SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}\n$/,
      );
    }
  });

  it('fails naming a file removed, a file added, and a manifest altered', () => {
    const copy = extract(bundlePath, join(h.dir, 'tampered2'));
    unlinkSync(join(copy, 'health.json'));
    writeFileSync(join(copy, 'notes.txt'), 'added later');
    const run = vigil(['verify-bundle', copy], h.env);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /health\.json is listed in the manifest but missing from the bundle/);
    assert.match(run.stderr, /notes\.txt is not in the manifest: it was added after signing/);

    const manifestPath = join(copy, 'manifest.json');
    writeFileSync(manifestPath, readFileSync(manifestPath, 'utf8').replace('"support bundle"', '"all fine"'));
    assert.match(
      vigil(['verify-bundle', copy], h.env).stderr,
      /manifest\.sig does not match manifest\.json: the manifest was changed after it was signed/,
    );
  });

  it('fails when the signer is not the one expected, and on a file that is no bundle', () => {
    const other = vigil(['verify-bundle', bundlePath, '--fingerprint', 'SHA256:someoneelse'], h.env);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /signed by SHA256:\S+, not by the expected SHA256:someoneelse/);
    const junk = join(h.dir, 'junk.tar.gz');
    writeFileSync(junk, 'not an archive at all');
    const bad = vigil(['verify-bundle', junk], h.env);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /junk\.tar\.gz: not a tar archive/);
    assert.match(
      vigil(['verify-bundle', join(h.dir, 'nothing.tar.gz')], h.env).stderr,
      /nothing\.tar\.gz: no such file/,
    );
  });
});

describe('signReport (vigil report --sign)', () => {
  it('writes the report as an evidence bundle that verifies', async () => {
    const store = openStore(join(h.stateDir, 'vigil.db'), { log: () => {} });
    const to = Date.now();
    const from = to - 3_600_000;
    const report = buildReport({
      from,
      to,
      alerts: store.alertsBetween(from, to),
      snapshots: store.snapshotsBetween(from, to),
      runs: store.runsBetween(from, to),
      snapshotIntervalMs: 60_000,
    });
    store.close();
    const out = join(h.dir, 'reports');
    mkdirSync(out);
    const written = await signReport(report, { output: out, stateDirectory: h.stateDir });
    assert.match(written.path, /reports\/vigil-report-.*-\d{8}T\d{6}Z\.tar\.gz$/);
    assert.deepEqual(Object.keys(written.manifest.files), ['README.txt', 'report.md', 'report.json']);
    const verdict = verifyBundle(written.path);
    assert.deepEqual(verdict.problems, []);
    assert.equal(verdict.manifest?.kind, 'evidence');
    assert.equal(verdict.fingerprint, written.manifest.signer.fingerprint);
    assert.ok(!gunzipSync(readFileSync(written.path)).toString('utf8').includes(CMDLINE_SECRET));
  });
});
