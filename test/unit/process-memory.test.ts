import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  createProcessCollector,
  parseStatmResident,
  parseStatusSwapBytes,
  parseSwapUsedBytes,
  SWAP_REFRESH_CYCLES,
} from '../../src/collectors/processes.js';
import type { ProcessSample } from '../../src/model/snapshot.js';
import { forEachSample, packSamples, unpackSamples } from '../../src/store/codec.js';
import { FIXTURE_PATHS, fixtureContext } from '../helpers/context.js';
import { fixturePath, sampleBlock, sampleText } from '../helpers/samples.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const noop = { skip: () => {} };

describe('reading memory as ps shows it', () => {
  it('takes the resident pages from statm, the second of its seven numbers', () => {
    assert.equal(parseStatmResident('765 438 410 5 0 123 0\n'), 438);
    assert.equal(parseStatmResident('765 438'), 438);
    assert.ok(Number.isNaN(parseStatmResident('')));
    assert.ok(Number.isNaN(parseStatmResident('765 x 410 5 0 123 0\n')));
  });

  it('reads VmSwap from real status files in bytes, and knows nothing of it for a zombie', () => {
    assert.equal(parseStatusSwapBytes(sampleText('proc-pid-status-running.txt')), 660 * KiB);
    assert.equal(parseStatusSwapBytes(sampleText('proc-pid-status-kube-proxy-mixed-whitespace.txt')), 0);
    assert.equal(parseStatusSwapBytes(sampleBlock('proc-pid-status-zombie.txt', 'A.')), null);
  });

  it('says how much swap is in use from meminfo, and nothing when its lines are missing', () => {
    assert.equal(parseSwapUsedBytes(readFileSync(fixturePath('proc/meminfo'), 'utf8')), 0);
    assert.equal(
      parseSwapUsedBytes('MemTotal: 100 kB\nSwapTotal:     8000 kB\nSwapFree:      6000 kB\n'),
      2000 * KiB,
    );
    assert.equal(parseSwapUsedBytes('MemTotal: 100 kB\n'), null);
  });
});

/** A copy of the fixture procfs where vim (pid 26231) has a statm and the machine uses swap. */
function swappingTree(): { procfs: string; set: (file: string, text: string) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-swap-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const procfs = join(dir, 'proc');
  cpSync(FIXTURE_PATHS.procfs, procfs, { recursive: true });
  const set = (file: string, text: string) => writeFileSync(join(procfs, file), text);
  // stat says 1981 resident pages; statm, as ps reads it, 2000.
  set('26231/statm', '13739 2000 400 237 0 700 0\n');
  set('meminfo', 'MemTotal: 16000000 kB\nSwapTotal: 8000000 kB\nSwapFree: 7000000 kB\n');
  return { procfs, set };
}

const vimIn = (list: readonly ProcessSample[]) => list.find((p) => p.pid === 26231)!;
const statusWithSwap = (kib: number) =>
  readFileSync(join(FIXTURE_PATHS.procfs, '26231/status'), 'utf8').replace(
    /VmSwap:\s+\d+ kB/,
    `VmSwap:\t${kib} kB`,
  );

describe('the process collector reading resident and swapped memory', () => {
  it('reports the resident set of statm rather than the approximate rss of stat', () => {
    const { procfs } = swappingTree();
    const list = createProcessCollector().collect(fixtureContext(1000, { ...FIXTURE_PATHS, procfs }), noop);
    assert.equal(vimIn(list).rssBytes, 2000 * 4096);
    // No statm in the tree for the others: stat's figure is what there is.
    assert.equal(list.find((p) => p.pid === 1)!.rssBytes > 0, true);
  });

  it('gives each process its swap from the status it reads on first sight', () => {
    const { procfs } = swappingTree();
    const list = createProcessCollector().collect(fixtureContext(1000, { ...FIXTURE_PATHS, procfs }), noop);
    assert.equal(vimIn(list).swapBytes, 660 * KiB);
    assert.equal(list.find((p) => p.pid === 17)!.swapBytes, 0, 'a kernel thread has no memory to swap');
    assert.equal(list.find((p) => p.pid === 12461)!.swapBytes, 0, 'nor has a zombie');
  });

  it('says every process has no swap when meminfo says none is in use, whatever a stale status said', () => {
    const { procfs, set } = swappingTree();
    set('meminfo', 'MemTotal: 16000000 kB\nSwapTotal: 8000000 kB\nSwapFree: 8000000 kB\n');
    const list = createProcessCollector().collect(fixtureContext(1000, { ...FIXTURE_PATHS, procfs }), noop);
    assert.ok(list.every((p) => p.swapBytes === 0));
  });

  it('reads swap again in turn, one process in six a cycle, not every process every cycle', () => {
    const { procfs, set } = swappingTree();
    const paths = { ...FIXTURE_PATHS, procfs };
    const collector = createProcessCollector();
    collector.collect(fixtureContext(1000, paths), noop);
    set('26231/status', statusWithSwap(5000));
    const seen: Array<number | null> = [];
    for (let i = 1; i <= SWAP_REFRESH_CYCLES; i++)
      seen.push(vimIn(collector.collect(fixtureContext(1000 + i * 5000, paths), noop)).swapBytes);
    assert.equal(seen.at(-1), 5000 * KiB, `read again within ${SWAP_REFRESH_CYCLES} cycles: ${seen}`);
    assert.ok(seen.includes(660 * KiB), `not read on every cycle: ${seen}`);
  });

  it('reads swap again at once when the resident set falls, as it does when pages go out to swap', () => {
    const { procfs, set } = swappingTree();
    const paths = { ...FIXTURE_PATHS, procfs };
    const collector = createProcessCollector();
    let mono = 1000;
    const cycle = () => {
      mono += 5000;
      return vimIn(collector.collect(fixtureContext(mono, paths), noop));
    };
    cycle();
    // Cycle until vim's turn has come (its swap reads 700 KiB): the next turn is six cycles away.
    set('26231/status', statusWithSwap(700));
    for (let i = 0; i < SWAP_REFRESH_CYCLES && cycle().swapBytes !== 700 * KiB; i++);
    set('26231/status', statusWithSwap(8000));
    set('26231/statm', '13739 20 4 237 0 700 0\n');
    const next = cycle();
    assert.equal(next.rssBytes, 20 * 4096);
    assert.equal(next.swapBytes, 8000 * KiB, 'read in the very cycle the resident set fell');
  });
});

describe('history keeping swap', () => {
  const identity = {
    pid: 42,
    startTicks: 4200,
    comm: 'python3',
    name: 'python3 mcp_server',
    cmdline: 'python3 mcp_server.py',
    user: 'alice',
    kind: 'mcp-server',
    group: 'python3 mcp_server.py',
  };
  const sample = { id: 7, cpuPercent: 1.5, cpuSeconds: 12.25, rssBytes: 3 * MiB, state: 'S', orphan: true };

  it('stores a sample with its swap, and an unknown swap as unknown', () => {
    const packed = packSamples([
      { ...sample, swapBytes: 400 * MiB },
      { ...sample, swapBytes: null },
    ]);
    assert.equal(packed.length, 1 + 2 * 30);
    const back = unpackSamples(packed, new Map([[7, identity]]));
    assert.deepEqual(
      back.map((p) => [p.rssBytes, p.swapBytes]),
      [
        [3 * MiB, 400 * MiB],
        [3 * MiB, null],
      ],
    );
    const visited: Array<number | null> = [];
    forEachSample(packed, (_id, _cpu, _rss, swap) => visited.push(swap));
    assert.deepEqual(visited, [400 * MiB, null]);
  });

  it('still reads snapshots stored before vigil kept swap, with the swap unknown', () => {
    // Format 1: id, CPU % in hundredths, CPU seconds, RSS, state, orphan; 26 bytes a process.
    const old = Buffer.alloc(1 + 26);
    old.writeUInt8(1, 0);
    old.writeUInt32LE(7, 1);
    old.writeUInt32LE(150, 5);
    old.writeDoubleLE(12.25, 9);
    old.writeDoubleLE(3 * MiB, 17);
    old.writeUInt8('S'.charCodeAt(0), 25);
    old.writeUInt8(1, 26);
    assert.deepEqual(unpackSamples(old, new Map([[7, identity]])), [
      {
        ...identity,
        cpuPercent: 1.5,
        cpuSeconds: 12.25,
        rssBytes: 3 * MiB,
        swapBytes: null,
        state: 'S',
        orphan: true,
      },
    ]);
    const visited: Array<[number, number | null]> = [];
    forEachSample(old, (_id, _cpu, rss, swap) => visited.push([rss, swap]));
    assert.deepEqual(visited, [[3 * MiB, null]]);
  });
});
