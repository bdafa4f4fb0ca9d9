import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as v from 'valibot';
import { type Refusal, readTrustedFile, refusal, type TrustContext, warnOnce } from '../host/trusted-file.js';
import { lineOfKey } from './locate.js';
import { type Problem, ProblemsError, problemsFromIssues } from './problems.js';
import { type Config, ConfigSchema } from './schema.js';

/** `$XDG_CONFIG_HOME/vigil`, `~/.config/vigil` when unset. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'vigil');
}

/** `$XDG_STATE_HOME/vigil` (database, log, key), overridden by `VIGIL_STATE_DIR`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['VIGIL_STATE_DIR'] || join(env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'vigil');
}

/**
 * Where the running daemon keeps its pid file and latest heartbeat: `$XDG_RUNTIME_DIR/vigil`, else (cron,
 * ssh without a session, containers) `run` in the state directory; `VIGIL_RUNTIME_DIR` overrides. Not a
 * directory under /tmp: another user could make that one first (and stop vigil from starting). The
 * runtime directory is apart from the database so `vigil health` can still read the heartbeat when the
 * database cannot be written.
 */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['VIGIL_RUNTIME_DIR']) return env['VIGIL_RUNTIME_DIR'];
  if (env['XDG_RUNTIME_DIR']) return join(env['XDG_RUNTIME_DIR'], 'vigil');
  return join(stateDir(env), 'run');
}

/** The config file in force: `--config`, else `VIGIL_CONFIG`, else the XDG path. */
export function configPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit || env['VIGIL_CONFIG'] || join(configDir(env), 'config.toml');
}

/**
 * Whether smol-toml's error is a string left open: it says "unfinished string" at the end of the file, and
 * "control characters are not allowed in strings" when the line ends inside one (the line break is the
 * control character), which would send a person looking for an invisible character.
 */
function unterminatedString(text: string, line: number, column: number, message: string): boolean {
  if (message === 'unfinished string') return true;
  if (!message.startsWith('control characters are not allowed')) return false;
  const at = text.split('\n')[line - 1]?.[column - 1];
  return at === undefined || at === '\r';
}

/** Parses TOML, turning a syntax error into a located problem. */
export function parseTomlFile(file: string, text: string): unknown {
  try {
    return parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const raw = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      const message = unterminatedString(text, error.line, error.column, raw)
        ? 'unterminated string: its closing quote is missing (text over several lines goes between """)'
        : raw;
      throw new ProblemsError([{ file, line: error.line, key: null, message: `TOML syntax: ${message}` }]);
    }
    throw error;
  }
}

/** Validates parsed TOML against the config schema; every problem is reported, not just the first. */
export function validateConfig(file: string, text: string, data: unknown): Config {
  const result = v.safeParse(ConfigSchema, data);
  if (!result.success) throw new ProblemsError(problemsFromIssues(file, text, result.issues));
  const problems = thresholdOrderProblems(file, text, data, result.output.thresholds);
  if (problems.length > 0) throw new ProblemsError(problems);
  return result.output;
}

/**
 * Threshold pairs whose warning must come before their critical level: `[warn, critical, direction]`.
 * The RAM and swap levels rise (warn below critical); the disk levels are free space, so they fall.
 */
const THRESHOLD_PAIRS = [
  ['ram_warn_percent', 'ram_critical_percent', 'below'],
  ['swap_warn_percent', 'swap_critical_percent', 'below'],
  ['disk_min_free_percent', 'disk_critical_free_percent', 'above'],
] as const;

/**
 * A warning level at or past its critical level (`ram_warn_percent = 95` with `ram_critical_percent = 90`)
 * would make the critical alert fire with, or before, its warning: refused, at the key the file sets
 * (the warning's when it sets both).
 */
function thresholdOrderProblems(
  file: string,
  text: string,
  data: unknown,
  thresholds: Config['thresholds'],
): Problem[] {
  const written =
    typeof data === 'object' && data !== null
      ? ((data as Record<string, unknown>)['thresholds'] as Record<string, unknown> | undefined)
      : undefined;
  const problems: Problem[] = [];
  for (const [warn, critical, direction] of THRESHOLD_PAIRS) {
    const w = thresholds[warn];
    const c = thresholds[critical];
    if (direction === 'below' ? w < c : w > c) continue;
    const set = (name: string) => written !== undefined && name in written;
    const key = !set(warn) && set(critical) ? critical : warn;
    const show = (name: string, value: number) => `${name} (${value}${set(name) ? '' : ', the default'})`;
    problems.push({
      file,
      line: lineOfKey(text, ['thresholds', key]),
      key: `thresholds.${key}`,
      message: `${show(warn, w)} must be ${direction} ${show(critical, c)}`,
    });
  }
  return problems;
}

export interface LoadedConfig {
  readonly config: Config;
  /** The file read, or null when it does not exist (or was refused) and the defaults apply. */
  readonly file: string | null;
  readonly path: string;
  readonly text: string;
  /** The file exists but someone else could have written it: nothing in it is used (defaults apply). */
  readonly refused: Refusal | null;
}

/** How loaders of the files that steer vigil check and report them (tests pass another user's trust). */
export interface TrustOptions {
  /** Whose files may steer vigil; the running user by default. */
  readonly trust?: TrustContext;
  /** Where the one line about a refused file goes; stderr, once per process, by default. */
  readonly warn?: (line: string) => void;
}

/**
 * Loads and validates the config. A missing file means defaults (not an error, unless the path was given
 * explicitly); a broken one throws ProblemsError naming file, line and key. The file is read only if
 * nobody but the user or root could have written it (see host/trusted-file.ts): at the default path an
 * untrusted file is refused whole — built-in defaults, observe mode, one line said through `warn` — so
 * nothing it names (a program, a URL, a listen address) is run or contacted; given with `--config` or
 * VIGIL_CONFIG, it throws instead, as a missing one does: the user pointed at that file.
 */
export function loadConfig(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  options: TrustOptions = {},
): LoadedConfig {
  const path = configPath(explicit, env);
  const given = Boolean(explicit || env['VIGIL_CONFIG']);
  const read = readTrustedFile(path, options.trust);
  if (read.ok) {
    const { text } = read;
    return {
      config: validateConfig(path, text, parseTomlFile(path, text)),
      file: path,
      path,
      text,
      refused: null,
    };
  }
  if (!given && read.why === 'missing')
    return { config: validateConfig(path, '', {}), file: null, path, text: '', refused: null };
  if (!given && read.why === 'refused') {
    const refused = refusal(path, read.reason, 'running on built-in defaults in observe mode', options.trust);
    (options.warn ?? warnOnce)(refused.line);
    return { config: validateConfig(path, '', {}), file: null, path, text: '', refused };
  }
  const message =
    read.why === 'missing'
      ? 'no such file'
      : read.why === 'refused'
        ? `refused: ${read.reason}`
        : read.reason;
  throw new ProblemsError([{ file: path, line: null, key: null, message }]);
}
