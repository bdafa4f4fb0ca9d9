import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { completionTree } from '../../src/cli/completion.js';
import { makeProgram } from '../../src/cli/main.js';

const page = fileURLToPath(new URL('../../man/vigil.1', import.meta.url));
const groff = spawnSync('sh', ['-c', 'command -v groff']).status === 0;

describe('the man page', () => {
  it('lints clean with groff -ww', {
    skip: groff ? false : 'needs groff (Debian package groff-base)',
  }, () => {
    const lint = spawnSync('groff', ['-ww', '-z', '-man', page], { encoding: 'utf8' });
    assert.equal(lint.status, 0);
    assert.equal(lint.stderr, '');
    // grotty's bold and underline are overstrikes: a character, a backspace, the character again.
    const text = execFileSync('groff', ['-man', '-Tutf8', '-P', '-c', page], { encoding: 'utf8' }).replace(
      new RegExp(`.${String.fromCharCode(8)}`, 'g'),
      '',
    );
    assert.match(text, /rules test file --snapshot snap\.json/);
  });

  it('documents every command and global option', () => {
    const roff = readFileSync(page, 'utf8');
    for (const word of [
      'status',
      'rules list',
      'rules check',
      'rules test',
      '\\-\\-procfs',
      '\\-\\-sysfs',
      '\\-\\-rootfs',
      '\\-\\-config',
      'nvidia\\-smi',
      '\\-\\-check',
    ]) {
      assert.ok(roff.includes(word), `man page lacks ${word}`);
    }
  });

  it('names every command and every option that vigil --help and each command’s --help list', async () => {
    const roff = readFileSync(page, 'utf8');
    const missing: string[] = [];
    for (const node of completionTree(await makeProgram())) {
      const path = node.path.replace(/-/g, '\\-');
      if (path && !roff.includes(path)) missing.push(`command "${node.path}"`);
      for (const option of node.options) {
        for (const name of option.names) {
          if (!roff.includes(name.replace(/-/g, '\\-'))) missing.push(`${node.path || 'vigil'} ${name}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });
});
