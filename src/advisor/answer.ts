import * as v from 'valibot';
import { SEVERITIES, type Severity } from '../config/schema.js';
import type { ProcessSample } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { CATALOG, type Consent, type Risk } from '../respond/catalog.js';
import { type ActionPlan, type ProcessKnowledge, planFor } from '../respond/plan.js';
import { checkTarget, type PolicyContext } from '../respond/policy.js';
import { CATALOG_ACTION_IDS, type CatalogActionId, type Finding } from '../rules/types.js';

/**
 * What the model must answer, and what vigil makes of it. The shape is asked for with the Messages API's
 * structured output (`output_config.format`, a JSON schema) and validated again here with valibot: the
 * answer is untrusted input like any other. Its actions are only *suggestions*: each is mapped onto a
 * catalog entry and a target that appears in the context, or kept as text that vigil never runs.
 */

export const RISKS = ['safe', 'moderate', 'dangerous'] as const;
const RISK_RANK: Record<Risk, number> = { safe: 0, moderate: 1, dangerous: 2 };

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));

/** The answer as the model gives it: `diagnostic`, `severity`, `actions[]`, `prevention`. */
export const AnswerSchema = v.object({
  diagnostic: v.pipe(v.string(), v.minLength(1), v.maxLength(4000)),
  severity: v.picklist(SEVERITIES),
  actions: v.pipe(
    v.array(
      v.object({
        type: text(64),
        target: text(300),
        command: text(500),
        risk: v.picklist(RISKS),
        explanation: text(1500),
      }),
    ),
    v.maxLength(8),
  ),
  prevention: text(3000),
});
export type Answer = v.InferOutput<typeof AnswerSchema>;

/** The JSON schema sent as `output_config.format.schema` (the subset structured outputs accept). */
export const ANSWER_JSON_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['diagnostic', 'severity', 'actions', 'prevention'],
  properties: {
    diagnostic: { type: 'string', description: 'what is going on and why, in two to five sentences' },
    severity: { type: 'string', enum: [...SEVERITIES] },
    actions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'target', 'command', 'risk', 'explanation'],
        properties: {
          type: { type: 'string', enum: [...CATALOG_ACTION_IDS, 'custom'] },
          target: { type: 'string', description: 'a pid, a unit or a group named in the context' },
          command: { type: 'string', description: 'what a person would type; empty for catalog actions' },
          risk: { type: 'string', enum: [...RISKS] },
          explanation: { type: 'string' },
        },
      },
    },
    prevention: { type: 'string', description: 'how to keep it from happening again' },
  },
} as const;

export type ParsedAnswer = { ok: true; answer: Answer } | { ok: false; error: string };

/**
 * The longest text parsed as an answer: the schema's limits add up to about 26,000 characters, and JSON
 * around them (escapes included) stays well under this.
 */
export const MAX_ANSWER_CHARS = 256 * 1024;

/** Line breaks and tabs (C0, NEL, U+2028/9): an answer's field is shown as one paragraph. */
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]+/g;

/**
 * Model text made safe to show, as process names are (../model/text.ts): line breaks become a space and
 * every other control character — ESC of a cursor move or an OSC 52 clipboard write, BEL, C1 CSI, bidi
 * overrides — is written out (`\e]52;…`), so nothing the model writes acts on a terminal.
 */
export function printableAnswerText(text: string): string {
  return printable(text.replace(BREAKS, ' '));
}

/** Every text of an answer made printable (what is shown, stored and mapped is this form). */
function printableAnswer(answer: Answer): Answer {
  return {
    diagnostic: printableAnswerText(answer.diagnostic),
    severity: answer.severity,
    actions: answer.actions.map((a) => ({
      type: printableAnswerText(a.type),
      target: printableAnswerText(a.target),
      command: printableAnswerText(a.command),
      risk: a.risk,
      explanation: printableAnswerText(a.explanation),
    })),
    prevention: printableAnswerText(answer.prevention),
  };
}

/**
 * Parses and validates the model's text; a text longer than {@link MAX_ANSWER_CHARS} is refused unread.
 * The answer's texts come back printable ({@link printableAnswerText}), and so does the error, which may
 * quote the text. Never throws.
 */
export function parseAnswer(body: string): ParsedAnswer {
  if (body.length > MAX_ANSWER_CHARS)
    return {
      ok: false,
      error: `too long: ${body.length} characters, more than the ${MAX_ANSWER_CHARS} an answer can need`,
    };
  let data: unknown;
  try {
    // Tolerate a fenced block, the one liberty models take with JSON.
    const unfenced = body
      .trim()
      .replace(/^```(?:json)?\s*/i, '')
      .replace(/```\s*$/, '');
    data = JSON.parse(unfenced);
  } catch (error) {
    return { ok: false, error: printable(`not JSON: ${(error as Error).message}`.slice(0, 300)) };
  }
  const result = v.safeParse(AnswerSchema, data);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join('.') ?? '';
    return {
      ok: false,
      error: printable(
        `does not match the schema${path ? ` at ${path}` : ''}: ${issue?.message}`.slice(0, 300),
      ),
    };
  }
  return { ok: true, answer: printableAnswer(result.output) };
}

/** One suggestion of the model, after vigil judged it. */
export interface Suggestion {
  /** As the model wrote them (redacted), for a person to read. */
  readonly type: string;
  readonly target: string;
  readonly explanation: string;
  readonly modelRisk: Risk;
  /** `mapped`: a catalog action on targets from the context; `text`: shown, never run by vigil. */
  readonly status: 'mapped' | 'text';
  /** Why it is text only. */
  readonly reason: string | null;
  /** The model's own command, only for text suggestions (never run). */
  readonly modelCommand: string | null;
  readonly action: CatalogActionId | null;
  /** The catalog's risk, or the model's when it is more cautious: the model can lower confidence only. */
  readonly risk: Risk | null;
  readonly consent: Consent | null;
  /** Set when the model rated the action riskier than the catalog does. */
  readonly lowerConfidence: boolean;
  /** vigil's own command for it (suggest mode shows this), never the model's. */
  readonly command: string | null;
  readonly plan: ActionPlan | null;
}

/** What the mapping may use: the processes and units named in the context, and the findings. */
export interface MappingScope {
  /** Processes as sampled, to bind a target to its identity (pid + start time + cmdline). */
  readonly processes: readonly ProcessSample[];
  /** Pids the context showed the model: any other target is refused. */
  readonly contextPids: ReadonlySet<number>;
  /** Units the context named (failed units, finding subjects). */
  readonly contextUnits: ReadonlySet<string>;
  readonly findings: readonly Finding[];
  readonly knowledge: ProcessKnowledge;
  /** When given, each target is checked against the policy now, so a refusal shows at once. */
  readonly policy?: PolicyContext | null;
}

const PID_IN_TARGET = /(?<![\w.-])(\d{1,9})(?![\w.-])/g;

function pidsOf(target: string): number[] {
  return [...target.matchAll(PID_IN_TARGET)].map((m) => Number(m[1]));
}

/** Maps each suggested action onto the catalog and the context. Pure apart from the optional policy read. */
export function mapSuggestions(answer: Answer, scope: MappingScope): Suggestion[] {
  return answer.actions.map((a) => mapOne(a, scope));
}

function mapOne(a: Answer['actions'][number], scope: MappingScope): Suggestion {
  const base = {
    type: redact(a.type),
    target: redact(a.target),
    explanation: redact(a.explanation),
    modelRisk: a.risk,
  };
  const asText = (reason: string): Suggestion => ({
    ...base,
    status: 'text',
    reason,
    modelCommand: a.command.trim() === '' ? null : redact(a.command),
    action: null,
    risk: null,
    consent: null,
    lowerConfidence: false,
    command: null,
    plan: null,
  });
  const id = a.type.trim().toLowerCase();
  if (id === 'custom') return asText('a custom command: vigil only runs its own catalog actions');
  if (!(CATALOG_ACTION_IDS as readonly string[]).includes(id))
    return asText(`${a.type} is not a catalog action`);
  const action = id as CatalogActionId;
  const plan = planOf(action, a.target, scope);
  if (typeof plan === 'string') return asText(plan);
  if (scope.policy) {
    for (const target of plan.targets) {
      const verdict = checkTarget(target, scope.policy);
      if (!verdict.ok) return asText(`the policy refuses it: ${verdict.reason}`);
    }
  }
  const entry = CATALOG[action];
  const lowerConfidence = RISK_RANK[a.risk] > RISK_RANK[entry.risk];
  return {
    ...base,
    status: 'mapped',
    reason: null,
    modelCommand: null,
    action,
    risk: lowerConfidence ? a.risk : entry.risk,
    consent: entry.consent,
    lowerConfidence,
    command: plan.command || null,
    plan,
  };
}

/** The plan for one suggestion, or why there is none. */
function planOf(action: CatalogActionId, target: string, scope: MappingScope): ActionPlan | string {
  const synthetic = (pids: readonly number[], subject: string, reason: string): Finding => ({
    fingerprint: `advisor|${subject}`,
    rule: 'advisor',
    title: 'advisor',
    severity: 'info',
    scope: 'process',
    subject,
    summary: reason,
    pids,
    since: 0,
    suggest: [action],
    event: false,
  });
  if (action === 'notify_only') return planFor(synthetic([], 'none', 'advice'), action, [], scope.knowledge)!;
  if (action === 'restart_user_unit') {
    const unit = target.trim();
    if (!scope.contextUnits.has(unit)) return `unit ${unit || '(none)'} is not in the context`;
    return (
      planFor(synthetic([], unit, `restart ${unit}`), action, [], scope.knowledge) ?? `${unit} is not a unit`
    );
  }
  const pids = pidsOf(target);
  if (action === 'kill_matching') {
    const finding =
      pids.length > 0
        ? scope.findings.find((f) => pids.every((pid) => f.pids.includes(pid)))
        : scope.findings.find((f) => f.subject === target.trim() || f.rule === target.trim());
    if (!finding) return `${target || '(no target)'} is not a group of a finding in the context`;
    const members = pids.length > 0 ? pids : finding.pids;
    const outside = members.filter((pid) => !scope.contextPids.has(pid));
    if (outside.length > 0) return `pid ${outside.join(', ')} is not in the context`;
    return (
      planFor(
        synthetic(members, finding.subject, finding.summary),
        action,
        scope.processes,
        scope.knowledge,
      ) ?? 'no orphan left to stop in that group'
    );
  }
  if (pids.length === 0) return `no pid in the target ${JSON.stringify(target)}`;
  const outside = pids.filter((pid) => !scope.contextPids.has(pid));
  if (outside.length > 0) return `pid ${outside.join(', ')} is not in the context`;
  if (pids.includes(1)) return 'pid 1 is never touched';
  const plan = planFor(synthetic(pids, pids.join(','), 'advisor'), action, scope.processes, scope.knowledge);
  if (!plan) return `pid ${pids.join(', ')} is no longer running`;
  if (plan.targets.length !== pids.length && action !== 'kill_process_group')
    return `pid ${pids.filter((pid) => !plan.targets.some((t) => t.pid === pid)).join(', ')} is gone`;
  return plan;
}

/** The advice as stored (the `advice` column) and shown. */
export interface Advice {
  readonly model: string;
  readonly at: number;
  readonly diagnostic: string;
  readonly severity: Severity;
  readonly prevention: string;
  readonly suggestions: readonly Suggestion[];
}

/**
 * Advice read back from the store with its texts made printable. Advice parsed by this vigil already is;
 * a row written by an older one may hold raw control characters, which must not reach a terminal either.
 */
export function printableAdvice(advice: Advice): Advice {
  const clean = (text: string | null): string | null => (text === null ? null : printableAnswerText(text));
  return {
    ...advice,
    diagnostic: printableAnswerText(String(advice.diagnostic ?? '')),
    prevention: printableAnswerText(String(advice.prevention ?? '')),
    suggestions: (advice.suggestions ?? []).map((s) => ({
      ...s,
      type: printableAnswerText(String(s.type ?? '')),
      target: printableAnswerText(String(s.target ?? '')),
      explanation: printableAnswerText(String(s.explanation ?? '')),
      reason: clean(s.reason),
      modelCommand: clean(s.modelCommand),
      command: clean(s.command),
    })),
  };
}
