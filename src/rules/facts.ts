import type { Config } from '../config/schema.js';
import type { ProcessSample, Snapshot } from '../model/snapshot.js';
import { Baselines, hourOf } from './baseline.js';
import { classify, type KindPattern } from './classify.js';
import type { FactSet, Subject } from './engine.js';

/** What {@link FactBuilder.processInfo} says of one process. */
export interface ProcessInfo {
  readonly kind: string | null;
  readonly orphan: boolean;
  /** The parent it had before it was re-parented, when it is an orphan. */
  readonly originalParent: string | null;
  /** The normalised cmdline identical processes share (a ghost storm is one group). */
  readonly group: string;
}

import type {
  DiskFacts,
  GpuFacts,
  GroupFacts,
  JournalFacts,
  ProcessFacts,
  SensorFacts,
  SystemFacts,
} from './facts-schema.js';
import { globMatcher } from './glob.js';
import { identityOf, isAdopter, Lineage, shortName } from './lineage.js';
import { displayName, groupKeyOf } from './normalize.js';
import { oomKillsFromJournal } from './oom.js';
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

const AGENT_PARENT_KINDS = new Set(['agent-cli', 'editor']);
const AGENT_PARENT_COMMS = new Set(['node', 'bun', 'deno', 'npx', 'uv', 'uvx']);
const SERVER_KINDS = new Set(['mcp-server', 'language-server']);
const MIN_LEAK_RSS_BYTES = Math.min(...DEFAULT_LEAK_POLICY.map((p) => p.minGrowthBytes));

export interface FactBuilderOptions {
  readonly procfs: string;
  readonly kinds: readonly KindPattern[];
  /** vigil's own uid, for `own`. */
  readonly uid: number;
  /** Learn per-hour baselines from the snapshots given (the daemon does; `status` does not). */
  readonly learnBaselines?: boolean;
  /** Keep RSS rings for the leak test (the daemon does; a single look has no history). */
  readonly trackLeaks?: boolean;
}

/**
 * Turns snapshots into the facts rules read: per process its kind, whether it is an orphan and of whom,
 * its zombie children and its memory trend; groups of identical processes; disks, GPUs, sensors, journal
 * entries. Keeps what needs memory across cycles — first parents, RSS rings, kinds per process identity,
 * baselines — so one builder lives as long as the daemon.
 */
export class FactBuilder {
  readonly lineage: Lineage;
  baselines = new Baselines();
  private readonly rings = new Map<string, SeriesRing>();
  private readonly kindCache = new Map<
    string,
    { kind: string; label: string; groupKey: string; name: string }
  >();
  private cycle = 0;
  private readonly ringSeen = new Map<string, number>();

  constructor(private readonly options: FactBuilderOptions) {
    this.lineage = new Lineage(options.procfs);
  }

  build(snapshot: Snapshot, config: Config, monoMs: number = snapshot.takenAt): FactSet {
    this.cycle++;
    const now = snapshot.takenAt;
    const thresholds = config.thresholds as unknown as Record<string, number>;
    const ignored = globMatcher(config.allowlist.ignore_commands);
    const processes = snapshot.processes ?? [];
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    this.lineage.observe(processes, byPid);

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
    for (const p of processes) {
      const meta = this.metaOf(p);
      if (ignored(p.comm, shortName(p), p.cmdline)) continue;
      const orphan = this.lineage.orphanhood(p, byPid);
      const z = zombies.get(p.pid);
      const leak = this.leakOf(p, monoMs, memAvailable);
      const facts: ProcessFacts = {
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
        threads: p.threads,
        kind: meta.kind,
        kind_label: meta.label,
        kernel_thread: p.kernelThread,
        orphan: orphan.orphan,
        orphan_reason: orphan.reason,
        original_parent: orphan.originalParent,
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
      if (p.kernelThread || p.state === 'Z' || p.argv.length === 0) continue;
      const key = `${p.uid}|${meta.groupKey}`;
      const group = groups.get(key) ?? { members: [], facts: [] };
      group.members.push(p);
      group.facts.push(facts);
      groups.set(key, group);
    }
    if (this.options.trackLeaks) this.pruneRings();

    const groupSubjects: Subject[] = [];
    for (const [key, { members, facts }] of groups) {
      if (members.length < 2) continue;
      groupSubjects.push(this.groupSubject(key, members, facts, byPid, memTotal));
    }

    if (this.options.learnBaselines) {
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
  metaOf(p: ProcessSample): { kind: string; label: string; groupKey: string; name: string } {
    const id = `${identityOf(p)}:${p.comm}`;
    let meta = this.kindCache.get(id);
    if (!meta) {
      const kind = classify(p, this.options.kinds);
      meta = {
        kind: kind?.kind ?? '',
        label: kind?.label ?? '',
        groupKey: groupKeyOf(p),
        name: p.argv.length > 0 ? displayName(p.argv) || p.comm : p.comm,
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
    let cpu = 0;
    let orphans = 0;
    let liveOwners = 0;
    const parents = new Set<number>();
    const kinds = new Map<string, { count: number; label: string }>();
    // Members born of an agent CLI or editor (or of node/bun/uv running MCP and language servers), by
    // parent: one copy per live parent is normal use, every further identical copy is a duplicate.
    const agentBorn = new Map<number, number>();
    members.forEach((p, i) => {
      const f = facts[i]!;
      rss += p.rssBytes;
      cpu += p.cpuPercent ?? 0;
      parents.add(p.ppid);
      const parent = byPid.get(p.ppid);
      if (f.orphan) orphans++;
      else if (parent && !isAdopter(parent) && this.isAgentBorn(f, parent)) {
        agentBorn.set(p.ppid, (agentBorn.get(p.ppid) ?? 0) + 1);
      }
      if (parent && !isAdopter(parent)) liveOwners++;
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
    const suspects = orphans + duplicatesUnderAgents;
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
      cpu_percent: cpu,
      orphans,
      agent_related: agentRelated,
      suspects,
      live_owners: liveOwners,
      parents: parents.size,
      kind,
      kind_label: label,
      kind_plural: label ? `${label}s` : 'processes',
      own: first.uid === this.options.uid,
    };
    return {
      key,
      label: `${members.length} × ${group.name}`,
      pids: members.map((p) => p.pid).sort((a, b) => a - b),
      facts: group,
    };
  }

  /** Born of an agent CLI or an editor, or of a runtime (node, bun, uv…) starting MCP or language servers. */
  private isAgentBorn(facts: ProcessFacts, parent: ProcessSample): boolean {
    const parentKind = this.metaOf(parent).kind;
    if (AGENT_PARENT_KINDS.has(parentKind)) return true;
    return AGENT_PARENT_COMMS.has(parent.comm) && SERVER_KINDS.has(facts.kind);
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
