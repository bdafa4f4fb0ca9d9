import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeProgram } from '../../src/cli/main.js';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vigil-entry-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the vigil command', () => {
  it('runs from a checkout that npm ci installed but nothing built yet (no dist/)', () => {
    const checkout = join(dir, 'checkout');
    for (const part of ['bin', 'src', 'rules', 'package.json', 'tsconfig.json'])
      cpSync(join(ROOT, part), join(checkout, part), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
    const run = spawnSync(process.execPath, [join(checkout, 'bin', 'vigil.js'), 'status', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), VIGIL_CONFIG: '' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(JSON.parse(run.stdout).processes.length > 0);
  });

  it('sends every command of the CLI to the CLI, not to the daemon (bin/vigil.js keeps a list of them)', async () => {
    const names = (await makeProgram()).commands.map((c) => c.name()).filter((name) => name !== 'run');
    assert.ok(names.length >= 16, names.join(' '));
    for (const name of names) {
      // An unknown option: the CLI's parser names it (exit 2); the daemon's would say "unknown command".
      const run = runVigil([name, '--no-such-option']);
      assert.equal(run.status, 2, `vigil ${name} --no-such-option: ${run.stderr}`);
      assert.match(run.stderr, /vigil: unknown option '--no-such-option'/, `vigil ${name} reaches the CLI`);
    }
  });

  it('ends quietly (exit 0, no stack) when its reader closes the pipe early, as `| head` does', async () => {
    const child = spawn(process.execPath, [VIGIL_BIN, 'status', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});
