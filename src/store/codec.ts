import type { ProcessRecord } from './types.js';

/**
 * The per-process part of a stored snapshot (`snapshots.procs`), packed as binary records: one format
 * byte, then per process, little-endian,
 *
 * | bytes | field |
 * |---|---|
 * | 4 | `procs.id` (uint32) |
 * | 4 | cpuPercent in hundredths (uint32; 100 % = one core, so up to 42 million %) |
 * | 8 | cpuSeconds, rounded to hundredths (float64; clock ticks are 1/100 s) |
 * | 8 | rssBytes (float64, exact up to 2^53) |
 * | 1 | state, the ASCII letter of /proc/[pid]/stat's third field |
 * | 1 | orphan (0 or 1) |
 * | 4 | swapBytes in KiB (uint32, up to 4 TiB; 0xFFFFFFFF when unknown): format 2 only |
 *
 * 30 bytes a process against ~45 as a JSON array, and a week of them (10,080 snapshots × 25 processes)
 * decodes in 10–30 ms where JSON.parse took 110–150: this is the hot path of `vigil report`. Format 1
 * (26 bytes, no swap), written before vigil read swap, still decodes, with `swapBytes` null.
 */

/** A process sample as stored in a snapshot: the id of its `procs` row and what changes each minute. */
export interface PackedSample {
  readonly id: number;
  readonly cpuPercent: number;
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** null or absent when unknown. */
  readonly swapBytes?: number | null;
  readonly state: string;
  readonly orphan: boolean;
}

const FORMAT = 2;
/** Bytes per process by format (index): format 1 lacked the swap field. */
const RECORD_BYTES_OF = [0, 26, 30] as const;
const RECORD_BYTES = RECORD_BYTES_OF[FORMAT];
const MAX_UINT32 = 0xffff_ffff;
/** The stored swap of a sample whose swap is unknown. */
const UNKNOWN_SWAP = MAX_UINT32;

const clampUint32 = (x: number) =>
  Number.isFinite(x) ? Math.min(MAX_UINT32, Math.max(0, Math.round(x))) : 0;
const finiteOr0 = (x: number) => (Number.isFinite(x) ? x : 0);

export function packSamples(samples: readonly PackedSample[]): Buffer {
  const buffer = Buffer.alloc(1 + samples.length * RECORD_BYTES);
  buffer.writeUInt8(FORMAT, 0);
  let at = 1;
  for (const s of samples) {
    buffer.writeUInt32LE(s.id, at);
    buffer.writeUInt32LE(clampUint32(s.cpuPercent * 100), at + 4);
    buffer.writeDoubleLE(Math.round(finiteOr0(s.cpuSeconds) * 100) / 100, at + 8);
    buffer.writeDoubleLE(Math.round(finiteOr0(s.rssBytes)), at + 16);
    buffer.writeUInt8(s.state.charCodeAt(0) & 0x7f, at + 24);
    buffer.writeUInt8(s.orphan ? 1 : 0, at + 25);
    const swap = s.swapBytes ?? null;
    // KiB (status says kB), kept below the marker for unknown.
    buffer.writeUInt32LE(
      swap === null || !Number.isFinite(swap)
        ? UNKNOWN_SWAP
        : Math.min(UNKNOWN_SWAP - 1, clampUint32(swap / 1024)),
      at + 26,
    );
    at += RECORD_BYTES;
  }
  return buffer;
}

/** What a process's `procs` row holds: who it is and what it runs. */
export type ProcessIdentity = Omit<
  ProcessRecord,
  'cpuPercent' | 'cpuSeconds' | 'rssBytes' | 'swapBytes' | 'state' | 'orphan'
>;

/** One-letter strings by ASCII code, so decoding a state allocates nothing. */
const LETTERS = Array.from({ length: 128 }, (_, code) => String.fromCharCode(code));

/**
 * The processes of one stored snapshot, each joined with its identity. A sample whose `procs` row is
 * missing is left out (cannot happen while retention deletes a process row only after its snapshots).
 * Throws on a format it does not know or a truncated buffer.
 */
export function unpackSamples(
  packed: Uint8Array,
  identities: ReadonlyMap<number, ProcessIdentity>,
): ProcessRecord[] {
  const processes: ProcessRecord[] = [];
  if (packed.length === 0) return processes;
  const { view, stride } = sampleView(packed);
  // A plain loop building literals of one shape: this is the hot path of reading a week of history.
  for (let at = 1; at < packed.length; at += stride) {
    const p = identities.get(view.getUint32(at, true));
    if (p === undefined) continue;
    const swapKiB = stride > 26 ? view.getUint32(at + 26, true) : UNKNOWN_SWAP;
    processes.push({
      pid: p.pid,
      startTicks: p.startTicks,
      comm: p.comm,
      name: p.name,
      cmdline: p.cmdline,
      user: p.user,
      kind: p.kind,
      group: p.group,
      cpuPercent: view.getUint32(at + 4, true) / 100,
      cpuSeconds: view.getFloat64(at + 8, true),
      rssBytes: view.getFloat64(at + 16, true),
      swapBytes: swapKiB === UNKNOWN_SWAP ? null : swapKiB * 1024,
      state: LETTERS[view.getUint8(at + 24)]!,
      orphan: view.getUint8(at + 25) === 1,
    });
  }
  return processes;
}

/**
 * Calls `visit` with each sample of one stored snapshot, straight from the bytes: the `procs` id, the CPU
 * seconds, the resident bytes and the swapped-out bytes (null when unknown, as in every format-1
 * snapshot). Nothing is allocated per sample. Throws like {@link unpackSamples}.
 */
export function forEachSample(
  packed: Uint8Array,
  visit: (id: number, cpuSeconds: number, rssBytes: number, swapBytes: number | null) => void,
): void {
  if (packed.length === 0) return;
  const { view, stride } = sampleView(packed);
  for (let at = 1; at < packed.length; at += stride) {
    const swapKiB = stride > 26 ? view.getUint32(at + 26, true) : UNKNOWN_SWAP;
    visit(
      view.getUint32(at, true),
      view.getFloat64(at + 8, true),
      view.getFloat64(at + 16, true),
      swapKiB === UNKNOWN_SWAP ? null : swapKiB * 1024,
    );
  }
}

/** A view of a non-empty packed snapshot and its record size, after checking its format byte and length. */
function sampleView(packed: Uint8Array): { view: DataView; stride: number } {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const format = view.getUint8(0);
  const stride = format === 1 || format === 2 ? RECORD_BYTES_OF[format] : 0;
  if (stride === 0 || (packed.length - 1) % stride !== 0) {
    throw new Error(`unknown process sample format ${format} (${packed.length} bytes)`);
  }
  return { view, stride };
}
