import type { ActionLog, ActionRecord } from '../respond/log.js';
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
  // Loaded here, as the report needs them: importing this module costs neither.
  const [{ adviceForAlerts }, { actionLogOf }] = await Promise.all([
    import('../advisor/store.js'),
    import('../respond/log.js'),
  ]);
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
    actions: actionsBetween(actionLogOf(store), from, to),
    advice: adviceForAlerts(
      store,
      alerts.map((a) => a.id),
    ),
    ...(options.top === undefined ? {} : { top: options.top }),
  });
  return { report, history };
}

/** Actions proposed or taken in the window, as the report lists them (proposals left out). */
function actionsBetween(log: ActionLog | null, from: number, to: number): Report['actions'] {
  if (!log) return [];
  return log
    .between(from, to)
    .filter((a) => a.state !== 'proposed')
    .map((a) => ({
      at: a.updatedAt,
      alertId: a.alertId,
      what: actionWhat(a),
      action: `${a.action} (${a.mode})`,
      target: a.plan.unit ?? a.plan.targets.map((t) => t.pid).join(' '),
      outcome: a.outcome
        ? `${a.outcome}${a.result ? `: ${a.result.detail}` : ''}`
        : `${a.state}${a.reason ? `: ${a.reason}` : ''}`,
    }));
}

const processes = (n: number) => `${n} process${n === 1 ? '' : 'es'}`;

/**
 * What an action did, in words: `killed 3 processes`, `reniced 1 process`, `restarted x.service`; for an
 * action that did not run (vetoed, refused, scheduled, failed), what it would have done and why not.
 */
function actionWhat(a: ActionRecord): string {
  const planned = processes(a.plan.targets.length);
  const reached = a.result ? a.result.acted.length : 0;
  const why = a.result?.outcome ?? a.state;
  const done =
    a.state === 'finished' &&
    a.result !== null &&
    a.result.outcome !== 'failed' &&
    a.result.outcome !== 'refused';
  const unit = a.plan.unit ?? 'a unit';
  switch (a.action) {
    case 'kill_process':
    case 'kill_process_group':
    case 'kill_matching':
      return done ? `killed ${processes(a.result!.gone.length || reached)}` : `kill ${planned}: ${why}`;
    case 'renice':
      return done ? `reniced ${processes(reached)}` : `renice ${planned}: ${why}`;
    case 'ionice_idle':
      return done ? `set ${processes(reached)} to idle I/O` : `set ${planned} to idle I/O: ${why}`;
    case 'restart_user_unit':
      return done ? `restarted ${unit}` : `restart ${unit}: ${why}`;
    case 'notify_only':
      return 'notified';
    default:
      return `${a.action}: ${why}`;
  }
}
