import { createHash } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { HostPaths } from '../host/paths.js';
import { SEVERITY_RANK } from '../model/severity.js';
import type { JournalEntry, Snapshot } from '../model/snapshot.js';
import { redact } from '../redact/redact.js';
import { liveOwnerIn, type ProcessKnowledge } from '../respond/plan.js';
import { policyContext } from '../respond/policy.js';
import type { Finding } from '../rules/types.js';
import type { OpenedStore } from '../store/store.js';
import type { SnapshotRecord } from '../store/types.js';
import type { FactSet } from '../understand/facts-schema.js';
import { type Advice, mapSuggestions, parseAnswer } from './answer.js';
import type { CallResult } from './client.js';
import {
  type AdvisorRequest,
  buildContext,
  buildRequest,
  contextRedactor,
  contextTargets,
  findingQuestion,
} from './context.js';
import { type AdviceStore, adviceStoreOf } from './store.js';

/**
 * The advisor in the daemon. After each full cycle the daemon hands it the findings; it asks Claude only
 * when a rule fired (a finding it has not asked about), at most once per `cooldown_secs`, never more than
 * `daily_call_budget` times in 24 hours, and not at all when the same situation (model + rule + subject +
 * severity) was answered in the last `CACHE_TTL_MS`. The call runs in the background: `afterCycle`
 * returns at once and never throws. Advice is stored with its alert and handed to `onAdvice`.
 *
 * Nothing here runs anything: suggestions are mapped onto the catalog and checked against the policy, and
 * returned as data. Failures degrade to rules only, each with one notice: no key (off), 401 (off until the
 * key changes), 429 (waits for retry-after), 5xx and timeouts (exponential backoff), malformed answers
 * (logged, ignored).
 */

/** A situation answered this recently is not asked again. */
export const CACHE_TTL_MS = 6 * 3_600_000;
/** `vigil explain` reuses an answer about the same process this long. */
export const EXPLAIN_CACHE_TTL_MS = 10 * 60_000;
/** The window of the daily call budget. */
export const BUDGET_WINDOW_MS = 24 * 3_600_000;
/** Backoff after 5xx, timeouts and network errors: 30 s, doubling, at most 30 minutes. */
export const BACKOFF_BASE_MS = 30_000;
export const BACKOFF_MAX_MS = 30 * 60_000;
/** A 429 without retry-after waits this long. */
export const DEFAULT_RETRY_AFTER_MS = 60_000;
/** A request the API rejects (bad model id…) is not retried for this long. */
const REJECTED_PAUSE_MS = 10 * 60_000;
/** A journal event stays askable this long; firing findings stay as long as they fire. */
const EVENT_PENDING_MS = 10 * 60_000;
const MAX_PENDING = 20;
/** Recent abnormal journal entries kept for the context. */
const JOURNAL_WINDOW_MS = 30 * 60_000;
const JOURNAL_KEEP = 50;
/** Process history the context summarises. */
const HISTORY_WINDOW_MS = 60 * 60_000;

/** What `onAdvice` receives. */
export interface AdviceEvent {
  readonly finding: Finding;
  readonly alertId: number | null;
  readonly advice: Advice;
  /** True when a stored answer for the same situation was reused, without a call. */
  readonly cached: boolean;
}

export interface AdvisorOptions {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  /** The history store: advice table, open alerts, process history. Null: in-memory limits only. */
  readonly store: OpenedStore | null;
  readonly paths: HostPaths;
  /** One line per notice (the daemon's log). */
  readonly log: (line: string) => void;
  readonly onAdvice?: (event: AdviceEvent) => void;
  readonly now?: () => number;
  /** The call; default: the SDK in a short-lived child process (the daemon's memory stays flat). */
  readonly call?: (request: AdvisorRequest, settings: CallSettingsLike) => Promise<CallResult>;
}

export interface CallSettingsLike {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** The input of one cycle: what the daemon has after `decide`. */
export interface CycleInput {
  readonly snapshot: Snapshot;
  readonly facts: FactSet;
  readonly raised: readonly Finding[];
  readonly firing: readonly Finding[];
  /** Alert ids of the raised findings, by fingerprint. */
  readonly alertIds?: ReadonlyMap<string, number>;
}

interface Pending {
  finding: Finding;
  alertId: number | null;
  addedAt: number;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** The cache key of a finding's situation. */
export function findingCacheKey(model: string, finding: Finding): string {
  return sha(`${model}\n${finding.rule}\n${finding.subject}\n${finding.severity}`);
}

/** The key to use, from the configured variable; null when unset or blank. */
export function apiKeyFrom(config: Config, env: NodeJS.ProcessEnv): string | null {
  const key = env[config.ai.api_key_env]?.trim();
  return key ? key : null;
}

/** `[ai] base_url`, else ANTHROPIC_BASE_URL, else '' (the SDK default). */
export function baseUrlFrom(config: Config, env: NodeJS.ProcessEnv): string {
  return config.ai.base_url || env['ANTHROPIC_BASE_URL'] || '';
}

/** Whether a live process still owns this one (the planner keeps such members of a group). */
export function knowledgeFrom(snapshot: Snapshot, facts: FactSet): ProcessKnowledge {
  return { liveOwner: liveOwnerIn(snapshot.processes ?? [], facts) };
}

async function defaultCall(request: AdvisorRequest, settings: CallSettingsLike): Promise<CallResult> {
  const { callModel } = await import('./client.js');
  return callModel(request, settings);
}

/** The daemon's call: from a short-lived child, so the SDK never stays in the daemon's memory. */
async function childCall(request: AdvisorRequest, settings: CallSettingsLike): Promise<CallResult> {
  const { callModelInChild } = await import('./client.js');
  return callModelInChild(request, settings);
}

export class Advisor {
  private config: Config;
  private readonly advice: AdviceStore | null;
  private readonly now: () => number;
  private readonly call: NonNullable<AdvisorOptions['call']>;
  private readonly pending = new Map<string, Pending>();
  private readonly seen = new Set<string>();
  private journal: JournalEntry[] = [];
  private inFlight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private closed = false;
  /** In-memory call times, when there is no store to count them in. */
  private readonly calls: number[] = [];
  private notBefore = 0;
  private failures = 0;
  private refusedKey: string | null = null;
  private lastNotice: string | null = null;
  private lastPruneAt = 0;

  constructor(private readonly options: AdvisorOptions) {
    this.config = options.config;
    this.now = options.now ?? Date.now;
    this.call = options.call ?? childCall;
    this.advice = adviceStoreOf(options.store);
  }

  /** A new configuration (SIGHUP): model, limits and key variable take effect at the next call. */
  reconfigure(config: Config): void {
    this.config = config;
    if (!config.ai.enabled) this.pending.clear();
  }

  /** Says a thing once (until something else is said): no key, key refused, budget reached. */
  private notice(line: string): void {
    if (this.lastNotice === line) return;
    this.lastNotice = line;
    this.options.log(redact(line));
  }

  /** Called by the daemon after each full cycle. Returns at once; never throws. */
  afterCycle(input: CycleInput): void {
    if (this.closed || !this.config.ai.enabled) return;
    try {
      this.observe(input);
      this.next(input);
    } catch (error) {
      this.options.log(`advisor: ${redact((error as Error).message)} (rules go on without it)`);
    }
  }

  /** Resolves when no call is in flight (tests, `--once`). */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Stops: aborts a call in flight; nothing more is stored. */
  close(): void {
    this.closed = true;
    this.abort?.abort();
  }

  private observe(input: CycleInput): void {
    const now = this.now();
    for (const entry of input.snapshot.journal ?? []) if (entry.priority <= 4) this.journal.push(entry);
    this.journal = this.journal.filter((e) => e.time >= now - JOURNAL_WINDOW_MS).slice(-JOURNAL_KEEP);

    const firing = new Set(input.firing.map((f) => f.fingerprint));
    const openIds = new Map<string, number>();
    let openLoaded = false;
    const alertIdOf = (fingerprint: string): number | null => {
      const known = input.alertIds?.get(fingerprint);
      if (known !== undefined) return known;
      if (!openLoaded && this.options.store) {
        openLoaded = true;
        try {
          for (const a of this.options.store.openAlerts()) openIds.set(a.fingerprint, a.id);
        } catch {
          // the store is failing: advice goes unlinked
        }
      }
      return openIds.get(fingerprint) ?? null;
    };
    const raisedNow = new Set(input.raised.map((f) => f.fingerprint));
    for (const finding of [...input.raised, ...input.firing]) {
      if (this.seen.has(finding.fingerprint) && !raisedNow.has(finding.fingerprint)) continue;
      if (!finding.event) this.seen.add(finding.fingerprint);
      if (finding.severity === 'info' || this.pending.has(finding.fingerprint)) continue;
      const alertId = alertIdOf(finding.fingerprint);
      if (alertId !== null && this.advice?.hasAdviceFor(alertId)) continue;
      this.pending.set(finding.fingerprint, { finding, alertId, addedAt: now });
    }
    for (const fingerprint of this.seen) if (!firing.has(fingerprint)) this.seen.delete(fingerprint);
    for (const [fingerprint, p] of this.pending) {
      const stale = p.finding.event ? now - p.addedAt > EVENT_PENDING_MS : !firing.has(fingerprint);
      if (stale) this.pending.delete(fingerprint);
    }
    while (this.pending.size > MAX_PENDING) {
      const oldest = [...this.pending.entries()].sort((a, b) => a[1].addedAt - b[1].addedAt)[0]!;
      this.pending.delete(oldest[0]);
    }
    if (this.advice && now - this.lastPruneAt > 3_600_000) {
      this.lastPruneAt = now;
      this.advice.prune(now - this.config.history.retention_hours * 3_600_000, 500);
    }
  }

  private lastCallAt(): number | null {
    if (this.advice) return this.advice.lastCallAt();
    return this.calls.at(-1) ?? null;
  }

  private callsSince(from: number): number {
    if (this.advice) return this.advice.callsSince(from);
    return this.calls.filter((t) => t >= from).length;
  }

  private next(input: CycleInput): void {
    if (this.inFlight || this.pending.size === 0) return;
    const ai = this.config.ai;
    const key = apiKeyFrom(this.config, this.options.env);
    if (key === null) {
      this.notice(`advisor off: ${ai.api_key_env} is not set; vigil goes on with its rules only`);
      this.pending.clear();
      return;
    }
    if (this.refusedKey === sha(key)) {
      this.pending.clear();
      return;
    }
    const now = this.now();
    const order = [...this.pending.values()].sort(
      (a, b) =>
        SEVERITY_RANK[b.finding.severity] - SEVERITY_RANK[a.finding.severity] || a.addedAt - b.addedAt,
    );
    // Cached situations are answered at once, without a call.
    for (const p of order) {
      const cached = this.advice?.cached(findingCacheKey(ai.model, p.finding), now - CACHE_TTL_MS) ?? null;
      if (!cached) continue;
      this.pending.delete(p.finding.fingerprint);
      this.advice?.record({
        at: now,
        fingerprint: p.finding.fingerprint,
        alertId: p.alertId,
        pid: p.finding.pids[0] ?? null,
        cacheKey: findingCacheKey(ai.model, p.finding),
        model: ai.model,
        outcome: 'cached',
        advice: cached,
      });
      this.emit({ finding: p.finding, alertId: p.alertId, advice: cached, cached: true });
    }
    const first = order.find((p) => this.pending.has(p.finding.fingerprint));
    if (!first) return;
    if (now < this.notBefore) return;
    const last = this.lastCallAt();
    if (last !== null && now - last < ai.cooldown_secs * 1000) return;
    if (this.callsSince(now - BUDGET_WINDOW_MS) >= ai.daily_call_budget) {
      this.notice(
        `advisor: the daily budget of ${ai.daily_call_budget} calls is spent; rules only until calls older than 24 h age out`,
      );
      return;
    }
    this.pending.delete(first.finding.fingerprint);
    const task = this.ask(first, input, key).catch((error: unknown) => {
      this.options.log(`advisor: ${redact((error as Error).message)} (rules go on without it)`);
    });
    this.inFlight = task.finally(() => {
      this.inFlight = null;
      this.abort = null;
    });
  }

  private async ask(p: Pending, input: CycleInput, key: string): Promise<void> {
    const ai = this.config.ai;
    const now = this.now();
    let history: SnapshotRecord[] = [];
    try {
      history = this.options.store?.snapshotsBetween(now - HISTORY_WINDOW_MS, now) ?? [];
    } catch {
      // no history: the context goes without it
    }
    const others = input.firing.filter((f) => f.fingerprint !== p.finding.fingerprint);
    const context = buildContext({
      snapshot: input.snapshot,
      facts: input.facts,
      findings: [p.finding, ...others],
      journal: this.journal,
      history,
      anonymize: ai.anonymize,
      now,
    });
    const redactText = contextRedactor(input.snapshot, ai.anonymize);
    const request = buildRequest(findingQuestion(p.finding, redactText), context, {
      model: ai.model,
      maxTokens: ai.max_tokens,
      language: this.config.general.language,
    });
    const cacheKey = findingCacheKey(ai.model, p.finding);
    const record = (outcome: Parameters<AdviceStore['record']>[0]['outcome'], advice: Advice | null) => {
      if (this.closed) return;
      this.calls.push(now);
      if (this.calls.length > 1000) this.calls.splice(0, this.calls.length - 1000);
      try {
        this.advice?.record({
          at: now,
          fingerprint: p.finding.fingerprint,
          alertId: p.alertId,
          pid: p.finding.pids[0] ?? null,
          cacheKey,
          model: ai.model,
          outcome,
          advice,
        });
      } catch (error) {
        this.options.log(`advisor: cannot store advice: ${(error as Error).message}`);
      }
    };
    this.abort = new AbortController();
    const result = await this.call(request, {
      apiKey: key,
      baseUrl: baseUrlFrom(this.config, this.options.env),
      timeoutMs: ai.timeout_secs * 1000,
      signal: this.abort.signal,
    });
    if (this.closed || result.kind === 'aborted') return;
    const retry = () => {
      if (!this.pending.has(p.finding.fingerprint)) this.pending.set(p.finding.fingerprint, p);
    };
    switch (result.kind) {
      case 'ok': {
        this.failures = 0;
        const advice = this.judge(result.text, result.stopReason, input, context);
        if (typeof advice === 'string') {
          record('malformed', null);
          this.options.log(`advisor: ignored a malformed answer about ${p.finding.rule}: ${advice}`);
          return;
        }
        record('ok', advice);
        this.lastNotice = null;
        this.emit({ finding: p.finding, alertId: p.alertId, advice, cached: false });
        return;
      }
      case 'auth':
        record('auth', null);
        this.refusedKey = sha(key);
        this.pending.clear();
        this.notice(
          `advisor off: the API key in ${ai.api_key_env} was refused (${result.detail}); rules only until the key changes`,
        );
        return;
      case 'rate_limited': {
        record('rate_limited', null);
        const wait = result.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
        this.notBefore = this.now() + wait;
        retry();
        this.options.log(`advisor: rate limited (429); next try in ${Math.ceil(wait / 1000)} s`);
        return;
      }
      case 'server':
      case 'timeout':
      case 'network': {
        record(result.kind, null);
        this.failures++;
        const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.failures - 1));
        this.notBefore = this.now() + wait;
        retry();
        this.options.log(
          `advisor: ${result.kind === 'timeout' ? 'no answer in time' : result.kind === 'server' ? 'server error' : 'cannot reach the API'} (${result.detail}); next try in ${Math.ceil(wait / 1000)} s`,
        );
        return;
      }
      case 'rejected':
        record('rejected', null);
        this.notBefore = this.now() + REJECTED_PAUSE_MS;
        this.options.log(`advisor: the API rejected the request (${result.detail}); check [ai] model`);
        return;
      case 'too_large':
        record('too_large', null);
        this.options.log(`advisor: ignored an answer about ${p.finding.rule}: ${result.detail}`);
        return;
    }
  }

  /** Validates and maps an answer; returns why it is unusable instead. */
  private judge(
    text: string,
    stopReason: string | null,
    input: CycleInput,
    context: ReturnType<typeof buildContext>,
  ): Advice | string {
    if (stopReason === 'refusal') return 'the model refused';
    const parsed = parseAnswer(text);
    if (!parsed.ok) return stopReason === 'max_tokens' ? `cut at max_tokens (${parsed.error})` : parsed.error;
    const targets = contextTargets(context);
    const suggestions = mapSuggestions(parsed.answer, {
      processes: input.snapshot.processes ?? [],
      contextPids: targets.pids,
      contextUnits: targets.units,
      findings: input.firing,
      knowledge: knowledgeFrom(input.snapshot, input.facts),
      policy: policyContext(this.options.paths, this.config),
    });
    return {
      model: this.config.ai.model,
      at: this.now(),
      diagnostic: redact(parsed.answer.diagnostic),
      severity: parsed.answer.severity,
      prevention: redact(parsed.answer.prevention),
      suggestions,
    };
  }

  private emit(event: AdviceEvent): void {
    try {
      this.options.onAdvice?.(event);
    } catch (error) {
      this.options.log(`advisor: ${(error as Error).message}`);
    }
  }
}

/** Lines for the terminal channel: the diagnostic, then each suggestion as vigil judged it. */
export function adviceLines(event: AdviceEvent): string[] {
  const { advice, finding, alertId } = event;
  const lines = [
    `ADVICE   ${finding.rule}${alertId !== null ? ` (alert ${alertId})` : ''}: ${oneLine(advice.diagnostic)}${event.cached ? ' [cached]' : ''}`,
  ];
  for (const s of advice.suggestions) {
    if (s.status === 'mapped')
      lines.push(
        `  option: ${s.action}${s.command ? ` (${s.command})` : ''}, ${s.risk}${s.lowerConfidence ? ', the advisor is less sure than the catalog' : ''}: ${oneLine(s.explanation)}`,
      );
    else
      lines.push(
        `  text only, never run by vigil: ${oneLine(s.modelCommand ?? `${s.type} ${s.target}`)} (${s.reason})`,
      );
  }
  if (advice.prevention) lines.push(`  prevention: ${oneLine(advice.prevention)}`);
  return lines.map((line) => redact(line));
}

function oneLine(text: string): string {
  // Masked before the cut, which would leave half a token that no longer looks like one.
  const flat = redact(text).replace(/\s+/g, ' ').trim();
  return flat.length > 400 ? `${flat.slice(0, 399)}…` : flat;
}

/** What `askOnce` gives back: advice, or why there is none (said once, in one line). */
export type OnceResult =
  | { readonly kind: 'advice'; readonly advice: Advice; readonly cached: boolean }
  | { readonly kind: 'unavailable'; readonly reason: string };

/**
 * One question outside the daemon (`vigil explain`): the same key, budget, cache and validation rules,
 * recorded in the same table (with the pid, no alert). No cooldown: a person asked. Never throws.
 */
export async function askOnce(options: {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly store: OpenedStore | null;
  readonly paths: HostPaths;
  readonly request: AdvisorRequest;
  readonly cacheKey: string;
  readonly pid: number | null;
  readonly mapping: {
    snapshot: Snapshot;
    facts: FactSet;
    findings: readonly Finding[];
    context: ReturnType<typeof buildContext>;
  };
  readonly call?: AdvisorOptions['call'];
  readonly now?: () => number;
}): Promise<OnceResult> {
  const { config, env } = options;
  const ai = config.ai;
  const now = (options.now ?? Date.now)();
  const key = apiKeyFrom(config, env);
  if (key === null) return { kind: 'unavailable', reason: `${ai.api_key_env} is not set` };
  const store = adviceStoreOf(options.store);
  try {
    const cached = store?.cached(options.cacheKey, now - EXPLAIN_CACHE_TTL_MS) ?? null;
    if (cached) return { kind: 'advice', advice: cached, cached: true };
    if (store && store.callsSince(now - BUDGET_WINDOW_MS) >= ai.daily_call_budget)
      return { kind: 'unavailable', reason: `the daily budget of ${ai.daily_call_budget} calls is spent` };
  } catch {
    // a failing store: ask anyway, without the limits it keeps
  }
  const record = (outcome: Parameters<AdviceStore['record']>[0]['outcome'], advice: Advice | null) => {
    try {
      store?.record({
        at: now,
        fingerprint: null,
        alertId: null,
        pid: options.pid,
        cacheKey: options.cacheKey,
        model: ai.model,
        outcome,
        advice,
      });
    } catch {
      // not recorded: the answer is still shown
    }
  };
  const result = await (options.call ?? defaultCall)(options.request, {
    apiKey: key,
    baseUrl: baseUrlFrom(config, env),
    timeoutMs: ai.timeout_secs * 1000,
  });
  switch (result.kind) {
    case 'ok': {
      const parsed = result.stopReason === 'refusal' ? null : parseAnswer(result.text);
      if (!parsed?.ok) {
        record('malformed', null);
        return {
          kind: 'unavailable',
          reason: `the answer was malformed (${parsed?.error ?? 'refused'}) and was ignored`,
        };
      }
      const { snapshot, facts, findings, context } = options.mapping;
      const targets = contextTargets(context);
      const advice: Advice = {
        model: ai.model,
        at: now,
        diagnostic: redact(parsed.answer.diagnostic),
        severity: parsed.answer.severity,
        prevention: redact(parsed.answer.prevention),
        suggestions: mapSuggestions(parsed.answer, {
          processes: snapshot.processes ?? [],
          contextPids: targets.pids,
          contextUnits: targets.units,
          findings,
          knowledge: knowledgeFrom(snapshot, facts),
          policy: policyContext(options.paths, config),
        }),
      };
      record('ok', advice);
      return { kind: 'advice', advice, cached: false };
    }
    case 'aborted':
      return { kind: 'unavailable', reason: 'aborted' };
    case 'auth':
      record('auth', null);
      return {
        kind: 'unavailable',
        reason: `the API key in ${ai.api_key_env} was refused (${result.detail})`,
      };
    case 'rate_limited':
      record('rate_limited', null);
      return {
        kind: 'unavailable',
        reason: `rate limited (429)${result.retryAfterMs !== null ? `; try again in ${Math.ceil(result.retryAfterMs / 1000)} s` : ''}`,
      };
    case 'rejected':
      record('rejected', null);
      return { kind: 'unavailable', reason: `the API rejected the request (${result.detail})` };
    case 'too_large':
      record('too_large', null);
      return { kind: 'unavailable', reason: `the answer was ignored: ${result.detail}` };
    default:
      record(result.kind, null);
      return {
        kind: 'unavailable',
        reason: `${result.kind === 'timeout' ? 'no answer in time' : result.kind === 'server' ? 'server error' : 'cannot reach the API'} (${result.detail})`,
      };
  }
}
