/** The fast path's period: 1 s when memory is comfortable, down to 100 ms under pressure (as earlyoom). */
export const FAST_MAX_MS = 1000;
export const FAST_MIN_MS = 100;

/**
 * How long the fast path (Watcher.fastCycle) waits before its next look, as earlyoom adapts its sleep:
 * 1 s while used memory is more than 10 points under the warning level, shrinking linearly to 100 ms at
 * the critical level, and 100 ms at once when tasks are stalled on memory (PSI full ≥ 5 % over 10 s).
 */
export function fastPauseMs(
  sys: { mem_used_percent: number; psi_mem_full_avg10: number },
  t: { ram_warn_percent: number; ram_critical_percent: number },
): number {
  if (sys.psi_mem_full_avg10 >= 5) return FAST_MIN_MS;
  const start = t.ram_warn_percent - 10;
  if (sys.mem_used_percent <= start) return FAST_MAX_MS;
  const share = Math.min(1, (sys.mem_used_percent - start) / Math.max(1, t.ram_critical_percent - start));
  return Math.round(FAST_MAX_MS - share * (FAST_MAX_MS - FAST_MIN_MS));
}
