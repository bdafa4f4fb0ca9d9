import type { ActionsTable, StoredAction } from '../store/actions.js';
import type { OpenedStore } from '../store/store.js';
import type { ActionResult } from './execute.js';
import type { ActionPlan } from './plan.js';

/**
 * The action log: the store's actions table (src/store/actions.ts, which holds its SQL and appends every
 * change to the audit chain) named with respond's plans and results. Shared by the daemon and the CLI
 * (`vigil fix`, `veto`, `kill`), which open the same database.
 */

/** An action as stored: its plan, state and outcome. */
export type ActionRecord = StoredAction<ActionPlan, ActionResult>;

/** The actions table of an open store, holding respond's plans and results. */
export type ActionLog = ActionsTable<ActionPlan, ActionResult>;

/**
 * The action log of an open store, or null when no database could be opened. What the table reads back
 * is what respond wrote into it (plans and results as JSON), hence the cast.
 */
export function actionLogOf(store: OpenedStore): ActionLog | null {
  return store.actions as ActionLog | null;
}
