import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';

const has = (shell: string) => spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;

/**
 * The scripts `vigil completion` prints (build first: npm run build), loaded into the real shells and asked
 * to complete: bash through its completion function, fish through `complete -C`, zsh through its function
 * with the completion system's builtins standing in (they exist only inside an interactive widget).
 */
describe('vigil completion', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-completion-'));
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'files', 'mine.toml'), '');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function script(shell: string): string {
    const run = runVigil(['completion', shell]);
    assert.equal(run.status, 0, run.stderr);
    const path = join(dir, `vigil.${shell}`);
    writeFileSync(path, run.stdout);
    return path;
  }

  it('refuses a shell it does not know', () => {
    const run = runVigil(['completion', 'tcsh']);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /bash, zsh, fish/);
  });

  it('bash completes commands, subcommands, options, option values and files', {
    skip: has('bash') ? false : 'needs bash (Debian package bash)',
  }, () => {
    const file = script('bash');
    const complete = (...words: string[]) => {
      const run = spawnSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vigil; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'complete',
          file,
          ...words,
        ],
        { encoding: 'utf8', cwd: dir },
      );
      assert.equal(run.stderr, '');
      return run.stdout.split('\n').filter(Boolean);
    };
    assert.ok(complete('vigil', '').includes('status'));
    assert.deepEqual(complete('vigil', 'ser'), ['service']);
    assert.deepEqual(complete('vigil', 'service', ''), ['install', 'uninstall', 'status']);
    assert.deepEqual(complete('vigil', '--config', 'x.toml', 'rules', ''), ['list', 'check', 'test']);
    assert.ok(complete('vigil', 'service', 'install', '--').includes('--dry-run'));
    assert.ok(complete('vigil', 'status', '--').includes('--procfs'), 'global options after a command');
    assert.deepEqual(complete('vigil', 'service', 'install', '--mode', ''), ['observe', 'suggest', 'auto']);
    assert.deepEqual(complete('vigil', 'completion', ''), ['bash', 'zsh', 'fish']);
    assert.ok(complete('vigil', 'run', '--').includes('--exit-after'), 'vigil run’s own options');
    assert.deepEqual(complete('vigil', 'config', 'validate', '--config', 'files/m'), ['files/mine.toml']);
  });

  it('fish completes the same tree', {
    skip: has('fish') ? false : 'needs fish (Debian package fish)',
  }, () => {
    const file = script('fish');
    const complete = (line: string) => {
      const run = spawnSync(
        'fish',
        ['--no-config', '-c', `source $argv[1]; complete -C$argv[2]`, file, line],
        {
          encoding: 'utf8',
          cwd: dir,
        },
      );
      assert.equal(run.stderr, '');
      return run.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]);
    };
    assert.deepEqual(complete('vigil service '), ['install', 'status', 'uninstall']);
    assert.deepEqual(complete('vigil service install --mode '), ['auto', 'observe', 'suggest']);
    assert.deepEqual(complete('vigil --config x.toml con'), ['config']);
    assert.ok(complete('vigil status --').includes('--procfs'));
    assert.deepEqual(complete('vigil config validate --config files/m'), ['files/mine.toml']);
  });

  it('zsh loads it and offers the same tree', {
    skip: has('zsh') ? false : 'needs zsh (Debian package zsh)',
  }, () => {
    const file = script('zsh');
    const complete = (prefix: string, ...words: string[]) => {
      const stubs = [
        'compdef() { :; }',
        `compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }`,
        `_describe() { local a; for a in "\${(@P)4}"; do print -r -- "\${a%%:*}"; done; }`,
        '_files() { print -r -- FILES; }',
      ].join('\n');
      const run = spawnSync(
        'zsh',
        [
          '-f',
          '-c',
          `${stubs}\nsource $1; shift; PREFIX=$1; shift; words=("$@"); CURRENT=$#; _vigil`,
          'zsh',
          file,
          prefix,
          ...words,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(run.stderr, '');
      return run.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete('', 'vigil', 'service', ''), ['install', 'uninstall', 'status']);
    assert.deepEqual(complete('', 'vigil', 'service', 'install', '--mode', ''), [
      'observe',
      'suggest',
      'auto',
    ]);
    assert.ok(complete('--', 'vigil', 'status', '--').includes('--json'));
    assert.deepEqual(complete('', 'vigil', '--config', ''), ['FILES']);
    assert.deepEqual(complete('', 'vigil', 'completion', ''), ['bash', 'zsh', 'fish']);
  });
});
