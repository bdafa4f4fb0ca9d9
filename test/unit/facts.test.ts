import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readProcessDetails } from '../../src/collectors/processes.js';
import { defaultConfig } from '../../src/config/schema.js';
import { LIVE_PATHS } from '../../src/host/paths.js';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { loadRules } from '../../src/rules/load.js';
import { hourOf } from '../../src/understand/baseline.js';
import { loadKindPatterns, SHIPPED_KINDS_FILE } from '../../src/understand/classify.js';
import { BASELINE_METRICS, FactBuilder, sensorKind } from '../../src/understand/facts.js';
import type { GroupFacts, ProcessFacts } from '../../src/understand/facts-schema.js';
import { Lineage, namespaceInit, serviceOwned, stdinKindOf } from '../../src/understand/lineage.js';
import { machineSnapshot } from '../helpers/snapshots.js';

const config = defaultConfig();
const names = Object.keys(config.thresholds);

const machine = (takenAt: number, memUsedPercent: number) => machineSnapshot(takenAt, memUsedPercent);

describe('baseline_anomaly', () => {
  it('fires on a metric far from what was learnt for this hour, only once enough samples were seen', () => {
    const now = Date.now();
    const hour = hourOf(now);
    const builder = new FactBuilder({ procfs: '/nonexistent', kinds: [], uid: 0 });
    const engine = new RuleEngine(
      loadRules({ thresholdNames: names }).rules.filter((r) => r.id === 'baseline_anomaly'),
    );
    const learn = (n: number) => {
      for (let i = 0; i < n; i++) {
        for (const metric of BASELINE_METRICS)
          builder.baselines.observe(metric, hour, metric === 'mem_used_percent' ? 20 + (i % 3) : 1);
      }
    };
    learn(10);
    assert.equal(builder.build(machine(now, 80), config).sys.anomaly_z, -1, 'not enough samples yet');
    learn(30);
    const facts = builder.build(machine(now, 80), config);
    assert.equal(facts.sys.anomaly_metric, 'mem_used_percent');
    assert.ok(facts.sys.anomaly_z > 50);
    const { firing } = engine.evaluate(facts, { ignoreDurations: true });
    assert.equal(firing.length, 1);
    assert.match(
      firing[0]!.summary,
      /^mem_used_percent is 80, far from its usual 21(\.0)? at this hour \(\d+(\.\d)? σ\)$/,
    );
    assert.equal(
      engine.evaluate(builder.build(machine(now + 1000, 21), config), { ignoreDurations: true }).firing
        .length,
      1,
      'hysteresis: clears only after clear_for',
    );
  });
});

describe('sensors', () => {
  it('tells CPU, GPU and disk sensors apart by chip name', () => {
    assert.deepEqual(
      ['coretemp', 'k10temp', 'cpu_thermal', 'amdgpu', 'nvme', 'acpitz', 'iwlwifi_1'].map(sensorKind),
      ['cpu', 'cpu', 'cpu', 'gpu', 'disk', 'other', 'other'],
    );
  });
});

describe('expensive per-process facts, read on demand', () => {
  it('counts open file descriptors and reads the OOM score of a live process', () => {
    const details = readProcessDetails(LIVE_PATHS, process.pid);
    assert.ok((details.openFds ?? 0) >= 3, `${details.openFds} fds`);
    assert.equal(typeof details.oomScore, 'number');
    assert.equal(details.oomScoreAdj, Number(readFileSync(`/proc/${process.pid}/oom_score_adj`, 'utf8')));
  });
});

describe('who was left behind, judged over identical processes', () => {
  const kinds = loadKindPatterns([SHIPPED_KINDS_FILE]).patterns;
  let next = 5000;
  /** A process as the collector reports it; pid, parent, session and group say who started whom. */
  const proc = (argv: string[], ppid: number, extra: Partial<ProcessSample> = {}): ProcessSample => {
    const pid = extra.pid ?? next++;
    return {
      pid,
      ppid,
      pgid: extra.pgid ?? ppid,
      sid: extra.sid ?? 300,
      state: 'S',
      comm: extra.comm ?? (argv[0] ?? '').split('/').pop()!.slice(0, 15),
      cmdline: argv.join(' '),
      argv,
      uid: 1000,
      user: 'dev',
      startTime: 0,
      startTicks: pid,
      threads: 1,
      rssBytes: 64 * 2 ** 20,
      swapBytes: 0,
      virtualBytes: 0,
      nice: 0,
      cpuPercent: 0,
      cpuSeconds: 0,
      cgroup: '/',
      tty: null,
      kernelThread: false,
      gpuMemoryBytes: null,
      ...extra,
    };
  };
  const init = proc(['/sbin/init'], 0, { pid: 1, comm: 'init', uid: 0, sid: 1, pgid: 1 });
  const snapshot = (processes: ProcessSample[], takenAt = 1000): Snapshot => ({
    ...machine(takenAt, 20),
    processes: [init, ...processes],
  });
  /** A fresh builder on a /proc that does not exist: stdin and NSpid read as unknown. */
  const builder = () => new FactBuilder({ procfs: '/nonexistent', kinds, uid: 1000 });
  const groupOf = (facts: ReturnType<FactBuilder['build']>, pid: number) =>
    facts.subjects.group!.find((g) => g.pids.includes(pid))!.facts as GroupFacts;
  const procOf = (facts: ReturnType<FactBuilder['build']>, pid: number) =>
    facts.subjects.process!.find((s) => s.pids[0] === pid)!.facts as ProcessFacts;
  const server = (i: number, ppid: number, extra: Partial<ProcessSample> = {}) =>
    proc(['python3', '/srv/mcp_server.py', '--port', String(41000 + i), '--stdio'], ppid, extra);

  it('calls identical copies adopted alike orphans, but not one such daemon alone', () => {
    // Adopted by init, their session gone (its leader, pid 300, is not running), not session leaders.
    const storm = Array.from({ length: 8 }, (_, i) => server(i, 1, { sid: 300, pgid: 300 }));
    const facts = builder().build(snapshot(storm), config);
    const group = groupOf(facts, storm[0]!.pid);
    assert.equal(group.orphans, 8);
    assert.equal(group.suspects, 8);
    assert.match(
      procOf(facts, storm[0]!.pid).orphan_reason,
      /^adopted by init \(pid 1\), its session gone, stdin closed, like 7 identical copies: left behind, not a daemon$/,
    );
    const daemon = server(9, 1, { sid: 301, pgid: 301 });
    assert.equal(procOf(builder().build(snapshot([daemon]), config), daemon.pid).orphan, false);
  });

  it('calls a process adopted while its session still runs an orphan, and a session leader a daemon', () => {
    const terminal = proc(['-bash'], 200, { pid: 310, sid: 310, pgid: 310, comm: 'bash' });
    const left = server(0, 1, { sid: 310, pgid: 311 });
    const daemon = server(1, 1, { pid: 320, sid: 320, pgid: 320 });
    const facts = builder().build(snapshot([terminal, left, daemon]), config);
    assert.equal(procOf(facts, left.pid).orphan, true);
    assert.match(
      procOf(facts, left.pid).orphan_reason,
      /while its session's leader bash \(pid 310\) still runs/,
    );
    assert.equal(procOf(facts, daemon.pid).orphan, false);
  });

  it('names the servers behind orphaned npx wrappers, records each wrapper and counts them, not twice', () => {
    const b = builder();
    const agent = proc(['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'], 310, { pid: 400 });
    const chains = Array.from({ length: 8 }, (_, i) => {
      const wrapper = proc(['npm exec @modelcontextprotocol/server-github', '', ''], 400, {
        pid: 410 + i * 3,
      });
      const sh = proc(['sh', '-c', 'mcp-server-github'], wrapper.pid, { pid: wrapper.pid + 1 });
      const srv = proc(
        ['node', '/home/dev/.npm/_npx/3f2a9c1b7d4e5f60/node_modules/.bin/mcp-server-github'],
        sh.pid,
        {
          pid: wrapper.pid + 2,
        },
      );
      return { wrapper, sh, srv };
    });
    const all = chains.flatMap((c) => [c.wrapper, c.sh, c.srv]);
    const live = b.build(snapshot([agent, ...all]), config);
    const underAgent = groupOf(live, chains[0]!.srv.pid);
    assert.equal(underAgent.parents, 1, 'owned by the agent, through their wrappers');
    assert.equal(underAgent.suspects, 7, 'one server per agent is normal use, seven more are not');
    assert.equal(
      groupOf(live, chains[0]!.wrapper.pid).suspects,
      0,
      'the wrappers are counted through their servers',
    );
    // The agent dies: its wrappers are adopted by init, the servers keep their live wrappers as parents.
    const orphaned = b.build(
      snapshot(
        all.map((p) => (p.ppid === 400 ? { ...p, ppid: 1 } : p)),
        2000,
      ),
      config,
    );
    const servers = groupOf(orphaned, chains[0]!.srv.pid);
    assert.deepEqual([servers.count, servers.orphans, servers.suspects, servers.wrappers], [8, 8, 8, 8]);
    const first = procOf(orphaned, chains[0]!.srv.pid);
    assert.equal(first.wrapper_pid, chains[0]!.wrapper.pid);
    assert.match(
      first.orphan_reason,
      /^its runner npm server-github \(pid \d+\) was left behind: its parent node \(pid 400\) exited$/,
    );
    assert.equal(procOf(orphaned, chains[0]!.wrapper.pid).wrapped_pid, chains[0]!.srv.pid);
    assert.equal(procOf(orphaned, chains[0]!.sh.pid).wrapped_pid, chains[0]!.srv.pid);
    assert.equal(groupOf(orphaned, chains[0]!.wrapper.pid).suspects, 0);
  });

  it("does not count an editor's own helpers as duplicates, but does count servers and subagents", () => {
    const code = proc(['/usr/share/code/code'], 310, { pid: 500 });
    const hosts = Array.from({ length: 8 }, () =>
      proc(['/usr/share/code/code', '--type=utility', '--utility-sub-type=node.mojom.NodeService'], 500),
    );
    const worker = proc(['bun', '/home/dev/.claude/plugins/worker-service.cjs', '--daemon'], 1, {
      pid: 600,
      sid: 600,
    });
    const subagents = Array.from({ length: 8 }, (_, i) =>
      proc(
        ['claude', '--output-format', 'stream-json', '--resume', `4bc1f741-a4d0-420e-bb60-bf447585fb0${i}`],
        600,
      ),
    );
    const facts = builder().build(snapshot([code, ...hosts, worker, ...subagents]), config);
    assert.equal(groupOf(facts, hosts[0]!.pid).suspects, 0);
    assert.equal(groupOf(facts, subagents[0]!.pid).suspects, 7);
  });

  it('sees one outside parent for a pool whose master shares its workers’ command line', () => {
    const master = proc(['python3', '/srv/venv/bin/gunicorn', 'app:app', '-w', '8'], 310, { pid: 700 });
    const workers = Array.from({ length: 8 }, () => proc(master.argv as string[], 700));
    const group = groupOf(builder().build(snapshot([master, ...workers]), config), 700);
    assert.deepEqual([group.count, group.parents, group.suspects], [9, 1, 0]);
  });

  it('leaves a container’s process handed by runc to its shim alone, and counts it as supervised', () => {
    const b = builder();
    const shims = Array.from({ length: 8 }, (_, i) =>
      proc(
        ['/usr/bin/containerd-shim-runc-v2', '-namespace', 'moby', '-id', `${i}f1c2b9a8e7d6c5b4a3928`],
        1,
        {
          pid: 800 + i * 3,
          comm: 'containerd-shim',
          sid: 800 + i * 3,
        },
      ),
    );
    const runcs = shims.map((s) =>
      proc(['runc', 'create', '--bundle', '/run/x'], s.pid, { pid: s.pid + 1, comm: 'runc' }),
    );
    const apps = runcs.map((r) =>
      proc(['python3', '/app/app.py', '--port', '8080'], r.pid, { pid: r.pid + 1, sid: r.pid + 1 }),
    );
    b.build(snapshot([...shims, ...runcs, ...apps]), config);
    const handed = apps.map((a) => ({ ...a, ppid: a.pid - 2 }));
    const facts = b.build(snapshot([...shims, ...handed], 2000), config);
    const group = groupOf(facts, handed[0]!.pid);
    assert.deepEqual([group.orphans, group.suspects, group.supervised, group.parents], [0, 0, 8, 8]);
  });
});

describe('a container on a systemd host, seen from the host', () => {
  const scope = '/system.slice/docker-4f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c.scope';
  const base = {
    state: 'S',
    uid: 1000,
    user: 'dev',
    startTime: 0,
    threads: 1,
    rssBytes: 0,
    swapBytes: 0,
    virtualBytes: 0,
    nice: 0,
    cpuPercent: 0,
    cpuSeconds: 0,
    cgroup: scope,
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
  } as const;
  const tini = {
    ...base,
    pid: 900,
    ppid: 880,
    pgid: 900,
    sid: 900,
    startTicks: 900,
    comm: 'tini',
    argv: ['tini', '--', 'sh', 'start.sh'],
    cmdline: 'tini -- sh start.sh',
  };
  const judge = (p: ProcessSample) => {
    const all = [tini, p];
    const byPid = new Map(all.map((x) => [x.pid, x]));
    const lineage = new Lineage('/nonexistent');
    lineage.observe(all, byPid);
    return lineage.orphanhood(p, byPid);
  };

  it("is not a system service's, and what its init started in its own group is no orphan", () => {
    assert.equal(serviceOwned(scope), false);
    const started = {
      ...base,
      pid: 901,
      ppid: 900,
      pgid: 900,
      sid: 900,
      startTicks: 901,
      comm: 'python3',
      argv: ['python3', 'app.py'],
      cmdline: 'python3 app.py',
    };
    assert.equal(judge(started).orphan, false);
  });

  it('leaves a server adopted by its init to the evidence, as without systemd', () => {
    const agentShell = {
      ...base,
      pid: 950,
      ppid: 949,
      pgid: 950,
      sid: 950,
      startTicks: 950,
      comm: 'bash',
      argv: ['bash'],
      cmdline: 'bash',
    };
    const left = {
      ...base,
      pid: 960,
      ppid: 900,
      pgid: 955,
      sid: 950,
      startTicks: 960,
      comm: 'python3',
      argv: ['python3', 'mcp_server.py'],
      cmdline: 'python3 mcp_server.py',
    };
    const all = [tini, agentShell, left];
    const byPid = new Map(all.map((x) => [x.pid, x]));
    const lineage = new Lineage('/nonexistent');
    lineage.observe(all, byPid);
    const o = lineage.orphanhood(left, byPid);
    assert.equal(o.orphan, true);
    assert.match(
      o.reason,
      /^adopted by tini \(pid 900\) while its session's leader bash \(pid 950\) still runs$/,
    );
  });
});

describe('pid namespaces and stdin, as /proc shows them', () => {
  it("tells a container's init from the host's and from an ordinary process by NSpid", () => {
    assert.equal(namespaceInit('Name:\tsleep\nNSpid:\t5321\t1\nNSsid:\t5321\t1\n'), true);
    assert.equal(namespaceInit('Name:\tnode\nNSpid:\t5333\t7\n'), false);
    assert.equal(namespaceInit('Name:\tsystemd\nNSpid:\t1\n'), false, 'our own init is known by its pid');
    assert.equal(namespaceInit('Name:\told\n'), false, 'a kernel without NSpid');
  });

  it('reads what fd 0 points at', () => {
    assert.deepEqual(
      ['pipe:[4242]', 'socket:[77]', '/dev/null', '/dev/pts/3', '/home/dev/input.txt', undefined, null].map(
        stdinKindOf,
      ),
      ['pipe', 'socket', 'null', 'tty', 'file', 'none', 'unknown'],
    );
  });
});
