/**
 * Learned baselines for the `baseline_anomaly` rule: a running mean and variance of each metric for each
 * hour of the local day (0–23), so "400 % CPU at 03:00" can be unusual on a machine that is busy at 15:00.
 *
 * Each (metric, hour) cell is updated in O(1) with Welford's recurrence, so nothing but three numbers per
 * cell is kept. The daemon persists the cells as {@link BaselineRow}s in SQLite and restores them with
 * {@link Baselines.fromRows}.
 *
 * Forgetting: once a cell holds `memory` observations it switches to an exponentially weighted mean and
 * variance with weight 1/`memory` for each new observation, so the baseline follows a machine whose use
 * changes (a new job, a new project) while the count stays at `memory`. The default of 840 is two weeks of
 * one observation a minute per hour of the day; a caller observing more often should raise it in
 * proportion. `memory: Infinity` keeps the exact all-time statistics.
 */

/** One persisted cell. `m2` is the sum of squared deviations from the mean (Welford's M2). */
export interface BaselineRow {
  readonly metric: string;
  readonly hour: number;
  readonly count: number;
  readonly mean: number;
  readonly m2: number;
}

export interface BaselineStats {
  readonly count: number;
  readonly mean: number;
  /** Sample standard deviation; 0 with fewer than two observations. */
  readonly stddev: number;
}

export interface BaselineOptions {
  /** z-scores are withheld until a cell has this many observations. */
  readonly minCount: number;
  /** …and while its standard deviation is at most this (a constant metric has no meaningful z). */
  readonly minStddev: number;
  /** Observations after which old ones fade exponentially (see the module comment). */
  readonly memory: number;
}

export const DEFAULT_BASELINE_OPTIONS: BaselineOptions = { minCount: 30, minStddev: 1e-9, memory: 840 };

const HOURS = 24;
// Per metric, one Float64Array of 24 × [count, mean, m2].
const COUNT = 0;
const MEAN = 1;
const M2 = 2;

export class Baselines {
  private readonly cells = new Map<string, Float64Array>();
  private readonly options: BaselineOptions;

  constructor(options: Partial<BaselineOptions> = {}) {
    this.options = { ...DEFAULT_BASELINE_OPTIONS, ...options };
    const { minCount, memory } = this.options;
    if (!(minCount >= 2) || !(memory >= 2) || Number.isNaN(this.options.minStddev)) {
      throw new RangeError(`Baselines need minCount ≥ 2 and memory ≥ 2, got ${minCount} and ${memory}`);
    }
  }

  /** Adds one observation. Non-finite values are ignored; an hour outside 0–23 is a programming error. */
  observe(metric: string, hour: number, value: number): void {
    checkHour(hour);
    if (!Number.isFinite(value)) return;
    let cells = this.cells.get(metric);
    if (cells === undefined) {
      cells = new Float64Array(HOURS * 3);
      this.cells.set(metric, cells);
    }
    const at = hour * 3;
    const count = cells[at + COUNT]!;
    const mean = cells[at + MEAN]!;
    const delta = value - mean;
    if (count < this.options.memory) {
      // Welford: the mean moves by delta/n; M2 grows by delta × (value − new mean).
      const n = count + 1;
      const next = mean + delta / n;
      cells[at + COUNT] = n;
      cells[at + MEAN] = next;
      cells[at + M2] = cells[at + M2]! + delta * (value - next);
      return;
    }
    // Exponentially weighted, weight alpha on the new value: the mean moves by alpha × delta and the
    // variance becomes (1 − alpha)(variance + alpha × delta²). Stored back as M2 = variance × (n − 1) with
    // n = memory, so that stats() and the persisted rows read the same way in both regimes (a cell
    // restored with a larger count than this memory is brought down to it here).
    const memory = this.options.memory;
    const alpha = 1 / memory;
    const variance = cells[at + M2]! / (count - 1);
    const nextVariance = (1 - alpha) * (variance + alpha * delta * delta);
    cells[at + COUNT] = memory;
    cells[at + MEAN] = mean + alpha * delta;
    cells[at + M2] = nextVariance * (memory - 1);
  }

  /** The cell's statistics, or null when it has no observations. */
  stats(metric: string, hour: number): BaselineStats | null {
    checkHour(hour);
    const cells = this.cells.get(metric);
    const at = hour * 3;
    const count = cells?.[at + COUNT] ?? 0;
    if (cells === undefined || count === 0) return null;
    return { count, mean: cells[at + MEAN]!, stddev: stddevOf(count, cells[at + M2]!) };
  }

  /**
   * (value − mean) / stddev for this metric at this hour; null until the cell has `minCount`
   * observations and while its stddev is at most `minStddev` (or numerically zero next to the mean).
   */
  zScore(metric: string, hour: number, value: number): number | null {
    checkHour(hour);
    const cells = this.cells.get(metric);
    if (cells === undefined || !Number.isFinite(value)) return null;
    const at = hour * 3;
    const count = cells[at + COUNT]!;
    if (count < this.options.minCount) return null;
    const mean = cells[at + MEAN]!;
    const stddev = stddevOf(count, cells[at + M2]!);
    if (stddev <= Math.max(this.options.minStddev, Math.abs(mean) * 1e-12)) return null;
    return (value - mean) / stddev;
  }

  /** Every non-empty cell, ordered by metric then hour, for persisting. */
  toRows(): BaselineRow[] {
    const rows: BaselineRow[] = [];
    for (const metric of [...this.cells.keys()].sort()) {
      const cells = this.cells.get(metric)!;
      for (let hour = 0; hour < HOURS; hour++) {
        const at = hour * 3;
        const count = cells[at + COUNT]!;
        if (count > 0) rows.push({ metric, hour, count, mean: cells[at + MEAN]!, m2: cells[at + M2]! });
      }
    }
    return rows;
  }

  /**
   * Rebuilds baselines from persisted rows. Throws, naming the row, on an hour outside 0–23, a negative or
   * non-finite count, mean or m2, or a repeated (metric, hour): a corrupt table is better reported than
   * silently learned from.
   */
  static fromRows(rows: Iterable<BaselineRow>, options: Partial<BaselineOptions> = {}): Baselines {
    const baselines = new Baselines(options);
    let index = 0;
    for (const row of rows) {
      const where = `baseline row ${index} (${JSON.stringify(row.metric)}, hour ${row.hour})`;
      if (!Number.isInteger(row.hour) || row.hour < 0 || row.hour >= HOURS) {
        throw new Error(`${where}: hour must be an integer 0–23`);
      }
      const finite = Number.isFinite(row.count) && Number.isFinite(row.mean) && Number.isFinite(row.m2);
      if (!finite || row.count < 0 || row.m2 < 0) {
        throw new Error(`${where}: count, mean and m2 must be finite and count, m2 ≥ 0`);
      }
      let cells = baselines.cells.get(row.metric);
      if (cells === undefined) {
        cells = new Float64Array(HOURS * 3);
        baselines.cells.set(row.metric, cells);
      }
      const at = row.hour * 3;
      if (cells[at + COUNT]! > 0) throw new Error(`${where}: repeats an earlier row`);
      cells[at + COUNT] = row.count;
      cells[at + MEAN] = row.mean;
      cells[at + M2] = row.m2;
      index++;
    }
    return baselines;
  }
}

function stddevOf(count: number, m2: number): number {
  return count >= 2 ? Math.sqrt(Math.max(0, m2) / (count - 1)) : 0;
}

function checkHour(hour: number): void {
  if (!Number.isInteger(hour) || hour < 0 || hour >= HOURS) {
    throw new RangeError(`hour must be an integer 0–23, got ${hour}`);
  }
}

/** The hour of the day (0–23) of `tMs` (ms since the epoch) in the machine's local time zone. */
export function hourOf(tMs: number): number {
  return new Date(tMs).getHours();
}
