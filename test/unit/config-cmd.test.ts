import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { effectiveConfig, renderEffectiveConfig, splitCommandLine } from '../../src/cli/config-cmd.js';
import { ProblemsError } from '../../src/config/problems.js';
import { UsageError } from '../../src/pipeline/options.js';

describe('vigil config show: where each value comes from', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-config-show-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tells defaults, file lines, flags and environment apart', () => {
    const file = join(dir, 'config.toml');
    writeFileSync(
      file,
      '# mine\n[general]\ninterval_secs = 10\nmode = "suggest"\n\n[thresholds]\nram_warn_percent = 70\n',
    );
    const env = {
      XDG_CONFIG_HOME: join(dir, 'cfg'),
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      ANTHROPIC_API_KEY: 'sk-x',
    };
    const shown = effectiveConfig({ config: file, procfs: '/copy/proc', mode: 'auto' }, env);
    const byKey = new Map(shown.values.map((v) => [v.key, v]));
    assert.deepEqual(byKey.get('general.interval_secs'), {
      key: 'general.interval_secs',
      value: 10,
      source: 'file',
      origin: `${file}:3`,
    });
    assert.deepEqual(byKey.get('thresholds.ram_warn_percent')?.origin, `${file}:7`);
    assert.deepEqual(byKey.get('general.mode'), {
      key: 'general.mode',
      value: 'auto',
      source: 'flag',
      origin: '--mode',
    });
    assert.equal(byKey.get('general.procfs')?.source, 'flag');
    assert.equal(byKey.get('general.sysfs')?.source, 'default');
    assert.deepEqual(byKey.get('ai.base_url'), {
      key: 'ai.base_url',
      value: 'http://127.0.0.1:9',
      source: 'environment',
      origin: 'ANTHROPIC_BASE_URL',
    });
    assert.deepEqual(shown.apiKey, { variable: 'ANTHROPIC_API_KEY', set: true });
    assert.equal(shown.paths.find((p) => p.name === 'config file')?.source, 'flag');
    const text = renderEffectiveConfig(shown);
    assert.match(text, /^interval_secs = 10 +# file .*config\.toml:3$/m);
    assert.match(text, /^ram_critical_percent = 90 +# default$/m);
    assert.match(text, /^mode = "auto" +# flag --mode$/m);
    assert.doesNotMatch(text, /sk-x/, 'the API key itself is never shown');
  });

  it('a broken file is an error naming file, line and key, not a silent default', () => {
    const file = join(dir, 'broken.toml');
    writeFileSync(file, '[general]\nmode = "turbo"\n');
    assert.throws(
      () => effectiveConfig({ config: file }, {}),
      (error: unknown) =>
        error instanceof ProblemsError && /broken\.toml:2: general\.mode:/.test(error.message),
    );
  });
});

describe('splitting $EDITOR without a shell', () => {
  it('splits words, honours quotes and backslashes, and expands nothing', () => {
    assert.deepEqual(splitCommandLine('vim'), ['vim']);
    assert.deepEqual(splitCommandLine('  code --wait  '), ['code', '--wait']);
    assert.deepEqual(splitCommandLine(`"/opt/My Editor/ed" -n 'a b' c\\ d`), [
      '/opt/My Editor/ed',
      '-n',
      'a b',
      'c d',
    ]);
    assert.deepEqual(splitCommandLine('emacs "$HOME" `id` ;rm'), ['emacs', '$HOME', '`id`', ';rm']);
    assert.deepEqual(splitCommandLine(`ed ""`), ['ed', '']);
    assert.throws(() => splitCommandLine('vim "unterminated'), UsageError);
  });
});
