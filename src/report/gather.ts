import type { OpenedStore, PackedHistory } from '../store/store.js';
import { buildReport, type Report } from './build.js';

/**
 * A report of [from, to] from the history database: what `vigil report`, `vigil report --sign` and the
 * support bundle show alike — alerts with the advisor's answers, the snapshots' peaks and offenders
 * (tallied from the packed samples), runs, collector problems and the actions taken. Also returns the
 * window's history, still packed, for a caller that keeps some snapshots whole.
 */
export async function reportFromStore(
  store: OpenedStore,
  window: { readonly from: number; readonly to: number },
  options: { readonly snapshotIntervalMs: number; readonly top?: number },
): Promise<{ report: Report; history: PackedHistory }> {
  const { from, to } = window;
  const history = store.historyBetween(from, to);
  const alerts = store.alertsBetween(from, to);
  const report = buildReport({
    from,
    to,
    alerts,
    snapshots: history.snapshots,
    packed: history,
    runs: store.runsBetween(from, to),
    snapshotIntervalMs: options.snapshotIntervalMs,
    collectorProblems: store.collectorProblemsBetween(from, to),
    actions: await actionsBetween(store, from, to),
    advice: await adviceFor(store, alerts),
    ...(options.top === undefined ? {} : { top: options.top }),
  });
  return { report, history };
}

/** Actions proposed or taken in the window, as the report lists them (proposals left out). */
async function actionsBetween(store: OpenedStore, from: number, to: number): Promise<Report['actions']> {
  const raw = store.raw();
  if (!raw) return [];
  const { ActionLog } = await import('../respond/log.js');
  return new ActionLog(raw)
    .between(from, to)
    .filter((a) => a.state !== 'proposed')
    .map((a) => ({
      at: a.updatedAt,
      action: `${a.action} (${a.mode})`,
      target: a.plan.unit ?? a.plan.targets.map((t) => t.pid).join(' '),
      outcome: a.outcome
        ? `${a.outcome}${a.result ? `: ${a.result.detail}` : ''}`
        : `${a.state}${a.reason ? `: ${a.reason}` : ''}`,
    }));
}

/** The advisor's answers for the window's alerts (none without an advice table). */
async function adviceFor(
  store: OpenedStore,
  alerts: ReadonlyArray<{ id: number }>,
): Promise<NonNullable<Report['advice']>> {
  const raw = store.raw();
  if (!raw) return new Map();
  const { adviceForAlerts } = await import('../advisor/store.js');
  return adviceForAlerts(
    raw,
    alerts.map((a) => a.id),
  );
}
