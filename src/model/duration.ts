/**
 * Durations as rules, config and the command line write them. A module of its own so that `vigil report
 * --since 7d` does not load the rules engine (and its CEL interpreter) to read "7d".
 */

/** One or more `<number><unit>` parts: `90s`, `5m`, `1h30m`, `250ms`, `7d`. */
export const DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `5m`, `1h30m`, `250ms` → milliseconds. */
export function parseDuration(text: string): number {
  if (!DURATION.test(text))
    throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 30s, 5m, 1h30m)`);
  let total = 0;
  for (const [, n, u] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(n) * UNIT_MS[u!]!;
  return total;
}
