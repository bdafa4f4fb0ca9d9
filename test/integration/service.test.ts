import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';

/**
 * `vigil service` as a user runs it (build first: npm run build). Without a user bus it must print the
 * systemctl commands; with one it must run them — here a stand-in `systemctl` on PATH that records its
 * argv, since a container has no user manager to talk to.
 */
describe('vigil service', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-service-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function home(name: string) {
    const root = join(dir, name);
    const runtime = join(root, 'run');
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    const env = {
      XDG_CONFIG_HOME: join(root, 'config'),
      XDG_STATE_HOME: join(root, 'state'),
      XDG_RUNTIME_DIR: runtime,
      VIGIL_RUNTIME_DIR: join(runtime, 'vigil'),
      VIGIL_STATE_DIR: '',
      VIGIL_CONFIG: '',
      DBUS_SESSION_BUS_ADDRESS: '',
    };
    return { root, env, unit: join(root, 'config', 'systemd', 'user', 'vigil.service') };
  }

  it('--dry-run prints the unit and writes nothing', () => {
    const h = home('dry');
    const run = runVigil(['service', 'install', '--dry-run', '--mode', 'suggest'], h.env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\[Service\]$/m);
    assert.ok(run.stdout.includes(`--max-semi-space-size=1 ${VIGIL_BIN} run --mode suggest`));
    assert.equal(existsSync(h.unit), false);
  });

  it('without a user bus writes the unit and prints the systemctl commands to run', () => {
    const h = home('nobus');
    const install = runVigil(['service', 'install', '--now'], h.env);
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stdout, /no user bus/);
    assert.match(install.stdout, /systemctl --user daemon-reload/);
    assert.match(install.stdout, /systemctl --user enable --now vigil\.service/);
    assert.match(readFileSync(h.unit, 'utf8'), new RegExp(`^ExecStart=${process.execPath} `, 'm'));
    assert.ok(existsSync(join(h.root, 'state', 'vigil')), 'the state directory exists for the sandbox');

    const status = runVigil(['service', 'status', '--json'], h.env);
    assert.equal(status.status, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as {
      installed: boolean;
      manager: unknown;
      daemon: { alive: boolean };
    };
    assert.equal(parsed.installed, true);
    assert.equal(parsed.manager, null);
    assert.equal(parsed.daemon.alive, false);

    // What `systemctl enable` would have linked, so uninstall removes it too.
    const wants = join(h.env.XDG_CONFIG_HOME, 'systemd', 'user', 'default.target.wants');
    mkdirSync(wants, { recursive: true });
    symlinkSync(h.unit, join(wants, 'vigil.service'));
    const uninstall = runVigil(['service', 'uninstall'], h.env);
    assert.equal(uninstall.status, 0, uninstall.stderr);
    assert.match(uninstall.stdout, /systemctl --user stop vigil\.service/);
    assert.equal(existsSync(h.unit), false);
    assert.equal(existsSync(join(wants, 'vigil.service')), false);
    assert.match(runVigil(['service', 'status'], h.env).stdout, /not installed/);
  });

  it('status shows the running daemon’s pid and heartbeat when systemd cannot be asked', () => {
    const h = home('heartbeat');
    mkdirSync(h.env.VIGIL_RUNTIME_DIR, { recursive: true });
    writeFileSync(join(h.env.VIGIL_RUNTIME_DIR, 'vigil.pid'), `${process.pid}\n`);
    writeFileSync(
      join(h.env.VIGIL_RUNTIME_DIR, 'heartbeat.json'),
      JSON.stringify({ lastCycleAt: Date.now() }),
    );
    const status = runVigil(['service', 'status'], h.env);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`running \\(pid ${process.pid}\\)`));
    assert.match(status.stdout, /heartbeat: \d+ s ago/);
  });

  it('with a user bus runs daemon-reload and enable --now, then disable --now on uninstall', () => {
    const h = home('bus');
    writeFileSync(join(h.env.XDG_RUNTIME_DIR, 'bus'), '');
    const bin = join(h.root, 'bin');
    const calls = join(h.root, 'calls.txt');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'systemctl'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${calls}'\ncase "$2" in is-enabled) echo enabled;; is-active) echo active;; esac\n`,
    );
    chmodSync(join(bin, 'systemctl'), 0o755);
    const env = { ...h.env, PATH: `${bin}:${process.env['PATH']}` };

    const install = runVigil(['service', 'install', '--now'], env);
    assert.equal(install.status, 0, install.stderr);
    const status = runVigil(['service', 'status'], env);
    assert.match(status.stdout, /enabled: +enabled/);
    assert.match(status.stdout, /active: +active/);
    const uninstall = runVigil(['service', 'uninstall'], env);
    assert.equal(uninstall.status, 0, uninstall.stderr);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [
      '--user daemon-reload',
      '--user enable --now vigil.service',
      '--user is-enabled vigil.service',
      '--user is-active vigil.service',
      '--user disable --now vigil.service',
      '--user daemon-reload',
    ]);
    assert.equal(existsSync(h.unit), false);
  });

  it('reports a failing systemctl and exits 1, keeping the unit written', () => {
    const h = home('failing');
    writeFileSync(join(h.env.XDG_RUNTIME_DIR, 'bus'), '');
    const bin = join(h.root, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'systemctl'),
      '#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n',
    );
    chmodSync(join(bin, 'systemctl'), 0o755);
    const run = runVigil(['service', 'install'], { ...h.env, PATH: `${bin}:${process.env['PATH']}` });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /systemctl --user daemon-reload failed: Failed to connect to bus/);
    assert.ok(existsSync(h.unit));
  });
});
