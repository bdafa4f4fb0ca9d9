import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The npm package: what `npm pack` puts in it, and — when CI=true or VIGIL_PACK_TEST=1, since it needs
 * the registry and builds better-sqlite3 (a minute or more) — that `npm install -g` of the tarball into
 * a fresh prefix gives a working `vigil`.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function npm(args: readonly string[], cwd: string, timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...env },
  });
  if (run.error) throw run.error;
  return run;
}

interface PackEntry {
  filename: string;
  files: Array<{ path: string }>;
}

/** What runs, and only that. */
const ALLOWED = [/^dist\/.+\.js$/, /^bin\/vigil\.js$/, /^rules\/[^/]+\.toml$/, /^man\/vigil\.1$/];
const ALLOWED_FILES = new Set(['package.json', 'README.md', 'LICENSE', 'config.example.toml']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

describe('the npm package', () => {
  it('holds only what runs: built code, bin, rules, man page, example config, README', () => {
    // --ignore-scripts: list the dist/ built by `npm test` without rebuilding it under other tests' feet.
    const run = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
    assert.equal(run.status, 0, run.stderr);
    const [pack] = JSON.parse(run.stdout) as PackEntry[];
    const paths = pack!.files.map((f) => f.path).sort();
    const stray = paths.filter((p) => !ALLOWED_FILES.has(p) && !ALLOWED.some((re) => re.test(p)));
    assert.deepEqual(stray, [], 'nothing but what runs');
    for (const needed of [
      'package.json',
      'README.md',
      'config.example.toml',
      'bin/vigil.js',
      'man/vigil.1',
      'rules/memory.toml',
      'rules/kinds.toml',
      'dist/cli/main.js',
      'dist/daemon/main.js',
    ])
      assert.ok(paths.includes(needed), `${needed} is in the package`);
    const missing = sources(join(ROOT, 'src'))
      .map((file) => `dist/${relative(join(ROOT, 'src'), file).replace(/\.tsx?$/, '.js')}`)
      .filter((built) => !paths.includes(built));
    assert.deepEqual(missing, [], 'every source file is there, built');
  });

  it('installs with npm install -g from the tarball and runs vigil status on a clean prefix', (t) => {
    if (process.env['CI'] !== 'true' && process.env['VIGIL_PACK_TEST'] !== '1')
      return t.skip('needs the npm registry and a native build: run with CI=true or VIGIL_PACK_TEST=1');
    // A copy of the sources without dist/: packing must build it (the prepare script runs tsc).
    const work = tempDir('vigil-pack-src-');
    for (const item of [
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'README.md',
      'config.example.toml',
      'src',
      'bin',
      'rules',
      'man',
    ])
      cpSync(join(ROOT, item), join(work, item), { recursive: true });
    if (existsSync(join(ROOT, 'LICENSE'))) cpSync(join(ROOT, 'LICENSE'), join(work, 'LICENSE'));
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
    const out = tempDir('vigil-pack-out-');
    const packed = npm(['pack', '--json', '--pack-destination', out], work, 300_000);
    assert.equal(packed.status, 0, packed.stderr);
    const [pack] = JSON.parse(packed.stdout) as PackEntry[];
    assert.ok(
      pack!.files.some((f) => f.path === 'dist/cli/main.js'),
      'packing a checkout without dist/ builds it',
    );
    const tarball = join(out, pack!.filename);

    // A fresh prefix; better-sqlite3's install script (a prebuilt binary or a node-gyp build) is allowed
    // by name, as the README tells users to. npm 11 warns about install scripts nobody approved, and with
    // strict-allow-scripts refuses them: so vigil's own package must have none (a `prepare` counts).
    const prefix = join(out, 'prefix');
    // npm 11.19 with strict-allow-scripts fails (ENOENT) on a prefix without lib/.
    mkdirSync(join(prefix, 'lib'), { recursive: true });
    const installed = npm(
      ['install', '-g', '--prefix', prefix, '--allow-scripts=better-sqlite3', '--no-audit', tarball],
      out,
      900_000,
      { npm_config_strict_allow_scripts: 'true' },
    );
    assert.doesNotMatch(
      installed.stderr,
      /vigil@\S+ \(prepare:/,
      'vigil ships no install-time script: package.json builds dist/ in "prepack", not "prepare"',
    );
    assert.equal(installed.status, 0, `${installed.stdout}\n${installed.stderr}`);
    const modules = join(prefix, 'lib', 'node_modules', 'vigil', 'node_modules');
    assert.equal(existsSync(join(modules, 'typescript')), false, 'no dev dependency is installed');
    assert.equal(existsSync(join(modules, 'tsx')), false, 'no dev dependency is installed');

    const home = tempDir('vigil-pack-home-');
    const env = {
      PATH: `${join(prefix, 'bin')}:${process.env['PATH']}`,
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_STATE_HOME: join(home, 'state'),
      VIGIL_RUNTIME_DIR: join(home, 'run'),
      NO_COLOR: '1',
    };
    const vigil = join(prefix, 'bin', 'vigil');
    const status = spawnSync(vigil, ['status', '--json'], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(status.status, 0, status.stderr);
    const json = JSON.parse(status.stdout) as { host: { hostname: string }; memory?: { totalBytes: number } };
    assert.ok(json.host.hostname.length > 0);
    assert.ok((json.memory?.totalBytes ?? 0) > 0);
    // The native SQLite module works: one daemon cycle writes the history database.
    const once = spawnSync(vigil, ['run', '--once', '--mode', 'observe'], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    assert.equal(once.status, 0, once.stderr);
    assert.ok(existsSync(join(home, 'state', 'vigil', 'vigil.db')), 'the history database was written');
  });
});
