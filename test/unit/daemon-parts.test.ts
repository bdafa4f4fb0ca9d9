import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgsError, parseRunArgs } from '../../src/daemon/args.js';
import { fastPauseMs } from '../../src/pipeline/pace.js';

describe('the fast path', () => {
  const t = { ram_warn_percent: 80, ram_critical_percent: 90 };
  it('looks once a second while memory is comfortable, and ten times a second at the critical level', () => {
    assert.equal(fastPauseMs({ mem_used_percent: 40, psi_mem_full_avg10: 0 }, t), 1000);
    assert.equal(fastPauseMs({ mem_used_percent: 70, psi_mem_full_avg10: 0 }, t), 1000);
    assert.equal(fastPauseMs({ mem_used_percent: 80, psi_mem_full_avg10: 0 }, t), 550);
    assert.equal(fastPauseMs({ mem_used_percent: 90, psi_mem_full_avg10: 0 }, t), 100);
    assert.equal(fastPauseMs({ mem_used_percent: 99, psi_mem_full_avg10: 0 }, t), 100);
  });
  it('tightens at once when tasks stall on memory, whatever the used share', () => {
    assert.equal(fastPauseMs({ mem_used_percent: 30, psi_mem_full_avg10: 6 }, t), 100);
  });
});

describe('vigil run arguments', () => {
  it('reads the documented options, with or without the run word', () => {
    assert.deepEqual(
      parseRunArgs(['run', '--mode', 'suggest', '--interval=2', '--once', '--exit-after', '30']),
      {
        once: true,
        help: false,
        mode: 'suggest',
        intervalSecs: 2,
        exitAfterSecs: 30,
      },
    );
    assert.equal(parseRunArgs(['--config', '/x.toml']).config, '/x.toml');
  });
  it('refuses an unknown mode, a bad number, an unknown option or command, naming it', () => {
    assert.throws(() => parseRunArgs(['--mode', 'yolo']), /--mode yolo: expected observe, suggest or auto/);
    assert.throws(() => parseRunArgs(['--interval', '0']), /--interval 0: expected a positive number/);
    assert.throws(() => parseRunArgs(['--frob']), ArgsError);
    assert.throws(() => parseRunArgs(['statsu']), /unknown command statsu/);
  });
});
