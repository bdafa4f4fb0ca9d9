/**
 * The variables a rule's CEL condition can use, by scope. These names are the rule language's public
 * contract (documented in README.md, "Writing rules"): snake_case, units in the names. Numbers are CEL
 * `double`; an unknown value is -1 (CEL has no null for numbers) and a `has_…` flag says whether it is
 * known. Every scope also sees `sys` (the machine) and `t` (the `[thresholds]` of the config).
 */

export const SCOPES = ['system', 'process', 'group', 'disk', 'gpu', 'sensor', 'journal', 'unit'] as const;
export type Scope = (typeof SCOPES)[number];

type FieldType = 'double' | 'string' | 'bool';
type Schema = Record<string, FieldType>;

export const SYSTEM_FIELDS = {
  mem_total_bytes: 'double',
  mem_available_bytes: 'double',
  mem_used_percent: 'double',
  swap_total_bytes: 'double',
  swap_used_bytes: 'double',
  swap_used_percent: 'double',
  has_psi: 'bool',
  psi_mem_some_avg10: 'double',
  psi_mem_some_avg60: 'double',
  psi_mem_full_avg10: 'double',
  psi_mem_full_avg60: 'double',
  psi_cpu_some_avg10: 'double',
  psi_io_full_avg10: 'double',
  load1: 'double',
  load5: 'double',
  load15: 'double',
  cores: 'double',
  cpu_percent: 'double',
  process_count: 'double',
  zombie_count: 'double',
  hour: 'double',
  /** The metric furthest from its learned mean for this hour, in standard deviations (-1 until learned). */
  anomaly_z: 'double',
  anomaly_metric: 'string',
  anomaly_value: 'double',
  anomaly_mean: 'double',
} as const satisfies Schema;

export const PROCESS_FIELDS = {
  pid: 'double',
  ppid: 'double',
  pgid: 'double',
  comm: 'string',
  cmdline: 'string',
  name: 'string',
  user: 'string',
  uid: 'double',
  own: 'bool',
  state: 'string',
  age_secs: 'double',
  cpu_percent: 'double',
  rss_bytes: 'double',
  rss_percent: 'double',
  /** Memory out in swap (`VmSwap`); -1 when unknown. */
  swap_bytes: 'double',
  threads: 'double',
  kind: 'string',
  kind_label: 'string',
  kernel_thread: 'bool',
  orphan: 'bool',
  orphan_reason: 'string',
  original_parent: 'string',
  /**
   * The runner (`npx`, `npm exec`, `uvx`, `uv run` …) this process was started through, by pid: the
   * outermost one below its owner, with any `sh -c` between; -1 when none. Killing both frees it all.
   */
  wrapper_pid: 'double',
  /** For a runner (or a shell between a runner and its server): the server it runs, by pid; -1 when none. */
  wrapped_pid: 'double',
  tty: 'string',
  cgroup: 'string',
  system_service: 'bool',
  zombie_children: 'double',
  zombie_children_total: 'double',
  oldest_zombie_secs: 'double',
  has_leak_data: 'bool',
  leak: 'bool',
  leak_slope_bytes_per_sec: 'double',
  leak_window_secs: 'double',
  time_to_oom_secs: 'double',
} as const satisfies Schema;

export const GROUP_FIELDS = {
  key: 'string',
  name: 'string',
  comm: 'string',
  user: 'string',
  count: 'double',
  rss_bytes: 'double',
  rss_percent: 'double',
  /** The members' memory out in swap (members whose swap is unknown count 0). */
  swap_bytes: 'double',
  /**
   * What the group holds: resident plus swapped out. A storm paged out to swap keeps its size here
   * while its RSS falls to almost nothing.
   */
  mem_bytes: 'double',
  /** mem_bytes as a share of MemTotal. */
  mem_percent: 'double',
  cpu_percent: 'double',
  /** Members whose parent died. */
  orphans: 'double',
  /** Members whose live parent is an agent CLI or editor (or node & co. running MCP/language servers). */
  agent_related: 'double',
  /**
   * Orphans, plus every copy beyond the first under one agent parent: what a ghost storm counts. Runners
   * carrying a server (`wrapped_pid`) are counted through their server, not in their own group.
   */
  suspects: 'double',
  /** Members started through a runner (npx, uvx …; see `proc.wrapper_pid`): one runner each. */
  wrappers: 'double',
  /** Members whose parent is a container runtime: its shim or monitor (containerd-shim, conmon), or runc. */
  supervised: 'double',
  live_owners: 'double',
  parents: 'double',
  kind: 'string',
  kind_label: 'string',
  kind_plural: 'string',
  own: 'bool',
  /**
   * Who left the group (see understand/attribution.ts), for groups with orphans or duplicates under an agent
   * ('' and -1 for the others): the program that started it (`claude`), the session id on its command
   * line, the members' directory (`~/src/foo`), seconds since vigil saw that owner die (-1: still running,
   * or gone before vigil was watching), and all of it as one phrase, `left by claude (in ~/src/foo, 40 min
   * ago)`.
   */
  left_by: 'string',
  session: 'string',
  cwd: 'string',
  owner_gone_secs: 'double',
  attribution: 'string',
} as const satisfies Schema;

export const DISK_FIELDS = {
  mount: 'string',
  device: 'string',
  fs_type: 'string',
  total_bytes: 'double',
  available_bytes: 'double',
  used_percent: 'double',
  free_percent: 'double',
  inodes_free_percent: 'double',
  has_inodes: 'bool',
} as const satisfies Schema;

export const GPU_FIELDS = {
  index: 'double',
  name: 'string',
  temperature_celsius: 'double',
  utilization_percent: 'double',
  memory_used_percent: 'double',
  power_watts: 'double',
} as const satisfies Schema;

export const SENSOR_FIELDS = {
  chip: 'string',
  label: 'string',
  kind: 'string',
  celsius: 'double',
  crit_celsius: 'double',
  max_celsius: 'double',
} as const satisfies Schema;

export const JOURNAL_FIELDS = {
  message: 'string',
  identifier: 'string',
  unit: 'string',
  priority: 'double',
  pid: 'double',
  oom: 'bool',
  oom_source: 'string',
  oom_pid: 'double',
  oom_name: 'string',
  oom_rss_bytes: 'double',
  oom_cgroup: 'string',
} as const satisfies Schema;

export const UNIT_FIELDS = {
  name: 'string',
  description: 'string',
  active_state: 'string',
  sub_state: 'string',
  failed: 'bool',
} as const satisfies Schema;

/** The variable holding the subject of each scope, and its fields. */
export const SCOPE_VARIABLES: Record<Exclude<Scope, 'system'>, { variable: string; fields: Schema }> = {
  process: { variable: 'proc', fields: PROCESS_FIELDS },
  group: { variable: 'group', fields: GROUP_FIELDS },
  disk: { variable: 'disk', fields: DISK_FIELDS },
  gpu: { variable: 'gpu', fields: GPU_FIELDS },
  sensor: { variable: 'sensor', fields: SENSOR_FIELDS },
  journal: { variable: 'entry', fields: JOURNAL_FIELDS },
  unit: { variable: 'unit', fields: UNIT_FIELDS },
};

type Fields<S extends Schema> = {
  [K in keyof S]: S[K] extends 'double' ? number : S[K] extends 'bool' ? boolean : string;
};
export type SystemFacts = Fields<typeof SYSTEM_FIELDS>;
export type ProcessFacts = Fields<typeof PROCESS_FIELDS>;
export type GroupFacts = Fields<typeof GROUP_FIELDS>;
export type DiskFacts = Fields<typeof DISK_FIELDS>;
export type GpuFacts = Fields<typeof GPU_FIELDS>;
export type SensorFacts = Fields<typeof SENSOR_FIELDS>;
export type JournalFacts = Fields<typeof JOURNAL_FIELDS>;
export type UnitFacts = Fields<typeof UNIT_FIELDS>;

/**
 * Fields whose values come from history (rings kept by the daemon); a rule that reads one cannot be
 * judged by a single look such as `vigil status`.
 */
export const HISTORY_FIELDS = [
  'anomaly_z',
  'anomaly_metric',
  'anomaly_value',
  'anomaly_mean',
  'leak',
  'leak_slope_bytes_per_sec',
  'leak_window_secs',
  'time_to_oom_secs',
] as const;

/** One thing a scope's rules are judged on: a process, a group, a disk… with its CEL facts. */
export interface Subject {
  /** Stable within the scope: `pid:startTicks`, a group key, a mount point, a journal cursor. */
  readonly key: string;
  /** Shown to a person: `python3 (pid 4242)`, `/home`, `GPU 0`. */
  readonly label: string;
  readonly pids: readonly number[];
  readonly facts: Record<string, unknown>;
}

/** Everything the rules look at in one cycle. */
export interface FactSet {
  readonly now: number;
  readonly sys: SystemFacts;
  readonly thresholds: Readonly<Record<string, number>>;
  readonly subjects: { readonly [S in Exclude<Scope, 'system'>]?: readonly Subject[] };
}
