import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createProcessCollector } from '../../src/collectors/processes.js';
import { runVigil } from '../helpers/cli.js';
import { liveContext } from '../helpers/context.js';
import { spawnHostile, stateOf, waitUntil } from '../helpers/procs.js';

/** Any byte a terminal would act on rather than show: C0 controls but the line feeds between lines, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('a process whose name and cmdline carry newlines and escape sequences', () => {
  let hostile: ReturnType<typeof spawnHostile>;

  before(async () => {
    hostile = spawnHostile();
    await waitUntil(() => stateOf(hostile.pid) !== null, 'the hostile sleeper');
  });

  after(() => hostile.stop());

  it('is collected with its control characters written out, as one line', () => {
    const sample = createProcessCollector()
      .collect(liveContext(), { skip: () => {} })
      .find((p) => p.pid === hostile.pid);
    assert.ok(sample, 'the process is in the table');
    assert.equal(sample.comm, 'ev\\nil\\e[2J');
    assert.equal(sample.cmdline, 'vigil-hostile\\n\\e[2J\\e]0;pwned\\x07 600');
    assert.equal(sample.argv[0], 'vigil-hostile\\n\\e[2J\\e]0;pwned\\x07');
  });

  it('cannot clear the screen or retitle the window through vigil explain, and stays on one line', () => {
    const run = runVigil(['explain', String(hostile.pid), '--no-ai']);
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout, RAW_CONTROL, 'no raw control character reaches the terminal');
    assert.match(run.stdout, /^cmdline +vigil-hostile\\n\\e\[2J\\e\]0;pwned\\x07 600$/m);
  });

  it('is killed by vigil kill --yes, whose account of it is printable too', () => {
    const run = runVigil(['kill', String(hostile.pid), '--yes', '--force']);
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout + run.stderr, RAW_CONTROL);
    assert.match(run.stdout, /vigil-hostile\\n\\e\[2J/);
  });
});
