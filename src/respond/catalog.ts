import type { CatalogActionId } from '../rules/types.js';

/**
 * The only things vigil ever does to a machine. Each entry is typed data: what it does, how risky it is,
 * what consent it needs, whether it needs root, and the exact command a person would type to do the same
 * (shown in suggest mode). Execution never goes through a shell and never fills a template with a process
 * name: kills and renice are syscalls on a pid bound to its start time; ionice and systemctl run as argv
 * arrays (src/respond/execute.ts). A rule or the advisor can only *name* an entry.
 */
export type Risk = 'safe' | 'moderate' | 'dangerous';

/** none: may run at once; notice: announced first, with a veto window; confirm: never automatic. */
export type Consent = 'none' | 'notice' | 'confirm';

export interface CatalogEntry {
  readonly id: CatalogActionId;
  readonly title: string;
  readonly risk: Risk;
  readonly consent: Consent;
  readonly needsRoot: boolean;
  /** What it does, for a person. */
  readonly description: string;
}

export const CATALOG: Readonly<Record<CatalogActionId, CatalogEntry>> = {
  kill_process: {
    id: 'kill_process',
    title: 'Stop a process',
    risk: 'safe',
    consent: 'notice',
    needsRoot: false,
    description: 'SIGTERM, a grace period (5 s), SIGKILL if still alive, then check it is gone',
  },
  kill_process_group: {
    id: 'kill_process_group',
    title: 'Stop a process group',
    risk: 'moderate',
    consent: 'confirm',
    needsRoot: false,
    description: 'the same for every process of one process group',
  },
  kill_matching: {
    id: 'kill_matching',
    title: 'Stop a group of identical processes',
    risk: 'safe',
    consent: 'notice',
    needsRoot: false,
    description:
      'every orphaned process of one ghost-storm group (one normalised cmdline) with what it brings: the wrappers that launched it (npm exec, uvx, sh -c), its children, and its process group when that belongs only to the orphaned session; members that still have a live owner are kept',
  },
  renice: {
    id: 'renice',
    title: 'Lower CPU priority',
    risk: 'safe',
    consent: 'none',
    needsRoot: false,
    description: 'nice 10: the process keeps running, other work goes first',
  },
  ionice_idle: {
    id: 'ionice_idle',
    title: 'Lower I/O priority',
    risk: 'safe',
    consent: 'none',
    needsRoot: false,
    description: 'idle I/O class: the process gets the disk only when nobody else wants it',
  },
  restart_user_unit: {
    id: 'restart_user_unit',
    title: 'Restart a user service',
    risk: 'moderate',
    consent: 'confirm',
    needsRoot: false,
    description: 'systemctl --user restart UNIT',
  },
  notify_only: {
    id: 'notify_only',
    title: 'Tell, do nothing',
    risk: 'safe',
    consent: 'none',
    needsRoot: false,
    description: 'nothing but the message',
  },
};

/** The nice value `renice` sets. */
export const RENICE_VALUE = 10;

/** May this entry run in auto mode? Only safe ones, and only with consent none or notice. */
export function runsAutomatically(entry: CatalogEntry): boolean {
  return entry.risk === 'safe' && entry.consent !== 'confirm';
}
