import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { configDir, configPath, loadConfig, parseTomlFile, runtimeDir, stateDir } from '../config/load.js';
import { lineOfKey } from '../config/locate.js';
import { formatProblem, ProblemsError } from '../config/problems.js';
import { type Config, MODES, type Mode } from '../config/schema.js';
import { type GlobalOptions, UsageError } from '../pipeline/options.js';

/** The documented example shipped at the top of the package. */
export const EXAMPLE_CONFIG = fileURLToPath(new URL('../../config.example.toml', import.meta.url));

export type Source = 'default' | 'file' | 'environment' | 'flag';

/** One effective setting and where it came from. */
export interface SourcedValue {
  readonly key: string;
  readonly value: unknown;
  readonly source: Source;
  /** `file:line`, the environment variable or the flag that set it; null for a default. */
  readonly origin: string | null;
}

/** A directory or file vigil uses, and what decided it. */
export interface SourcedPath {
  readonly name: string;
  readonly path: string;
  readonly source: Source;
  readonly origin: string | null;
}

export interface ShowFlags {
  readonly config?: string;
  readonly procfs?: string;
  readonly sysfs?: string;
  readonly nvidiaSmi?: string;
  readonly mode?: Mode;
  readonly interval?: number;
}

/** Flags of `vigil run` (and the global ones) that take precedence over a config key. */
const FLAG_KEYS: ReadonlyArray<{ key: string; flag: string; pick: (f: ShowFlags) => unknown }> = [
  { key: 'general.mode', flag: '--mode', pick: (f) => f.mode },
  { key: 'general.interval_secs', flag: '--interval', pick: (f) => f.interval },
  { key: 'general.procfs', flag: '--procfs', pick: (f) => f.procfs },
  { key: 'general.sysfs', flag: '--sysfs', pick: (f) => f.sysfs },
  { key: 'general.nvidia_smi', flag: '--nvidia-smi', pick: (f) => f.nvidiaSmi },
];

/** Environment variables that stand in for an empty config value. */
const ENV_FALLBACKS: ReadonlyArray<{ key: string; variable: string }> = [
  { key: 'ai.base_url', variable: 'ANTHROPIC_BASE_URL' },
];

export interface EffectiveConfig {
  readonly paths: readonly SourcedPath[];
  readonly values: readonly SourcedValue[];
  /** Whether the API key variable named by ai.api_key_env is set (its value is never shown). */
  readonly apiKey: { readonly variable: string; readonly set: boolean };
}

function written(raw: unknown, section: string, key: string): boolean {
  if (typeof raw !== 'object' || raw === null) return false;
  const table = (raw as Record<string, unknown>)[section];
  return typeof table === 'object' && table !== null && key in table;
}

function pathSources(flags: ShowFlags, env: NodeJS.ProcessEnv, file: string): SourcedPath[] {
  const xdg = (variable: string, fallback: string): Pick<SourcedPath, 'source' | 'origin'> =>
    env[variable] ? { source: 'environment', origin: variable } : { source: 'default', origin: fallback };
  const configSource: Pick<SourcedPath, 'source' | 'origin'> = flags.config
    ? { source: 'flag', origin: '--config' }
    : env['VIGIL_CONFIG']
      ? { source: 'environment', origin: 'VIGIL_CONFIG' }
      : xdg('XDG_CONFIG_HOME', '~/.config');
  const stateSource = env['VIGIL_STATE_DIR']
    ? { source: 'environment' as const, origin: 'VIGIL_STATE_DIR' }
    : xdg('XDG_STATE_HOME', '~/.local/state');
  const runtimeSource = env['VIGIL_RUNTIME_DIR']
    ? { source: 'environment' as const, origin: 'VIGIL_RUNTIME_DIR' }
    : env['XDG_RUNTIME_DIR']
      ? { source: 'environment' as const, origin: 'XDG_RUNTIME_DIR' }
      : { source: 'default' as const, origin: 'the state directory (XDG_RUNTIME_DIR unset)' };
  return [
    { name: 'config file', path: file, ...configSource },
    { name: 'user rules', path: join(configDir(env), 'rules'), ...xdg('XDG_CONFIG_HOME', '~/.config') },
    { name: 'state directory', path: stateDir(env), ...stateSource },
    { name: 'runtime directory', path: runtimeDir(env), ...runtimeSource },
  ];
}

/**
 * The configuration in force and the origin of each value: a flag beats the file, the file beats the
 * default; an empty value with an environment fallback (ANTHROPIC_BASE_URL) shows the environment's.
 * Throws ProblemsError when the file is broken, as every other command does.
 */
export function effectiveConfig(flags: ShowFlags, env: NodeJS.ProcessEnv = process.env): EffectiveConfig {
  const loaded = loadConfig(flags.config, env);
  const raw = loaded.file === null ? {} : parseTomlFile(loaded.path, loaded.text);
  const values: SourcedValue[] = [];
  for (const [section, table] of Object.entries(loaded.config) as [string, Record<string, unknown>][]) {
    for (const [key, value] of Object.entries(table)) {
      const dotted = `${section}.${key}`;
      const flag = FLAG_KEYS.find((f) => f.key === dotted);
      const flagValue = flag?.pick(flags);
      const fallback = ENV_FALLBACKS.find((f) => f.key === dotted);
      if (flag && flagValue !== undefined) {
        values.push({ key: dotted, value: flagValue, source: 'flag', origin: flag.flag });
      } else if (fallback && value === '' && env[fallback.variable]) {
        values.push({
          key: dotted,
          value: env[fallback.variable],
          source: 'environment',
          origin: fallback.variable,
        });
      } else if (written(raw, section, key)) {
        const line = lineOfKey(loaded.text, [section, key]);
        values.push({
          key: dotted,
          value,
          source: 'file',
          origin: `${loaded.path}${line ? `:${line}` : ''}`,
        });
      } else {
        values.push({ key: dotted, value, source: 'default', origin: null });
      }
    }
  }
  const variable = (loaded.config as Config).ai.api_key_env;
  return {
    paths: pathSources(flags, env, loaded.path).map((p) =>
      p.name === 'config file' && loaded.file === null ? { ...p, name: 'config file (absent: defaults)' } : p,
    ),
    values,
    apiKey: { variable, set: Boolean(env[variable]) },
  };
}

function tomlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function tilde(path: string): string {
  const home = homedir();
  return path === home || path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

/** TOML a person can read and paste back, each value followed by `# source (origin)`. */
export function renderEffectiveConfig(effective: EffectiveConfig): string {
  const out: string[] = [];
  const width = Math.max(...effective.paths.map((p) => p.name.length));
  for (const p of effective.paths) {
    out.push(
      `# ${`${p.name}:`.padEnd(width + 1)} ${tilde(p.path)}  (${p.source}${p.origin ? `: ${p.origin}` : ''})`,
    );
  }
  out.push(
    `# ${effective.apiKey.variable} (ai.api_key_env): ${effective.apiKey.set ? 'set in the environment' : 'not set'}`,
  );
  let section = '';
  for (const v of effective.values) {
    const [table, key] = v.key.split('.') as [string, string];
    if (table !== section) {
      out.push('', `[${table}]`);
      section = table;
    }
    const assignment = `${key} = ${tomlValue(v.value)}`;
    const origin =
      v.source === 'file' ? `file ${tilde(v.origin ?? '')}` : v.origin ? `${v.source} ${v.origin}` : v.source;
    out.push(`${assignment.padEnd(Math.max(40, assignment.length + 2))}# ${origin}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Splits `$EDITOR` into argv the way a shell splits words, without running one: blanks separate words,
 * '…' is literal, "…" honours \" and \\, a backslash outside quotes escapes the next character. No
 * expansion of any kind.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`unterminated ' in the editor command: ${line}`);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new UsageError(`unterminated " in the editor command: ${line}`);
      i = j;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Validates one config file; every problem found is returned (an empty list: valid). */
export function validateFile(file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  try {
    loadConfig(file, env);
    return [];
  } catch (error) {
    if (error instanceof ProblemsError) return error.problems.map(formatProblem);
    throw error;
  }
}

function writeExample(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  copyFileSync(EXAMPLE_CONFIG, path);
}

function addShowOptions(command: Command): Command {
  return command
    .option('--json', 'print JSON')
    .addOption(new Option('--mode <mode>', 'show it as `vigil run --mode <mode>` would run').choices(MODES))
    .option('--interval <seconds>', 'show it as `vigil run --interval <seconds>` would run', (value) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new UsageError(`--interval ${value}: expected whole seconds ≥ 1`);
      return n;
    });
}

function show(_options: unknown, command: Command): void {
  // optsWithGlobals: `vigil config --json` and `vigil config show --json` are the same request.
  const options = command.optsWithGlobals() as GlobalOptions & {
    json?: boolean;
    mode?: Mode;
    interval?: number;
  };
  const effective = effectiveConfig({ ...options, mode: options.mode, interval: options.interval });
  process.stdout.write(
    options.json ? `${JSON.stringify(effective, null, 2)}\n` : renderEffectiveConfig(effective),
  );
}

/** `vigil config [show|path|init|edit|validate]`. */
export function makeConfigCommand(): Command {
  const config = addShowOptions(
    new Command('config').description('show, locate, create, edit or validate the configuration'),
  ).action(show);
  addShowOptions(
    config
      .command('show')
      .description('the effective configuration and where each value came from (the default)'),
  ).action(show);
  config
    .command('path')
    .description('print the path of the configuration file in force')
    .action((_options: unknown, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const path = configPath(global.config);
      process.stdout.write(`${path}\n`);
      if (!existsSync(path))
        process.stderr.write('vigil: (it does not exist yet: vigil config init creates it)\n');
    });
  config
    .command('init')
    .description('write the documented example configuration to the path in force (never overwrites)')
    .action((_options: unknown, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const path = configPath(global.config);
      if (existsSync(path)) {
        process.stderr.write(
          `vigil: ${path} already exists; not overwriting it (vigil config edit changes it)\n`,
        );
        process.exitCode = 1;
        return;
      }
      writeExample(path);
      process.stdout.write(`wrote ${path} (every key with its default; edit it with vigil config edit)\n`);
    });
  config
    .command('edit')
    .description('open the configuration in $VISUAL or $EDITOR, then validate it')
    .action((_options: unknown, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const path = configPath(global.config);
      if (!existsSync(path)) {
        writeExample(path);
        process.stderr.write(`vigil: created ${path} from the documented example\n`);
      }
      const editorLine = process.env['VISUAL'] || process.env['EDITOR'] || 'vi';
      const [program, ...args] = splitCommandLine(editorLine);
      if (program === undefined) throw new UsageError('$EDITOR is empty');
      const result = spawnSync(program, [...args, path], { stdio: 'inherit' });
      if (result.error) {
        const code = (result.error as NodeJS.ErrnoException).code;
        throw new UsageError(
          `cannot run the editor ${program}: ${code === 'ENOENT' ? 'not found' : result.error.message} (set $EDITOR)`,
        );
      }
      const problems = validateFile(path);
      if (problems.length > 0) {
        process.stderr.write(
          `vigil: ${path} has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}; the daemon will refuse it until fixed (vigil config edit):\n${problems.join('\n')}\n`,
        );
        process.exitCode = 1;
      } else if (result.status !== 0) {
        process.stderr.write(`vigil: the editor exited with status ${result.status ?? result.signal}\n`);
        process.exitCode = 1;
      } else {
        process.stdout.write(
          `${path}: valid (a running daemon picks it up on SIGHUP: systemctl --user reload vigil)\n`,
        );
      }
    });
  config
    .command('validate [file]')
    .description('check a configuration file; print every problem as file:line: key: message')
    .action((file: string | undefined, _options: unknown, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const path = file ? resolve(file) : configPath(global.config);
      if (!file && !global.config && !process.env['VIGIL_CONFIG'] && !existsSync(path)) {
        process.stdout.write(`${path} does not exist; the defaults apply (and are valid)\n`);
        return;
      }
      const problems = validateFile(path);
      if (problems.length === 0) {
        process.stdout.write(`${path}: valid\n`);
        return;
      }
      process.stderr.write(`${problems.join('\n')}\n`);
      process.stderr.write(
        `vigil: ${problems.length === 1 ? '1 problem' : `${problems.length} problems`} in ${path}\n`,
      );
      process.exitCode = 1;
    });
  return config;
}
