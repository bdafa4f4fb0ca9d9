import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from './procs.js';
import type { UserManager } from './realsys.js';
import { mkdirAs, writeFileAs } from './users.js';

/**
 * An agent CLI and its MCP servers, started as a Linux desktop starts them: from inside the user's
 * `systemd --user` (see realsys.ts), so that when the agent dies its servers are adopted by the user
 * manager (a subreaper), not by pid 1, and live on in the agent's scope. Three ways, as on a desktop:
 *
 * - `app-scope`: a launcher (as gnome-shell or a dock) runs the agent in an app scope of its own,
 *   `app.slice/app-claude-ID.scope`, and lets it go (double fork): the agent's parent is `systemd --user`.
 * - `terminal-scope`: a terminal server (a user service, as gnome-terminal-server) runs a tab's shell in
 *   `app-org.gnome.Terminal.slice/vte-spawn-ID.scope`; the shell runs the agent and stays after it.
 * - `app-service`: an editor the desktop launched as an app service (`app-code@ID.service`, systemd's
 *   naming for applications, as KDE and GNOME do for some), running the agent in its integrated terminal
 *   and living on after it.
 * - `service`: a user service (`mcp-pool-ID.service`) whose starter starts the same servers and exits,
 *   as a forking daemon does: the servers are the service's, adopted by the manager, and no leak.
 *
 * The agent (a python script named `claude`, so vigil sees an agent CLI) starts `count` identical servers
 * `python3 …/mcp_server.py --port N --stdio` with stdin on /dev/null (no pipe left to tell on them), each
 * touching `mib` MiB, and writes their pids. Everything runs as the manager's user, in `dir` (its cwd).
 */
export type Launch = 'app-scope' | 'terminal-scope' | 'app-service' | 'service';

export interface DesktopAgent {
  readonly how: Launch;
  /** The agent (or the service's starter) while it lives. */
  readonly agentPid: number;
  readonly serverPids: number[];
  /** The unit the servers live in (`app-claude-ID.scope`, `vte-spawn-ID.scope`, `app-code@ID.service`, `mcp-pool-ID.service`). */
  readonly unit: string;
  /** Their cgroup, as /proc/PID/cgroup says it (`/user.slice/…/app.slice/app-claude-ID.scope`). */
  readonly cgroup: string;
  /**
   * The owner ends: the agent is SIGKILLed (a crash, an OOM kill, a closed laptop lid's lost session), or
   * the service's starter exits as a forking daemon's does. Resolves once `systemd --user` is the parent
   * of every server.
   */
  ownerEnds(): Promise<void>;
  /** Stops the unit (and so every process in it) and the launcher: nothing it started is left. */
  stop(): void;
}

/** The agent and the service's starter: one script, two names. */
const AGENT = `import json, os, subprocess, sys, time

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
marks = args['--marks']
env = dict(os.environ, VIGIL_TEST_MARKS=marks, VIGIL_TEST_MIB=args['--mib'])
servers = [
    subprocess.Popen(
        [sys.executable, args['--server'], '--port', str(43100 + i), '--stdio'],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    ).pid
    for i in range(int(args['--count']))
]
with open(os.path.join(marks, 'owner.tmp'), 'w') as f:
    json.dump({'owner': os.getpid(), 'servers': servers}, f)
os.rename(os.path.join(marks, 'owner.tmp'), os.path.join(marks, 'owner.json'))
release = args.get('--exit-on')
while not (release and os.path.exists(release)):
    time.sleep(0.1 if release else 600)
`;

const SERVER = `import os, time

held = bytearray(int(os.environ['VIGIL_TEST_MIB']) * 1024 * 1024)
for i in range(0, len(held), 4096):
    held[i] = 1
open(os.path.join(os.environ['VIGIL_TEST_MARKS'], f'{os.getpid()}.up'), 'w').close()
while True:
    time.sleep(600)
`;

/** Run as a user service: how a desktop's launcher or terminal server starts what the user asks for. */
const LAUNCHER = `#!/bin/sh
# usage: launch.sh app|tab|editor SCOPE AGENT...
mode=$1 scope=$2
shift 2
case $mode in
app)
  # A launcher: the app in a scope of its own, let go (its parent becomes the user manager).
  systemd-run --user --quiet --scope --unit="$scope" --slice=app.slice -- sh -c '"$@" & exit 0' app-launch "$@"
  ;;
tab)
  # A terminal server: the tab's shell in a scope of its own runs the agent, and stays.
  systemd-run --user --quiet --scope --unit="$scope" --slice=app-org.gnome.Terminal.slice \\
    -- sh -c '"$@"; while :; do sleep 3600; done' tab-shell "$@"
  ;;
editor)
  # An editor (the app service's main process): the agent in its terminal; the editor stays.
  "$@" &
  while :; do sleep 3600; done
  ;;
esac
`;

let launches = 0;

function readJson(path: string): { owner: number; servers: number[] } | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function ppidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

function cgroupOf(pid: number): string {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    return line?.slice(3) ?? '';
  } catch {
    return '';
  }
}

/** Starts an agent and its servers under `manager` (see the module comment); resolves once all are up. */
export async function launchAgent(
  manager: UserManager,
  dir: string,
  how: Launch,
  options: { count?: number; mib?: number } = {},
): Promise<DesktopAgent> {
  const count = options.count ?? 8;
  const mib = options.mib ?? 16;
  const user = manager.user;
  const id = `${process.pid}-${++launches}`;
  const work = mkdirAs(user, join(dir, `agent-${id}`), 0o755);
  const marks = mkdirAs(user, join(work, 'marks'));
  const server = writeFileAs(user, join(work, 'mcp_server.py'), SERVER, 0o644);
  const launcher = writeFileAs(user, join(work, 'launch.sh'), LAUNCHER, 0o755);
  const program = writeFileAs(user, join(work, how === 'service' ? 'mcp-pool.py' : 'claude'), AGENT, 0o644);
  const release = join(work, 'release');
  const agentArgv = [
    'python3',
    program,
    '--marks',
    marks,
    '--server',
    server,
    '--count',
    String(count),
    '--mib',
    String(mib),
    ...(how === 'service' ? ['--exit-on', release] : []),
  ];
  const unit = {
    'app-scope': `app-claude-${id}.scope`,
    'terminal-scope': `vte-spawn-${id}.scope`,
    'app-service': `app-code@${id}.service`,
    service: `mcp-pool-${id}.service`,
  }[how];
  const launcherMode = { 'app-scope': 'app', 'terminal-scope': 'tab', 'app-service': 'editor', service: '' }[
    how
  ];
  const launcherUnit = `vigil-test-launcher-${id}.service`;
  const started =
    how === 'service'
      ? manager.run([
          'systemd-run',
          '--user',
          '--quiet',
          '--collect',
          `--unit=${unit}`,
          '-p',
          'Type=exec',
          '-p',
          'RemainAfterExit=yes',
          '-p',
          `WorkingDirectory=${work}`,
          '--',
          ...agentArgv,
        ])
      : manager.run([
          'systemd-run',
          '--user',
          '--quiet',
          '--collect',
          ...(how === 'app-service'
            ? [`--unit=${unit}`]
            : [`--unit=${launcherUnit}`, '--slice=session.slice']),
          '-p',
          'Type=exec',
          '-p',
          `WorkingDirectory=${work}`,
          '--',
          '/bin/sh',
          launcher,
          launcherMode,
          unit,
          ...agentArgv,
        ]);
  if (started.status !== 0) throw new Error(`systemd-run ${unit} failed: ${started.stderr}`);

  const stop = () => {
    manager.systemctl('stop', unit, launcherUnit);
    manager.systemctl('reset-failed', unit, launcherUnit);
  };
  try {
    await waitUntil(() => existsSync(join(marks, 'owner.json')), `the agent of ${unit} started`, 15_000);
    const { owner, servers } = readJson(join(marks, 'owner.json'))!;
    await waitUntil(
      () => servers.every((pid) => existsSync(join(marks, `${pid}.up`))),
      `${count} servers of ${unit} up`,
      30_000,
    );
    const cgroup = cgroupOf(servers[0]!);
    if (!cgroup.endsWith(`/${unit}`)) throw new Error(`the servers are in ${cgroup}, not in ${unit}`);
    return {
      how,
      agentPid: owner,
      serverPids: [...servers].sort((a, b) => a - b),
      unit,
      cgroup,
      ownerEnds: async () => {
        if (how === 'service') writeFileAs(user, release, '', 0o644);
        else process.kill(owner, 'SIGKILL');
        await waitUntil(
          () => servers.every((pid) => ppidOf(pid) === manager.managerPid),
          `the servers of ${unit} adopted by systemd --user (pid ${manager.managerPid})`,
        );
      },
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}

/** Pids of the live processes in `unit`'s cgroup (cgroup.procs), for checks that nothing is left. */
export function pidsInCgroup(cgroupMount: string, cgroup: string): number[] {
  const dir = join(cgroupMount, cgroup);
  if (!existsSync(dir)) return [];
  const own = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  return [
    ...own,
    ...readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => pidsInCgroup(cgroupMount, join(cgroup, e.name))),
  ];
}
