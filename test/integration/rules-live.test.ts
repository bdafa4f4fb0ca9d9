import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Finding } from '../../src/rules/types.js';
import { runVigil } from '../helpers/cli.js';
import { liveSampling } from '../helpers/context.js';
import {
  childrenOf,
  cmdlineOf,
  killAll,
  memTotalBytes,
  spawnDaemon,
  spawnLiveParent,
  spawnOrphanedStorm,
  spawnOrphanSpinner,
  spawnZombieParent,
  stateOf,
  waitUntil,
} from '../helpers/procs.js';

interface JsonFinding {
  rule: string;
  severity: string;
  pids: number[];
  summary: string;
  subject: string;
}
interface JsonProcess {
  pid: number;
  kind: string | null;
  orphan: boolean;
}

const home = mkdtempSync(join(tmpdir(), 'vigil-rules-'));
const started = new Set<number>();
after(() => {
  killAll(started);
  rmSync(home, { recursive: true, force: true });
});

/** `vigil status --json` with a config of our own and no user rules but those we write. */
function status(config = ''): { findings: JsonFinding[]; processes: JsonProcess[] } {
  const file = join(home, 'config.toml');
  writeFileSync(file, config);
  const run = runVigil(['status', '--json', '--sample', '300', '--config', file], { XDG_CONFIG_HOME: home });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

const mine = (findings: JsonFinding[], pids: number[]) =>
  findings.filter((f) => f.pids.some((pid) => pids.includes(pid)));

describe('an idle machine with the default config', () => {
  it('yields no findings at all', () => {
    const { findings } = status();
    assert.deepEqual(findings, [], JSON.stringify(findings, null, 2));
  });
});

describe('rules judging real processes', () => {
  const STORM = 8;
  const MIB = 24;
  let storm: number[] = [];
  let live: { parent: number; children: number[] };
  let daemon = 0;
  let zombieParent = 0;
  // The storm holds STORM × MIB; ask for half that share of this machine's RAM.
  const share = ((STORM * MIB * 1024 * 1024) / memTotalBytes()) * 100;
  const config = `[thresholds]\nghost_storm_min_ram_percent = ${(share / 2).toFixed(4)}\nzombie_timeout_secs = 1\n`;

  before(async () => {
    storm = spawnOrphanedStorm(STORM, MIB);
    live = await spawnLiveParent(STORM);
    daemon = spawnDaemon();
    zombieParent = spawnZombieParent(3).parent;
    for (const pid of [...storm, live.parent, ...live.children, daemon, zombieParent]) started.add(pid);
    await waitUntil(
      () => childrenOf(zombieParent).filter((c) => stateOf(c) === 'Z').length === 3,
      'three zombies',
    );
    await waitUntil(() => storm.every((pid) => stateOf(pid) !== null), 'the storm');
    await new Promise((r) => setTimeout(r, 1200)); // older than zombie_timeout_secs, and RSS touched
  });

  it('flags eight orphaned identical python processes started with different ports as one ghost storm', () => {
    const { findings, processes } = status(config);
    const ghosts = findings.filter((f) => f.rule === 'ghost_process_storm');
    assert.equal(ghosts.length, 1, JSON.stringify(findings, null, 2));
    assert.equal(ghosts[0]!.severity, 'high');
    assert.deepEqual(
      ghosts[0]!.pids,
      [...storm].sort((a, b) => a - b),
    );
    assert.match(
      ghosts[0]!.summary,
      /^⚠️ 8 identical python3 mcp_server_fake processes \(\d+(\.\d)? MiB\) — MCP servers, all 8 orphaned: left (by|behind) /,
    );
    assert.ok(
      !findings.some((f) => f.rule === 'duplicate_processes' && f.subject === ghosts[0]!.subject),
      'the storm supersedes the plain duplicate finding',
    );
    for (const pid of storm) {
      const p = processes.find((x) => x.pid === pid)!;
      assert.equal(p.orphan, true, `pid ${pid} is an orphan`);
      assert.equal(p.kind, 'mcp-server');
    }
  });

  it('does not call processes with a live parent orphans, nor flag them', () => {
    const { findings, processes } = status(config);
    for (const pid of live.children) assert.equal(processes.find((p) => p.pid === pid)!.orphan, false);
    assert.deepEqual(mine(findings, [live.parent, ...live.children]), []);
  });

  it('leaves a system-style daemon re-parented to init alone', () => {
    const { findings, processes } = status(config);
    assert.equal(processes.find((p) => p.pid === daemon)!.orphan, false);
    assert.deepEqual(mine(findings, [daemon]), []);
  });

  it('blames the parent that does not reap its zombies, not the zombies', () => {
    const { findings } = status(config);
    const zombies = findings.filter((f) => f.rule === 'zombie_processes');
    assert.equal(zombies.length, 1, JSON.stringify(findings, null, 2));
    assert.equal(zombies[0]!.severity, 'low');
    assert.deepEqual(zombies[0]!.pids, [zombieParent]);
    assert.match(zombies[0]!.summary, /^3 zombie children of python3 .*\(pid \d+\) not reaped for \d+s$/);
  });

  it('never flags what [allowlist] ignore_commands names', () => {
    const { findings } = status(`${config}\n[allowlist]\nignore_commands = ["*mcp_server_fake*"]\n`);
    assert.deepEqual(mine(findings, storm), []);
  });

  it('exits 1 from status --check when there are warning-level findings', () => {
    const file = join(home, 'config.toml');
    writeFileSync(file, config);
    const run = runVigil(['status', '--check', '--sample', '100', '--config', file], {
      XDG_CONFIG_HOME: home,
    });
    assert.equal(run.status, 1, run.stdout);
    assert.match(run.stdout, /HIGH\s+ghost_process_storm: ⚠️ 8 identical/);
  });
});

describe('orphans adopted by a subreaper', () => {
  it('knows the parent that died when a process is re-parented to a subreaper, not to pid 1', async () => {
    // A python subreaper (PR_SET_CHILD_SUBREAPER, as systemd --user is one) starts a shell that starts a
    // sleeper and exits after 1.5 s: the sleeper is adopted by the subreaper.
    const code = [
      'import ctypes, subprocess, time',
      'ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)',
      "subprocess.Popen(['sh', '-c', 'python3 -c \"import time; time.sleep(600)\" adopted-fake & sleep 1.5'])",
      'time.sleep(600)',
    ].join('\n');
    const reaper = spawn('python3', ['-c', code, 'subreaper-fake'], { stdio: 'ignore' });
    started.add(reaper.pid!);
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: join(home, 'none') } });
    const watcher = new Watcher(runtime, liveSampling());
    const sleeper = () =>
      childrenOf(reaper.pid!)
        .flatMap((sh) => childrenOf(sh))
        // The exec'd sleeper, not a child still showing the shell's cmdline just after its fork.
        .find((pid) => cmdlineOf(pid).endsWith(' adopted-fake')) ?? 0;
    await waitUntil(() => sleeper() > 0, 'the sleeper under its shell');
    const pid = sleeper();
    started.add(pid);
    await watcher.cycle(); // seen under its living parent, the shell
    await waitUntil(() => childrenOf(reaper.pid!).includes(pid), 'adoption by the subreaper', 5000);
    const { facts } = await watcher.cycle();
    const proc = facts.subjects.process!.find((s) => s.pids[0] === pid)!.facts as Record<string, unknown>;
    assert.equal(proc['ppid'], reaper.pid);
    assert.equal(proc['orphan'], true);
    assert.match(String(proc['orphan_reason']), /^its parent sh \(pid \d+\) exited$/);
    assert.equal(proc['original_parent'], 'sh');
  });
});

describe('an orphan spinning the CPU, judged live', () => {
  // How long orphan_cpu must hold (its shipped 2 minutes) is judged on a fake clock in
  // test/unit/pipeline.test.ts; here the real orphan's real CPU use is judged as if it had held that long.
  it('flags a real orphan that spins the CPU with orphan_cpu, naming the parent that left it', async () => {
    mkdirSync(join(home, 'vigil'), { recursive: true });
    // One python loop gets a whole core on an idle machine, less on a busy 2-core CI box.
    writeFileSync(join(home, 'vigil', 'config.toml'), '[thresholds]\norphan_cpu_percent = 20\n');
    const { pid: spinner, parentGone } = await spawnOrphanSpinner(1500);
    started.add(spinner);
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: home } });
    assert.deepEqual(runtime.problems, []);
    const watcher = new Watcher(runtime, liveSampling());
    // The first look sees the spinner under its living parent; vigil remembers who that was.
    await watcher.cycle();
    await parentGone;
    let finding: Finding | undefined;
    for (let i = 0; i < 12 && !finding; i++) {
      await new Promise((r) => setTimeout(r, 250)); // a CPU share over a quarter of a second
      const { evaluation } = await watcher.cycle({ ignoreDurations: true });
      finding = evaluation.firing.find((f) => f.rule === 'orphan_cpu' && f.pids.includes(spinner));
    }
    assert.ok(finding, 'orphan_cpu holds for the spinner');
    assert.equal(finding.severity, 'medium');
    assert.deepEqual(finding.pids, [spinner]);
    assert.match(finding.summary, /^Orphaned python3 \(pid \d+, left by node\) uses [\d.]+% CPU$/);
  });
});
