import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { loadConfig, stateDir } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { userNameOf } from '../host/trusted-file.js';
import { parseDuration } from '../model/duration.js';
import { formatBytes, formatDuration } from '../model/format.js';
import {
  type GlobalOptions,
  hostPathsFrom,
  parsePid,
  parseSignal,
  positiveInteger,
  sampleOptionsFrom,
  UsageError,
} from '../pipeline/options.js';
import { CATALOG } from '../respond/catalog.js';
import type { ActionResult } from '../respond/execute.js';
import type { LiveProcess, ProcessIdentity } from '../respond/identity.js';
import type { ActionLog } from '../respond/log.js';
import { recordManual, runPlan } from '../respond/manual.js';
import type { ActionPlan } from '../respond/plan.js';
import type { OpenedStore } from '../store/store.js';

/** Opens the history and its action log, or says why not (exit 1). */
async function openActions(): Promise<{ store: OpenedStore; log: ActionLog } | null> {
  const path = join(stateDir(), 'vigil.db');
  if (!existsSync(path)) {
    process.stderr.write(`vigil: no history yet (${path} does not exist): start the daemon with vigil run\n`);
    process.exitCode = 1;
    return null;
  }
  const [{ openStore }, { actionLogOf }] = await Promise.all([
    import('../store/store.js'),
    import('../respond/log.js'),
  ]);
  const store = openStore(path, { log: (m) => process.stderr.write(`vigil: ${m}\n`) });
  const log = actionLogOf(store);
  if (!log) {
    process.stderr.write(`vigil: cannot open ${path}: ${store.problem?.message ?? 'unknown error'}\n`);
    process.exitCode = 1;
    store.close();
    return null;
  }
  return { store, log };
}

/**
 * Asks on a terminal; off a terminal the answer is no unless --yes was given. A no sets exit status 1:
 * what was asked for was not done, and a script must not read that as done.
 */
async function confirm(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  let answer = false;
  if (!process.stdin.isTTY) {
    process.stderr.write('vigil: not a terminal, so nothing was done: add --yes to do it without asking\n');
  } else {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      answer = /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
    if (!answer) process.stderr.write('vigil: nothing was done\n');
  }
  if (!answer) process.exitCode = 1;
  return answer;
}

/** A user by name (`root`, `alice`), or by number when the passwd file does not name it. */
function userText(uid: number): string {
  return userNameOf(uid) ?? `uid ${uid}`;
}

/**
 * Why vigil's policy refuses to touch `live` (pid 1, a kernel thread, vigil or its parent, another
 * user's process, a protected pid or command…), or null. Asked before showing and asking, so a refusal
 * is said once and nobody is asked to confirm what would not be done; the executor asks again before
 * the signal.
 */
async function policyRefusal(
  live: LiveProcess,
  config: Config,
  global: GlobalOptions,
): Promise<string | null> {
  const { checkTarget, policyContext } = await import('../respond/policy.js');
  const ctx = policyContext(hostPathsFrom(global), config);
  const verdict = checkTarget(
    { pid: live.pid, startTicks: live.startTicks, cmdline: live.cmdline, exe: live.exe },
    ctx,
  );
  return verdict.ok ? null : verdict.reason;
}

function printResult(result: ActionResult): void {
  for (const r of result.refused) process.stdout.write(`refused: ${r.reason}\n`);
  process.stdout.write(
    `${result.outcome}: ${result.detail}${result.freedBytes ? `, ${formatBytes(result.freedBytes)} freed` : ''}\n`,
  );
  process.exitCode = result.outcome === 'success' || result.outcome === 'partial' ? 0 : 1;
}

/**
 * Says why nothing can be done and sets exit status 1 when --procfs is not the live /proc of vigil's pid
 * namespace: a tree that says what its author wrote, or another namespace's processes. Asked before
 * showing or asking anything; the executor asks again before every signal.
 */
async function refusedProcfs(global: GlobalOptions): Promise<boolean> {
  const { procfsRefusal } = await import('../respond/policy.js');
  const refusal = procfsRefusal(hostPathsFrom(global).procfs);
  if (refusal === null) return false;
  process.stderr.write(`vigil: ${refusal}\n`);
  process.exitCode = 1;
  return true;
}

/**
 * A stored kill_matching plan judged again on the live process table (see refreshPlan): who owns each
 * member now, what is gone. Other plans come back as stored. What the plan adds never includes vigil, the
 * daemon, their parents, or a protected pid or command.
 */
async function planNow(
  stored: ActionPlan,
  config: Config,
  global: GlobalOptions,
  store: OpenedStore,
): Promise<{ plan: ActionPlan; gone: readonly ProcessIdentity[]; changed: boolean }> {
  if (stored.action !== 'kill_matching') return { plan: stored, gone: [], changed: false };
  const [
    { createProcessCollector },
    { liveOwnerIn, refreshPlan },
    { policyContext, protectedIn },
    { readExe },
  ] = await Promise.all([
    import('../collectors/processes.js'),
    import('../respond/plan.js'),
    import('../respond/policy.js'),
    import('../respond/identity.js'),
  ]);
  const sampling = sampleOptionsFrom(global);
  const processes = await createProcessCollector().collect(
    { ...sampling, nowMs: Date.now(), monoMs: performance.now() },
    { skip: () => {} },
  );
  const policy = policyContext(sampling.paths, config);
  let daemonPid: number | null = null;
  try {
    daemonPid = store.latestHeartbeat()?.pid ?? null;
  } catch {
    // no heartbeat readable: the daemon's pid is not known
  }
  return refreshPlan(stored, processes, {
    liveOwner: liveOwnerIn(processes),
    exeOf: (pid) => readExe(sampling.paths, pid),
    isProtected: protectedIn(policy, daemonPid === null ? [] : [daemonPid]),
  });
}

const alertId = positiveInteger('alert id');

export function makeFixCommand(): Command {
  return new Command('fix')
    .description('run the catalog action proposed for an alert, after showing it and asking (or --yes)')
    .argument('<alert-id>', 'the alert (vigil report and notifications name it)', alertId)
    .option('-y, --yes', 'do it without asking')
    .action(async (alertId: number, options: { yes?: boolean }, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const config = loadConfig(global.config).config;
      if (await refusedProcfs(global)) return;
      const opened = await openActions();
      if (!opened) return;
      const { store, log } = opened;
      try {
        const alert = store.alertById(alertId);
        if (!alert) throw new UsageError(`no alert ${alertId}`);
        const proposal = log.latestForAlert(alertId);
        if (!proposal || proposal.plan.action === 'notify_only') {
          process.stderr.write(
            `vigil: alert ${alertId} (${alert.rule}) has no action to run: it is for a person to look at\n`,
          );
          process.exitCode = 1;
          return;
        }
        if (proposal.state === 'finished' || proposal.state === 'started') {
          process.stderr.write(
            `vigil: the action for alert ${alertId} already ran (${proposal.outcome ?? proposal.state})\n`,
          );
          process.exitCode = 1;
          return;
        }
        // The group as it is now: members gone since are left out, a member whose owner died since is
        // stopped with its wrappers and children. What the stored plan bound stays bound as it was.
        const { plan, gone, changed } = await planNow(proposal.plan, config, global, store);
        const entry = CATALOG[plan.action];
        process.stdout.write(`alert ${alertId} ${alert.severity} ${alert.rule}: ${alert.summary}\n`);
        if (gone.length > 0)
          process.stdout.write(
            `gone already: pid ${gone.map((t) => t.pid).join(', ')} (${gone.length} of the ${proposal.plan.targets.length + proposal.plan.kept.length} processes the plan named)\n`,
          );
        if (plan.action.startsWith('kill') && plan.targets.length === 0) {
          process.stderr.write(
            plan.kept.length > 0
              ? `vigil: nothing to stop for alert ${alertId} now: its ${plan.kept.length} members still have a live owner (${plan.kept.map((t) => `pid ${t.pid}`).join(', ')}); vigil proposes a kill once they are orphaned\n`
              : `vigil: nothing to stop for alert ${alertId} now: every process it named is gone\n`,
          );
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`action: ${entry.title} (${entry.risk}): ${entry.description}\n`);
        if (plan.command) process.stdout.write(`the same by hand: ${plan.command}\n`);
        const roles = plan.roles ?? {};
        for (const t of plan.targets) {
          const role = roles[String(t.pid)];
          process.stdout.write(`  pid ${t.pid}${role ? ` (${role})` : ''}: ${t.cmdline.slice(0, 120)}\n`);
        }
        for (const t of plan.kept) process.stdout.write(`  kept (a live process owns it): pid ${t.pid}\n`);
        if (!(await confirm('Run it?', options.yes))) return;
        const now = Date.now();
        let id = proposal.id;
        if (changed) {
          // Recorded as what ran: the stored proposal gives way to the plan made now.
          id = log.add({
            alertId,
            fingerprint: proposal.fingerprint,
            plan,
            mode: proposal.mode,
            state: 'proposed',
            now,
          }).id;
          log.setState(
            proposal.id,
            'vetoed',
            now,
            `replaced by action ${id}: vigil fix planned it again from the group as it is now`,
          );
        }
        log.setState(id, 'started', now);
        const result = await runPlan(plan, config, global);
        log.finish(id, result, Date.now());
        printResult(result);
      } finally {
        store.close();
      }
    });
}

export function makeVetoCommand(): Command {
  return new Command('veto')
    .description('cancel the action announced for an alert (auto mode waits [actions] veto_secs for this)')
    .argument('<alert-id>', 'the alert', alertId)
    .action(async (alertId: number) => {
      const opened = await openActions();
      if (!opened) return;
      try {
        const n = opened.log.veto(alertId, Date.now());
        if (n === 0) {
          process.stderr.write(`vigil: nothing pending for alert ${alertId}\n`);
          process.exitCode = 1;
        } else process.stdout.write(`vetoed ${n} pending action(s) for alert ${alertId}\n`);
      } finally {
        opened.store.close();
      }
    });
}

export function makeSnoozeCommand(): Command {
  return new Command('snooze')
    .description('no notification and no action for a rule for a while')
    .argument('<rule>', 'a rule id (vigil rules list)')
    .argument('<duration>', 'how long: 30m, 1h, 1d')
    .action(async (rule: string, duration: string, _o: unknown, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const { loadRulesRuntime } = await import('../rules/runtime.js');
      let ms: number;
      try {
        ms = parseDuration(duration);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const ids = loadRulesRuntime({ configPath: global.config }).rules.all.map((r) => r.id);
      if (!ids.includes(rule)) throw new UsageError(`no rule ${rule} (vigil rules list shows them)`);
      const opened = await openActions();
      if (!opened) return;
      try {
        const until = Date.now() + ms;
        opened.log.snooze(rule, until);
        process.stdout.write(
          `${rule} snoozed for ${formatDuration(ms / 1000)}, until ${new Date(until).toISOString()}\n`,
        );
      } finally {
        opened.store.close();
      }
    });
}

export function makeKillCommand(): Command {
  return new Command('kill')
    .description('stop a process through vigil’s policy: shows it, asks, records (SIGTERM, then SIGKILL)')
    .argument('<pid>', 'process id', parsePid)
    .option('--force', 'SIGKILL at once, without the grace period')
    .option('-y, --yes', 'do it without asking')
    .addOption(
      new Option('--signal <sig>', 'send this signal instead (SIGHUP, SIGINT, …)').argParser(parseSignal),
    )
    .action(
      async (
        pid: number,
        options: { force?: boolean; yes?: boolean; signal?: NodeJS.Signals },
        command: Command,
      ) => {
        const global = command.optsWithGlobals() as GlobalOptions;
        const config = loadConfig(global.config).config;
        if (await refusedProcfs(global)) return;
        const paths = hostPathsFrom(global);
        const [{ readLiveProcess }, { classify, kindFiles, loadKindPatterns }, { redact }] =
          await Promise.all([
            import('../respond/identity.js'),
            import('../understand/classify.js'),
            import('../redact/redact.js'),
          ]);
        const live = readLiveProcess(paths, pid);
        if (!live) {
          process.stderr.write(`vigil: no process ${pid}\n`);
          process.exitCode = 1;
          return;
        }
        const signal = options.signal;
        const refusal = await policyRefusal(live, config, global);
        if (refusal !== null) {
          process.stderr.write(`vigil: refused: ${refusal}\n`);
          process.exitCode = 1;
          return;
        }
        const kind = classify(
          { comm: live.comm, argv: live.cmdline.split(' '), cmdline: live.cmdline },
          loadKindPatterns(kindFiles()).patterns,
        );
        const { readText } = await import('../host/files.js');
        const uptime = Number.parseFloat(readText(join(paths.procfs, 'uptime')));
        const children = (() => {
          try {
            return readText(join(paths.procfs, String(pid), 'task', String(pid), 'children'))
              .trim()
              .split(/\s+/)
              .filter(Boolean).length;
          } catch {
            return 0;
          }
        })();
        process.stdout.write(
          `pid ${pid} ${live.comm}${kind ? ` (${kind.label})` : ''}, ${userText(live.uid)}, up ${formatDuration(uptime - live.startTicks / 100)}, ${formatBytes(live.rssPages * 4096)} resident, ${children === 1 ? '1 child' : `${children} children`}\n  ${redact(live.cmdline).slice(0, 200)}\n`,
        );
        const how = options.force
          ? 'SIGKILL'
          : (signal ?? `SIGTERM, then SIGKILL after ${config.actions.grace_secs} s`);
        if (!(await confirm(`Send ${how}?`, options.yes))) return;
        const plan: ActionPlan = {
          action: 'kill_process',
          // Bound to what was shown: start time, command line and executable.
          targets: [{ pid, startTicks: live.startTicks, cmdline: live.cmdline, exe: live.exe }],
          kept: [],
          unit: null,
          command: `kill ${options.force ? '-9 ' : signal ? `-${signal.replace('SIG', '')} ` : ''}${pid}`,
          reason: 'vigil kill',
        };
        const result = await runPlan(plan, config, global, { force: options.force, signal });
        await recordManual(plan, result, (m) => process.stderr.write(`vigil: ${m}\n`));
        printResult(result);
      },
    );
}
