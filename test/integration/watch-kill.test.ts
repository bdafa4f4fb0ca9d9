import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import { readLiveProcess } from '../../src/respond/identity.js';
import { killConfirmed } from '../../src/respond/manual.js';
import { openStore } from '../../src/store/store.js';
import { describeKill } from '../../src/watch/run.js';
import { killAll, stateOf, waitUntil } from '../helpers/procs.js';

/** A sleeping child of the test; the identity the dashboard would bind a kill to. */
async function sleeper(): Promise<{ pid: number; startTicks: number; cmdline: string }> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  const pid = child.pid!;
  await waitUntil(() => readLiveProcess(LIVE_PATHS, pid)?.cmdline === 'sleep 600', `sleep ${pid} to exec`);
  const live = readLiveProcess(LIVE_PATHS, pid)!;
  return { pid, startTicks: live.startTicks, cmdline: live.cmdline };
}

describe('the dashboard’s kill: vigil kill’s policy, executor and action log', () => {
  const started: number[] = [];
  let home = '';
  let previous: string | undefined;

  before(() => {
    home = mkdtempSync(join(tmpdir(), 'vigil-watch-kill-'));
    previous = process.env['VIGIL_STATE_DIR'];
    process.env['VIGIL_STATE_DIR'] = home;
    openStore(join(home, 'vigil.db'), { log: () => {} }).close();
  });

  after(() => {
    killAll(started);
    if (previous === undefined) delete process.env['VIGIL_STATE_DIR'];
    else process.env['VIGIL_STATE_DIR'] = previous;
    rmSync(home, { recursive: true, force: true });
  });

  it('ends the process it was shown and records a manual action in the history', async () => {
    const target = await sleeper();
    started.push(target.pid);
    const result = await killConfirmed([target], defaultConfig(), {});
    assert.equal(result.outcome, 'success', describeKill(result));
    assert.deepEqual(result.gone, [target.pid]);
    await waitUntil(() => stateOf(target.pid) === null, `pid ${target.pid} to be gone`);
    assert.match(describeKill(result), /^success: /);
    const store = openStore(join(home, 'vigil.db'), { log: () => {} });
    try {
      const rows = store.raw()!.prepare('SELECT mode, state FROM actions').all() as Array<{
        mode: string;
        state: string;
      }>;
      assert.deepEqual(rows, [{ mode: 'manual', state: 'finished' }]);
    } finally {
      store.close();
    }
  });

  it('refuses pid 1 and a pid whose process is no longer the one shown, and says why', async () => {
    const init = readLiveProcess(LIVE_PATHS, 1)!;
    const refused = await killConfirmed(
      [{ pid: 1, startTicks: init.startTicks, cmdline: init.cmdline }],
      defaultConfig(),
      {},
    );
    assert.equal(refused.outcome, 'refused');
    assert.match(describeKill(refused), /^refused: .*pid 1 is never touched/);

    const target = await sleeper();
    started.push(target.pid);
    const stale = await killConfirmed(
      [{ ...target, startTicks: target.startTicks - 1 }],
      defaultConfig(),
      {},
    );
    assert.equal(stale.outcome, 'refused');
    assert.notEqual(stateOf(target.pid), null, 'the process it did not match is alive');
  });
});
