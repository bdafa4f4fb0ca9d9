import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { hasTmux, TmuxPane } from '../helpers/tmux.js';
import { ModuleTrace } from '../helpers/trace.js';

/**
 * A command loads the code it needs and no more: `vigil report` starts in a fraction of a second only if
 * it does not load the collectors, the rules engine's CEL interpreter, the dashboard or the advisor SDK.
 */

const trace = new ModuleTrace();
const home = mkdtempSync(join(tmpdir(), 'vigil-loading-'));
const env = { XDG_STATE_HOME: join(home, 'state'), XDG_CONFIG_HOME: join(home, 'config'), VIGIL_CONFIG: '' };
after(() => {
  trace.close();
  rmSync(home, { recursive: true, force: true });
});

/** The modules of vigil and of its dependencies that `vigil <args>` loads, as short paths. */
function loadedBy(args: readonly string[], ok: readonly number[] = [0]): string[] {
  return trace
    .urls([VIGIL_BIN, ...args], { env, ok })
    .filter((url) => url.startsWith('file:'))
    .map((url) => url.replace(/^.*?\/(dist|src|node_modules)\//, '$1/'));
}

describe('what a vigil command loads', () => {
  it('vigil report loads its own modules, not the collectors, CEL, the dashboard, the SDK or other commands', () => {
    const loaded = loadedBy(['report', '--since', '7d'], [1]); // 1: no history yet
    assert.ok(
      loaded.some((m) => /\/cli\/report\.[jt]s$/.test(m)),
      loaded.join('\n'),
    );
    for (const heavy of [
      /\/collectors\//,
      /@marcbachmann\/cel-js/,
      /node_modules\/(ink|react)\//,
      /@anthropic-ai\/sdk/,
      /\/cli\/(status-view|watch|service|explain|act)\.[jt]s$/,
    ]) {
      assert.deepEqual(
        loaded.filter((m) => heavy.test(m)),
        [],
        `vigil report loaded ${heavy}`,
      );
    }
  });

  it('the shipped rules compile without the CEL interpreter; a rule outside the fast subset loads it', () => {
    const check = (config: string) =>
      trace.urls([VIGIL_BIN, 'rules', 'check'], { env: { ...env, XDG_CONFIG_HOME: config } });
    const cel = (urls: string[]) => urls.some((u) => u.includes('@marcbachmann/cel-js'));
    assert.equal(cel(check(join(home, 'config'))), false, 'vigil rules check on the shipped rules');

    const custom = join(home, 'custom-config');
    mkdirSync(join(custom, 'vigil', 'rules'), { recursive: true, mode: 0o700 });
    writeFileSync(
      join(custom, 'vigil', 'rules', 'long.toml'),
      [
        '[[rule]]',
        'id = "long_cmdline"',
        'title = "A long command line"',
        'severity = "info"',
        'scope = "process"',
        'when = "size(proc.cmdline) > 4000"',
        'summary = "{{ proc.name }} has a long command line"',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    assert.equal(cel(check(custom)), true, 'size() is CEL’s own: the interpreter is loaded for it');
    const listed = runVigil(['rules', 'list'], { ...env, XDG_CONFIG_HOME: custom });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /long_cmdline/);
  });

  it('vigil --help still lists every command, and completion still knows them all', () => {
    const help = runVigil(['--help'], env);
    assert.equal(help.status, 0);
    for (const name of [
      'status',
      'report',
      'health',
      'kill',
      'snooze',
      'verify-bundle',
      'watch',
      'completion',
    ]) {
      assert.match(help.stdout, new RegExp(`^  ${name}\\b`, 'm'), `--help lists ${name}`);
    }
    const bash = runVigil(['completion', 'bash'], env);
    assert.equal(bash.status, 0);
    assert.match(bash.stdout, /verify-bundle/);
    assert.match(bash.stdout, /--since/);
  });

  it('finds the command after global options that take a value, and still loads only its module', () => {
    const config = join(home, 'plain.toml');
    writeFileSync(config, '[general]\nmode = "observe"\n', { mode: 0o600 });
    const loaded = loadedBy(['--config', config, '--procfs', '/proc', 'report', '--since', '7d'], [1]);
    assert.ok(
      loaded.some((m) => /\/cli\/report\.[jt]s$/.test(m)),
      loaded.join('\n'),
    );
    assert.deepEqual(
      loaded.filter((m) =>
        /\/cli\/(status|status-view|watch|service|explain|act|audit|bundle)\.[jt]s$/.test(m),
      ),
      [],
      'the word after --config is not taken for the command, so the other commands are not loaded',
    );
    const missing = runVigil(['--config', join(home, 'none.toml'), 'report'], env);
    assert.equal(missing.status, 2, 'a missing config file is a usage error');
    assert.match(missing.stderr, /none\.toml: no such file/);
  });

  it('exits 2, naming the option, for an unknown option of any command or subcommand', () => {
    for (const args of [
      ['report', '--hlep'],
      ['audit', 'verify', '--nope'],
      ['config', 'show', '--nope'],
      ['status', '--top'],
      ['service', 'status', '--nope'],
      ['bundle', '--nope'],
      ['verify-bundle', 'x.tar.gz', '--nope'],
      ['watch', '--nope'],
    ]) {
      const run = runVigil(args, env);
      assert.equal(run.status, 2, `vigil ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /vigil: (unknown option|option '--top <n>' argument missing)/);
    }
    const shell = runVigil(['completion', 'tcsh'], env);
    assert.equal(shell.status, 2, shell.stderr);
    assert.match(shell.stderr, /vigil: command-argument value 'tcsh' is invalid/);
  });
});

describe('a checkout that was never built, run from another directory', () => {
  // A copy of the checkout without dist/ (the real one keeps its dist/: other tests use it), sharing the
  // real node_modules, run from /tmp as someone who cloned it and typed its path.
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const copy = mkdtempSync(join(tmpdir(), 'vigil-unbuilt-'));
  for (const part of ['bin', 'src', 'rules', 'package.json', 'tsconfig.json']) {
    cpSync(join(root, part), join(copy, part), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const bin = join(copy, 'bin', 'vigil.js');
  let pane: TmuxPane | null = null;
  after(() => {
    pane?.close();
    rmSync(copy, { recursive: true, force: true });
  });

  it('vigil status works from /tmp through tsx', () => {
    const run = spawnSync(process.execPath, [bin, 'status', '--sample', '0'], {
      cwd: tmpdir(),
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env, NO_COLOR: '1' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /CPU/);
  });

  it('vigil watch draws its dashboard from /tmp (the project’s tsconfig, so JSX compiles)', async (t) => {
    if (!hasTmux()) return t.skip('needs tmux (Debian package tmux)');
    pane = new TmuxPane(100, 30, { ...process.env, ...env, CI: 'true', NO_COLOR: '1' }, tmpdir());
    await pane.waitFor(/^PROMPT\$ ?$/m, 'the shell prompt');
    pane.type(`${process.execPath} ${bin} watch --interval 1`, true);
    const screen = await pane.waitFor(/COMMAND|vigil: /, 'the first frame or an error', 60_000);
    assert.doesNotMatch(screen, /React is not defined/);
    assert.match(screen, /^CPU +[█░]+ /m);
    pane.type('q');
    await pane.waitFor(/^PROMPT\$ ?$/m, 'the prompt back after q');
  });
});
