import { bySeverityThenSince, SEVERITY_RANK } from '../model/severity.js';
import { type FactSet, SCOPE_VARIABLES, type Scope, type Subject } from '../understand/facts-schema.js';
import type { Finding, Rule } from './types.js';

/** Per (rule, subject) memory across cycles: how long the condition has held, or has been clear. */
interface RuleState {
  pendingSince: number;
  firing: boolean;
  clearingSince: number | null;
  finding: Finding | null;
}

export interface Evaluation {
  /** Every finding firing after this cycle, most severe first. */
  readonly firing: Finding[];
  /** Findings that started firing in this cycle (including events). */
  readonly raised: Finding[];
  /** Findings that stopped firing in this cycle. */
  readonly resolved: Finding[];
  /** Rules whose evaluation failed at run time, with the reason (the rule is skipped, never fatal). */
  readonly errors: Array<{ rule: string; subject: string; message: string }>;
}

/** A finding rebuilt from its fingerprint alone (a state restored without one that then resolves). */
function stubFinding(fingerprint: string, rule: Rule | undefined): Finding {
  const bar = fingerprint.indexOf('|');
  return {
    fingerprint,
    rule: fingerprint.slice(0, bar),
    title: rule?.spec.title ?? fingerprint.slice(0, bar),
    severity: rule?.spec.severity ?? 'info',
    scope: rule?.spec.scope ?? 'system',
    subject: fingerprint.slice(bar + 1),
    summary: '',
    pids: [],
    since: 0,
    suggest: [],
    event: false,
  };
}

const SYSTEM_SUBJECT: Subject = { key: 'system', label: 'this machine', pids: [], facts: {} };

/**
 * Evaluates rules cycle after cycle. A condition must hold for the rule's `for` before it fires; once
 * firing, it resolves only after `clear_when` (or, without one, the negated condition) has held for
 * `clear_for` — the hysteresis that keeps an alert from flapping around a threshold. A subject that
 * disappears (the process exited, the disk was unmounted) resolves its findings at once. Journal rules
 * are events: raised once per entry, never tracked.
 */
export class RuleEngine {
  private readonly states = new Map<string, RuleState>();

  constructor(private rules: readonly Rule[]) {}

  /** Swaps the rule set (config reload); state of rules that still exist is kept. */
  setRules(rules: readonly Rule[]): void {
    const ids = new Set(rules.map((r) => r.id));
    for (const [fingerprint, state] of this.states) {
      if (!ids.has(fingerprint.slice(0, fingerprint.indexOf('|')))) this.states.delete(fingerprint);
      else if (state.finding === null) this.states.delete(fingerprint);
    }
    this.rules = rules;
  }

  /**
   * Evaluates every rule once. With `pointOnly`, rules that need history are skipped and `for` is
   * ignored — the single look of `vigil status`; with `ignoreDurations`, every rule is judged as if its
   * `for` had elapsed (`vigil rules test`).
   */
  evaluate(
    facts: FactSet,
    options: { pointOnly?: boolean; ignoreDurations?: boolean; scopes?: readonly Scope[] } = {},
  ): Evaluation {
    const immediate = options.pointOnly === true || options.ignoreDurations === true;
    const inScope = (rule: Rule | undefined) =>
      !options.scopes || (rule !== undefined && options.scopes.includes(rule.spec.scope));
    const raised: Finding[] = [];
    const resolved: Finding[] = [];
    const errors: Evaluation['errors'] = [];
    const seen = new Set<string>();
    const base = { sys: facts.sys, t: facts.thresholds };
    // Each subject's variables, made once per evaluation and shared by the rules of its scope.
    const varsByScope = new Map<Scope, Array<Record<string, unknown>>>();
    const varsOf = (scope: Scope, subjects: readonly Subject[]) => {
      let list = varsByScope.get(scope);
      if (list === undefined) {
        const variable = scope === 'system' ? null : SCOPE_VARIABLES[scope].variable;
        list = subjects.map((s) => (variable === null ? base : { ...base, [variable]: s.facts }));
        varsByScope.set(scope, list);
      }
      return list;
    };

    for (const rule of this.rules) {
      if (options.pointOnly && rule.needsHistory) continue;
      if (!inScope(rule)) continue;
      const scope = rule.spec.scope;
      const subjects = scope === 'system' ? [SYSTEM_SUBJECT] : (facts.subjects[scope] ?? []);
      const allVars = varsOf(scope, subjects);
      for (let i = 0; i < subjects.length; i++) {
        const subject = subjects[i]!;
        const vars = allVars[i]!;
        const fingerprint = `${rule.id}|${subject.key}`;
        const check = (program: (v: Record<string, unknown>) => unknown, what: string): boolean => {
          try {
            return program(vars) === true;
          } catch (error) {
            errors.push({
              rule: rule.id,
              subject: subject.key,
              message: `${what}: ${(error as Error).message}`,
            });
            return false;
          }
        };
        const holds = check(rule.when, 'when');
        let state = this.states.get(fingerprint);
        if (rule.event) {
          if (holds && !state) {
            const finding = this.findingOf(rule, subject, vars, facts.now);
            this.states.set(fingerprint, {
              pendingSince: facts.now,
              firing: true,
              clearingSince: null,
              finding,
            });
            raised.push(finding);
          }
          if (this.states.has(fingerprint)) seen.add(fingerprint);
          continue;
        }
        if (!state) {
          if (!holds) continue;
          state = { pendingSince: facts.now, firing: false, clearingSince: null, finding: null };
          this.states.set(fingerprint, state);
        }
        seen.add(fingerprint);
        if (!state.firing) {
          if (!holds) {
            this.states.delete(fingerprint);
            continue;
          }
          if (immediate || facts.now - state.pendingSince >= rule.forMs) {
            state.firing = true;
            state.finding = this.findingOf(rule, subject, vars, state.pendingSince);
            raised.push(state.finding);
          }
          continue;
        }
        const clear = rule.clearWhen ? check(rule.clearWhen, 'clear_when') : !holds;
        if (clear) {
          state.clearingSince ??= facts.now;
          if (facts.now - state.clearingSince >= rule.clearForMs) {
            resolved.push(state.finding ?? this.findingOf(rule, subject, vars, state.pendingSince));
            this.states.delete(fingerprint);
          }
          continue;
        }
        state.clearingSince = null;
        // Still firing: refresh the summary and severity from today's facts.
        state.finding = this.findingOf(rule, subject, vars, state.pendingSince);
      }
    }

    for (const [fingerprint, state] of this.states) {
      if (seen.has(fingerprint)) continue;
      const ruleId = fingerprint.slice(0, fingerprint.indexOf('|'));
      const rule = this.rules.find((r) => r.id === ruleId);
      if (!inScope(rule)) continue;
      if (rule?.event && facts.subjects.journal === undefined) continue;
      if (state.firing && !rule?.event) resolved.push(state.finding ?? stubFinding(fingerprint, rule));
      this.states.delete(fingerprint);
    }

    const firing = this.currentFindings();
    return { firing, raised: raised.filter((f) => firing.includes(f) || f.event), resolved, errors };
  }

  /** Rule states worth keeping across a restart (pending or firing), for the store. */
  exportStates(): Array<{
    fingerprint: string;
    pendingSince: number;
    firing: boolean;
    clearingSince: number | null;
  }> {
    return [...this.states.entries()]
      .filter(([, s]) => !s.finding?.event)
      .map(([fingerprint, s]) => ({
        fingerprint,
        pendingSince: s.pendingSince,
        firing: s.firing,
        clearingSince: s.clearingSince,
      }));
  }

  /**
   * Restores states saved by a previous run, so a restart does not reset a 5-minute condition. A firing
   * state comes back without its finding: the next evaluation recomputes it (without raising it again)
   * or resolves it.
   */
  importStates(
    states: ReadonlyArray<{
      fingerprint: string;
      pendingSince: number;
      firing: boolean;
      clearingSince: number | null;
    }>,
  ): void {
    const ids = new Set(this.rules.map((r) => r.id));
    for (const s of states) {
      if (!ids.has(s.fingerprint.slice(0, s.fingerprint.indexOf('|')))) continue;
      this.states.set(s.fingerprint, {
        pendingSince: s.pendingSince,
        firing: s.firing,
        clearingSince: s.clearingSince,
        finding: null,
      });
    }
  }

  /** What is firing now: superseded findings (a ghost storm hides the plain duplicate group) left out. */
  currentFindings(): Finding[] {
    const all = [...this.states.values()].filter((s) => s.firing && s.finding).map((s) => s.finding!);
    const bySubject = new Map<string, Set<string>>();
    for (const f of all) {
      const rules = bySubject.get(f.subject) ?? new Set<string>();
      rules.add(f.rule);
      bySubject.set(f.subject, rules);
    }
    const superseded = (f: Finding) =>
      this.rules.some(
        (r) => r.spec.supersedes.includes(f.rule) && bySubject.get(f.subject)?.has(r.id) === true,
      );
    return all.filter((f) => !f.event && !superseded(f)).sort(bySeverityThenSince);
  }

  private findingOf(rule: Rule, subject: Subject, vars: Record<string, unknown>, since: number): Finding {
    let severity = rule.spec.severity;
    for (const step of rule.escalate) {
      try {
        if (step.when(vars) === true && SEVERITY_RANK[step.severity] > SEVERITY_RANK[severity])
          severity = step.severity;
      } catch {
        // A failing escalation keeps the base severity.
      }
    }
    let summary: string;
    try {
      summary = rule.summary(vars);
    } catch (error) {
      summary = `${rule.spec.title} (${subject.label}; summary failed: ${(error as Error).message})`;
    }
    return {
      fingerprint: `${rule.id}|${subject.key}`,
      rule: rule.id,
      title: rule.spec.title,
      severity,
      scope: rule.spec.scope,
      subject: subject.key,
      summary,
      pids: subject.pids,
      since,
      suggest: rule.spec.suggest,
      event: rule.event,
    };
  }
}
