import { join } from 'node:path';
import { configDir, type LoadedConfig, loadConfig } from '../config/load.js';
import type { Problem } from '../config/problems.js';
import { type KindPattern, kindFiles, loadKindPatterns } from './classify.js';
import { type LoadedRules, loadRules } from './load.js';

/** Config, rules and process-kind patterns, loaded together as every command that judges needs them. */
export interface RulesRuntime {
  readonly config: LoadedConfig;
  readonly rules: LoadedRules;
  readonly kinds: KindPattern[];
  /** Problems in rule and kind files (the config's own problems throw instead). */
  readonly problems: Problem[];
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
  const problems: Problem[] = [
    ...rules.problems,
    ...kinds.errors.map((e) => ({ file: e.file, line: e.line, key: null, message: e.message })),
  ];
  return { config, rules, kinds: kinds.patterns, problems };
}
