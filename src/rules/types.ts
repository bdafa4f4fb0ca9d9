import type { Severity } from '../config/schema.js';
import type { Scope } from '../understand/facts-schema.js';
import type { CelProgram, Template } from './cel.js';

/** The catalog actions a rule may suggest (the action catalog implements them; rules only name them). */
export const CATALOG_ACTION_IDS = [
  'kill_process',
  'kill_process_group',
  'kill_matching',
  'renice',
  'ionice_idle',
  'restart_user_unit',
  'notify_only',
] as const;
export type CatalogActionId = (typeof CATALOG_ACTION_IDS)[number];

/** A rule as written in a file, after validation. */
export interface RuleSpec {
  readonly id: string;
  readonly title: string;
  readonly description?: string;
  readonly severity: Severity;
  readonly scope: Scope;
  readonly when: string;
  readonly for: string;
  readonly clear_when?: string;
  readonly clear_for: string;
  readonly escalate: readonly { readonly severity: Severity; readonly when: string }[];
  readonly summary: string;
  readonly suggest: readonly CatalogActionId[];
  readonly supersedes: readonly string[];
  readonly enabled: boolean;
}

/** A rule ready to evaluate. */
export interface Rule {
  readonly spec: RuleSpec;
  readonly id: string;
  /** Where the rule comes from; a user file when it overrides a shipped rule. */
  readonly file: string;
  readonly line: number | null;
  readonly forMs: number;
  readonly clearForMs: number;
  readonly when: CelProgram;
  readonly clearWhen: CelProgram | null;
  readonly escalate: readonly { readonly severity: Severity; readonly when: CelProgram }[];
  readonly summary: Template;
  /** True when one look cannot judge it: it holds for a duration or reads history-derived facts. */
  readonly needsHistory: boolean;
  /** Journal rules report events: raised once, never "resolved". */
  readonly event: boolean;
}

/** A rule that holds for one subject: what `status`, notifications and alerts show. */
export interface Finding {
  readonly fingerprint: string;
  readonly rule: string;
  readonly title: string;
  readonly severity: Severity;
  readonly scope: Scope;
  readonly subject: string;
  readonly summary: string;
  readonly pids: readonly number[];
  /** When the condition started to hold (ms since the epoch). */
  readonly since: number;
  readonly suggest: readonly CatalogActionId[];
  readonly event: boolean;
}
