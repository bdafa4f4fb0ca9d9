import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderUnit, unitPath, unitValue, unitWord, vigilScript } from '../../src/service/unit.js';

const haveAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

/** Fields of one section of a unit file, in order (comments and blank lines dropped). */
function settings(unit: string): Array<[string, string]> {
  return unit
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

const base = {
  node: process.execPath,
  script: vigilScript(),
  mode: 'observe' as const,
  stateDir: '/home/ada/.local/state/vigil',
};

describe('the systemd user unit', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-unit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs this node with the shebang’s flag and this vigil, restarts on failure and is capped', () => {
    const fields = new Map(settings(renderUnit(base)));
    assert.equal(
      fields.get('ExecStart'),
      `${process.execPath} --max-semi-space-size=1 ${vigilScript()} run --mode observe`,
    );
    assert.equal(fields.get('Type'), 'notify');
    assert.equal(fields.get('NotifyAccess'), 'all');
    assert.match(fields.get('WatchdogSec') ?? '', /^\d+$/);
    assert.equal(fields.get('Restart'), 'on-failure');
    assert.ok(
      fields.has('RestartSec') && fields.has('MemoryMax') && fields.has('CPUQuota') && fields.has('Nice'),
    );
    assert.equal(fields.get('NoNewPrivileges'), 'yes');
    assert.equal(fields.get('Environment'), 'VIGIL_STATE_DIR=/home/ada/.local/state/vigil');
    assert.equal(fields.get('WantedBy'), 'default.target');
    // Nothing that hides the home vigil keeps its state in, nor the /tmp it judges.
    assert.ok(
      !fields.has('ProtectHome') && !fields.has('PrivateTmp') && !fields.has('MemoryDenyWriteExecute'),
    );
  });

  it('with --sandbox keeps the home readable and the state and runtime directories writable', () => {
    const fields = new Map(settings(renderUnit({ ...base, sandbox: true })));
    assert.equal(fields.get('PrivateUsers'), 'yes');
    assert.equal(fields.get('ProtectSystem'), 'strict');
    assert.equal(fields.get('ProtectHome'), 'read-only');
    assert.equal(fields.get('ReadWritePaths'), '-/home/ada/.local/state/vigil -%t/vigil');
  });

  it('quotes paths with spaces and escapes %, $, quotes and backslashes', () => {
    assert.equal(unitWord('/opt/my tools/vigil.js'), '"/opt/my tools/vigil.js"');
    assert.equal(unitWord('50%'), '50%%');
    assert.equal(unitWord('$HOME'), '$$HOME');
    assert.equal(unitWord('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(unitValue('VIGIL_STATE_DIR=/home/a b/$x%'), '"VIGIL_STATE_DIR=/home/a b/$x%%"');
  });

  it('lives in $XDG_CONFIG_HOME/systemd/user', () => {
    assert.equal(unitPath({ XDG_CONFIG_HOME: '/x/cfg' }), '/x/cfg/systemd/user/vigil.service');
  });

  for (const variant of [
    { name: 'as installed', options: base },
    {
      name: 'with --sandbox, --mode auto and a config path with a space',
      options: {
        ...base,
        sandbox: true,
        mode: 'auto' as const,
        args: ['--config', '/home/ada/my config.toml'],
        stateDir: '/home/ada/state dir/vigil',
      },
    },
  ]) {
    it(`passes systemd-analyze verify ${variant.name}`, {
      skip: haveAnalyze ? false : 'needs systemd-analyze (install systemd, Debian package systemd)',
    }, () => {
      const unitDir = join(dir, variant.name.replace(/\W+/g, '-'));
      const runtime = join(unitDir, 'run');
      mkdirSync(runtime, { recursive: true, mode: 0o700 });
      const file = join(unitDir, 'vigil.service');
      writeFileSync(file, renderUnit(variant.options));
      // --user checks the unit as the user manager would load it; it needs a runtime directory only.
      const result = spawnSync('systemd-analyze', ['--user', 'verify', '--man=no', file], {
        encoding: 'utf8',
        cwd: unitDir,
        env: { ...process.env, XDG_RUNTIME_DIR: runtime },
      });
      assert.equal(result.status, 0, result.stderr);
      // An unknown or misplaced key is only a warning (exit 0): there must be none.
      assert.equal(result.stderr.trim(), '');
    });
  }
});
