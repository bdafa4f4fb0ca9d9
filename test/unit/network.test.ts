import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createNetworkCollector, parseNetDev, parseTcpStates } from '../../src/collectors/network.js';
import { type CollectContext, Unsupported } from '../../src/collectors/types.js';
import type { NetworkSlice } from '../../src/model/snapshot.js';
import { deriveNetwork } from '../../src/pipeline/derive.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The blocks of a sample, by `## ` header (one unnamed block when there is none); `#` comments dropped. */
function sampleBlocks(name: string): Map<string, string> {
  const blocks = new Map<string, string[]>();
  let current = '';
  for (const line of readFileSync(join(fixtures, 'samples', name), 'utf8').split('\n')) {
    if (line.startsWith('## ')) current = line.slice(3).trim();
    if (line.startsWith('#')) continue;
    blocks.set(current, [...(blocks.get(current) ?? []), line]);
  }
  return new Map([...blocks].map(([key, lines]) => [key, lines.join('\n')]));
}

function contextFor(procfs: string, monoMs: number): CollectContext {
  return {
    paths: { procfs, sysfs: join(fixtures, 'sys'), etc: '/etc', rootfs: '/' },
    nowMs: 1_700_000_000_000,
    monoMs,
    nvidiaSmi: 'nvidia-smi',
    journal: { kind: 'system' },
    journalSince: '-1h',
    commandTimeoutMs: 1000,
  };
}

/**
 * The network collector, each sample after the first with its rates derived from the one before, as the
 * pipeline's Watcher derives them (the collector itself reads counters only).
 */
function collector(
  options: { tcpStatesEveryMs?: number } = {},
): (procfs: string, monoMs?: number) => Promise<{ slice: NetworkSlice; skipped: string[] }> {
  const network = createNetworkCollector(options);
  let previous: { slice: NetworkSlice; monoMs: number } | null = null;
  return async (procfs, monoMs = 1000) => {
    const skipped: string[] = [];
    const raw = await network.collect(contextFor(procfs, monoMs), {
      skip: (reason) => skipped.push(reason),
    });
    const slice = previous
      ? {
          ...raw,
          interfaces: deriveNetwork(previous.slice.interfaces, raw.interfaces, monoMs - previous.monoMs),
        }
      : raw;
    previous = { slice, monoMs };
    return { slice, skipped };
  };
}

const temporaryDirs: string[] = [];
function copyOfFixtureProc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-network-'));
  temporaryDirs.push(dir);
  cpSync(join(fixtures, 'proc'), join(dir, 'proc'), { recursive: true, verbatimSymlinks: true });
  return join(dir, 'proc');
}
after(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

describe('parsing /proc/net/dev', () => {
  const edge = parseNetDev(sampleBlocks('net-dev-edge-cases.txt').get('')!);
  const byName = (name: string) => edge.find((row) => row.name === name);

  it('reads every interface of the edge-case sample and skips the two header lines', () => {
    assert.deepEqual(
      edge.map((row) => row.name),
      ['tun0', 'veth4B09XN', 'lo', 'eth0', 'lxcbr0', 'wlan0', 'docker0', 'ibr10:30', 'flannel.1', '💩0'],
    );
  });

  it('reads eth0 when the first counter follows the colon without a space', () => {
    const eth0 = byName('eth0')!;
    assert.equal(eth0.rxBytes, 68210035552);
    assert.equal(eth0.rxPackets, 520993275);
    assert.equal(eth0.txBytes, 9315587528);
    assert.equal(eth0.txPackets, 43451486);
  });

  it('splits an interface name that contains a colon at the last colon', () => {
    const alias = byName('ibr10:30')!;
    assert.equal(alias.rxBytes, 0);
    assert.equal(alias.txCompressed, 0);
  });

  it('keeps a UTF-8 interface name and reads its multicast counter', () => {
    const emoji = byName('💩0')!;
    assert.equal(emoji.rxBytes, 57750104);
    assert.equal(emoji.rxMulticast, 72);
    assert.equal(emoji.txBytes, 404570255);
  });

  it('reads transmit drops in the twelfth counter (flannel.1 dropped 64)', () => {
    assert.equal(byName('flannel.1')!.txDrops, 64);
    assert.equal(byName('flannel.1')!.txErrors, 0);
  });

  it('reads a name longer than six characters that pushes the colon right', () => {
    const [host, container] = [...sampleBlocks('net-dev.txt').entries()].filter(([key]) => key !== '');
    assert.match(host![0], /^A\./);
    const rows = parseNetDev(host![1]);
    assert.deepEqual(
      rows.map((row) => [row.name, row.rxBytes, row.txBytes]),
      [
        ['vethf345468', 648, 438],
        ['lo', 1664039048, 1664039048],
        ['docker0', 2568, 438],
        ['eth0', 874354587, 563352563],
      ],
    );
    assert.deepEqual(
      parseNetDev(container![1]).map((row) => row.name),
      ['lo', 'eth0'],
    );
  });

  it('skips a truncated or garbled row with a reason and keeps the others', () => {
    const skipped: string[] = [];
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      '  eth1: 1 2 3',
      '  eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x',
      '    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0',
      'garbage without a colon',
    ].join('\n');
    const rows = parseNetDev(text, (reason) => skipped.push(reason));
    assert.deepEqual(
      rows.map((row) => row.name),
      ['lo'],
    );
    assert.equal(skipped.length, 3);
    assert.match(skipped[0]!, /^line 2: expected "name: 16 counters"/);
  });
});

describe('counting TCP sockets by state', () => {
  it('counts IPv4 and IPv6 sockets together by state name', () => {
    const counts = parseTcpStates(readFileSync(join(fixtures, 'proc/net/tcp'), 'utf8'));
    assert.deepEqual(counts, { LISTEN: 3, ESTABLISHED: 3, TIME_WAIT: 2, CLOSE_WAIT: 1, SYN_SENT: 1 });
    parseTcpStates(readFileSync(join(fixtures, 'proc/net/tcp6'), 'utf8'), counts);
    assert.equal(counts['LISTEN'], 5);
    assert.equal(counts['ESTABLISHED'], 4);
  });

  it('names every state of the kernel table from its hex code', () => {
    const codes = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '0A', '0B'];
    const text = codes.map(
      (st, i) => `  ${i}: 0100007F:0016 0100007F:D000 ${st} 00000000:00000000 00:00000000`,
    );
    assert.deepEqual(Object.keys(parseTcpStates(text.join('\n'))), [
      'ESTABLISHED',
      'SYN_SENT',
      'SYN_RECV',
      'FIN_WAIT1',
      'FIN_WAIT2',
      'TIME_WAIT',
      'CLOSE',
      'CLOSE_WAIT',
      'LAST_ACK',
      'LISTEN',
      'CLOSING',
    ]);
  });

  it('counts an unknown state under its code and skips a row without a state', () => {
    const skipped: string[] = [];
    const counts = parseTcpStates(
      ['   0: 0100007F:0016 0100007F:D000 1F 00000000:00000000', '   1: truncated'].join('\n'),
      {},
      (reason) => skipped.push(reason),
    );
    assert.deepEqual(counts, { UNKNOWN_0x1F: 1 });
    assert.match(skipped[0]!, /^line 2: no state column/);
  });
});

describe('the network collector', () => {
  it('reports totals, errors and drops with no rates on the first sample', async () => {
    const { slice, skipped } = await collector()(join(fixtures, 'proc'));
    assert.deepEqual(skipped, []);
    assert.equal(slice.interfaces.length, 10);
    assert.deepEqual(
      slice.interfaces.find((i) => i.name === 'flannel.1'),
      {
        name: 'flannel.1',
        rxBytes: 18144009813,
        txBytes: 20758990068,
        rxBytesPerSec: null,
        txBytesPerSec: null,
        rxErrors: 0,
        txErrors: 0,
        rxDrops: 0,
        txDrops: 64,
      },
    );
  });

  it('reports every TCP state, with zero for the states no socket is in', async () => {
    const { slice } = await collector()(join(fixtures, 'proc'));
    assert.deepEqual(slice.tcp, {
      ESTABLISHED: 4,
      SYN_SENT: 1,
      SYN_RECV: 0,
      FIN_WAIT1: 0,
      FIN_WAIT2: 0,
      TIME_WAIT: 2,
      CLOSE: 0,
      CLOSE_WAIT: 1,
      LAST_ACK: 0,
      LISTEN: 5,
      CLOSING: 0,
    });
  });

  it('computes bytes per second from two samples two seconds apart', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector();
    await collect(proc, 5000);
    const path = join(proc, 'net/dev');
    const text = readFileSync(path, 'utf8')
      .replace('eth0:68210035552', 'eth0:68211035552')
      .replace('9315587528 43451486', '9315787528 43451486');
    writeFileSync(path, text);
    const { slice } = await collect(proc, 7000);
    const eth0 = slice.interfaces.find((i) => i.name === 'eth0')!;
    assert.equal(eth0.rxBytesPerSec, 500000);
    assert.equal(eth0.txBytesPerSec, 100000);
    const lo = slice.interfaces.find((i) => i.name === 'lo')!;
    assert.equal(lo.rxBytesPerSec, 0);
  });

  it('gives no rate for an interface whose counters restarted, and none for a new one', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector();
    await collect(proc, 0);
    const path = join(proc, 'net/dev');
    const text = readFileSync(path, 'utf8')
      .replace(/^ {2}tun0: +1888/m, '  tun0:      10')
      .concat(
        '  tap9:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n',
      );
    writeFileSync(path, text);
    const { slice } = await collect(proc, 1000);
    assert.equal(slice.interfaces.find((i) => i.name === 'tun0')!.rxBytesPerSec, null);
    assert.equal(slice.interfaces.find((i) => i.name === 'tap9')!.rxBytesPerSec, null);
    assert.equal(slice.interfaces.find((i) => i.name === 'wlan0')!.rxBytesPerSec, 0);
  });

  it('keeps the TCP counts for tcpStatesEveryMs, while interface rates follow every sample', async () => {
    const proc = copyOfFixtureProc();
    const collect = collector({ tcpStatesEveryMs: 30_000 });
    assert.equal((await collect(proc, 1000)).slice.tcp['LISTEN'], 5);
    rmSync(join(proc, 'net/tcp6'));
    const soon = await collect(proc, 6000);
    assert.equal(soon.slice.tcp['LISTEN'], 5, 'the counts of 5 s ago');
    assert.notEqual(soon.slice.interfaces.find((i) => i.name === 'eth0')!.rxBytesPerSec, null);
    assert.equal((await collect(proc, 31_000)).slice.tcp['LISTEN'], 3, 'read again after 30 s');
  });

  it('counts IPv4 sockets alone when the kernel has no IPv6 (no tcp6)', async () => {
    const proc = copyOfFixtureProc();
    rmSync(join(proc, 'net/tcp6'));
    const { slice, skipped } = await collector()(proc);
    assert.deepEqual(skipped, []);
    assert.equal(slice.tcp['LISTEN'], 3);
  });

  it('skips a garbled net/dev row with a reason and reports the rest', async () => {
    const proc = copyOfFixtureProc();
    const path = join(proc, 'net/dev');
    writeFileSync(path, `${readFileSync(path, 'utf8')}  eth9: 12 34\n`);
    const { slice, skipped } = await collector()(proc);
    assert.equal(slice.interfaces.length, 10);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /net\/dev: line 13: expected "name: 16 counters": " {2}eth9: 12 34"/);
  });

  it('says unsupported when procfs has no net/dev', async () => {
    const proc = copyOfFixtureProc();
    rmSync(join(proc, 'net'), { recursive: true });
    await assert.rejects(collector()(proc), Unsupported);
  });
});
