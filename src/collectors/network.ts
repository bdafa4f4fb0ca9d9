import { join } from 'node:path';
import { errorCode, readText } from '../host/files.js';
import type { NetworkInterfaceSample, NetworkSlice } from '../model/snapshot.js';
import type { Collector, CollectReport } from './types.js';
import { Unsupported } from './types.js';

/** Receives the reason an input line was left out. */
export type SkipFn = (reason: string) => void;

const ignoreSkip: SkipFn = () => {};

/** The 16 counters of one /proc/net/dev row, in file order. */
export interface NetDevRow {
  readonly name: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDrops: number;
  readonly rxFifo: number;
  readonly rxFrame: number;
  readonly rxCompressed: number;
  readonly rxMulticast: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDrops: number;
  readonly txFifo: number;
  readonly txCollisions: number;
  readonly txCarrier: number;
  readonly txCompressed: number;
}

/**
 * Parses /proc/net/dev (also /proc/[pid]/net/dev): two header lines, then `name: 16 counters` — bytes,
 * packets, errs, drop, fifo, frame, compressed, multicast received, then bytes, packets, errs, drop, fifo,
 * colls, carrier, compressed sent. The name ends at the LAST colon of the row (counters hold none, while a
 * name may: `ibr10:30`), and the first counter may follow the colon without a space (`eth0:68210035552`).
 * Names are kept as the kernel gives them, UTF-8 included. Rows without 16 counters are skipped.
 */
export function parseNetDev(text: string, onSkip: SkipFn = ignoreSkip): NetDevRow[] {
  const rows: NetDevRow[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    const colon = line.lastIndexOf(':');
    if (line.trim() === '' || (colon < 0 && line.includes('|'))) continue;
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    const counters =
      colon < 0
        ? []
        : line
            .slice(colon + 1)
            .trim()
            .split(/\s+/);
    if (name === '' || counters.length !== 16 || !counters.every((c) => /^\d+$/.test(c))) {
      onSkip(`line ${index + 1}: expected "name: 16 counters": ${JSON.stringify(line)}`);
      continue;
    }
    const c = counters.map(Number);
    rows.push({
      name,
      rxBytes: c[0]!,
      rxPackets: c[1]!,
      rxErrors: c[2]!,
      rxDrops: c[3]!,
      rxFifo: c[4]!,
      rxFrame: c[5]!,
      rxCompressed: c[6]!,
      rxMulticast: c[7]!,
      txBytes: c[8]!,
      txPackets: c[9]!,
      txErrors: c[10]!,
      txDrops: c[11]!,
      txFifo: c[12]!,
      txCollisions: c[13]!,
      txCarrier: c[14]!,
      txCompressed: c[15]!,
    });
  }
  return rows;
}

/** TCP states as numbered in include/net/tcp_states.h, the `st` column of /proc/net/tcp in hex. */
export const TCP_STATES: Readonly<Record<number, string>> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
  13: 'BOUND_INACTIVE',
};

/** The states every count starts from (0), so `tcp.TIME_WAIT` exists even when no socket is in it. */
const REPORTED_STATES = Object.values(TCP_STATES).slice(0, 11);

/** An object with every classic TCP state at 0. */
export function emptyTcpCounts(): Record<string, number> {
  return Object.fromEntries(REPORTED_STATES.map((state) => [state, 0]));
}

/**
 * Counts the sockets of /proc/net/tcp or /proc/net/tcp6 by state. After the header (`sl local_address
 * rem_address st ...`) each row is `N: local remote st ...`; only the `st` column (4th field, hex) is read.
 * A state number not in TCP_STATES is counted as `UNKNOWN_0xNN`. Adds to `into` when given, so tcp and
 * tcp6 can share one tally.
 */
export function parseTcpStates(
  text: string,
  into: Record<string, number> = {},
  onSkip: SkipFn = ignoreSkip,
): Record<string, number> {
  for (const [index, line] of text.split('\n').entries()) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '' || fields[0] === 'sl') continue;
    const st = fields[3] ?? '';
    if (!/^\d+:$/.test(fields[0] ?? '') || !/^[0-9A-Fa-f]{2}$/.test(st)) {
      onSkip(`line ${index + 1}: no state column: ${JSON.stringify(line)}`);
      continue;
    }
    const code = Number.parseInt(st, 16);
    const state = TCP_STATES[code] ?? `UNKNOWN_0x${st.toUpperCase()}`;
    into[state] = (into[state] ?? 0) + 1;
  }
  return into;
}

/**
 * One interface as the collector reports it: its cumulative counters, byte rates left null. Rates are a
 * change between two reads: the pipeline derives them (pipeline/derive.ts).
 */
export function interfaceSample(row: NetDevRow): NetworkInterfaceSample {
  return {
    name: row.name,
    rxBytes: row.rxBytes,
    txBytes: row.txBytes,
    rxBytesPerSec: null,
    txBytesPerSec: null,
    rxErrors: row.rxErrors,
    txErrors: row.txErrors,
    rxDrops: row.rxDrops,
    txDrops: row.txDrops,
  };
}

function readTcp(procfs: string, report: CollectReport): Record<string, number> {
  const counts = emptyTcpCounts();
  for (const file of ['tcp', 'tcp6']) {
    const path = join(procfs, 'net', file);
    let text: string;
    try {
      text = readText(path);
    } catch (error) {
      // No tcp6 without IPv6; no tcp in a fixture tree that only has net/dev.
      if (errorCode(error) !== 'ENOENT') report.skip(`cannot read ${path}: ${(error as Error).message}`);
      continue;
    }
    parseTcpStates(text, counts, (reason) => report.skip(`${path}: ${reason}`));
  }
  return counts;
}

/**
 * Interfaces with their byte counters from /proc/net/dev (the rates are derived by the pipeline from two
 * samples), and TCP sockets by state from /proc/net/tcp and tcp6. Throws Unsupported when procfs has no
 * net/dev.
 *
 * The kernel writes /proc/net/tcp out socket by socket under locks: with thousands of sockets, or in some
 * sandboxes (3.4 ms for 6 sockets measured here, against 10–40 µs for other /proc files), it is the
 * costliest read of a cycle. `tcpStatesEveryMs` keeps the last counts that long (the daemon: 30 s; the
 * counts are context, not a rule's trigger); 0 reads them every time. Those kept counts are the only
 * thing this collector holds between calls: a reading reused, not a value derived from two.
 */
export function createNetworkCollector(options: { tcpStatesEveryMs?: number } = {}): Collector<NetworkSlice> {
  let tcp: { counts: Record<string, number>; monoMs: number } | null = null;
  const tcpEveryMs = options.tcpStatesEveryMs ?? 0;
  return {
    name: 'network',
    collect(ctx, report) {
      const path = join(ctx.paths.procfs, 'net', 'dev');
      let text: string;
      try {
        text = readText(path);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') throw new Unsupported(`no ${path}`);
        throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
      }
      const interfaces = parseNetDev(text, (reason) => report.skip(`${path}: ${reason}`)).map(
        interfaceSample,
      );
      if (tcp === null || ctx.monoMs - tcp.monoMs >= tcpEveryMs || ctx.monoMs < tcp.monoMs)
        tcp = { counts: readTcp(ctx.paths.procfs, report), monoMs: ctx.monoMs };
      return { interfaces, tcp: { ...tcp.counts } };
    },
  };
}
