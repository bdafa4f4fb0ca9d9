import { performance } from 'node:perf_hooks';

/**
 * Where the pipeline takes its time from. `now()` is the wall clock (ms since the epoch): a sample's
 * `takenAt`, hence the time rules' `for` durations, hysteresis, lineage and baselines count in. `mono()` is
 * a monotonic clock (ms): what rates and leak slopes divide by, and what collector periods and backoff are
 * measured in. Nothing under the Watcher reads `Date.now` or `performance.now` for its judgements.
 */
export interface Clock {
  now(): number;
  mono(): number;
}

/** The machine's clocks. */
export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  mono: () => performance.now(),
};

/**
 * A clock that moves only when told: tests run minutes of behaviour in milliseconds, and a replay of the
 * history sets it to each stored sample's time. Both readings move together (the monotonic one starts
 * at 0).
 */
export class FakeClock implements Clock {
  private wallMs: number;
  private monoMs = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.wallMs = startMs;
  }

  now(): number {
    return this.wallMs;
  }

  mono(): number {
    return this.monoMs;
  }

  /** Moves both clocks forward by `ms` (a negative step is refused: time does not run back). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock moves forward, not by ${ms} ms`);
    this.wallMs += ms;
    this.monoMs += ms;
  }

  /** Moves to wall time `ms` (forward only), the monotonic clock by as much. */
  set(ms: number): void {
    this.advance(ms - this.wallMs);
  }
}
