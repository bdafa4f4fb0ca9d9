import { join } from 'node:path';
import { configDir, type LoadedConfig, loadConfig } from '../config/load.js';
import type { Problem } from '../config/problems.js';
import type { Refusal, TrustContext } from '../host/trusted-file.js';
import { type KindPattern, kindFiles, loadKindPatterns } from '../understand/classify.js';
import { type LoadedRules, loadRules } from './load.js';

/** Config, rules and process-kind patterns, loaded together as every command that judges needs them. */
export interface RulesRuntime {
  readonly config: LoadedConfig;
  readonly rules: LoadedRules;
  readonly kinds: KindPattern[];
  /** Problems in rule and kind files (the config's own problems throw instead). */
  readonly problems: Problem[];
  /**
   * Files that steer vigil and were not used because someone else could have written them (see
   * host/trusted-file.ts): the config (then built-in defaults apply), user rule files or their directory,
   * the user's kinds file. While any is listed, vigil stays in observe mode: fail closed.
   */
  readonly refused: Refusal[];
}

/**
 * Loads the config, then the rules and kinds it goes with. Each refused file is said once through `warn`
 * (stderr by default; the daemon logs it on every load). The shipped rules and kinds are part of the
 * program and are not checked (see rules/load.ts).
 */
export function loadRulesRuntime(options: {
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  extraRuleFiles?: readonly string[];
  userRules?: boolean;
  trust?: TrustContext;
  warn?: (line: string) => void;
}): RulesRuntime {
  const env = options.env ?? process.env;
  const trusting = { trust: options.trust, warn: options.warn };
  const config = loadConfig(options.configPath, env, trusting);
  const rules = loadRules({
    userDir: options.userRules === false ? null : join(configDir(env), 'rules'),
    extraFiles: options.extraRuleFiles,
    thresholdNames: Object.keys(config.config.thresholds),
    ...trusting,
  });
  const kinds = loadKindPatterns(kindFiles(env), trusting);
  const problems: Problem[] = [
    ...rules.problems,
    ...kinds.errors.map((e) => ({ file: e.file, line: e.line, key: null, message: e.message })),
  ];
  const refused = [...(config.refused ? [config.refused] : []), ...rules.refused, ...kinds.refused];
  return { config, rules, kinds: kinds.patterns, problems, refused };
}
