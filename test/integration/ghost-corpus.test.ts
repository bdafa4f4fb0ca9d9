import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LIVE_PATHS } from '../../src/host/paths.js';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime, type RulesRuntime } from '../../src/rules/runtime.js';
import { liveSampling } from '../helpers/context.js';
import {
  type Actor,
  corpusReport,
  GhostLab,
  namespaceSkipReason,
  type Outcome,
  pythonPath,
  runScenario,
  type Scenario,
  startNamespace,
} from '../helpers/ghosts.js';
import { memTotalBytes, waitUntil } from '../helpers/procs.js';

/**
 * The ghost-storm corpus: every shape of leak the reports show, and the look-alikes a developer's machine
 * is full of, as real processes judged by the real pipeline (the daemon's `Watcher`). Recall: each shape
 * raises `ghost_process_storm` naming exactly its servers, both for a vigil that watched the owner die and
 * for one started afterwards. Precision: no look-alike raises a storm or a duplicate alert.
 *
 * Shapes 5 (`systemd --user` as subreaper) and 6 (a storm paged out to swap) need a user manager and a
 * swap file: add their scenarios to SCENARIOS below (or run `runScenario` from test/helpers/ghosts.ts in
 * a file of their own) with `shape: '5'` / `'6'`.
 */

const STORM = 8;
const MIB = 16;
/** Between two cycles: the daemon waits 5 s; what is counted here is cycles, not time. */
const CYCLE_MS = 500;
const home = mkdtempSync(join(tmpdir(), 'vigil-corpus-'));
after(() => rmSync(home, { recursive: true, force: true }));

/**
 * A storm holds STORM × MIB: storms must hold half that share; look-alikes are judged with no floor, so
 * that only who they are keeps them quiet, never their size.
 */
function runtimeFor(expect: 'storm' | 'quiet'): RulesRuntime {
  const share = ((STORM * MIB * 1024 * 1024) / memTotalBytes()) * 100;
  const floor = expect === 'storm' ? share / 2 : 0;
  const dir = join(home, expect);
  mkdirSync(join(dir, 'vigil'), { recursive: true });
  // Six shells spinning get far more than 10% of a CPU together, even on a loaded 2-core runner.
  writeFileSync(
    join(dir, 'vigil', 'config.toml'),
    `[thresholds]\nghost_storm_min_ram_percent = ${floor.toFixed(4)}\norphan_cpu_percent = 10\n`,
  );
  const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: dir } });
  assert.deepEqual(runtime.problems, []);
  return runtime;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const uuid = (i: number) => `${(0x4bc1f741 + (i % 3)).toString(16)}-a4d0-420e-bb60-bf447585fb0${i % 10}`;

/** The programs an agent's machine runs, made in the lab: scripts are the actor, runtimes are python. */
function programs(lab: GhostLab) {
  return {
    mcpServer: lab.script('src/weather/mcp_server.py'),
    node: lab.runtime('bin/node'),
    bun: lab.runtime('bin/bun'),
    claudeCli: lab.script('lib/node_modules/@anthropic-ai/claude-code/cli.js'),
    worker: lab.script('.claude/plugins/cache/thedotmack/claude-mem/9.0.0/scripts/worker-service.cjs'),
    npxServer: lab.script('.npm/_npx/3f2a9c1b7d4e5f60/node_modules/.bin/mcp-server-fake'),
    uvPython: lab.runtime('.cache/uv/archive-v0/pwfYq9xg_3c0dF1ab2Lkm/bin/python'),
    chroma: lab.script('.cache/uv/archive-v0/pwfYq9xg_3c0dF1ab2Lkm/bin/chroma-mcp'),
  };
}

/** `python3 …/mcp_server.py --port N --stdio`, the issue's measured server. */
function mcpServer(lab: GhostLab, i: number, stdin: 'pipe' | 'null' = 'pipe'): Actor {
  const { mcpServer } = programs(lab);
  return {
    role: 'server',
    exec: pythonPath(),
    argv: ['python3', mcpServer, '--port', String(41000 + i), '--stdio'],
    mib: MIB,
    stdin,
  };
}

/** An interactive agent CLI: `node …/@anthropic-ai/claude-code/cli.js`. */
function agent(lab: GhostLab, children: Actor[]): Actor {
  const { node, claudeCli } = programs(lab);
  return { role: 'owner', exec: node, argv: [node, claudeCli], children };
}

/** A subagent as the Agent SDK and claude-mem start them (claude-mem#1068, claude-code#20369). */
function subagent(i: number): Actor {
  return {
    role: 'subagent',
    title: [
      'claude',
      '--output-format',
      'stream-json',
      '--verbose',
      '--input-format',
      'stream-json',
      '--model',
      'claude-sonnet-4-5',
      '--resume',
      uuid(i),
      '--disallowedTools',
      'Bash,Read,Write,Edit,Grep,Glob,WebFetch,WebSearch',
      '--setting-sources',
      '',
      '--permission-mode',
      'default',
    ],
    comm: 'claude',
    mib: MIB,
  };
}

/** CPU time a process has used (utime + stime of /proc/PID/stat), in seconds; 0 when gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Kills the lab's process that reported `role` (one of them), as an agent crashes. */
async function killRole(lab: GhostLab, role: string): Promise<void> {
  const [pid] = lab.pids(role);
  assert.ok(pid !== undefined && lab.kill(pid), `${role} killed`);
  await waitUntil(() => !lab.owns(pid), `${role} gone`);
}

const SCENARIOS: Scenario[] = [
  // ───────────── recall: every shape raises ghost_process_storm on exactly its servers ─────────────
  {
    name: 'agent died, servers on its pipes',
    shape: '1',
    expect: 'storm',
    setup: async (lab) => {
      lab.start(
        agent(
          lab,
          range(STORM).map((i) => mcpServer(lab, i)),
        ),
      );
      await lab.ready('server', STORM);
      return { die: () => killRole(lab, 'owner'), expected: () => lab.pids('server') };
    },
  },
  {
    name: 'detached with nohup from a shell script, the shell gone',
    shape: '2',
    expect: 'storm',
    setup: async (lab) => {
      const { mcpServer } = programs(lab);
      const loop = `for i in ${range(STORM).join(' ')}; do nohup ${pythonPath()} ${mcpServer} --port $((41000 + i)) --stdio >/dev/null 2>&1 & done; wait`;
      const shell = lab.start({
        role: 'shell',
        actor: false,
        exec: '/bin/sh',
        argv: ['sh', '-c', loop],
        inner: { role: 'server', mib: MIB },
      });
      await lab.ready('server', STORM);
      return {
        die: async () => {
          lab.kill(shell);
          await waitUntil(() => !lab.owns(shell), 'the shell gone');
        },
        expected: () => lab.pids('server'),
      };
    },
  },
  {
    name: 'npm exec wrappers orphaned, each server under its live wrapper',
    shape: '3',
    expect: 'storm',
    setup: async (lab) => {
      const { node, npxServer } = programs(lab);
      const wrappers = range(STORM).map(
        (): Actor => ({
          role: 'wrapper',
          title: ['npm exec @modelcontextprotocol/server-fake'],
          comm: 'npm exec @model',
          children: [
            {
              role: 'sh',
              actor: false,
              exec: '/bin/sh',
              argv: ['sh', '-c', `${node} ${npxServer}`],
              inner: { role: 'server', mib: MIB },
            },
          ],
        }),
      );
      lab.start(agent(lab, wrappers));
      await lab.ready('server', STORM);
      return { die: () => killRole(lab, 'owner'), expected: () => lab.pids('server') };
    },
  },
  {
    name: 'uvx chroma-mcp pairs left by a dead worker daemon',
    shape: '3',
    expect: 'storm',
    setup: async (lab) => {
      const { bun, worker, uvPython, chroma } = programs(lab);
      const args = ['--client-type', 'persistent', '--data-dir', `${lab.dir}/.claude-mem/vector-db`];
      const wrappers = range(STORM).map(
        (): Actor => ({
          role: 'wrapper',
          title: ['uvx', '--python', '3.13', 'chroma-mcp', ...args],
          comm: 'uvx',
          children: [{ role: 'server', exec: uvPython, argv: [uvPython, chroma, ...args], mib: MIB }],
        }),
      );
      lab.start({ role: 'owner', exec: bun, argv: [bun, worker, '--daemon'], children: wrappers });
      await lab.ready('server', STORM);
      return { die: () => killRole(lab, 'owner'), expected: () => lab.pids('server') };
    },
  },
  {
    name: 'container: adopted by the namespace init (sleep infinity), vigil on the host',
    shape: '4',
    expect: 'storm',
    skip: namespaceSkipReason,
    setup: async (lab) => {
      const ns = await startNamespace(lab, ['sleep', 'infinity']);
      lab.start(
        agent(
          lab,
          range(STORM).map((i) => mcpServer(lab, i)),
        ),
        ns.enter,
      );
      await lab.ready('server', STORM);
      return { die: () => killRole(lab, 'owner'), expected: () => lab.pids('server') };
    },
  },
  {
    name: 'container: adopted by a node init, stdin on /dev/null, vigil inside',
    shape: '4',
    expect: 'storm',
    skip: namespaceSkipReason,
    setup: async (lab) => {
      const ns = await startNamespace(lab, [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)']);
      lab.start(
        agent(
          lab,
          range(STORM).map((i) => mcpServer(lab, i, 'null')),
        ),
        ns.enter,
      );
      await lab.ready('server', STORM);
      return { procfs: ns.procfs, die: () => killRole(lab, 'owner'), expected: () => lab.nsPids('server') };
    },
  },
  {
    name: 'claude subagents piling up under a live worker daemon (claude-mem)',
    shape: '7',
    expect: 'storm',
    setup: async (lab) => {
      const { bun, worker } = programs(lab);
      lab.start({
        role: 'owner',
        exec: bun,
        argv: [bun, worker, '--daemon'],
        children: range(STORM).map(subagent),
      });
      await lab.ready('subagent', STORM);
      return { expected: () => lab.pids('subagent') };
    },
  },
  {
    name: 'claude subagents orphaned when their session was killed',
    shape: '7',
    expect: 'storm',
    setup: async (lab) => {
      lab.start({ role: 'owner', title: ['claude'], comm: 'claude', children: range(STORM).map(subagent) });
      await lab.ready('subagent', STORM);
      return { die: () => killRole(lab, 'owner'), expected: () => lab.pids('subagent') };
    },
  },
  {
    name: 'agent tool shells left spinning at 100% CPU by two sessions',
    shape: '7',
    expect: 'storm',
    setup: async (lab) => {
      // Each session sources its own shell snapshot (`snapshot-bash-<ms>-<random>.sh`).
      const sessions = ['1752002412283-omkv1o', '1752003518004-q3zr8k'];
      for (const session of sessions) {
        const snapshot = lab.file(`.claude/shell-snapshots/snapshot-bash-${session}.sh`);
        const shells = range(3).map(
          (i): Actor => ({
            role: 'shell',
            actor: false,
            exec: '/bin/bash',
            argv: [
              '/bin/bash',
              '-c',
              '-l',
              `source ${snapshot} && eval 'while :; do :; done' < /dev/null && pwd -P >| /tmp/claude-${(0xf6a3 + i).toString(16)}-cwd`,
            ],
          }),
        );
        lab.start(agent(lab, shells));
      }
      await lab.ready('owner', 2);
      await waitUntil(() => lab.pids('shell').length === 6, 'six tool shells');
      // Spinning in their loop (past bash's start-up files) before the agents die.
      await waitUntil(() => lab.pids('shell').every((pid) => cpuSeconds(pid) >= 0.3), 'the shells spinning');
      return {
        die: async () => {
          for (const pid of lab.pids('owner')) lab.kill(pid);
          await waitUntil(() => lab.pids('owner').every((pid) => !lab.owns(pid)), 'both agents gone');
        },
        expected: () => lab.pids('shell'),
      };
    },
  },
  {
    name: 'vigil started after the storm: adopted, /dev/null, not session leaders',
    shape: '8',
    expect: 'storm',
    setup: async (lab) => {
      const { mcpServer } = programs(lab);
      const loop = `for i in ${range(STORM).join(' ')}; do ${pythonPath()} ${mcpServer} --port $((41000 + i)) --stdio </dev/null >/dev/null 2>&1 & done`;
      const shell = lab.start({
        role: 'shell',
        actor: false,
        exec: '/bin/sh',
        argv: ['sh', '-c', loop],
        setsid: true,
        stdin: 'null',
        inner: { role: 'server', mib: MIB },
      });
      await lab.ready('server', STORM);
      await waitUntil(() => !lab.owns(shell), 'the shell gone');
      return { watchFromStart: false, expected: () => lab.pids('server') };
    },
  },

  // ───────────── precision: the look-alikes stay quiet ─────────────
  {
    name: 'vitest workers under a live runner',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const { node } = programs(lab);
      const runner = lab.script('app/node_modules/vitest/vitest.mjs');
      const forks = lab.script('app/node_modules/vitest/dist/workers/forks.js');
      lab.start({
        role: 'runner',
        exec: node,
        argv: [node, runner],
        children: range(STORM).map(
          (): Actor => ({ role: 'worker', exec: node, argv: [node, forks], mib: MIB }),
        ),
      });
      await lab.ready('worker', STORM);
      return {};
    },
  },
  {
    name: 'jest workers under a live runner',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const { node } = programs(lab);
      const jest = lab.script('app/node_modules/.bin/jest');
      const child = lab.script('app/node_modules/jest-worker/build/workers/processChild.js');
      lab.start({
        role: 'runner',
        exec: node,
        argv: [node, jest, '--watchAll'],
        children: range(STORM).map(
          (): Actor => ({ role: 'worker', exec: node, argv: [node, child], mib: MIB }),
        ),
      });
      await lab.ready('worker', STORM);
      return {};
    },
  },
  {
    name: 'gunicorn master and forked workers sharing its command line',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const gunicorn = lab.script('venv/bin/gunicorn');
      const python = lab.runtime('venv/bin/python');
      lab.start({
        role: 'master',
        exec: python,
        argv: [python, gunicorn, 'app:app', '-w', String(STORM), '-b', '127.0.0.1:8000'],
        forks: [{ role: 'worker', count: STORM, mib: MIB }],
      });
      await lab.ready('worker', STORM);
      return {};
    },
  },
  {
    name: 'uvicorn workers spawned by multiprocessing',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      lab.script('app/uvicorn.py');
      lab.start({
        role: 'master',
        exec: pythonPath(),
        argv: ['python3', '-m', 'uvicorn', 'app:app', '--workers', String(STORM), '--port', '8000'],
        cwd: lab.path('app'),
        spawnWorkers: { count: STORM, role: 'worker', mib: MIB },
      });
      await lab.ready('worker', STORM, 30_000);
      return {};
    },
  },
  {
    name: 'browser renderers under a live browser',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const chrome = '/opt/google/chrome/chrome';
      const renderer = (i: number): Actor => ({
        role: 'renderer',
        title: [
          chrome,
          '--type=renderer',
          '--crashpad-handler-pid=2701',
          '--lang=en-US',
          '--num-raster-threads=4',
          `--renderer-client-id=${7 + i}`,
          `--launch-time-ticks=${2741234567 + i * 1000}`,
          '--shared-files=v8_context_snapshot_data:100',
          `--field-trial-handle=3,i,${8143912563740159022n + BigInt(i)},4937217428419337541,262144`,
        ],
        comm: 'chrome',
        mib: MIB,
      });
      lab.start({
        role: 'browser',
        title: [chrome],
        comm: 'chrome',
        children: [
          {
            role: 'zygote',
            title: [chrome, '--type=zygote', '--crashpad-handler-pid=2701'],
            comm: 'chrome',
            children: range(STORM).map(renderer),
          },
        ],
      });
      await lab.ready('renderer', STORM);
      return {};
    },
  },
  {
    name: "an editor's extension hosts and language servers, one per window",
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const code = '/usr/share/code/code';
      const window = (i: number): Actor => ({
        role: 'exthost',
        title: [
          code,
          '--type=utility',
          '--utility-sub-type=node.mojom.NodeService',
          '--lang=en-US',
          '--service-sandbox-type=none',
          '--dns-result-order=ipv4first',
          '--inspect-port=0',
          `--field-trial-handle=3,i,${4519270845123456789n + BigInt(i)},4093046428339810513,262144`,
        ],
        comm: 'code',
        mib: MIB,
        children: [
          {
            role: 'tsserver',
            title: [
              code,
              '--max-old-space-size=3072',
              '/usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js',
              '--serverMode',
              'partialSemantic',
              '--useInferredProjectPerProjectRoot',
              '--disableAutomaticTypingAcquisition',
              '--cancellationPipeName',
              `/tmp/vscode-typescript0/${(0x9b1e3a7c + i).toString(16)}5d2f4e60a8b9/tscancellation-*.tmp*`,
              '--locale',
              'en',
              '--useNodeIpc',
            ],
            comm: 'code',
            mib: MIB,
          },
        ],
      });
      lab.start({ role: 'editor', title: [code], comm: 'code', children: range(STORM).map(window) });
      await lab.ready('tsserver', STORM);
      return {};
    },
  },
  {
    name: 'eight shells in tmux',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const socket = lab.path('tmux.sock');
      const tmux = (...args: string[]) =>
        spawnSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], {
          env: { ...lab.env, SHELL: '/bin/bash' },
          encoding: 'utf8',
          timeout: 5000,
        });
      const started = tmux('new-session', '-d', '-s', 'corpus', '-x', '80', '-y', '24');
      assert.equal(started.status, 0, started.stderr);
      for (let i = 1; i < STORM; i++) tmux('new-window', '-t', 'corpus');
      await waitUntil(() => lab.members().length >= STORM + 1, 'the tmux server and its shells');
      return {};
    },
  },
  {
    name: 'postgres backends under a live postmaster',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const backend = {
        role: 'backend',
        count: STORM,
        title: ['postgres: 16/main: app app [local] idle'],
        mib: MIB,
      };
      lab.start({
        role: 'postmaster',
        title: [
          '/usr/lib/postgresql/16/bin/postgres',
          '-D',
          '/var/lib/postgresql/16/main',
          '-c',
          'config_file=/etc/postgresql/16/main/postgresql.conf',
        ],
        comm: 'postgres',
        forks: [
          { role: 'aux', count: 1, title: ['postgres: 16/main: checkpointer'] },
          { role: 'aux', count: 1, title: ['postgres: 16/main: walwriter'] },
          backend,
        ],
      });
      await lab.ready('backend', STORM);
      return {};
    },
  },
  {
    name: 'containers under containerd-shim, handed over by runc',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const { mcpServer } = programs(lab);
      const container = (i: number): Actor => {
        const id = `${(0x4f1c2b9a + i).toString(16)}8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c`;
        const bundle = `/run/containerd/io.containerd.runtime.v2.task/moby/${id}`;
        const shim = [
          '/usr/bin/containerd-shim-runc-v2',
          '-namespace',
          'moby',
          '-address',
          '/run/containerd/containerd.sock',
        ];
        return {
          role: 'launcher',
          title: [...shim, '-publish-binary', '/usr/bin/containerd', '-id', id, 'start'],
          comm: 'containerd-shim',
          lifeMs: 600_000,
          children: [
            {
              role: 'shim',
              title: [...shim, '-id', id],
              comm: 'containerd-shim',
              subreaper: true,
              setsid: true,
              children: [
                {
                  role: 'runc',
                  title: [
                    'runc',
                    '--root',
                    '/var/run/docker/runtime-runc/moby',
                    'create',
                    '--bundle',
                    bundle,
                    id,
                  ],
                  comm: 'runc',
                  children: [
                    {
                      role: 'app',
                      exec: pythonPath(),
                      argv: ['python3', mcpServer, '--port', '8080'],
                      mib: MIB,
                      stdin: 'null',
                    },
                  ],
                },
              ],
            },
          ],
        };
      };
      lab.start({
        role: 'containerd',
        title: ['/usr/bin/containerd'],
        comm: 'containerd',
        children: range(STORM).map(container),
      });
      await lab.ready('app', STORM);
      return {
        // `shim start` daemonises and exits; runc exits once the container runs.
        transition: async () => {
          for (const pid of [...lab.pids('launcher'), ...lab.pids('runc')]) lab.kill(pid);
          await waitUntil(
            () => [...lab.pids('launcher'), ...lab.pids('runc')].every((pid) => !lab.owns(pid)),
            'launchers and runc gone',
          );
        },
      };
    },
  },
  {
    name: 'eight agent sessions in eight terminals, one MCP server each',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      const { node, npxServer } = programs(lab);
      for (const _ of range(STORM)) {
        lab.start({
          role: 'terminal',
          title: ['-bash'],
          comm: 'bash',
          children: [
            {
              role: 'agent',
              title: ['claude'],
              comm: 'claude',
              children: [
                { role: 'server', exec: node, argv: [node, npxServer, '/home/dev/projects'], mib: MIB },
              ],
            },
          ],
        });
      }
      await lab.ready('server', STORM);
      return {};
    },
  },
  {
    name: 'ssh-agents started from eight terminals (daemons: own session, /dev/null)',
    shape: 'look-alike',
    expect: 'quiet',
    setup: async (lab) => {
      for (const _ of range(STORM)) {
        lab.start({
          role: 'eval',
          title: ['ssh-agent', '-s'],
          comm: 'ssh-agent',
          lifeMs: 600_000,
          children: [
            {
              role: 'agent',
              title: ['ssh-agent', '-s'],
              comm: 'ssh-agent',
              setsid: true,
              stdin: 'null',
              mib: 2,
            },
          ],
        });
      }
      await lab.ready('agent', STORM);
      return {
        // `eval $(ssh-agent -s)`: the first process prints the variables and exits, the daemon stays.
        transition: async () => {
          for (const pid of lab.pids('eval')) lab.kill(pid);
          await waitUntil(() => lab.pids('eval').every((pid) => !lab.owns(pid)), 'the launchers gone');
        },
      };
    },
  },
];

describe('the ghost-storm corpus, judged by the daemon pipeline', () => {
  const outcomes: Outcome[] = [];
  before(() => GhostLab.sweepAbandoned());
  const options = {
    runtime: (expect: 'storm' | 'quiet') => runtimeFor(expect),
    cycleMs: CYCLE_MS,
    maxCycles: 6,
  };

  for (const scenario of SCENARIOS) {
    const verb = scenario.expect === 'storm' ? 'raises a ghost storm naming its servers' : 'stays quiet';
    it(`${scenario.shape === 'look-alike' ? 'look-alike' : `shape ${scenario.shape}`}: ${scenario.name} — ${verb}`, async (t) => {
      const outcome = await runScenario(scenario, options);
      outcomes.push(outcome);
      if (outcome.skipped !== null) {
        t.skip(outcome.skipped);
        return;
      }
      assert.deepEqual(outcome.wrong, [], outcome.wrong.join('\n'));
      assert.equal(outcome.fresh, true, 'judged right by a vigil started afterwards');
      if (outcome.watched !== null)
        assert.equal(outcome.watched, true, 'judged right by a vigil that watched');
      if (outcome.cyclesAfterDeath !== null) {
        // The storm rule has no `for`: within two full cycles of the owner's death.
        assert.ok(
          outcome.cyclesAfterDeath <= 2,
          `${outcome.cyclesAfterDeath} cycles after the owner's death`,
        );
      }
    });
  }

  it('has recall 1 and precision 1 over the whole corpus', (t) => {
    const report = corpusReport(outcomes);
    t.diagnostic(report.text);
    console.log(report.text);
    assert.ok(outcomes.filter((o) => o.skipped === null).length >= 12, 'at least twelve scenarios ran');
    assert.equal(report.recall, 1);
    assert.equal(report.precision, 1);
  });
});

describe("a pid namespace's init adopts orphans, whatever it runs", () => {
  const reason = namespaceSkipReason();
  const inits: Record<string, string[]> = {
    'sleep infinity': ['sleep', 'infinity'],
    bash: ['bash', '-c', 'while :; do sleep 3600; done'],
    node: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'],
    'a tini-named init': [
      pythonPath(),
      '-c',
      'import ctypes, time\nctypes.CDLL(None).prctl(15, b"tini", 0, 0, 0)\ntime.sleep(3600)',
    ],
  };
  it('is recognised from the host as an adopter, and an ordinary process is not', {
    skip: reason ?? false,
  }, async () => {
    const lab = new GhostLab('inits');
    try {
      const started: Record<string, number> = {};
      for (const [name, argv] of Object.entries(inits))
        started[name] = (await startNamespace(lab, argv)).init;
      const runtime = runtimeFor('quiet');
      const watcher = new Watcher(runtime, liveSampling({ paths: LIVE_PATHS }), {
        collectors: ['processes'],
      });
      const { snapshot } = await watcher.cycle();
      const byPid = new Map((snapshot.processes ?? []).map((p) => [p.pid, p]));
      for (const [name, pid] of Object.entries(started)) {
        const init = byPid.get(pid);
        assert.ok(init, `${name} seen`);
        assert.equal(watcher.facts.lineage.isReaper(init), true, `${name} adopts`);
      }
      const me = byPid.get(process.pid)!;
      assert.equal(watcher.facts.lineage.isReaper(me), false, 'the test runner does not');
    } finally {
      await lab.cleanup();
    }
  });
});
