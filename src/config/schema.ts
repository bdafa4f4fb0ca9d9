import * as v from 'valibot';
import { SEVERITIES, type Severity } from '../model/severity.js';
import { listenError } from './listen.js';

/**
 * The configuration file's schema and defaults (valibot: ~2 MB resident against zod's ~12 MB, which
 * matters for a daemon that should stay under 50 MB). Every key and its default is documented in
 * config.example.toml. Unknown keys are errors, so a typo is never silently ignored.
 */

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const num = (min: number, max: number) => v.pipe(v.number(), v.minValue(min), v.maxValue(max));
const percent = num(0, 100);

export { SEVERITIES, type Severity };
export const MODES = ['observe', 'suggest', 'auto'] as const;
export type Mode = (typeof MODES)[number];

/** The desktop and session processes vigil never touches, whatever a rule suggests. */
export const DEFAULT_PROTECTED_COMMANDS = [
  'systemd',
  'systemd-*',
  '(sd-pam)',
  'init',
  'sshd',
  'sshd:*',
  'dbus-*',
  'dbus',
  'Xorg',
  'Xwayland',
  'gnome-shell',
  'gnome-session*',
  'plasmashell',
  'kwin_*',
  'mutter',
  'sway',
  'Hyprland',
  'weston',
  'pipewire*',
  'wireplumber',
  'pulseaudio',
  'gdm*',
  'sddm*',
  'lightdm*',
  'login',
  'agetty',
  'polkitd',
  'NetworkManager',
  'vigil',
];

const General = v.strictObject({
  mode: v.optional(v.picklist(MODES), 'observe'),
  interval_secs: v.optional(int(1, 3600), 5),
  language: v.optional(v.picklist(['en', 'fr']), 'en'),
  nvidia_smi: v.optional(v.string(), 'nvidia-smi'),
  procfs: v.optional(v.string(), '/proc'),
  sysfs: v.optional(v.string(), '/sys'),
});

const Thresholds = v.strictObject({
  ram_warn_percent: v.optional(percent, 80),
  ram_critical_percent: v.optional(percent, 90),
  swap_warn_percent: v.optional(percent, 40),
  swap_critical_percent: v.optional(percent, 50),
  cpu_load_factor: v.optional(num(0.1, 100), 2.0),
  disk_min_free_percent: v.optional(percent, 10),
  disk_critical_free_percent: v.optional(percent, 5),
  max_duplicate_processes: v.optional(int(1, 100_000), 5),
  zombie_timeout_secs: v.optional(int(0, 86_400 * 30), 300),
  temperature_cpu_max: v.optional(num(20, 150), 85),
  temperature_gpu_max: v.optional(num(20, 150), 80),
  orphan_cpu_percent: v.optional(num(1, 10_000), 50),
  ghost_storm_min_ram_percent: v.optional(percent, 1),
  baseline_sigma: v.optional(num(1, 100), 4),
});

const Ai = v.strictObject({
  enabled: v.optional(v.boolean(), false),
  provider: v.optional(v.picklist(['anthropic']), 'anthropic'),
  model: v.optional(v.string(), 'claude-sonnet-5-5'),
  api_key_env: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/)), 'ANTHROPIC_API_KEY'),
  max_tokens: v.optional(int(64, 64_000), 1024),
  cooldown_secs: v.optional(int(0, 86_400), 60),
  base_url: v.optional(v.string(), ''),
  timeout_secs: v.optional(int(1, 600), 30),
  daily_call_budget: v.optional(int(0, 100_000), 50),
  anonymize: v.optional(v.boolean(), false),
});

const Notifications = v.strictObject({
  terminal: v.optional(v.boolean(), true),
  desktop: v.optional(v.boolean(), true),
  log: v.optional(v.boolean(), true),
  min_severity: v.optional(v.picklist(SEVERITIES), 'medium'),
  desktop_min_severity: v.optional(v.picklist(SEVERITIES), 'high'),
  renotify_after_secs: v.optional(int(0, 86_400 * 7), 3600),
  webhook_url: v.optional(v.string(), ''),
  webhook_format: v.optional(v.picklist(['json', 'slack', 'discord']), 'json'),
  webhook_min_severity: v.optional(v.picklist(SEVERITIES), 'high'),
  alertmanager_url: v.optional(v.string(), ''),
});

const Allowlist = v.strictObject({
  ignore_commands: v.optional(v.array(v.string()), []),
  protected_pids: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(1))), []),
  protected_commands: v.optional(v.array(v.string()), DEFAULT_PROTECTED_COMMANDS),
});

const History = v.strictObject({
  snapshot_interval_secs: v.optional(int(5, 86_400), 60),
  retention_hours: v.optional(int(1, 24 * 366), 168),
});

const Actions = v.strictObject({
  grace_secs: v.optional(num(0, 300), 5),
  veto_secs: v.optional(num(0, 3600), 10),
  max_kills_per_hour: v.optional(int(0, 10_000), 20),
});

const Metrics = v.strictObject({
  listen: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (text) => listenError(text) === null,
        (issue) => listenError(String(issue.input)) ?? 'not an address',
      ),
    ),
    '',
  ),
});

const section = <T extends v.GenericSchema>(schema: T) => v.optional(schema, {});

export const ConfigSchema = v.strictObject({
  general: section(General),
  thresholds: section(Thresholds),
  ai: section(Ai),
  notifications: section(Notifications),
  allowlist: section(Allowlist),
  history: section(History),
  actions: section(Actions),
  metrics: section(Metrics),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type Thresholds = Config['thresholds'];

/** The configuration with every default: what vigil uses when there is no file. */
export function defaultConfig(): Config {
  return v.parse(ConfigSchema, {});
}
