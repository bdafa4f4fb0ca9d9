import type { Config } from '../config/schema.js';
import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import { Attributor, NO_ATTRIBUTION } from './attribution.js';
import { Baselines, hourOf } from './baseline.js';
import { classify, type KindPattern } from './classify.js';
import type { FactSet, Subject } from './facts-schema.js';

/** What {@link FactBuilder.processInfo} says of one process. */
export interface ProcessInfo {
  readonly kind: string | null;
  readonly orphan: boolean;
  /** The parent it had before it was re-parented, when it is an orphan. */
  readonly originalParent: string | null;
  /** The normalised cmdline identical processes share (a ghost storm is one group). */
  readonly group: string;
}

import { oomKillsFromJournal } from '../collectors/oom.js';
import { globMatcher } from '../model/glob.js';
import type {
  DiskFacts,
  GpuFacts,
  GroupFacts,
  JournalFacts,
  ProcessFacts,
  SensorFacts,
  SystemFacts,
} from './facts-schema.js';
import { identityOf, isContainerRuntime, Lineage, shortName } from './lineage.js';
import { displayName, groupKeyOf, isRunner, isShellCommand } from './normalize.js';
import { assessLeak, DEFAULT_LEAK_POLICY, SeriesRing, timeToExhaustionSecs } from './trend.js';

/** System metrics whose per-hour baselines `baseline_anomaly` compares against. */
export const BASELINE_METRICS = ['mem_used_percent', 'swap_used_percent', 'load1', 'cpu_percent'] as const;

const CPU_CHIPS =
  /^(coretemp|k10temp|zenpower|cpu[-_]thermal|x86_pkg_temp|soc[-_]thermal|cpu\d*_thermal|acpitz-cpu)/;
const GPU_CHIPS = /^(amdgpu|radeon|nouveau|nvidia|i915|xe)/;
const DISK_CHIPS = /^(nvme|drivetemp|sata)/;

/** Which kind of part a temperature sensor measures, from its chip name (CPU, GPU, disk, other). */
export function sensorKind(chip: string): 'cpu' | 'gpu' | 'disk' | 'other' {
  if (CPU_CHIPS.test(chip)) return 'cpu';
  if (GPU_CHIPS.test(chip)) return 'gpu';
  if (DISK_CHIPS.test(chip)) return 'disk';
  return 'other';
}

const AGENT_PARENT_COMMS = new Set(['node', 'bun', 'deno', 'npx', 'uv', 'uvx']);
const SERVER_KINDS = new Set(['mcp-server', 'language-server']);
/**
 * What an agent CLI, an editor or a runtime starts for its user and should start once: servers, dev
 * servers and agents (subagents). An editor's own helpers (extension hosts, renderers, the shells of its
 * terminals) are many by design and not counted.
 */
const STARTED_ONCE_KINDS = new Set(['mcp-server', 'language-server', 'dev-server', 'agent-cli']);
/** Process facts while the cycle's judgement still completes them (see `judgeTogether`). */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const MIN_LEAK_RSS_BYTES = Math.min(...DEFAULT_LEAK_POLICY.map((p) => p.minGrowthBytes));

export interface FactBuilderOptions {
  readonly procfs: string;
  readonly kinds: readonly KindPattern[];
  /** vigil's own uid, for `own`. */
  readonly uid: number;
  /** Learn per-hour baselines from the snapshots given (the daemon does; `status` does not). */
  readonly learnBaselines?: boolean;
  /** …at most once per this many ms of snapshot time (the daemon: once a minute); default every build. */
  readonly baselineEveryMs?: number;
  /** Keep RSS rings for the leak test (the daemon does; a single look has no history). */
  readonly trackLeaks?: boolean;
  /** Directory holding `passwd`, for the home directories attribution writes as `~` (default /etc). */
  readonly etc?: string;
}

/**
 * Turns snapshots into the facts rules read: per process its kind, whether it is an orphan and of whom,
 * its zombie children and its memory trend; groups of identical processes; disks, GPUs, sensors, journal
 * entries. Keeps what needs memory across cycles — first parents, RSS rings, kinds per process identity,
 * baselines — so one builder lives as long as the daemon.
 */
export class FactBuilder {
  readonly lineage: Lineage;
  private readonly attributor: Attributor;
  baselines = new Baselines();
  private readonly rings = new Map<string, SeriesRing>();
  private readonly kindCache = new Map<
    string,
    { kind: string; label: string; groupKey: string; name: string; runner: boolean; shell: boolean }
  >();
  private cycle = 0;
  /** The snapshot time baselines last learned from. */
  private learnedAt = Number.NEGATIVE_INFINITY;
  private readonly ringSeen = new Map<string, number>();
  /**
   * This cycle's owner of each grouped process started through a runner (npx, uvx …): the runner's
   * parent, by pid. A process not in it is owned by its parent.
   */
  private readonly ownerPid = new Map<number, number>();

  constructor(private readonly options: FactBuilderOptions) {
    this.lineage = new Lineage(options.procfs);
    this.attributor = new Attributor({ procfs: options.procfs, etc: options.etc ?? '/etc' });
  }

  build(snapshot: Snapshot, config: Config, monoMs: number = snapshot.takenAt): FactSet {
    this.cycle++;
    const now = snapshot.takenAt;
    const thresholds = config.thresholds as unknown as Record<string, number>;
    const ignored = globMatcher(config.allowlist.ignore_commands);
    const processes = snapshot.processes ?? [];
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    this.lineage.observe(processes, byPid, now);

    const memTotal = snapshot.memory?.totalBytes ?? 0;
    const memAvailable = snapshot.memory?.availableBytes ?? 0;
    const sys = this.systemFacts(snapshot, now);

    // Zombies older than the timeout, counted on the parent that fails to reap them.
    const zombies = new Map<number, { old: number; total: number; oldestSecs: number }>();
    for (const p of processes) {
      if (p.state !== 'Z') continue;
      const z = zombies.get(p.ppid) ?? { old: 0, total: 0, oldestSecs: 0 };
      const age = (now - p.startTime) / 1000;
      z.total++;
      if (age >= config.thresholds.zombie_timeout_secs) z.old++;
      z.oldestSecs = Math.max(z.oldestSecs, age);
      zombies.set(p.ppid, z);
    }

    const processSubjects: Subject[] = [];
    const groups = new Map<string, { members: ProcessSample[]; facts: ProcessFacts[] }>();
    const factsByPid = new Map<number, Mutable<ProcessFacts>>();
    const detached = new Set<number>();
    for (const p of processes) {
      const meta = this.metaOf(p);
      if (ignored(p.comm, shortName(p), p.cmdline)) continue;
      const orphan = this.lineage.orphanhood(p, byPid);
      if (orphan.detached) detached.add(p.pid);
      const z = zombies.get(p.pid);
      const leak = this.leakOf(p, monoMs, memAvailable);
      const facts: Mutable<ProcessFacts> = {
        pid: p.pid,
        ppid: p.ppid,
        pgid: p.pgid,
        comm: p.comm,
        cmdline: p.cmdline,
        name: meta.name,
        user: p.user ?? String(p.uid),
        uid: p.uid,
        own: p.uid === this.options.uid,
        state: p.state,
        age_secs: Math.max(0, (now - p.startTime) / 1000),
        cpu_percent: p.cpuPercent ?? 0,
        rss_bytes: p.rssBytes,
        rss_percent: memTotal > 0 ? (p.rssBytes / memTotal) * 100 : 0,
        swap_bytes: p.swapBytes ?? -1,
        threads: p.threads,
        kind: meta.kind,
        kind_label: meta.label,
        kernel_thread: p.kernelThread,
        orphan: orphan.orphan,
        orphan_reason: orphan.reason,
        original_parent: orphan.originalParent,
        wrapper_pid: -1,
        wrapped_pid: -1,
        tty: p.tty ?? '',
        cgroup: p.cgroup ?? '',
        system_service: (p.cgroup ?? '').startsWith('/system.slice/'),
        zombie_children: z?.old ?? 0,
        zombie_children_total: z?.total ?? 0,
        oldest_zombie_secs: z?.oldestSecs ?? 0,
        ...leak,
      };
      processSubjects.push({
        key: identityOf(p),
        label: `${meta.name} (pid ${p.pid})`,
        pids: [p.pid],
        facts,
      });
      factsByPid.set(p.pid, facts);
      if (p.kernelThread || p.state === 'Z' || p.argv.length === 0) continue;
      const key = `${p.uid}|${meta.groupKey}`;
      const group = groups.get(key) ?? { members: [], facts: [] };
      group.members.push(p);
      group.facts.push(facts);
      groups.set(key, group);
    }
    if (this.options.trackLeaks) this.pruneRings();
    this.judgeTogether(groups, factsByPid, detached, byPid);

    const groupSubjects: Subject[] = [];
    for (const [key, { members, facts }] of groups) {
      if (members.length < 2) continue;
      groupSubjects.push(
        this.attributed(
          this.groupSubject(key, members, facts, byPid, memTotal),
          members,
          factsByPid,
          byPid,
          now,
        ),
      );
    }
    this.attributor.endCycle();

    if (this.options.learnBaselines && now - this.learnedAt >= (this.options.baselineEveryMs ?? 0)) {
      this.learnedAt = now;
      const hour = hourOf(now);
      for (const metric of BASELINE_METRICS) this.baselines.observe(metric, hour, sys[metric]);
    }

    return {
      now,
      sys,
      thresholds,
      subjects: {
        process: processSubjects,
        group: groupSubjects,
        disk: (snapshot.disks ?? []).map((d) => {
          const facts: DiskFacts = {
            mount: d.mount,
            device: d.device,
            fs_type: d.fsType,
            total_bytes: d.totalBytes,
            available_bytes: d.availableBytes,
            used_percent: d.usedPercent,
            free_percent: 100 - d.usedPercent,
            inodes_free_percent: d.inodesUsedPercent === null ? 100 : 100 - d.inodesUsedPercent,
            has_inodes: d.inodesUsedPercent !== null,
          };
          return { key: d.mount, label: d.mount, pids: [], facts };
        }),
        gpu: (snapshot.gpus ?? []).map((g) => {
          const facts: GpuFacts = {
            index: g.index,
            name: g.name,
            temperature_celsius: g.temperatureCelsius ?? -1,
            utilization_percent: g.utilizationPercent ?? -1,
            memory_used_percent:
              g.memoryUsedBytes !== null && g.memoryTotalBytes
                ? (g.memoryUsedBytes / g.memoryTotalBytes) * 100
                : -1,
            power_watts: g.powerWatts ?? -1,
          };
          return { key: g.uuid ?? `gpu${g.index}`, label: `GPU ${g.index} (${g.name})`, pids: [], facts };
        }),
        sensor: this.sensorSubjects(snapshot),
        journal: this.journalSubjects(snapshot),
        ...(snapshot.units
          ? { unit: snapshot.units.map((u) => ({ key: u.name, label: u.name, pids: [], facts: { ...u } })) }
          : {}),
      },
    };
  }

  /** The machine-wide facts alone, for the daemon's one-second fast path (system-scope rules only). */
  systemOnly(snapshot: Snapshot, config: Config): FactSet {
    return {
      now: snapshot.takenAt,
      sys: this.systemFacts(snapshot, snapshot.takenAt),
      thresholds: config.thresholds as unknown as Record<string, number>,
      subjects: {},
    };
  }

  private systemFacts(s: Snapshot, now: number): SystemFacts {
    const m = s.memory;
    const c = s.cpu;
    const facts = {
      mem_total_bytes: m?.totalBytes ?? 0,
      mem_available_bytes: m?.availableBytes ?? 0,
      mem_used_percent: m?.usedPercent ?? 0,
      swap_total_bytes: m?.swapTotalBytes ?? 0,
      swap_used_bytes: m?.swapUsedBytes ?? 0,
      swap_used_percent: m?.swapUsedPercent ?? 0,
      has_psi: m?.pressure != null,
      psi_mem_some_avg10: m?.pressure?.some?.avg10 ?? 0,
      psi_mem_some_avg60: m?.pressure?.some?.avg60 ?? 0,
      psi_mem_full_avg10: m?.pressure?.full?.avg10 ?? 0,
      psi_mem_full_avg60: m?.pressure?.full?.avg60 ?? 0,
      psi_cpu_some_avg10: c?.pressure?.some?.avg10 ?? 0,
      psi_io_full_avg10: s.ioPressure?.full?.avg10 ?? 0,
      load1: c?.load[0] ?? 0,
      load5: c?.load[1] ?? 0,
      load15: c?.load[2] ?? 0,
      cores: c?.cores ?? 1,
      cpu_percent: c?.usagePercent ?? 0,
      process_count: s.processes?.length ?? 0,
      zombie_count: s.processes?.filter((p) => p.state === 'Z').length ?? 0,
      hour: hourOf(now),
      anomaly_z: -1,
      anomaly_metric: '',
      anomaly_value: 0,
      anomaly_mean: 0,
    };
    const hour = hourOf(now);
    for (const metric of BASELINE_METRICS) {
      const z = this.baselines.zScore(metric, hour, facts[metric]);
      if (z !== null && z > facts.anomaly_z) {
        facts.anomaly_z = z;
        facts.anomaly_metric = metric;
        facts.anomaly_value = facts[metric];
        facts.anomaly_mean = this.baselines.stats(metric, hour)?.mean ?? 0;
      }
    }
    return facts;
  }

  /**
   * What vigil knows of each process beyond /proc, by pid — for the views (`vigil status`, `vigil watch`):
   * its kind, whether it is an orphan and the parent it lost, and its group (normalised cmdline).
   */
  processInfo(snapshot: Snapshot, facts: FactSet): Map<number, ProcessInfo> {
    const info = new Map<number, ProcessInfo>();
    const byPid = new Map((snapshot.processes ?? []).map((p) => [p.pid, p]));
    for (const subject of facts.subjects.process ?? []) {
      const f = subject.facts as ProcessFacts;
      const p = byPid.get(f.pid);
      info.set(f.pid, {
        kind: f.kind || null,
        orphan: f.orphan,
        originalParent: f.original_parent || null,
        group: p ? this.metaOf(p).groupKey : '',
      });
    }
    return info;
  }

  /** Kind, group key and name depend only on the argv: computed once per process identity. */
  metaOf(p: ProcessSample): {
    kind: string;
    label: string;
    groupKey: string;
    name: string;
    runner: boolean;
    shell: boolean;
  } {
    const id = `${identityOf(p)}:${p.comm}`;
    let meta = this.kindCache.get(id);
    if (!meta) {
      const kind = classify(p, this.options.kinds);
      meta = {
        kind: kind?.kind ?? '',
        label: kind?.label ?? '',
        groupKey: groupKeyOf(p),
        name: p.argv.length > 0 ? displayName(p.argv) || p.comm : p.comm,
        runner: isRunner(p.argv),
        shell: isShellCommand(p.argv),
      };
      this.kindCache.set(id, meta);
    }
    if (this.kindCache.size > 4 * 8192) this.kindCache.clear();
    return meta;
  }

  private leakOf(
    p: ProcessSample,
    monoMs: number,
    memAvailable: number,
  ): Pick<
    ProcessFacts,
    'has_leak_data' | 'leak' | 'leak_slope_bytes_per_sec' | 'leak_window_secs' | 'time_to_oom_secs'
  > {
    const none = {
      has_leak_data: false,
      leak: false,
      leak_slope_bytes_per_sec: 0,
      leak_window_secs: 0,
      time_to_oom_secs: -1,
    };
    if (!this.options.trackLeaks || p.kernelThread || p.state === 'Z') return none;
    const id = identityOf(p);
    let ring = this.rings.get(id);
    if (!ring) {
      ring = new SeriesRing();
      this.rings.set(id, ring);
    }
    this.ringSeen.set(id, this.cycle);
    ring.push(monoMs, p.rssBytes);
    // Every leak test asks for 64 MiB of growth: a process smaller than that cannot have grown by it, and
    // most processes are, so the trend test runs for few of them.
    if (ring.length < 10 || p.rssBytes < MIN_LEAK_RSS_BYTES)
      return { ...none, has_leak_data: ring.length >= 10 };
    const verdict = assessLeak(ring);
    return {
      has_leak_data: true,
      leak: verdict.leaking,
      leak_slope_bytes_per_sec: verdict.slopeBytesPerSec,
      leak_window_secs: verdict.windowSecs,
      time_to_oom_secs: verdict.leaking
        ? (timeToExhaustionSecs(verdict.slopeBytesPerSec, memAvailable) ?? -1)
        : -1,
    };
  }

  private pruneRings(): void {
    for (const [id, seen] of this.ringSeen) {
      if (seen !== this.cycle) {
        this.ringSeen.delete(id);
        this.rings.delete(id);
      }
    }
  }

  private groupSubject(
    key: string,
    members: ProcessSample[],
    facts: ProcessFacts[],
    byPid: ReadonlyMap<number, ProcessSample>,
    memTotal: number,
  ): Subject {
    let rss = 0;
    let swap = 0;
    let cpu = 0;
    let orphans = 0;
    let orphanSuspects = 0;
    let wrappers = 0;
    let supervised = 0;
    let liveOwners = 0;
    const parents = new Set<number>();
    const kinds = new Map<string, { count: number; label: string }>();
    // Members born of an agent CLI or editor (or of node/bun/uv running MCP and language servers), by
    // parent: one copy per live parent is normal use, every further identical copy is a duplicate.
    const agentBorn = new Map<number, number>();
    members.forEach((p, i) => {
      const f = facts[i]!;
      rss += p.rssBytes;
      swap += p.swapBytes ?? 0;
      cpu += p.cpuPercent ?? 0;
      // Through a runner (npx, uvx …), whoever started the runner; the runner is counted with its server.
      const ownerPid = this.ownerPid.get(p.pid) ?? p.ppid;
      parents.add(ownerPid);
      const parent = byPid.get(ownerPid);
      const live = parent !== undefined && !this.lineage.isReaper(parent);
      const carrier = f.wrapped_pid >= 0;
      if (f.wrapper_pid >= 0) wrappers++;
      const actual = byPid.get(p.ppid);
      if (actual && isContainerRuntime(actual)) supervised++;
      if (f.orphan) {
        orphans++;
        if (!carrier) orphanSuspects++;
      } else if (live && parent && !carrier && this.isAgentBorn(f, parent)) {
        agentBorn.set(ownerPid, (agentBorn.get(ownerPid) ?? 0) + 1);
      }
      if (live && !f.orphan) liveOwners++;
      const k = kinds.get(f.kind) ?? { count: 0, label: f.kind_label };
      k.count++;
      kinds.set(f.kind, k);
    });
    let agentRelated = 0;
    let duplicatesUnderAgents = 0;
    for (const count of agentBorn.values()) {
      agentRelated += count;
      duplicatesUnderAgents += count - 1;
    }
    const suspects = orphanSuspects + duplicatesUnderAgents;
    // A pool whose master is one of the copies (gunicorn's workers keep its argv) has one parent outside.
    for (const p of members) parents.delete(p.pid);
    const [kind, { label }] = [...kinds.entries()].sort((a, b) => b[1].count - a[1].count)[0]!;
    const first = members[0]!;
    const group: GroupFacts = {
      key: key.slice(key.indexOf('|') + 1),
      name: facts[0]!.name,
      comm: first.comm,
      user: first.user ?? String(first.uid),
      count: members.length,
      rss_bytes: rss,
      rss_percent: memTotal > 0 ? (rss / memTotal) * 100 : 0,
      swap_bytes: swap,
      mem_bytes: rss + swap,
      mem_percent: memTotal > 0 ? ((rss + swap) / memTotal) * 100 : 0,
      cpu_percent: cpu,
      orphans,
      agent_related: agentRelated,
      suspects,
      wrappers,
      supervised,
      live_owners: liveOwners,
      parents: parents.size,
      kind,
      kind_label: label,
      kind_plural: label ? `${label}s` : 'processes',
      own: first.uid === this.options.uid,
      ...NO_ATTRIBUTION,
    };
    return {
      key,
      label: `${members.length} × ${group.name}`,
      pids: members.map((p) => p.pid).sort((a, b) => a - b),
      facts: group,
    };
  }

  /**
   * Says who left a candidate group (orphans, or duplicates under an agent) behind: see attribution.ts.
   * Other groups are left as they are, so working directories are read for candidates' members only.
   */
  private attributed(
    subject: Subject,
    members: readonly ProcessSample[],
    factsByPid: ReadonlyMap<number, ProcessFacts>,
    byPid: ReadonlyMap<number, ProcessSample>,
    now: number,
  ): Subject {
    const group = subject.facts as GroupFacts;
    if (group.orphans === 0 && group.suspects === 0) return subject;
    const attribution = this.attributor.attribute(members, {
      byPid,
      lineage: this.lineage,
      kindOf: (p) => this.metaOf(p).kind,
      orphan: (p) => factsByPid.get(p.pid)?.orphan ?? this.lineage.orphanhood(p, byPid).orphan,
      isReaper: (p) => this.lineage.isReaper(p),
      now,
    });
    return { ...subject, facts: { ...group, ...attribution } };
  }

  /**
   * Started for its user by a live agent CLI (anything), an editor (servers and agents, not its own
   * helpers), or a runtime (node, bun, uv …) starting servers and agents: the copies such an owner should
   * start once. Agent subagents under a worker daemon (`bun worker-service.cjs` and its `claude
   * --resume …` children) are the last case.
   */
  private isAgentBorn(facts: ProcessFacts, parent: ProcessSample): boolean {
    const parentKind = this.metaOf(parent).kind;
    if (parentKind === 'agent-cli') return true;
    if (parentKind === 'editor') return STARTED_ONCE_KINDS.has(facts.kind);
    return (
      AGENT_PARENT_COMMS.has(parent.comm) && (SERVER_KINDS.has(facts.kind) || facts.kind === 'agent-cli')
    );
  }

  /**
   * What one process cannot say alone, judged over the cycle's groups (members of groups of two or more):
   *
   * - Identical siblings: a process adopted with nothing of its own to say it was left behind (`detached`:
   *   its session gone, stdin on /dev/null) looks like a daemon; two or more identical ones adopted alike
   *   are a storm left behind, not daemons (a daemon runs once), and become orphans.
   * - Runners: a server started through `npx`, `npm exec`, `uvx`, `uv run` … (with `sh -c` between) has
   *   its runner as parent, alive, while the runner is what was orphaned. The server is owned by whoever
   *   started the runner, is an orphan when the runner is one, and records the runner (`wrapper_pid`);
   *   the runner and the shims between record the server (`wrapped_pid`) and are counted through it.
   */
  private judgeTogether(
    groups: ReadonlyMap<string, { members: ProcessSample[]; facts: ProcessFacts[] }>,
    factsByPid: ReadonlyMap<number, Mutable<ProcessFacts>>,
    detached: ReadonlySet<number>,
    byPid: ReadonlyMap<number, ProcessSample>,
  ): void {
    this.ownerPid.clear();
    for (const { members, facts } of groups.values()) {
      if (members.length < 2 || detached.size === 0) continue;
      const alike = facts.flatMap((f) => (detached.has(f.pid) ? (factsByPid.get(f.pid) ?? []) : []));
      if (alike.length < 2) continue;
      for (const f of alike) {
        f.orphan = true;
        f.orphan_reason = `${f.orphan_reason}, like ${alike.length - 1} identical ${alike.length === 2 ? 'copy' : 'copies'}: left behind, not a daemon`;
      }
    }
    for (const { members } of groups.values()) {
      if (members.length < 2) continue;
      for (const p of members) {
        if (this.chainLink(p, byPid)) continue;
        const chain = this.runnerChain(p, byPid);
        if (chain.length === 0) continue;
        const runner = chain[chain.length - 1]!;
        const server = factsByPid.get(p.pid);
        if (!server) continue;
        server.wrapper_pid = runner.pid;
        for (const link of chain) {
          const f = factsByPid.get(link.pid);
          if (f && f.wrapped_pid < 0) f.wrapped_pid = p.pid;
        }
        this.ownerPid.set(p.pid, runner.ppid);
        const wrapper = factsByPid.get(runner.pid);
        if (wrapper?.orphan && !server.orphan) {
          server.orphan = true;
          server.orphan_reason = `its runner ${wrapper.name} (pid ${runner.pid}) was left behind: ${wrapper.orphan_reason}`;
          server.original_parent = wrapper.original_parent;
        }
      }
    }
  }

  /** A runner, or a shell running a command for a runner (`npm exec` → `sh -c mcp-server-x` → node). */
  private chainLink(p: ProcessSample, byPid: ReadonlyMap<number, ProcessSample>): boolean {
    const meta = this.metaOf(p);
    if (meta.runner) return true;
    if (!meta.shell) return false;
    const parent = byPid.get(p.ppid);
    return parent !== undefined && this.metaOf(parent).runner;
  }

  /** The runners and their shells above a process, nearest first (at most four); empty when none. */
  private runnerChain(p: ProcessSample, byPid: ReadonlyMap<number, ProcessSample>): ProcessSample[] {
    const chain: ProcessSample[] = [];
    let runners = 0;
    for (let a = byPid.get(p.ppid); a !== undefined && chain.length < 4; a = byPid.get(a.ppid)) {
      if (!this.chainLink(a, byPid)) break;
      chain.push(a);
      if (this.metaOf(a).runner) runners = chain.length;
    }
    return chain.slice(0, runners);
  }

  private sensorSubjects(s: Snapshot): Subject[] {
    const subjects: Subject[] = (s.temperatures ?? []).map((t) => {
      const facts: SensorFacts = {
        chip: t.chip,
        label: t.label,
        kind: sensorKind(t.chip),
        celsius: t.tempCelsius,
        crit_celsius: t.critCelsius ?? -1,
        max_celsius: t.maxCelsius ?? -1,
      };
      return { key: `${t.path}/${t.input}`, label: `${t.chip} ${t.label}`, pids: [], facts };
    });
    for (const g of s.gpus ?? []) {
      if (g.temperatureCelsius === null) continue;
      const facts: SensorFacts = {
        chip: 'nvidia',
        label: `GPU ${g.index} ${g.name}`,
        kind: 'gpu',
        celsius: g.temperatureCelsius,
        crit_celsius: -1,
        max_celsius: -1,
      };
      subjects.push({ key: `gpu:${g.uuid ?? g.index}`, label: facts.label, pids: [], facts });
    }
    return subjects;
  }

  private journalSubjects(s: Snapshot): Subject[] | undefined {
    if (!s.journal) return undefined;
    const kills = new Map(
      oomKillsFromJournal(s.journal).map((k) => [k.cursor ?? `${k.time}|${k.message}`, k]),
    );
    return s.journal.map((e) => {
      const key = e.cursor ?? `${e.time}|${e.message}`;
      const kill = kills.get(key);
      const facts: JournalFacts = {
        message: e.message,
        identifier: e.identifier ?? '',
        unit: e.unit ?? '',
        priority: e.priority,
        pid: e.pid ?? -1,
        oom: kill !== undefined,
        oom_source: kill?.source ?? '',
        oom_pid: kill?.pid ?? -1,
        oom_name: kill?.name ?? kill?.unit ?? '',
        oom_rss_bytes: kill?.rssBytes ?? -1,
        oom_cgroup: kill?.cgroup ?? '',
      };
      return { key, label: e.identifier ?? 'journal', pids: kill?.pid ? [kill.pid] : [], facts };
    });
  }
}
