import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDir, stateDir } from '../config/load.js';
import { sightDaemon } from './lock.js';
import { openStore } from './store.js';
import type { Timeline } from './timeline.js';

/**
 * Where the history is: the running daemon's database (its heartbeat names it), else the one in the state
 * directory.
 */
export function historyPath(env: NodeJS.ProcessEnv = process.env): string {
  const { running, heartbeat } = sightDaemon(runtimeDir(env));
  return (running ? heartbeat?.store?.path : null) ?? join(stateDir(env), 'vigil.db');
}

/** An open timeline and how to close it, or why there is none. */
export type OpenedTimeline =
  | { readonly timeline: Timeline; readonly path: string; close(): void }
  | { readonly problem: string; readonly path: string };

/**
 * Opens the history at `path` through the store (which recovers, migrates, and falls back to reading a
 * file it cannot write) and gives its connection to a {@link Timeline}. A missing file is not created:
 * there is no history to show. `log` gets the store's warnings (by default they are dropped: a reader of
 * history has nothing to do about a file it cannot write).
 */
export function openTimeline(path: string, log: (message: string) => void = () => {}): OpenedTimeline {
  if (!existsSync(path))
    return { path, problem: `no history yet: ${path} does not exist (the daemon, vigil run, writes it)` };
  const store = openStore(path, { log, quickCheck: false });
  const timeline = store.timeline;
  if (timeline === null) {
    store.close();
    return { path, problem: `cannot read the history: ${store.problem?.message ?? path}` };
  }
  return { path, timeline, close: () => store.close() };
}
