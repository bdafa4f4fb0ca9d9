import type { Severity } from '../config/schema.js';
import type { Language } from '../model/text.js';

/**
 * Every text a notification shows, in English and French (`[general] language`), one function per
 * message so each channel (terminal, desktop, log, webhooks) words things the same way. Rule titles and
 * summaries come from the rule files and are shown as written; only the words around them change.
 *
 * French follows the usual typography: a space before `:`; "alerte" is feminine ("résolue").
 */

const SEVERITY_NAMES: Record<Language, Record<Severity, string>> = {
  en: { info: 'info', low: 'low', medium: 'medium', high: 'high', critical: 'critical' },
  fr: { info: 'info', low: 'faible', medium: 'moyenne', high: 'élevée', critical: 'critique' },
};

/** "high" / "élevée". */
export function severityName(severity: Severity, language: Language): string {
  return SEVERITY_NAMES[language][severity];
}

/** The terminal's column: "HIGH" / "ÉLEVÉE". */
export function severityTag(severity: Severity, language: Language): string {
  return severityName(severity, language).toUpperCase();
}

/** The terminal's column for a finding that cleared: "RESOLVED" / "RÉSOLUE". */
export function resolvedTag(language: Language): string {
  return language === 'fr' ? 'RÉSOLUE' : 'RESOLVED';
}

/** The terminal's column for the line that opens a digest: "DIGEST" / "RÉSUMÉ". */
export function digestTag(language: Language): string {
  return language === 'fr' ? 'RÉSUMÉ' : 'DIGEST';
}

/** ": " in English, " : " in French. */
function colon(language: Language): string {
  return language === 'fr' ? ' : ' : ': ';
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A finding that fired: "High: Ghost process storm" / "Élevée : Ghost process storm". */
export function raisedTitle(severity: Severity, title: string, language: Language): string {
  return `${capitalised(severityName(severity, language))}${colon(language)}${title}`;
}

/** A finding that cleared: "Resolved: Ghost process storm" / "Résolue : Ghost process storm". */
export function resolvedTitle(title: string, language: Language): string {
  return `${language === 'fr' ? 'Résolue' : 'Resolved'}${colon(language)}${title}`;
}

/** A reminder (renotify_after_secs): "still firing after 2h 5m" / "toujours active après 2 h 5 min". */
export function stillFiring(forMs: number, language: Language): string {
  return language === 'fr'
    ? `toujours active après ${duration(forMs, language)}`
    : `still firing after ${duration(forMs, language)}`;
}

/** A finding notified again because its severity rose: "escalated" / "aggravée". */
export function escalated(language: Language): string {
  return language === 'fr' ? 'aggravée' : 'escalated';
}

/** A finding notified again because its severity fell: "eased" / "atténuée". */
export function eased(language: Language): string {
  return language === 'fr' ? 'atténuée' : 'eased';
}

/** How long a resolved finding lasted: "lasted 12m" / "a duré 12 min". */
export function lasted(forMs: number, language: Language): string {
  return language === 'fr' ? `a duré ${duration(forMs, language)}` : `lasted ${duration(forMs, language)}`;
}

/** The digest's title: "7 findings at once" / "7 alertes à la fois". */
export function digestTitle(count: number, language: Language): string {
  if (language === 'fr') return `${count} ${count === 1 ? 'alerte' : 'alertes'} à la fois`;
  return `${count} ${count === 1 ? 'finding' : 'findings'} at once`;
}

/** Added to a digest's title when findings also cleared: "3 resolved" / "3 résolues". */
export function digestResolved(count: number, language: Language): string {
  if (language === 'fr') return `${count} ${count === 1 ? 'résolue' : 'résolues'}`;
  return `${count} resolved`;
}

/** An action notice's title: "vigil will act: ghost_process_storm" / "vigil va agir : …". */
export function actionTitle(
  action: { readonly step: string; readonly rule: string },
  language: Language,
): string {
  const en: Record<string, string> = {
    suggest: 'Suggested fix',
    notice: 'vigil will act',
    cancelled: 'vigil will not act',
    acted: 'vigil acted',
    verified: 'Action checked',
    escalate: 'Action did not help',
    limit: 'Action held back',
  };
  const fr: Record<string, string> = {
    suggest: 'Correction proposée',
    notice: 'vigil va agir',
    cancelled: 'vigil n’agira pas',
    acted: 'vigil a agi',
    verified: 'Action vérifiée',
    escalate: 'L’action n’a pas suffi',
    limit: 'Action retenue',
  };
  const words = (language === 'fr' ? fr : en)[action.step] ?? action.step;
  return `${words}${language === 'fr' ? ' :' : ':'} ${action.rule}`;
}

/** The last line of a cut list: "…and 4 more" / "… et 4 autres". */
export function andMore(count: number, language: Language): string {
  return language === 'fr' ? `… et ${count} ${count === 1 ? 'autre' : 'autres'}` : `…and ${count} more`;
}

/** Where it happened, for channels read away from the machine: "on devbox" / "sur devbox". */
export function onHost(host: string, language: Language): string {
  return language === 'fr' ? `sur ${host}` : `on ${host}`;
}

/**
 * A duration a person reads at a glance: "45s", "12m", "2h 5m", "3d 4h" in English; "45 s", "12 min",
 * "2 h 5 min", "3 j 4 h" in French. Rounded down to the second.
 */
export function duration(ms: number, language: Language): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const fr = language === 'fr';
  const unit = { d: fr ? ' j' : 'd', h: fr ? ' h' : 'h', m: fr ? ' min' : 'm', s: fr ? ' s' : 's' };
  if (d > 0) return h > 0 ? `${d}${unit.d} ${h}${unit.h}` : `${d}${unit.d}`;
  if (h > 0) return m > 0 ? `${h}${unit.h} ${m}${unit.m}` : `${h}${unit.h}`;
  if (m > 0) return `${m}${unit.m}`;
  return `${s}${unit.s}`;
}
