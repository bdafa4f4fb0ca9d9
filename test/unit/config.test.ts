import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configPath, loadConfig, stateDir } from '../../src/config/load.js';
import { lineOfKey } from '../../src/config/locate.js';
import { ProblemsError } from '../../src/config/problems.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problemsOf(path: string): string[] {
  try {
    loadConfig(path, {});
  } catch (error) {
    assert.ok(error instanceof ProblemsError, String(error));
    return error.message.split('\n');
  }
  assert.fail('expected the config to be refused');
}

describe('loading the configuration', () => {
  it('uses the seed defaults when there is no file', () => {
    const { config, file } = loadConfig(undefined, { XDG_CONFIG_HOME: join(dir, 'none') });
    assert.equal(file, null);
    assert.equal(config.general.mode, 'observe');
    assert.equal(config.general.interval_secs, 5);
    assert.equal(config.thresholds.ram_warn_percent, 80);
    assert.equal(config.thresholds.ram_critical_percent, 90);
    assert.equal(config.thresholds.swap_warn_percent, 40);
    assert.equal(config.thresholds.cpu_load_factor, 2.0);
    assert.equal(config.thresholds.disk_min_free_percent, 10);
    assert.equal(config.thresholds.max_duplicate_processes, 5);
    assert.equal(config.thresholds.zombie_timeout_secs, 300);
    assert.equal(config.thresholds.temperature_cpu_max, 85);
    assert.equal(config.thresholds.temperature_gpu_max, 80);
    assert.ok(config.allowlist.protected_commands.includes('sshd'));
  });

  it('reads the values a user sets and keeps defaults for the rest', () => {
    const path = write('ok.toml', '[general]\nmode = "suggest"\n\n[thresholds]\nram_warn_percent = 70\n');
    const { config } = loadConfig(path, {});
    assert.equal(config.general.mode, 'suggest');
    assert.equal(config.thresholds.ram_warn_percent, 70);
    assert.equal(config.thresholds.ram_critical_percent, 90);
  });

  it('names file, line and key for a wrong type, an out-of-range value and an unknown key, all at once', () => {
    const path = write(
      'bad.toml',
      '# mine\n[general]\nmode = "auto"\ninterval_secs = "5"\n\n[thresholds]\nram_warn_percent = 180\nram_warm_percent = 80\n',
    );
    const problems = problemsOf(path);
    assert.deepEqual(problems, [
      `${path}:4: general.interval_secs: expected number, found the string "5"`,
      `${path}:7: thresholds.ram_warn_percent: must be at most 100 (got 180)`,
      `${path}:8: thresholds.ram_warm_percent: unknown key`,
    ]);
  });

  it('names the line of a TOML syntax error', () => {
    const path = write('syntax.toml', '[general]\nmode = "observe\n');
    const [problem] = problemsOf(path);
    assert.match(problem!, new RegExp(`^${path}:2: TOML syntax`));
  });

  it('says an unterminated string is unterminated, not that it holds control characters', () => {
    for (const [name, text, line] of [
      ['open-line.toml', '[general]\nmode = "observe\ninterval_secs = 5\n', 2],
      ['open-literal.toml', "[general]\nmode = 'observe\n", 2],
      ['open-end.toml', '[general]\nmode = "observe', 2],
    ] as const) {
      const path = write(name, text);
      assert.deepEqual(problemsOf(path), [
        `${path}:${line}: TOML syntax: unterminated string: its closing quote is missing (text over several lines goes between """)`,
      ]);
    }
  });

  it('says a value below its bound or not whole with the bound and the value', () => {
    const path = write('range.toml', '[general]\ninterval_secs = 0\n\n[actions]\nmax_kills_per_hour = 1.5\n');
    assert.deepEqual(problemsOf(path), [
      `${path}:2: general.interval_secs: must be at least 1 (got 0)`,
      `${path}:5: actions.max_kills_per_hour: must be a whole number (got 1.5)`,
    ]);
  });

  it('refuses a warning level at or past its critical level, for RAM, swap and disk, at the key written', () => {
    const path = write(
      'order.toml',
      '[thresholds]\nram_warn_percent = 95\nram_critical_percent = 90\nswap_critical_percent = 30\ndisk_min_free_percent = 5\n',
    );
    assert.deepEqual(problemsOf(path), [
      `${path}:2: thresholds.ram_warn_percent: ram_warn_percent (95) must be below ram_critical_percent (90)`,
      `${path}:4: thresholds.swap_critical_percent: swap_warn_percent (40, the default) must be below swap_critical_percent (30)`,
      `${path}:5: thresholds.disk_min_free_percent: disk_min_free_percent (5) must be above disk_critical_free_percent (5, the default)`,
    ]);
  });

  it('refuses an explicit config path that does not exist', () => {
    assert.match(problemsOf(join(dir, 'missing.toml'))[0]!, /missing\.toml: no such file/);
  });

  it('finds the config and state under the XDG directories, with VIGIL_* overrides', () => {
    assert.equal(configPath(undefined, { XDG_CONFIG_HOME: '/x' }), '/x/vigil/config.toml');
    assert.equal(configPath(undefined, { VIGIL_CONFIG: '/y.toml' }), '/y.toml');
    assert.equal(stateDir({ XDG_STATE_HOME: '/s' }), '/s/vigil');
    assert.equal(stateDir({ VIGIL_STATE_DIR: '/v' }), '/v');
  });
});

describe('locating keys in TOML text', () => {
  const text =
    '[general]\nmode = "x" # c\n\n[[rule]]\nid = "a"\n\n[[rule]]\nid = "b"\nwhen = "1 > 0"\n"quoted.key" = 1\n';
  it('finds keys in tables and in the nth entry of an array of tables', () => {
    assert.equal(lineOfKey(text, ['general', 'mode']), 2);
    assert.equal(lineOfKey(text, ['rule', 1, 'when']), 9);
    assert.equal(lineOfKey(text, ['rule', 0, 'id']), 5);
    assert.equal(lineOfKey(text, ['rule', 1, 'quoted.key']), 10);
  });
  it('falls back to the table header for a key that is not written', () => {
    assert.equal(lineOfKey(text, ['rule', 1, 'severity']), 7);
    assert.equal(lineOfKey(text, ['nothing']), null);
  });
});
