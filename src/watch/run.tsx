/**
 * Starts the dashboard on the terminal: the alternate screen (as btop and htop use, so quitting gives the
 * shell its screen back as it was), ink in raw mode, and a clean exit on q, Ctrl-C, SIGTERM or SIGHUP.
 * Loaded only by `vigil watch` (src/cli/watch.ts imports it lazily), so no other command loads React.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { render } from 'ink';
import type { SampleOptions } from '../collectors/index.js';
import { formatBytes } from '../model/format.js';
import type { GlobalOptions } from '../pipeline/options.js';
import type { ActionResult } from '../respond/execute.js';
import type { RulesRuntime } from '../rules/runtime.js';
import { historyPath, type OpenedTimeline, openTimeline } from '../store/open-timeline.js';
import { WatchApp } from './App.js';
import type { ProcRow } from './model.js';
import { TimeTravelSource } from './replay.js';
import { LiveSource } from './source.js';

export interface RunWatchOptions {
  readonly runtime: RulesRuntime;
  readonly sampling: SampleOptions;
  readonly global: GlobalOptions;
  readonly intervalMs: number;
  readonly color: boolean;
  /** The advisor's explanation of a pid, when the caller has one. */
  readonly explain?: (pid: number) => Promise<string>;
  /** `--at`: start in the history at this moment (ms since the epoch), from `history`. */
  readonly at?: number;
  /** The history, when the caller opened it already (to check `--at`); else opened on the first `[`. */
  readonly history?: OpenedTimeline;
}

/** One line for the status bar: what a kill did, refusals with their reason. */
export function describeKill(result: ActionResult): string {
  const refused = result.refused.map((r) => `refused: ${r.reason}`);
  if (result.outcome === 'refused') return refused.join('; ') || `refused: ${result.detail}`;
  const freed = result.freedBytes ? `, ${formatBytes(result.freedBytes)} freed` : '';
  return [`${result.outcome}: ${result.detail}${freed}`, ...refused].join('; ');
}

/**
 * Keeps the heap small. Each frame turns over a few MB (the process table, ink's per-character output
 * buffer) and V8 lets its old generation grow to well over 100 MB before collecting it; a full collection
 * whenever the used heap passes HEAP_CEILING_BYTES keeps the dashboard's RSS near its live size, for no
 * measurable CPU at one frame a second (npm run bench, section watch).
 */
const HEAP_CEILING_BYTES = 32 * 1024 * 1024;

function keepHeapSmall(): () => void {
  let collect: (() => void) | null = null;
  try {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  } catch {
    return () => {};
  }
  const timer = setInterval(() => {
    if (process.memoryUsage().heapUsed > HEAP_CEILING_BYTES) collect?.();
  }, 2000);
  timer.unref();
  return () => clearInterval(timer);
}

const ENTER_ALTERNATE = '\u001b[?1049h\u001b[H';
const LEAVE_ALTERNATE = '\u001b[?1049l';

export async function runWatch(options: RunWatchOptions): Promise<void> {
  let opened = options.history;
  const source = new TimeTravelSource({
    live: () =>
      new LiveSource({
        runtime: options.runtime,
        sampling: options.sampling,
        intervalMs: options.intervalMs,
      }),
    // The store's warnings would scribble over the screen: a reader has nothing to do about them.
    history: () => {
      const given = opened;
      opened = undefined;
      return given ?? openTimeline(historyPath());
    },
    ...(options.at === undefined ? {} : { at: options.at }),
    snapshotIntervalMs: options.runtime.config.config.history.snapshot_interval_secs * 1000,
  });
  const kill = async (row: ProcRow): Promise<string> => {
    const { killConfirmed } = await import('../respond/manual.js');
    const result = await killConfirmed(row.members, options.runtime.config.config, options.global, {
      reason: 'vigil watch',
    });
    return describeKill(result);
  };
  const tty = process.stdout.isTTY === true;
  const stopKeeping = keepHeapSmall();
  if (tty) process.stdout.write(ENTER_ALTERNATE);
  const instance = render(
    <WatchApp source={source} color={options.color} kill={kill} explain={options.explain} />,
    { exitOnCtrlC: false, patchConsole: true, maxFps: 20 },
  );
  const stop = () => instance.unmount();
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  try {
    await instance.waitUntilExit();
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
    source.stop();
    stopKeeping();
    if (tty) process.stdout.write(LEAVE_ALTERNATE);
  }
}
