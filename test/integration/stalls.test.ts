import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CollectorStatus } from '../../src/model/snapshot.js';
import { commandBackoffMs, Watcher } from '../../src/pipeline/watcher.js';
import { loadRulesRuntime } from '../../src/rules/runtime.js';
import type { Heartbeat } from '../../src/store/types.js';
import { runVigil } from '../helpers/cli.js';
import { liveSampling } from '../helpers/context.js';
import { type DaemonHome, daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { killAll, stateOf, waitUntil } from '../helpers/procs.js';

const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url));
const STALLING_NVIDIA_SMI = fixture('bin/stalling-nvidia-smi');

const homes: DaemonHome[] = [];
const daemons: RunningDaemon[] = [];
const stallPidFiles: string[] = [];
after(() => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  for (const file of stallPidFiles) killAll(pidsIn(file));
  for (const h of homes) h.cleanup();
});

/** Every pid the stalling nvidia-smi started, itself and its grandchildren. */
function pidsIn(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  const state = stateOf(pid);
  return state !== null && state !== 'Z';
};

/**
 * A daemon every second over a copy of the fixture /proc (so a test can fill its memory), with an
 * nvidia-smi that stalls as `stall` says (see test/fixtures/bin/stalling-nvidia-smi).
 */
function stalledDaemon(stall: 'hang' | 'grandchild' | 'setsid', args: string[] = []) {
  const h = daemonHome();
  homes.push(h);
  const procfs = join(h.dir, 'proc');
  cpSync(fixture('proc'), procfs, { recursive: true });
  writeFileSync(
    join(h.configDir, 'rules', 'fast.toml'),
    '[[rule]]\nid = "ram_nearly_full"\ntitle = "RAM nearly full"\nseverity = "high"\nscope = "system"\nwhen = "sys.mem_used_percent >= 95.0"\nsummary = "RAM {{ fixed(sys.mem_used_percent) }}% used"\n',
  );
  const pidFile = join(h.dir, 'nvidia-smi.pids');
  stallPidFiles.push(pidFile);
  const env = {
    ...h.env,
    STALL: stall,
    STALL_PIDS: pidFile,
    FAKE_NVIDIA_SMI_GPU: fixture('samples/nvidia-smi-query-gpu-h100.csv'),
  };
  const d = new RunningDaemon({ ...h, env }, [
    '--interval',
    '1',
    '--procfs',
    procfs,
    '--nvidia-smi',
    STALLING_NVIDIA_SMI,
    ...args,
  ]);
  daemons.push(d);
  const heartbeat = (): Heartbeat | null => {
    try {
      return JSON.parse(readFileSync(join(h.runtimeDir, 'heartbeat.json'), 'utf8')) as Heartbeat;
    } catch {
      return null;
    }
  };
  const gpu = (): CollectorStatus | undefined => heartbeat()?.collectors.find((c) => c.name === 'gpu');
  /** Makes the copied /proc say 97 % of RAM is in use. */
  const fillMemory = () => {
    const meminfo = join(procfs, 'meminfo');
    const total = Number(/MemTotal:\s+(\d+)/.exec(readFileSync(meminfo, 'utf8'))![1]);
    const text = readFileSync(meminfo, 'utf8').replace(
      /MemAvailable:\s+\d+ kB/,
      `MemAvailable:   ${Math.round(total * 0.03)} kB`,
    );
    writeFileSync(meminfo, text);
  };
  return { h, d, env, pidFile, heartbeat, gpu, fillMemory };
}

/** Sends `signal` and waits for the daemon to exit; null when it is still running after 20 s (hung). */
async function stopOrHang(d: RunningDaemon, signal: NodeJS.Signals) {
  const t0 = Date.now();
  d.child.kill(signal);
  const ended = await Promise.race([
    d.exited,
    new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref()),
  ]);
  return ended && { ...ended, ms: Date.now() - t0 };
}

/** Distinct `lastCycleAt` values seen while `still()` holds, until `wanted` of them or it stops holding. */
async function heartbeatsWhile(
  heartbeat: () => Heartbeat | null,
  still: () => boolean,
  wanted: number,
): Promise<number> {
  const seen = new Set<number>();
  while (seen.size < wanted && still()) {
    const at = heartbeat()?.lastCycleAt;
    if (at !== undefined) seen.add(at);
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen.size;
}

describe('nothing stalls the daemon', () => {
  it('keeps its heartbeat and its memory rules going while nvidia-smi hangs, backs off, and says so in vigil health', async () => {
    const { d, env, pidFile, heartbeat, gpu, fillMemory } = stalledDaemon('hang');
    await waitUntil(() => pidsIn(pidFile).length > 0, 'the daemon to start nvidia-smi', 20_000);
    const hung = pidsIn(pidFile)[0]!;
    const hanging = () => alive(hung);

    await waitUntil(() => heartbeat() !== null || !hanging(), 'a first heartbeat');
    assert.ok(hanging(), 'the first cycle completed while nvidia-smi was still hanging');
    fillMemory();
    const beats = await heartbeatsWhile(heartbeat, hanging, 3);
    assert.equal(beats, 3, `the heartbeat advanced ${beats - 1} times, not 2, while nvidia-smi hung`);
    await waitUntil(() => /ram_nearly_full: RAM 97\.0% used/.test(d.stdout) || !hanging(), 'the memory rule');
    assert.match(d.stdout, /HIGH\s+ram_nearly_full: RAM 97\.0% used/);
    assert.ok(hanging(), 'the memory rule fired while nvidia-smi was still hanging');
    assert.ok((gpu()?.inFlightMs ?? -1) >= 0, 'the heartbeat says the GPU query is in flight');

    // Cut at 5 s, asked again 5 s later, cut again: then it waits 10 s.
    await waitUntil(() => (gpu()?.timeouts ?? 0) >= 2, 'a second timeout of nvidia-smi', 60_000);
    assert.equal(gpu()?.backoffMs, 10_000);
    const health = runVigil(['health'], env);
    assert.match(
      health.stdout,
      /gpu .*FAILING: nvidia-smi did not answer within 5000 ms \(timed out 2 times in a row; backing off, next run 10 s after the last/,
    );
    const report = JSON.parse(runVigil(['health', '--json'], env).stdout) as {
      collectors: Array<{ name: string; timeouts: number; backoffMs: number | null }>;
    };
    assert.deepEqual(
      report.collectors.filter((c) => c.name === 'gpu').map((c) => [c.timeouts, c.backoffMs]),
      [[2, 10_000]],
    );
    // Two queries a run (GPUs, compute apps): not one run a second while it hung.
    assert.ok(pidsIn(pidFile).length <= 6, `nvidia-smi was started ${pidsIn(pidFile).length} times`);
    assert.ok(heartbeat()!.lastCycleAt > Date.now() - 5000, 'the heartbeat is fresh');

    const stopped = await stopOrHang(d, 'SIGTERM');
    assert.ok(stopped, `still running 20 s after SIGTERM:\n${d.stderr}`);
    assert.equal(stopped.code, 0, d.stderr);
    assert.ok(stopped.ms < 5000, `SIGTERM took ${stopped.ms} ms`);
    await waitUntil(
      () => pidsIn(pidFile).every((pid) => !alive(pid)),
      'every nvidia-smi vigil started to be gone',
      5000,
    );
  });

  it('does not wait on a grandchild of nvidia-smi holding its stdout, kills it, and stops at --exit-after', async () => {
    const { d, pidFile, gpu } = stalledDaemon('grandchild', ['--exit-after', '3']);
    const ended = await Promise.race([
      d.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref()),
    ]);
    assert.notEqual(ended, null, `--exit-after 3 was ignored:\n${d.stderr}`);
    assert.equal(ended!.code, 0, d.stderr);
    assert.match(d.stderr, /stopping: --exit-after elapsed/);
    const status = gpu();
    assert.equal(status?.error, null, 'nvidia-smi answered, its grandchild notwithstanding');
    assert.equal(status?.ok, true);
    const pids = pidsIn(pidFile);
    assert.ok(pids.length >= 4, 'nvidia-smi left grandchildren behind');
    await waitUntil(
      () => pids.every((pid) => !alive(pid)),
      'the grandchildren to be killed with their group',
      5000,
    );
  });

  it('is freed from a grandchild that left the process group with setsid, and stops on SIGTERM', async () => {
    const { d, pidFile, heartbeat } = stalledDaemon('setsid');
    await waitUntil(() => heartbeat() !== null, 'a first heartbeat', 20_000);
    const beats = await heartbeatsWhile(heartbeat, () => d.child.exitCode === null, 3);
    assert.equal(beats, 3, 'the heartbeat keeps advancing');
    assert.ok(pidsIn(pidFile).length >= 4, 'nvidia-smi was run and left escaped grandchildren');
    const stopped = await stopOrHang(d, 'SIGTERM');
    assert.ok(stopped, `still running 20 s after SIGTERM:\n${d.stderr}`);
    assert.equal(stopped.code, 0, d.stderr);
    assert.ok(stopped.ms < 5000, `SIGTERM took ${stopped.ms} ms`);
  });
});

describe('the watcher and its command collectors', () => {
  /** A Watcher over this machine's memory and a stalling nvidia-smi cut at `timeoutMs`. */
  function watcher(timeoutMs = 300) {
    const h = daemonHome();
    homes.push(h);
    const pidFile = join(h.dir, 'nvidia-smi.pids');
    stallPidFiles.push(pidFile);
    process.env['STALL_PIDS'] = pidFile;
    process.env['FAKE_NVIDIA_SMI_GPU'] = fixture('samples/nvidia-smi-query-gpu-h100.csv');
    const runtime = loadRulesRuntime({ env: { XDG_CONFIG_HOME: join(h.dir, 'none') } });
    const w = new Watcher(
      runtime,
      liveSampling({ nvidiaSmi: STALLING_NVIDIA_SMI, commandTimeoutMs: timeoutMs }),
      {
        collectors: ['gpu', 'memory'],
      },
    );
    const cycle = async () => {
      const { snapshot } = await w.cycle({ commandWaitMs: 50 });
      return { gpus: snapshot.gpus?.length ?? 0, gpu: snapshot.collectors.find((c) => c.name === 'gpu')! };
    };
    return { w, pidFile, cycle };
  }
  after(() => {
    delete process.env['STALL'];
    delete process.env['STALL_PIDS'];
    delete process.env['FAKE_NVIDIA_SMI_GPU'];
  });

  it('keeps the last answer while nvidia-smi hangs, doubles its wait after each timeout, and forgets them after an answer', async () => {
    const { w, pidFile, cycle } = watcher();
    const first = await w.cycle(); // no budget: waits for the answer
    const answered = first.snapshot.gpus?.length ?? 0;
    assert.ok(answered > 0);

    process.env['STALL'] = 'hang';
    let now = await cycle();
    assert.equal(now.gpus, answered, 'the last answer is kept while the new run is in flight');
    assert.ok(now.gpu.ok && now.gpu.inFlightMs !== undefined, 'and the status says a run is in flight');
    const seen: Array<[number, number]> = [];
    const giveUp = Date.now() + 30_000; // did not hang
    while (seen.length < 3 && Date.now() < giveUp) {
      await new Promise((r) => setTimeout(r, 50));
      now = await cycle();
      const { timeouts, backoffMs } = now.gpu;
      if (timeouts !== undefined && seen.at(-1)?.[0] !== timeouts) seen.push([timeouts, backoffMs!]);
    }
    assert.deepEqual(seen, [
      [1, 300],
      [2, 600],
      [3, 1200],
    ]);
    assert.equal(now.gpus, 0, 'a GPU that does not answer is not shown with stale numbers');
    assert.match(now.gpu.error ?? '', /nvidia-smi did not answer within 300 ms/);
    // Three runs of two queries each: none started while one was in flight or during a backoff.
    assert.equal(pidsIn(pidFile).length, 8);

    delete process.env['STALL'];
    while (now.gpu.timeouts !== undefined && Date.now() < giveUp + 30_000) {
      await new Promise((r) => setTimeout(r, 100));
      now = await cycle();
    }
    assert.equal(now.gpus, answered);
    assert.equal(now.gpu.error, null);
    w.close();
  });

  it('kills a command in flight, with its group, when closed', async () => {
    const { w, pidFile, cycle } = watcher(60_000);
    process.env['STALL'] = 'hang';
    let timer: NodeJS.Timeout | undefined;
    const cycled = await Promise.race([
      cycle().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 10_000);
      }),
    ]);
    clearTimeout(timer);
    assert.ok(cycled, 'the cycle did not wait for the hung nvidia-smi');
    await waitUntil(() => pidsIn(pidFile).length === 2, 'both nvidia-smi queries to start');
    w.close();
    await waitUntil(() => pidsIn(pidFile).every((pid) => !alive(pid)), 'nvidia-smi to be killed', 5000);
  });

  it('waits at most ten minutes between two runs of a command that keeps timing out', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((timeouts) => commandBackoffMs(5000, timeouts) / 1000);
    assert.deepEqual(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
  });
});
