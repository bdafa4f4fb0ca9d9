/**
 * Trend detection for one numeric series per process (RSS for the `memory_leak` rule): a bounded ring of
 * samples and a robust "is this climbing steadily?" test built from Theil–Sen and Mann–Kendall.
 *
 * Both run on the daemon's hot path, for every process, every cycle. The ring therefore has a fixed size
 * chosen at construction, and the verdict works in module-level scratch buffers that grow to the largest
 * window ever judged and are then reused, so a steady-state cycle allocates nothing but the verdict object.
 * The functions are synchronous and not re-entrant, which single-threaded JavaScript guarantees.
 */

/** One timestamped value, as accepted by {@link leakVerdict} when the caller holds a plain array. */
export interface TimedValue {
  /** Milliseconds on any clock that does not step backwards (monotonic is best; only deltas are used). */
  readonly tMs: number;
  readonly value: number;
}

export interface SeriesRingOptions {
  /** Recent points kept at full resolution. */
  readonly fineCapacity: number;
  /** Samples closer than this to the first sample of the newest fine point are averaged into that point. */
  readonly fineMinSpacingMs: number;
  /** Older points, one per coarse bucket. */
  readonly coarseCapacity: number;
  /** Width of a coarse bucket; buckets are aligned to multiples of it on the sample clock. */
  readonly coarseStepMs: number;
}

/**
 * 64 fine points at ≥ 2 s spacing hold the last 128 s (at a 2 s cycle) to 320 s (at the default 5 s cycle):
 * more than the 90 s the fast leak test looks at. 64 coarse one-minute means hold the last 64 minutes:
 * the hour the slow leak test looks at. 2 KiB of samples per series.
 */
export const DEFAULT_SERIES_RING: SeriesRingOptions = {
  fineCapacity: 64,
  fineMinSpacingMs: 2_000,
  coarseCapacity: 64,
  coarseStepMs: 60_000,
};

/**
 * A fixed-size history of one series in two tiers, so that one small ring serves both a fast test (the
 * last minute or two, every sample) and a slow one (the last hour, one point a minute).
 *
 * - The fine tier keeps the newest `fineCapacity` points. A sample arriving within `fineMinSpacingMs` of
 *   the newest point's first sample is averaged into it instead, so a fast cycle cannot shrink the fine
 *   tier's reach below `fineCapacity × fineMinSpacingMs`.
 * - The coarse tier is fed every sample too, averaged per aligned `coarseStepMs` bucket; a bucket becomes a
 *   point when the first sample of a later bucket arrives. Its newest `coarseCapacity` points are kept.
 *
 * Why two fixed tiers rather than geometric decimation: the slow test wants evenly spaced points over a
 * fixed horizon (an hour), and averaging whole buckets is also what makes a GC sawtooth or cycle-to-cycle
 * noise vanish at that scale, while geometric merging would make the horizon grow without end and give
 * the oldest points the most weight in a pairwise test. Bucket means rather than minima or last values:
 * they are the cheapest statistic that is unbiased for a linear climb.
 *
 * The chronological view ({@link length}, {@link timeAt}, {@link valueAt}) is the coarse points older than
 * the oldest fine point, then the fine points. A sample older than the newest one (a clock that stepped
 * back) clears the ring; non-finite samples are ignored.
 *
 * Storage is one Float64Array of `2 × (fineCapacity + coarseCapacity)` numbers plus a few scalars,
 * allocated once.
 */
export class SeriesRing {
  private readonly fineCap: number;
  private readonly coarseCap: number;
  private readonly fineSpacingMs: number;
  private readonly coarseStepMs: number;
  /** [fine times | fine values | coarse times | coarse values]. */
  private readonly buf: Float64Array;
  private fineHead = 0;
  private fineCount = 0;
  private fineSlotStartMs = 0;
  private fineSlotCount = 0;
  private coarseHead = 0;
  private coarseCount = 0;
  private openBucket = Number.NaN;
  private openCount = 0;
  private openMeanT = 0;
  private openMeanV = 0;
  private lastMs = Number.NEGATIVE_INFINITY;
  private visibleCoarse = 0;
  private viewDirty = false;

  constructor(options: Partial<SeriesRingOptions> = {}) {
    const o = { ...DEFAULT_SERIES_RING, ...options };
    for (const key of ['fineCapacity', 'coarseCapacity'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 3) {
        throw new RangeError(`SeriesRing ${key} must be an integer ≥ 3, got ${o[key]}`);
      }
    }
    if (!(o.fineMinSpacingMs >= 0) || !(o.coarseStepMs > 0)) {
      throw new RangeError(
        `SeriesRing needs fineMinSpacingMs ≥ 0 and coarseStepMs > 0, got ${o.fineMinSpacingMs} and ${o.coarseStepMs}`,
      );
    }
    this.fineCap = o.fineCapacity;
    this.coarseCap = o.coarseCapacity;
    this.fineSpacingMs = o.fineMinSpacingMs;
    this.coarseStepMs = o.coarseStepMs;
    this.buf = new Float64Array(2 * (this.fineCap + this.coarseCap));
  }

  /** Adds one sample. O(1), allocation-free. */
  push(tMs: number, value: number): void {
    if (!Number.isFinite(tMs) || !Number.isFinite(value)) return;
    if (tMs < this.lastMs) this.clear();
    this.lastMs = tMs;
    this.viewDirty = true;
    const buf = this.buf;
    const fineCap = this.fineCap;

    if (this.fineCount > 0 && tMs - this.fineSlotStartMs < this.fineSpacingMs) {
      const at = (this.fineHead + this.fineCount - 1) % fineCap;
      const n = ++this.fineSlotCount;
      buf[at] = buf[at]! + (tMs - buf[at]!) / n;
      buf[fineCap + at] = buf[fineCap + at]! + (value - buf[fineCap + at]!) / n;
    } else {
      if (this.fineCount === fineCap) {
        this.fineHead = (this.fineHead + 1) % fineCap;
        this.fineCount--;
      }
      const at = (this.fineHead + this.fineCount) % fineCap;
      buf[at] = tMs;
      buf[fineCap + at] = value;
      this.fineCount++;
      this.fineSlotStartMs = tMs;
      this.fineSlotCount = 1;
    }

    const bucket = Math.floor(tMs / this.coarseStepMs);
    if (bucket !== this.openBucket) {
      if (this.openCount > 0) this.closeBucket();
      this.openBucket = bucket;
      this.openCount = 0;
    }
    const n = ++this.openCount;
    this.openMeanT += (tMs - this.openMeanT) / n;
    this.openMeanV += (value - this.openMeanV) / n;
  }

  private closeBucket(): void {
    const base = 2 * this.fineCap;
    const cap = this.coarseCap;
    if (this.coarseCount === cap) {
      this.coarseHead = (this.coarseHead + 1) % cap;
      this.coarseCount--;
    }
    const at = (this.coarseHead + this.coarseCount) % cap;
    this.buf[base + at] = this.openMeanT;
    this.buf[base + cap + at] = this.openMeanV;
    this.coarseCount++;
  }

  /** Forgets every sample. */
  clear(): void {
    this.fineHead = 0;
    this.fineCount = 0;
    this.fineSlotCount = 0;
    this.coarseHead = 0;
    this.coarseCount = 0;
    this.openBucket = Number.NaN;
    this.openCount = 0;
    this.openMeanT = 0;
    this.openMeanV = 0;
    this.lastMs = Number.NEGATIVE_INFINITY;
    this.visibleCoarse = 0;
    this.viewDirty = false;
  }

  /** Coarse points older than the oldest fine point: the prefix of the coarse tier shown in the view. */
  private coarseInView(): number {
    if (!this.viewDirty) return this.visibleCoarse;
    this.viewDirty = false;
    let visible = this.coarseCount;
    if (this.fineCount > 0) {
      const oldestFine = this.buf[this.fineHead]!;
      const base = 2 * this.fineCap;
      while (
        visible > 0 &&
        this.buf[base + ((this.coarseHead + visible - 1) % this.coarseCap)]! >= oldestFine
      ) {
        visible--;
      }
    }
    this.visibleCoarse = visible;
    return visible;
  }

  /** Number of points in the chronological view. */
  get length(): number {
    return this.coarseInView() + this.fineCount;
  }

  /** Time of the `i`-th point of the chronological view (0 is the oldest). */
  timeAt(i: number): number {
    const coarse = this.coarseInView();
    if (i < coarse) return this.buf[2 * this.fineCap + ((this.coarseHead + i) % this.coarseCap)]!;
    return this.buf[(this.fineHead + i - coarse) % this.fineCap]!;
  }

  /** Value of the `i`-th point of the chronological view (0 is the oldest). */
  valueAt(i: number): number {
    const coarse = this.coarseInView();
    if (i < coarse) {
      return this.buf[2 * this.fineCap + this.coarseCap + ((this.coarseHead + i) % this.coarseCap)]!;
    }
    return this.buf[this.fineCap + ((this.fineHead + i - coarse) % this.fineCap)]!;
  }

  /** The most points the view can ever hold. */
  get capacity(): number {
    return this.fineCap + this.coarseCap;
  }

  /** Bytes of sample storage; fixed at construction. */
  get byteLength(): number {
    return this.buf.byteLength;
  }

  /** How far back the coarse tier reaches once full. */
  get horizonMs(): number {
    return this.coarseCap * this.coarseStepMs;
  }

  /** The chronological view as objects: for tests, debugging and `vigil explain`, not the hot path. */
  toArray(): TimedValue[] {
    const out: TimedValue[] = [];
    const n = this.length;
    for (let i = 0; i < n; i++) out.push({ tMs: this.timeAt(i), value: this.valueAt(i) });
    return out;
  }
}

/** The knobs of one leak test. All thresholds must hold at once for a verdict of "leaking". */
export interface LeakOptions {
  /** Prefix of the verdict's reason, e.g. `fast leak`. */
  readonly name?: string;
  /** Only samples within this many seconds of the newest one are judged. */
  readonly maxWindowSecs: number;
  /** The judged samples must span at least this long. */
  readonly minWindowSecs: number;
  /** …and number at least this many (after bucketing). */
  readonly minSamples: number;
  /** Samples are averaged per aligned bucket of this width before judging; 0 judges them as they are. */
  readonly bucketSecs: number;
  /** Theil–Sen slope must reach this. */
  readonly minSlopeBytesPerSec: number;
  /** Slope × window must reach this. */
  readonly minGrowthBytes: number;
  /** Mann–Kendall Z must reach this (3 ≈ one-sided p 0.0013). */
  readonly minZ: number;
  /**
   * Step guard: each third of the window must grow by at least this fraction of what a straight line
   * through the window would give it. 0.5 lets a steady climb through noise pass and stops a step or a
   * burst, which puts nearly all the growth in one third.
   */
  readonly minThirdGrowthRatio: number;
  /** Above this many pairs, Theil–Sen uses this many deterministic pseudo-random pairs instead. */
  readonly maxPairs: number;
  /**
   * Sawtooth guard: the window's last sixth must stand above every sample in this many seconds before
   * the window. A leak makes new highs; a slow allocate-then-free cycle (a GC with a big young
   * generation, a batch job) climbs back to the peak it reached last time. 0 turns the guard off.
   */
  readonly peakLookbackSecs: number;
}

export interface LeakVerdict {
  readonly leaking: boolean;
  /** Theil–Sen slope; when the test stopped at a cheap check, the three-group resistant-line slope. */
  readonly slopeBytesPerSec: number;
  /** Span of the samples judged. */
  readonly windowSecs: number;
  /** 1 − one-sided Mann–Kendall p; 0 when the test stopped before computing it. */
  readonly confidence: number;
  /** slope × window: how much the fitted line rose across the window. */
  readonly growthBytes: number;
  /** One sentence a person can read: why it is or is not a leak. */
  readonly reason: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A fast leak: ≥ 1 MiB/s over the last 90 s, at least 60 s of samples and 64 MiB of growth. The 90 s window
 * with the step guard flags a leak once it has run 75–80 s (when its start has left the window's first
 * sixth), so well within 3 minutes, while a burst shorter than a minute never qualifies; and by then the
 * flat samples from before the leak are too few to drag the Theil–Sen slope down (it lands within a few
 * per cent). A process that is new, or has leaked since its start, is flagged after 60 s. Over the 10
 * minutes before the window the climb must reach a new high, so an allocate-and-free cycle longer than the
 * window is flagged on its first climb at most.
 */
export const FAST_LEAK: LeakOptions = {
  name: 'fast leak',
  maxWindowSecs: 90,
  minWindowSecs: 60,
  minSamples: 10,
  bucketSecs: 0,
  minSlopeBytesPerSec: MiB,
  minGrowthBytes: 64 * MiB,
  minZ: 3,
  minThirdGrowthRatio: 0.5,
  maxPairs: 2048,
  peakLookbackSecs: 600,
};

/**
 * A slow leak: ≥ 20 KiB/s held over at least 30 minutes of the last hour, one point a minute, with ≥ 64 MiB
 * of growth (so 20 KiB/s needs ~55 minutes, 40 KiB/s the minimum 30). Below 20 KiB/s (~1.7 GiB a day) a
 * leak is not what freezes a workstation today. One-minute means hide GC sawtooths and sampling noise.
 */
export const SLOW_LEAK: LeakOptions = {
  name: 'slow leak',
  maxWindowSecs: 3600,
  minWindowSecs: 1800,
  minSamples: 20,
  bucketSecs: 60,
  minSlopeBytesPerSec: 20 * KiB,
  minGrowthBytes: 64 * MiB,
  minZ: 3,
  minThirdGrowthRatio: 0.5,
  maxPairs: 2048,
  peakLookbackSecs: 0,
};

/** The `memory_leak` rule's tests, fastest first. */
export const DEFAULT_LEAK_POLICY: readonly LeakOptions[] = [FAST_LEAK, SLOW_LEAK];

// Scratch buffers shared by every verdict; they grow to the largest window seen and are then reused.
let winT = new Float64Array(256);
let winV = new Float64Array(256);
let work = new Float64Array(4096);
const sixthValue = new Float64Array(6);
const sixthTime = new Float64Array(6);
/** Index in the caller's samples of the first one in the window, set by loadWindow. */
let windowFirst = 0;

function ensureWindow(n: number): void {
  if (winT.length >= n) return;
  const size = Math.max(n, winT.length * 2);
  winT = new Float64Array(size);
  winV = new Float64Array(size);
}

function ensureWork(n: number): void {
  if (work.length < n) work = new Float64Array(Math.max(n, work.length * 2));
}

/**
 * Copies the judged window into winT (seconds since its first sample) and winV, bucketing if asked.
 * Returns the number of points.
 */
function loadWindow(samples: SeriesRing | ArrayLike<TimedValue>, opts: LeakOptions): number {
  const ring = samples instanceof SeriesRing ? samples : null;
  const list = ring === null ? (samples as ArrayLike<TimedValue>) : null;
  const len = ring !== null ? ring.length : list!.length;
  if (len === 0) return 0;
  const lastMs = ring !== null ? ring.timeAt(len - 1) : list![len - 1]!.tMs;
  const fromMs = lastMs - opts.maxWindowSecs * 1000;
  let first = len - 1;
  while (first > 0 && (ring !== null ? ring.timeAt(first - 1) : list![first - 1]!.tMs) >= fromMs) first--;
  windowFirst = first;
  ensureWindow(len - first);
  const bucketMs = opts.bucketSecs * 1000;
  let n = 0;
  let originMs = Number.NaN;
  let bucket = Number.NaN;
  let count = 0;
  let meanT = 0;
  let meanV = 0;
  for (let i = first; i < len; i++) {
    const t = ring !== null ? ring.timeAt(i) : list![i]!.tMs;
    const v = ring !== null ? ring.valueAt(i) : list![i]!.value;
    if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
    if (Number.isNaN(originMs)) originMs = t;
    if (bucketMs <= 0) {
      winT[n] = (t - originMs) / 1000;
      winV[n++] = v;
      continue;
    }
    const b = Math.floor(t / bucketMs);
    if (b !== bucket) {
      if (count > 0) {
        winT[n] = (meanT - originMs) / 1000;
        winV[n++] = meanV;
      }
      bucket = b;
      count = 0;
      meanT = 0;
      meanV = 0;
    }
    count++;
    meanT += (t - meanT) / count;
    meanV += (v - meanV) / count;
  }
  if (bucketMs > 0 && count > 0) {
    winT[n] = (meanT - originMs) / 1000;
    winV[n++] = meanV;
  }
  return n;
}

/**
 * Highest value among the samples in the `lookbackSecs` before the window loaded last, and how many
 * seconds before the window's start it was; null when there are none.
 */
function priorPeak(
  samples: SeriesRing | ArrayLike<TimedValue>,
  lookbackSecs: number,
): [number, number] | null {
  const ring = samples instanceof SeriesRing ? samples : null;
  const list = ring === null ? (samples as ArrayLike<TimedValue>) : null;
  const first = windowFirst;
  if (lookbackSecs <= 0 || first === 0) return null;
  const startMs = ring !== null ? ring.timeAt(first) : list![first]!.tMs;
  const fromMs = startMs - lookbackSecs * 1000;
  let peak = Number.NEGATIVE_INFINITY;
  let peakMs = startMs;
  for (let i = first - 1; i >= 0; i--) {
    const t = ring !== null ? ring.timeAt(i) : list![i]!.tMs;
    if (t < fromMs) break;
    const v = ring !== null ? ring.valueAt(i) : list![i]!.value;
    if (v > peak) {
      peak = v;
      peakMs = t;
    }
  }
  return peak === Number.NEGATIVE_INFINITY ? null : [peak, (startMs - peakMs) / 1000];
}

/** k-th smallest (0-based) of work[0, n), rearranging it. Quickselect, median-of-three pivot. */
function selectKth(n: number, k: number): number {
  const a = work;
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Order a[lo] ≤ a[mid] ≤ a[hi] and use a[mid] as the pivot.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const x = a[i]!;
  a[i] = a[j]!;
  a[j] = x;
}

/** Median of work[0, n), rearranging it. */
function medianOfWork(n: number): number {
  const upper = selectKth(n, n >> 1);
  if (n % 2 === 1) return upper;
  // After selection everything below index n/2 is ≤ upper; the lower middle is their maximum.
  let lower = work[0]!;
  for (let i = 1; i < n >> 1; i++) if (work[i]! > lower) lower = work[i]!;
  return (lower + upper) / 2;
}

/** Median of winV[from, to). */
function medianValue(from: number, to: number): number {
  const n = to - from;
  for (let i = 0; i < n; i++) work[i] = winV[from + i]!;
  return medianOfWork(n);
}

/** Median of winT[from, to): times are sorted, so the middle element(s). */
function medianTime(from: number, to: number): number {
  const n = to - from;
  const mid = from + (n >> 1);
  return n % 2 === 1 ? winT[mid]! : (winT[mid - 1]! + winT[mid]!) / 2;
}

/**
 * Theil–Sen slope of winT/winV[0, n): the median of the slopes between pairs of points. Every pair when
 * there are at most `maxPairs`, else `maxPairs` pairs drawn by a fixed-seed xorshift generator, which keeps
 * the cost O(maxPairs) and the answer reproducible; the median of a random sample of pair slopes is an
 * unbiased estimate of the median of all of them.
 */
function theilSenSlope(n: number, maxPairs: number): number {
  const all = (n * (n - 1)) / 2;
  ensureWork(Math.min(all, maxPairs));
  const t = winT;
  const v = winV;
  const out = work;
  let m = 0;
  if (all <= maxPairs) {
    for (let i = 0; i < n - 1; i++) {
      const ti = t[i]!;
      const vi = v[i]!;
      for (let j = i + 1; j < n; j++) {
        const dt = t[j]! - ti;
        if (dt > 0) out[m++] = (v[j]! - vi) / dt;
      }
    }
  } else {
    let state = 0x9e3779b9;
    for (let draw = 0; draw < maxPairs; draw++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const i = (state >>> 0) % n;
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      let j = (state >>> 0) % (n - 1);
      if (j >= i) j++;
      const dt = t[j]! - t[i]!;
      if (dt !== 0) out[m++] = (v[j]! - v[i]!) / dt;
    }
  }
  return m === 0 ? 0 : medianOfWork(m);
}

/**
 * Mann–Kendall Z of winV[0, n) in time order: S = Σ sign(v_j − v_i) over i < j, its variance under "no
 * trend" with the correction for tied values, and the continuity-corrected normal score. 0 when every
 * value is tied.
 */
function mannKendallZ(n: number): number {
  const v = winV;
  let s = 0;
  for (let i = 0; i < n - 1; i++) {
    const vi = v[i]!;
    for (let j = i + 1; j < n; j++) {
      const d = v[j]! - vi;
      if (d > 0) s++;
      else if (d < 0) s--;
    }
  }
  // Tie groups: sort a copy (in place, numeric for a typed array) and count runs of equal values.
  ensureWork(n);
  const sorted = work;
  for (let i = 0; i < n; i++) sorted[i] = v[i]!;
  sorted.subarray(0, n).sort();
  let ties = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && sorted[j] === sorted[i]) j++;
    const g = j - i;
    if (g > 1) ties += g * (g - 1) * (2 * g + 5);
    i = j;
  }
  const variance = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  if (!(variance > 0) || s === 0) return 0;
  return (s > 0 ? s - 1 : s + 1) / Math.sqrt(variance);
}

/** Standard normal CDF, via the Abramowitz & Stegun 7.1.26 approximation of erf (error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Signed, for growth: `+341 MiB`, `−2.0 MiB`. */
function mib(bytes: number): string {
  const v = Math.abs(bytes) / MiB;
  return `${bytes < 0 ? '−' : '+'}${v >= 10 ? v.toFixed(0) : v.toFixed(1)} MiB`;
}

function rate(bytesPerSec: number): string {
  const abs = Math.abs(bytesPerSec);
  return abs >= MiB ? `${(bytesPerSec / MiB).toFixed(1)} MiB/s` : `${(bytesPerSec / KiB).toFixed(1)} KiB/s`;
}

function seconds(secs: number): string {
  return secs >= 120 ? `${Math.round(secs / 60)} min` : `${Math.round(secs)} s`;
}

function makeVerdict(
  leaking: boolean,
  slope: number,
  span: number,
  confidence: number,
  reason: string,
): LeakVerdict {
  return {
    leaking,
    slopeBytesPerSec: slope,
    windowSecs: span,
    confidence,
    growthBytes: slope * span,
    reason,
  };
}

/**
 * Judges whether `samples` (a {@link SeriesRing}, or time-ordered {@link TimedValue}s) climb steadily.
 * Of the samples within `maxWindowSecs` of the newest, bucketed if asked, in order of cost:
 *
 * 1. enough history: `minSamples` points spanning `minWindowSecs`;
 * 2. the window is cut into sixths by time and each sixth's median taken (O(n) with quickselect). The
 *    resistant-line slope (last sixth's median − first's, over the time between their centres) must
 *    reach half the slope and growth thresholds, else most flat series stop here;
 * 3. step guard: within each third, the second sixth's median minus the first must reach
 *    `minThirdGrowthRatio` × the rise the resistant line gives that span. A cache filling once, a burst,
 *    or a step puts its rise in one third (or between thirds) and fails;
 * 4. sawtooth guard: the last sixth's median must exceed every raw sample in the `peakLookbackSecs`
 *    before the window;
 * 5. Theil–Sen slope (O(p) for p pairs) ≥ `minSlopeBytesPerSec`, slope × window ≥ `minGrowthBytes`, and
 *    Mann–Kendall (O(n²) sign comparisons, n ≤ ring capacity) Z ≥ `minZ`. A GC sawtooth shorter than the
 *    window rises within each tooth but not from tooth to tooth, which keeps Z and the median pairwise
 *    slope low (in practice it already stops at step 2: its resistant line is flat).
 *
 * Cost on this project's bench machine: 1–4 µs for a series that stops at step 2 or 3, ~4 µs for a fast
 * leak judged in full, ~35 µs for the slow test judged in full on a full ring (~60 one-minute points).
 */
export function leakVerdict(samples: SeriesRing | ArrayLike<TimedValue>, opts: LeakOptions): LeakVerdict {
  const prefix = opts.name ? `${opts.name}: ` : '';
  const n = loadWindow(samples, opts);
  const span = n > 0 ? winT[n - 1]! : 0;
  const verdict = (leaking: boolean, slope: number, confidence: number, reason: string): LeakVerdict =>
    makeVerdict(leaking, slope, span, confidence, prefix + reason);
  if (n < opts.minSamples || span < opts.minWindowSecs) {
    return verdict(
      false,
      0,
      0,
      `not enough history yet (${n} points over ${seconds(span)}; needs ${opts.minSamples} over ${seconds(opts.minWindowSecs)})`,
    );
  }

  // Sixths by time: sixth k holds the points in [k/6, (k+1)/6) of the span (the last one closed).
  let from = 0;
  for (let k = 0; k < 6; k++) {
    const edge = (span * (k + 1)) / 6;
    let to = from;
    if (k === 5) to = n;
    else while (to < n && winT[to]! < edge) to++;
    if (to === from) {
      return verdict(false, 0, 0, `history has a gap near ${seconds(edge)} into the window`);
    }
    sixthValue[k] = medianValue(from, to);
    sixthTime[k] = medianTime(from, to);
    from = to;
  }
  const s1 = sixthValue[0]!;
  const s2 = sixthValue[1]!;
  const s3 = sixthValue[2]!;
  const s4 = sixthValue[3]!;
  const s5 = sixthValue[4]!;
  const s6 = sixthValue[5]!;
  const c1 = sixthTime[0]!;
  const c2 = sixthTime[1]!;
  const c3 = sixthTime[2]!;
  const c4 = sixthTime[3]!;
  const c5 = sixthTime[4]!;
  const c6 = sixthTime[5]!;
  const resistant = c6 > c1 ? (s6 - s1) / (c6 - c1) : 0;
  if (resistant < opts.minSlopeBytesPerSec / 2 || resistant * span < opts.minGrowthBytes / 2) {
    return verdict(
      false,
      resistant,
      0,
      `no steady climb: ${rate(resistant)} over ${seconds(span)} (${mib(resistant * span)})`,
    );
  }
  const g1 = s2 - s1;
  const g2 = s4 - s3;
  const g3 = s6 - s5;
  const r = opts.minThirdGrowthRatio * resistant;
  if (g1 < r * (c2 - c1) || g2 < r * (c4 - c3) || g3 < r * (c6 - c5)) {
    return verdict(
      false,
      resistant,
      0,
      `growth is a step or burst, not a climb: the thirds of ${seconds(span)} rose ${mib(g1)}, ${mib(g2)}, ${mib(g3)}`,
    );
  }

  const peak = priorPeak(samples, opts.peakLookbackSecs);
  if (peak !== null && s6 <= peak[0]) {
    return verdict(
      false,
      resistant,
      0,
      `climbing, but not above its peak of ${seconds(peak[1])} earlier (${mib(s6 - peak[0])}): a sawtooth so far`,
    );
  }

  const slope = theilSenSlope(n, opts.maxPairs);
  const z = mannKendallZ(n);
  const confidence = normalCdf(z);
  const growth = slope * span;
  const facts = `${rate(slope)} over ${seconds(span)} (${mib(growth)}, Mann–Kendall Z ${z.toFixed(1)})`;
  if (slope < opts.minSlopeBytesPerSec) {
    return verdict(false, slope, confidence, `too slow: ${facts}, needs ${rate(opts.minSlopeBytesPerSec)}`);
  }
  if (growth < opts.minGrowthBytes) {
    return verdict(
      false,
      slope,
      confidence,
      `too little growth: ${facts}, needs ${mib(opts.minGrowthBytes)}`,
    );
  }
  if (z < opts.minZ) {
    return verdict(false, slope, confidence, `not a steady trend: ${facts}, needs Z ${opts.minZ}`);
  }
  return verdict(true, slope, confidence, `grows steadily at ${facts}`);
}

/**
 * Runs each test of `policy` in turn and returns the first verdict of "leaking"; otherwise the last
 * verdict that had enough history to judge (the longest view), or the first test's verdict.
 */
export function assessLeak(
  samples: SeriesRing | ArrayLike<TimedValue>,
  policy: readonly LeakOptions[] = DEFAULT_LEAK_POLICY,
): LeakVerdict {
  let answer: LeakVerdict | undefined;
  let judged: LeakVerdict | undefined;
  for (const opts of policy) {
    const v = leakVerdict(samples, opts);
    if (v.leaking) return v;
    answer ??= v;
    if (v.windowSecs >= opts.minWindowSecs) judged = v;
  }
  if (answer === undefined) throw new RangeError('assessLeak needs a policy with at least one test');
  return judged ?? answer;
}

/**
 * Seconds until `availableBytes` are used up at `slopeBytesPerSec`, for "memory runs out in ~N min".
 * Null when the series is not growing (or the inputs are not finite); 0 when nothing is available.
 */
export function timeToExhaustionSecs(slopeBytesPerSec: number, availableBytes: number): number | null {
  if (!(slopeBytesPerSec > 0) || !Number.isFinite(slopeBytesPerSec) || !Number.isFinite(availableBytes)) {
    return null;
  }
  return Math.max(0, availableBytes) / slopeBytesPerSec;
}
