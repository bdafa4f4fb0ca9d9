import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runVigil } from '../helpers/cli.js';

const EXAMPLE = fileURLToPath(new URL('../../config.example.toml', import.meta.url));

/** `vigil config` as a user runs it (build first: npm run build), on real files in a private XDG tree. */
describe('vigil config', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-config-cmd-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function home(name: string) {
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    const env = {
      XDG_CONFIG_HOME: join(root, 'config'),
      XDG_STATE_HOME: join(root, 'state'),
      VIGIL_CONFIG: '',
      VIGIL_STATE_DIR: '',
      VISUAL: '',
      EDITOR: '',
    };
    return { root, env, config: join(root, 'config', 'vigil', 'config.toml') };
  }

  /** An editor: a shell script the test writes, run by vigil through argv (no shell of vigil's). */
  function editor(root: string, name: string, body: string): string {
    const path = join(root, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it('path names the XDG file; init writes the documented example there and never overwrites it', () => {
    const h = home('init');
    const path = runVigil(['config', 'path'], h.env);
    assert.equal(path.status, 0);
    assert.equal(path.stdout.trim(), h.config);
    const init = runVigil(['config', 'init'], h.env);
    assert.equal(init.status, 0, init.stderr);
    assert.equal(readFileSync(h.config, 'utf8'), readFileSync(EXAMPLE, 'utf8'));
    writeFileSync(h.config, '[general]\nmode = "suggest"\n');
    const again = runVigil(['config', 'init'], h.env);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists; not overwriting/);
    assert.equal(readFileSync(h.config, 'utf8'), '[general]\nmode = "suggest"\n');
  });

  it('show (and config alone) says where each value came from', () => {
    const h = home('show');
    mkdirSync(join(h.root, 'config', 'vigil'), { recursive: true });
    writeFileSync(h.config, '[general]\n\nmode = "suggest"\n');
    for (const args of [['config'], ['config', 'show'], ['--procfs', '/copy/proc', 'config']]) {
      const run = runVigil(args, h.env);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^mode = "suggest" +# file .*config\.toml:3$/m);
      assert.match(run.stdout, /^interval_secs = 5 +# default$/m);
    }
    assert.match(
      runVigil(['--procfs', '/copy/proc', 'config'], h.env).stdout,
      /^procfs = "\/copy\/proc" +# flag --procfs$/m,
    );
    assert.match(
      runVigil(['config', 'show', '--interval', '30'], h.env).stdout,
      /^interval_secs = 30 +# flag --interval$/m,
    );
    const json = JSON.parse(runVigil(['config', '--json'], h.env).stdout) as {
      values: Array<{ key: string; source: string }>;
    };
    assert.equal(json.values.find((v) => v.key === 'general.mode')?.source, 'file');
  });

  it('validate prints every problem as file:line: key and exits non-zero', () => {
    const h = home('validate');
    const file = join(h.root, 'bad.toml');
    writeFileSync(
      file,
      '[general]\nmode = "turbo"\ninterval_secs = 0\n\n[thresholds]\nram_warn_percnt = 80\n',
    );
    const run = runVigil(['config', 'validate', file], h.env);
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`^${file}:2: general\\.mode: `, 'm'));
    assert.match(run.stderr, new RegExp(`^${file}:3: general\\.interval_secs: `, 'm'));
    assert.match(run.stderr, new RegExp(`^${file}:6: thresholds\\.ram_warn_percnt: unknown key$`, 'm'));
    assert.match(run.stderr, /3 problems in/);

    writeFileSync(file, '[general\nmode = 1\n');
    const syntax = runVigil(['config', 'validate', file], h.env);
    assert.equal(syntax.status, 1);
    assert.match(syntax.stderr, new RegExp(`^${file}:1: TOML syntax`, 'm'));

    const good = runVigil(['config', 'validate', EXAMPLE], h.env);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /valid/);
    const missing = runVigil(['config', 'validate', join(h.root, 'nope.toml')], h.env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope\.toml: no such file/);
  });

  it('edit opens $EDITOR (split into argv, no shell) and reports what the edit broke with line and key', () => {
    const h = home('edit');
    const log = join(h.root, 'editor-args.txt');
    const breaks = editor(
      h.root,
      'break editor',
      `printf '%s\\n' "$@" > '${log}'\nprintf '[general]\\nmode = "turbo"\\n' > "$3"`,
    );
    // A path with a space, an argument with a space, and shell syntax that must stay inert.
    const run = runVigil(['config', 'edit'], { ...h.env, EDITOR: `'${breaks}' "--flag with space" ;true` });
    assert.equal(run.status, 1);
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['--flag with space', ';true', h.config]);
    assert.match(run.stderr, new RegExp(`${h.config}:2: general\\.mode: `));

    const fixes = editor(h.root, 'fix', `printf '[general]\\nmode = "suggest"\\n' > "$1"`);
    const fixed = runVigil(['config', 'edit'], { ...h.env, VISUAL: fixes, EDITOR: breaks });
    assert.equal(fixed.status, 0, fixed.stderr);
    assert.match(fixed.stdout, /valid/);
    assert.equal(readFileSync(h.config, 'utf8'), '[general]\nmode = "suggest"\n');
  });

  it('edit starts from the documented example when there is no file yet, and names a missing editor', () => {
    const h = home('edit-new');
    const keep = editor(h.root, 'keep', 'exit 0');
    const run = runVigil(['config', 'edit'], { ...h.env, EDITOR: keep });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(h.config, 'utf8'), readFileSync(EXAMPLE, 'utf8'));
    const none = runVigil(['config', 'edit'], { ...h.env, EDITOR: join(h.root, 'no-such-editor') });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /cannot run the editor .*no-such-editor: not found/);
    assert.ok(existsSync(h.config));
  });
});
