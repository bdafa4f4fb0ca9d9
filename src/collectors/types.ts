import type { HostPaths } from '../host/paths.js';

/** Where journal entries come from: the live system journal, one journal file, or a directory of them. */
export type JournalSource =
  | { readonly kind: 'system' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'directory'; readonly path: string };

/** Everything a collector may need to know to take one sample. */
export interface CollectContext {
  readonly paths: HostPaths;
  /** Wall clock of this sample, ms since the epoch. */
  readonly nowMs: number;
  /**
   * Monotonic clock of this sample, ms (performance.now()): recorded in each collector's status, and what
   * the rates derived between two samples divide by.
   */
  readonly monoMs: number;
  /** Path or name of the nvidia-smi program. */
  readonly nvidiaSmi: string;
  readonly journal: JournalSource;
  /** journalctl `--since` value for one-shot reads, e.g. `-1h`. */
  readonly journalSince: string;
  /** Upper bound for any external command (nvidia-smi, journalctl). */
  readonly commandTimeoutMs: number;
  /** Aborted when whoever runs the collectors stops: external commands end at once. */
  readonly signal?: AbortSignal;
}

/** Thrown by a collector whose source does not exist here (no GPU, no PSI, no journal). Not an error. */
export class Unsupported extends Error {
  override readonly name = 'Unsupported';
}

/** Lets a collector say it skipped one item (a garbled file, a vanished device) and why. */
export interface CollectReport {
  skip(reason: string): void;
}

/**
 * One source of facts. `collect` does the I/O and returns the slice; the pure `parseX(text)` functions
 * beside it do the parsing. A collector returns raw readings: cumulative counters (CPU ticks and seconds,
 * sectors, bytes) as read, never a rate, which the pipeline derives from two samples (pipeline/derive.ts,
 * as below's `Model::new(sample, prev)`). It keeps nothing between calls but caches of stable facts (a
 * process's argv and owner, read once per process) and readings it chooses not to repeat every time.
 */
export interface Collector<T> {
  readonly name: string;
  collect(ctx: CollectContext, report: CollectReport): T | Promise<T>;
}

/** A collector that only reads files and so answers synchronously (the fast path uses these). */
export interface SyncCollector<T> extends Collector<T> {
  collect(ctx: CollectContext, report: CollectReport): T;
}
