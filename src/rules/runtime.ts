import { statSync } from 'node:fs';
import { join } from 'node:path';
import { configDir, type LoadedConfig, loadConfig } from '../config/load.js';
import type { Problem } from '../config/problems.js';
import { type KindPattern, kindFiles, loadKindPatterns } from './classify.js';
import { type LoadedRules, loadRules, SHIPPED_RULES_DIR } from './load.js';

/** Config, rules and process-kind patterns, loaded together as every command that judges needs them. */
export interface RulesRuntime {
  readonly config: LoadedConfig;
  readonly rules: LoadedRules;
  readonly kinds: KindPattern[];
  /** Problems in rule and kind files (the config's own problems throw instead). */
  readonly problems: Problem[];
  /**
   * Files that could make vigil act and that someone else could have written: group- or world-writable,
   * or owned by another user. While any is listed, vigil stays in observe mode (as sshd's StrictModes).
   */
  readonly unsafe: string[];
}

/** Why a file that steers vigil must not be trusted, or null. */
export function unsafeFile(path: string, uid: number = process.getuid?.() ?? -1): string | null {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (st.uid !== uid)
    return `${path} is owned by uid ${st.uid}, not by you (uid ${uid}): chown it to yourself`;
  if ((st.mode & 0o022) !== 0) return `${path} is writable by group or others: chmod go-w ${path}`;
  return null;
}

export function loadRulesRuntime(options: {
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  extraRuleFiles?: readonly string[];
  userRules?: boolean;
}): RulesRuntime {
  const env = options.env ?? process.env;
  const config = loadConfig(options.configPath, env);
  const rules = loadRules({
    userDir: options.userRules === false ? null : join(configDir(env), 'rules'),
    extraFiles: options.extraRuleFiles,
    thresholdNames: Object.keys(config.config.thresholds),
  });
  const kinds = loadKindPatterns(kindFiles(env));
  const steering = [config.file, ...rules.files, ...kindFiles(env)].filter(
    (f): f is string => f !== null && !f.startsWith(SHIPPED_RULES_DIR),
  );
  const unsafe = steering.map((f) => unsafeFile(f)).filter((why): why is string => why !== null);
  const problems: Problem[] = [
    ...rules.problems,
    ...kinds.errors.map((e) => ({ file: e.file, line: e.line, key: null, message: e.message })),
  ];
  return { config, rules, kinds: kinds.patterns, problems, unsafe };
}
