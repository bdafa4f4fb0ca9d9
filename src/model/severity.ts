/**
 * How serious a finding is, lowest first. The order is the one place severities are ranked: the engine
 * sorts and escalates by it, the notifier filters channels by it, the advisor and `vigil watch` order by it.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A severity's rank: info 0 … critical 4. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = {
  info: 0,
  low: 1,
  medium: 2,
  high: 3,
  critical: 4,
};

/** Most severe first: a comparator for `sort`. */
export function bySeverityDesc(a: { severity: Severity }, b: { severity: Severity }): number {
  return SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity];
}

/** Most severe first, then the oldest first: how findings and alerts are listed everywhere. */
export function bySeverityThenSince(
  a: { severity: Severity; since: number },
  b: { severity: Severity; since: number },
): number {
  return bySeverityDesc(a, b) || a.since - b.since;
}
