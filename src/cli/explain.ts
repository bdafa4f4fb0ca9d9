import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { stateDir } from '../config/load.js';
import { type GlobalOptions, parsePid, sampleOptionsFrom } from '../pipeline/options.js';

/**
 * `vigil explain <pid>`: what vigil knows of a process — always, with no key — then, when `[ai]` is
 * enabled and not `--no-ai`, what the advisor says about it. `--print-prompt` prints the exact request
 * body that would be sent (redacted context included) and sends nothing.
 */

/**
 * The group of identical processes this pid belongs to, when vigil says who left it (see
 * understand/attribution.ts): its size, name and attribution, for the `group` line and `--json`.
 */
function attributedGroup(
  pid: number,
  facts: import('../understand/facts-schema.js').FactSet,
): Pick<
  import('../understand/facts-schema.js').GroupFacts,
  'count' | 'name' | 'left_by' | 'session' | 'cwd' | 'owner_gone_secs' | 'attribution'
> | null {
  const subject = (facts.subjects.group ?? []).find((g) => g.pids.includes(pid));
  const g = subject?.facts as import('../understand/facts-schema.js').GroupFacts | undefined;
  if (!g || g.attribution === '') return null;
  const { count, name, left_by, session, cwd, owner_gone_secs, attribution } = g;
  return { count, name, left_by, session, cwd, owner_gone_secs, attribution };
}

interface ExplainOptions {
  ai: boolean;
  json?: boolean;
  printPrompt?: boolean;
}

export function makeExplainCommand(): Command {
  return new Command('explain')
    .description('explain a process: what it is, its lineage and history, and what the advisor says')
    .argument('<pid>', 'the process', parsePid)
    .option('--no-ai', 'only what vigil knows itself; never call the advisor')
    .option('--json', 'one JSON object: {process, findings, advice, advisor}')
    .option('--print-prompt', 'print the exact request the advisor would send, and send nothing')
    .action(async (pid: number, options: ExplainOptions, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const sampling = sampleOptionsFrom(global);
      const [{ loadRulesRuntime }, { Watcher }, { explainFacts, renderExplain, renderAdvice }] =
        await Promise.all([
          import('../rules/runtime.js'),
          import('../pipeline/watcher.js'),
          import('../advisor/explain.js'),
        ]);
      const runtime = loadRulesRuntime({ configPath: global.config });
      const config = runtime.config.config;
      const language = config.general.language;
      const wantsAi = options.printPrompt === true || (options.ai && config.ai.enabled);

      // Two samples (CPU % needs a delta); the first also shows the lineage its parents. Failed user
      // units (and, for the advisor, the journal) are started with the first and answer into the second.
      const watcher = new Watcher(runtime, sampling, {
        trackLeaks: false,
        learnBaselines: false,
        collectors: ['processes', 'cpu', 'memory', 'units', ...(wantsAi ? (['journal'] as const) : [])],
      });
      let look: import('../pipeline/watcher.js').Cycle;
      try {
        await watcher.prime();
        await sleep(300);
        look = await watcher.cycle({ pointOnly: true });
      } finally {
        watcher.close();
      }
      const { snapshot, facts, evaluation } = look;
      if (!snapshot.processes?.some((p) => p.pid === pid)) {
        process.stderr.write(`vigil: no process ${pid}\n`);
        process.exitCode = 1;
        return;
      }
      const findings = [...evaluation.firing, ...evaluation.raised.filter((f) => f.event)];

      // The daemon's history, when there is one.
      // A call is recorded there too (the daily budget counts it), so asking creates it.
      const dbPath = join(stateDir(), 'vigil.db');
      const asking = wantsAi && !options.printPrompt;
      const store =
        existsSync(dbPath) || asking
          ? (await import('../store/store.js')).openStore(dbPath, { log: () => {}, quickCheck: false })
          : null;
      try {
        const now = Date.now();
        let alerts: import('../store/types.js').AlertRecord[] = [];
        let history: import('../store/types.js').SnapshotRecord[] = [];
        try {
          alerts = store?.openAlerts() ?? [];
          history = store?.snapshotsBetween(now - 24 * 3_600_000, now) ?? [];
        } catch {
          // a failing store: explain from the live look alone
        }
        const known = explainFacts(pid, snapshot, facts, { alerts, findings, history, now })!;
        const group = attributedGroup(pid, facts);
        const involved = [
          ...findings.filter((f) => f.pids.includes(pid)),
          ...alerts
            .filter((a) => a.pids.includes(pid) && !findings.some((f) => f.fingerprint === a.fingerprint))
            .map((a) => ({
              fingerprint: a.fingerprint,
              rule: a.rule,
              title: a.rule,
              severity: a.severity,
              scope: 'process' as const,
              subject: a.subject,
              summary: a.summary,
              pids: a.pids,
              since: a.firstSeen,
              suggest: [],
              event: a.event,
            })),
        ];

        let advice: import('../advisor/answer.js').Advice | null = null;
        let advisorState: { state: string; detail: string | null } = options.ai
          ? { state: 'off', detail: '[ai] enabled = false' }
          : { state: 'off', detail: '--no-ai' };
        if (wantsAi) {
          const [{ buildContext, buildRequest, explainQuestion }, advisor] = await Promise.all([
            import('../advisor/context.js'),
            import('../advisor/advisor.js'),
          ]);
          const context = buildContext({
            snapshot,
            facts,
            findings: involved,
            journal: snapshot.journal ?? [],
            history,
            focusPid: pid,
            anonymize: config.ai.anonymize,
            now,
          });
          const request = buildRequest(explainQuestion(pid), context, {
            model: config.ai.model,
            maxTokens: config.ai.max_tokens,
            language,
          });
          if (options.printPrompt) {
            process.stdout.write(`${JSON.stringify(request, null, 2)}\n`);
            return;
          }
          const { createHash } = await import('node:crypto');
          const target = snapshot.processes.find((p) => p.pid === pid)!;
          const cacheKey = createHash('sha256')
            .update(`${config.ai.model}\nexplain\n${pid}:${target.startTicks}\n${language}`)
            .digest('hex');
          const result = await advisor.askOnce({
            config,
            env: process.env,
            store,
            paths: sampling.paths,
            request,
            cacheKey,
            pid,
            mapping: { snapshot, facts, findings: involved, context },
          });
          if (result.kind === 'advice') {
            advice = result.advice;
            advisorState = { state: result.cached ? 'cached' : 'ok', detail: null };
          } else advisorState = { state: 'unavailable', detail: result.reason };
        }

        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ process: known, ...(group ? { group } : {}), findings: known.findings, advice, advisor: advisorState }, null, 2)}\n`,
          );
          return;
        }
        process.stdout.write(renderExplain(known, language));
        if (group)
          process.stdout.write(
            `${(language === 'fr' ? 'groupe' : 'group').padEnd(14)} ${group.count} × ${group.name}, ${group.attribution}\n`,
          );
        if (advice) process.stdout.write(`\n${renderAdvice(advice, language)}`);
        else if (options.ai && config.ai.enabled)
          process.stdout.write(
            `\n${language === 'fr' ? 'conseiller indisponible' : 'advisor unavailable'}: ${advisorState.detail}\n`,
          );
        // Silence would read as "the advisor had nothing to say": say it was not asked, and why.
        else
          process.stdout.write(
            `\n${language === 'fr' ? 'conseiller : désactivé' : 'advisor: off'} (${advisorState.detail})\n`,
          );
      } finally {
        store?.close();
      }
    });
}
