import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { type GlobalOptions, hostPathsFrom } from '../pipeline/options.js';
import type { ActionResult } from './execute.js';
import type { ActionPlan } from './plan.js';

/*
 * Actions a person asked for by hand (`vigil kill`, `vigil fix`, the dashboard's k): run through the same
 * policy and executor as the daemon's, and recorded in the history's action log when there is one.
 */

/**
 * Records a manual action (`vigil kill`, `vigil watch`'s k) and its result in the history's action log
 * (and so the audit chain), when there is a history; `log` hears why it could not be recorded.
 */
export async function recordManual(
  plan: ActionPlan,
  result: ActionResult,
  log: (line: string) => void,
): Promise<void> {
  const path = join(stateDir(), 'vigil.db');
  if (!existsSync(path)) return;
  const [{ openStore }, { actionLogOf }] = await Promise.all([
    import('../store/store.js'),
    import('./log.js'),
  ]);
  const store = openStore(path, { log });
  try {
    const actions = actionLogOf(store);
    if (!actions) {
      log(`cannot record the action in ${path}: ${store.problem?.message ?? 'unknown error'}`);
      return;
    }
    const now = Date.now();
    const record = actions.add({
      alertId: null,
      fingerprint: null,
      plan,
      mode: 'manual',
      state: 'started',
      now,
    });
    actions.finish(record.id, result, now);
  } finally {
    store.close();
  }
}

/** Runs `plan` through the policy and the executor, with the configured grace period. */
export async function runPlan(
  plan: ActionPlan,
  config: Config,
  global: GlobalOptions,
  options: { force?: boolean; signal?: NodeJS.Signals } = {},
) {
  const [{ executePlan }, { policyContext }] = await Promise.all([
    import('./execute.js'),
    import('./policy.js'),
  ]);
  return executePlan(plan, policyContext(hostPathsFrom(global), config), {
    graceMs: config.actions.grace_secs * 1000,
    ...options,
  });
}

/**
 * What `vigil kill` does once the person said yes, for a caller that asked on its own screen (the
 * dashboard's kill dialog): a `kill_process` plan bound to the identities given, run through the same
 * policy and executor, recorded as a manual action (and so in the audit chain) when a history exists.
 * A target given without its executable (the dashboard's rows) is bound to the one it runs now, when the
 * person confirmed. Writes nothing to the terminal.
 */
export async function killConfirmed(
  targets: ActionPlan['targets'],
  config: Config,
  global: GlobalOptions,
  options: { force?: boolean; reason?: string } = {},
): Promise<ActionResult> {
  const { readExe } = await import('./identity.js');
  const paths = hostPathsFrom(global);
  const plan: ActionPlan = {
    action: 'kill_process',
    targets: targets.map((t) => (t.exe === undefined ? { ...t, exe: readExe(paths, t.pid) } : t)),
    kept: [],
    unit: null,
    command: `kill ${options.force ? '-9 ' : ''}${targets.map((t) => t.pid).join(' ')}`,
    reason: options.reason ?? 'vigil watch',
  };
  const result = await runPlan(plan, config, global, { force: options.force });
  await recordManual(plan, result, () => {});
  return result;
}
