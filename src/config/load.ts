import { readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as v from 'valibot';
import { errorCode } from '../host/files.js';
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
 * Where the running daemon keeps its pid file and latest heartbeat: `$XDG_RUNTIME_DIR/vigil`, else a
 * per-user directory under the temp dir; `VIGIL_RUNTIME_DIR` overrides. Kept apart from the state
 * directory so `vigil health` can still read the heartbeat when the database's directory cannot be written.
 */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['VIGIL_RUNTIME_DIR']) return env['VIGIL_RUNTIME_DIR'];
  if (env['XDG_RUNTIME_DIR']) return join(env['XDG_RUNTIME_DIR'], 'vigil');
  return join(tmpdir(), `vigil-${process.getuid?.() ?? 'user'}`);
}

/** The config file in force: `--config`, else `VIGIL_CONFIG`, else the XDG path. */
export function configPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit || env['VIGIL_CONFIG'] || join(configDir(env), 'config.toml');
}

/** Parses TOML, turning a syntax error into a located problem. */
export function parseTomlFile(file: string, text: string): unknown {
  try {
    return parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const message = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ProblemsError([{ file, line: error.line, key: null, message: `TOML syntax: ${message}` }]);
    }
    throw error;
  }
}

/** Validates parsed TOML against the config schema; every problem is reported, not just the first. */
export function validateConfig(file: string, text: string, data: unknown): Config {
  const result = v.safeParse(ConfigSchema, data);
  if (result.success) return result.output;
  throw new ProblemsError(problemsFromIssues(file, text, result.issues));
}

export interface LoadedConfig {
  readonly config: Config;
  /** The file read, or null when it does not exist and the defaults apply. */
  readonly file: string | null;
  readonly path: string;
  readonly text: string;
}

/**
 * Loads and validates the config. A missing file means defaults (not an error, unless the path was given
 * explicitly); a broken one throws ProblemsError naming file, line and key.
 */
export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = configPath(explicit, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' && !explicit && !env['VIGIL_CONFIG']) {
      return { config: validateConfig(path, '', {}), file: null, path, text: '' };
    }
    const problem: Problem = {
      file: path,
      line: null,
      key: null,
      message: code === 'ENOENT' ? 'no such file' : `cannot read: ${(error as Error).message}`,
    };
    throw new ProblemsError([problem]);
  }
  return { config: validateConfig(path, text, parseTomlFile(path, text)), file: path, path, text };
}
