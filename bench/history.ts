/**
 * Seven days of synthetic history for the report section, written through the real store (dist/) the way
 * the daemon writes it at the default settings: a full cycle every 5 s (heartbeat, run touched, firing
 * alerts refreshed), a snapshot every minute (retention pruned in small steps), rule states every minute.
 *
 * The week is deterministic (a seeded generator): ten processes that live for days (desktop, editor,
 * browser, a language server, an agent CLI), three to five new ones an hour (MCP servers, some left
 * orphaned, dev servers, builds, test runs, language servers; one in twelve leaking), CPU seconds growing
 * with a working-day rhythm, and a few hundred alerts raised and resolved (loads, RAM, leaks, storms,
 * temperatures, journal OOM events, a disk filling up and still firing at the end).
 */
import { performance } from 'node:perf_hooks';
import type { Severity } from '../src/config/schema.js';
import type { CollectorStatus } from '../src/model/snapshot.js';
import type { Heartbeat, ProcessRecord, RuleStateRecord, SnapshotRecord } from '../src/store/types.js';
import { importDist } from './lib.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Default `general.interval_secs`: the daemon's full cycle. */
const CYCLE_MS = 5_000;
/** Default `history.snapshot_interval_secs` × 7 days of default retention (168 h). */
export const SNAPSHOTS = 7 * 24 * 60;
const RETENTION_MS = 168 * HOUR_MS;
const PRUNE_STEP_ROWS = 200;
const MEMORY_TOTAL_BYTES = 32 * 1024 ** 3;
const CORES = 8;
const MB = 1024 * 1024;

/** xorshift32: a small seeded generator, so every run writes the same week. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

interface Template {
  readonly comm: string;
  readonly name: string;
  /** `{n}` becomes a per-process number (a port, an id) that the group key masks. */
  readonly cmdline: string;
  readonly kind: string | null;
  /** Mean CPU while the machine is busy, % of one core. */
  readonly cpuPercent: number;
  readonly rssMb: number;
  /** Lifetime range in minutes (newcomers only). */
  readonly lifeMinutes?: readonly [number, number];
  /** Share of the hourly newcomers drawn from this template. */
  readonly weight?: number;
  readonly state?: string;
}

const LONG_LIVED: readonly Template[] = [
  {
    comm: 'systemd',
    name: 'systemd',
    cmdline: '/usr/lib/systemd/systemd --user',
    kind: null,
    cpuPercent: 0.05,
    rssMb: 12,
  },
  {
    comm: 'gnome-shell',
    name: 'gnome-shell',
    cmdline: '/usr/bin/gnome-shell',
    kind: null,
    cpuPercent: 3,
    rssMb: 420,
  },
  {
    comm: 'Xwayland',
    name: 'Xwayland',
    cmdline:
      '/usr/bin/Xwayland :0 -rootless -noreset -accessx -core -auth /run/user/1000/.mutter-Xwaylandauth.{n} -listenfd 4 -listenfd 5 -displayfd 6',
    kind: null,
    cpuPercent: 1.2,
    rssMb: 90,
  },
  {
    comm: 'pipewire',
    name: 'pipewire',
    cmdline: '/usr/bin/pipewire',
    kind: null,
    cpuPercent: 0.3,
    rssMb: 18,
  },
  {
    comm: 'code',
    name: 'code',
    cmdline: '/usr/share/code/code --unity-launch',
    kind: 'editor',
    cpuPercent: 2,
    rssMb: 380,
  },
  {
    comm: 'code',
    name: 'code extension host',
    cmdline:
      '/usr/share/code/code --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none --field-trial-handle={n}',
    kind: 'editor',
    cpuPercent: 5,
    rssMb: 650,
  },
  {
    comm: 'firefox',
    name: 'firefox',
    cmdline: '/usr/lib/firefox/firefox',
    kind: 'browser',
    cpuPercent: 6,
    rssMb: 1100,
  },
  {
    comm: 'Isolated Web Co',
    name: 'firefox content',
    cmdline:
      '/usr/lib/firefox/firefox -contentproc -childID {n} -isForBrowser -prefsLen 31337 -parentBuildID 20261101 tab',
    kind: 'browser',
    cpuPercent: 4,
    rssMb: 540,
  },
  {
    comm: 'node',
    name: 'tsserver',
    cmdline:
      'node /usr/share/code/resources/app/extensions/node_modules/typescript/lib/tsserver.js --serverMode partialSemantic --useInferredProjectPerProjectRoot --cancellationPipeName /tmp/vscode-typescript1000/{n}/tscancellation*',
    kind: 'language-server',
    cpuPercent: 2.5,
    rssMb: 800,
  },
  {
    comm: 'claude',
    name: 'claude',
    cmdline: 'node /home/dev/.local/share/claude/claude --continue',
    kind: 'agent-cli',
    cpuPercent: 1.5,
    rssMb: 310,
  },
];

const NEWCOMERS: readonly Template[] = [
  {
    comm: 'python3',
    name: 'python3 mcp_server_fetch',
    cmdline: '/home/dev/.local/share/uv/tools/mcp-server-fetch/bin/python3 -m mcp_server_fetch',
    kind: 'mcp-server',
    cpuPercent: 0.4,
    rssMb: 70,
    lifeMinutes: [120, 600],
    weight: 0.2,
  },
  {
    comm: 'node',
    name: 'mcp-server-github',
    cmdline: 'node /home/dev/.npm/_npx/{n}/node_modules/.bin/mcp-server-github',
    kind: 'mcp-server',
    cpuPercent: 0.6,
    rssMb: 95,
    lifeMinutes: [120, 600],
    weight: 0.2,
  },
  {
    comm: 'node',
    name: 'vite',
    cmdline: 'node /home/dev/src/app/node_modules/.bin/vite --port {n}',
    kind: 'dev-server',
    cpuPercent: 2,
    rssMb: 210,
    lifeMinutes: [60, 360],
    weight: 0.15,
  },
  {
    comm: 'node',
    name: 'tsc',
    cmdline: 'node /home/dev/src/vigil/node_modules/.bin/tsc -p tsconfig.build.json',
    kind: 'build',
    cpuPercent: 90,
    rssMb: 420,
    lifeMinutes: [5, 30],
    weight: 0.2,
    state: 'R',
  },
  {
    comm: 'node',
    name: 'node --test',
    cmdline: 'node --import tsx --test --test-reporter=spec test/unit/{n}.test.ts',
    kind: 'build',
    cpuPercent: 70,
    rssMb: 180,
    lifeMinutes: [3, 20],
    weight: 0.15,
    state: 'R',
  },
  {
    comm: 'rust-analyzer',
    name: 'rust-analyzer',
    cmdline: '/home/dev/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rust-analyzer',
    kind: 'language-server',
    cpuPercent: 4,
    rssMb: 1500,
    lifeMinutes: [180, 720],
    weight: 0.1,
  },
];

interface SynthProcess {
  readonly template: Template;
  readonly pid: number;
  readonly startTicks: number;
  readonly startAt: number;
  readonly endAt: number;
  readonly cmdline: string;
  readonly group: string;
  /** Leak in bytes per minute (0 for most). */
  readonly leakPerMinute: number;
  /** From this time on it is an orphan (its agent CLI exited); Infinity when never. */
  readonly orphanFrom: number;
  cpuSeconds: number;
}

interface Episode {
  readonly rule: string;
  readonly subject: string;
  readonly severity: Severity;
  readonly summary: string;
  readonly pids: readonly number[];
  readonly startAt: number;
  /** Infinity: still firing at the end. */
  readonly endAt: number;
  readonly event: boolean;
  readonly suggest: readonly string[];
}

/** Alert episodes per day of each kind, and how long each lasts (minutes). */
const EPISODES: ReadonlyArray<{
  rule: string;
  severity: Severity;
  perDay: number;
  minutes: readonly [number, number];
  scope: 'system' | 'process' | 'group' | 'unit';
  workHours: boolean;
  suggest: readonly string[];
}> = [
  {
    rule: 'load_high',
    severity: 'medium',
    perDay: 6,
    minutes: [10, 40],
    scope: 'system',
    workHours: true,
    suggest: [],
  },
  {
    rule: 'ram_high',
    severity: 'high',
    perDay: 1.5,
    minutes: [5, 30],
    scope: 'system',
    workHours: true,
    suggest: [],
  },
  {
    rule: 'swap_high',
    severity: 'medium',
    perDay: 0.5,
    minutes: [10, 60],
    scope: 'system',
    workHours: true,
    suggest: [],
  },
  {
    rule: 'baseline_anomaly',
    severity: 'low',
    perDay: 4,
    minutes: [10, 60],
    scope: 'system',
    workHours: false,
    suggest: [],
  },
  {
    rule: 'duplicate_processes',
    severity: 'low',
    perDay: 4,
    minutes: [20, 120],
    scope: 'group',
    workHours: true,
    suggest: ['kill_matching'],
  },
  {
    rule: 'ghost_process_storm',
    severity: 'high',
    perDay: 1.5,
    minutes: [60, 240],
    scope: 'group',
    workHours: false,
    suggest: ['kill_matching', 'kill_process_group'],
  },
  {
    rule: 'orphan_cpu',
    severity: 'medium',
    perDay: 4,
    minutes: [5, 30],
    scope: 'process',
    workHours: false,
    suggest: ['kill_process', 'renice'],
  },
  {
    rule: 'temperature_high',
    severity: 'high',
    perDay: 5,
    minutes: [2, 10],
    scope: 'system',
    workHours: true,
    suggest: [],
  },
  {
    rule: 'zombie_processes',
    severity: 'low',
    perDay: 1,
    minutes: [10, 60],
    scope: 'process',
    workHours: false,
    suggest: ['notify_only'],
  },
  {
    rule: 'failed_user_unit',
    severity: 'medium',
    perDay: 1,
    minutes: [60, 180],
    scope: 'unit',
    workHours: false,
    suggest: ['restart_user_unit'],
  },
];

export interface HistoryFacts {
  readonly snapshots: number;
  readonly cycles: number;
  readonly processIdentities: number;
  readonly processesPerSnapshot: number;
  readonly alerts: number;
  readonly events: number;
  readonly firingAtEnd: number;
  readonly runs: number;
  readonly firstSnapshotAt: number;
  readonly lastSnapshotAt: number;
  /** Database + -wal while the store is open (as under a running daemon), then after it is closed. */
  readonly openSizeBytes: number;
  readonly closedSizeBytes: number;
  readonly buildMs: number;
}

/** Is this time within working hours (09:00–19:00 UTC, Monday to Friday)? */
function working(at: number): boolean {
  const date = new Date(at);
  const hour = date.getUTCHours();
  const day = date.getUTCDay();
  return day >= 1 && day <= 5 && hour >= 9 && hour < 19;
}

function groupKey(cmdline: string): string {
  return cmdline.replace(/\{n\}/g, '*');
}

/** The newcomer template a draw in [0, total weight) falls on. */
function pickTemplate(draw: number): Template {
  let left = draw;
  for (const template of NEWCOMERS) {
    left -= template.weight ?? 0;
    if (left < 0) return template;
  }
  return NEWCOMERS[NEWCOMERS.length - 1]!;
}

function planProcesses(random: () => number, firstAt: number, lastAt: number): SynthProcess[] {
  const processes: SynthProcess[] = [];
  const bootAt = firstAt - 3 * DAY_MS;
  let pid = 1100;
  const make = (template: Template, startAt: number, endAt: number): SynthProcess => {
    pid += 1 + Math.floor(random() * 40);
    const n = String(1000 + Math.floor(random() * 60_000));
    const leaks = template.kind === 'mcp-server' || template.kind === 'dev-server' ? random() < 0.2 : false;
    const orphanable = template.kind === 'mcp-server' && random() < 0.35;
    return {
      template,
      pid,
      startTicks: Math.round((startAt - bootAt) / 10),
      startAt,
      endAt,
      cmdline: template.cmdline.replace(/\{n\}/g, n),
      group: groupKey(template.cmdline),
      leakPerMinute: leaks ? (1 + random() * 3) * MB : 0,
      orphanFrom: orphanable
        ? startAt + (endAt - startAt) * (0.2 + 0.5 * random())
        : Number.POSITIVE_INFINITY,
      cpuSeconds: 0,
    };
  };
  for (const template of LONG_LIVED) {
    // Most were there before the week began; the language server and the agent restart every ~2 days.
    const restarts = template.kind === 'language-server' || template.kind === 'agent-cli';
    let at = bootAt + random() * HOUR_MS;
    while (at < lastAt) {
      const endAt = restarts ? at + (36 + random() * 24) * HOUR_MS : Number.POSITIVE_INFINITY;
      const p = make(template, at, endAt);
      p.cpuSeconds = ((Math.max(0, firstAt - at) / 1000) * template.cpuPercent) / 100 / 2;
      processes.push(p);
      at = endAt + random() * MINUTE_MS * 5;
    }
  }
  const totalWeight = NEWCOMERS.reduce((sum, t) => sum + (t.weight ?? 0), 0);
  for (let hour = firstAt - 12 * HOUR_MS; hour < lastAt; hour += HOUR_MS) {
    const count = 3 + Math.floor(random() * 3);
    for (let i = 0; i < count; i++) {
      const template = pickTemplate(random() * totalWeight);
      const [low, high] = template.lifeMinutes!;
      const startAt = hour + random() * HOUR_MS;
      processes.push(make(template, startAt, startAt + (low + random() * (high - low)) * MINUTE_MS));
    }
  }
  return processes;
}

function planEpisodes(
  random: () => number,
  processes: readonly SynthProcess[],
  firstAt: number,
  lastAt: number,
): Episode[] {
  const episodes: Episode[] = [];
  const aliveAt = (at: number) => processes.filter((p) => p.startAt <= at && p.endAt > at);
  for (let day = firstAt; day < lastAt; day += DAY_MS) {
    for (const spec of EPISODES) {
      const count = Math.round(spec.perDay * (0.5 + random()));
      for (let i = 0; i < count; i++) {
        const startAt = spec.workHours
          ? day - (day % DAY_MS) + (9 + random() * 10) * HOUR_MS
          : day + random() * DAY_MS;
        if (startAt < firstAt || startAt >= lastAt) continue;
        const [low, high] = spec.minutes;
        let endAt = startAt + (low + random() * (high - low)) * MINUTE_MS;
        const alive = aliveAt(startAt);
        // Who a finding can be about: an orphan for orphan_cpu, a process with copies for a group rule.
        const eligible = alive.filter((p) =>
          spec.rule === 'orphan_cpu'
            ? p.orphanFrom <= startAt
            : spec.scope === 'group'
              ? alive.some((q) => q !== p && q.group === p.group)
              : true,
        );
        const pool = eligible.length > 0 ? eligible : alive;
        const someone = pool[Math.floor(random() * pool.length)];
        if (someone === undefined) continue;
        // A finding on a process resolves when the process exits.
        if (spec.scope === 'process') endAt = Math.min(endAt, someone.endAt);
        let subject = 'system';
        let pids: number[] = [];
        let summary = `${spec.rule.replace(/_/g, ' ')} on this machine`;
        if (spec.scope === 'process') {
          subject = `${someone.pid}:${someone.startTicks}`;
          pids = [someone.pid];
          summary = `${someone.template.name} (pid ${someone.pid}) ${spec.rule.replace(/_/g, ' ')}`;
        } else if (spec.scope === 'group') {
          const members = alive.filter((p) => p.group === someone.group);
          subject = someone.group;
          pids = members.map((p) => p.pid);
          summary = `${members.length} identical ${someone.template.name} processes`;
        } else if (spec.scope === 'unit') {
          subject = 'syncthing.service';
          summary = 'user unit syncthing.service failed';
        }
        episodes.push({
          rule: spec.rule,
          subject,
          severity: spec.severity,
          summary,
          pids,
          startAt,
          endAt,
          event: false,
          suggest: spec.suggest,
        });
      }
    }
  }
  // A leak is found half an hour after the leaking process starts, and lasts as long as it does.
  for (const p of processes) {
    if (p.leakPerMinute === 0) continue;
    const startAt = p.startAt + 30 * MINUTE_MS;
    if (startAt < firstAt || startAt >= Math.min(p.endAt, lastAt)) continue;
    episodes.push({
      rule: 'memory_leak',
      subject: `${p.pid}:${p.startTicks}`,
      severity: 'medium',
      summary: `${p.template.name} (pid ${p.pid}) grows ${(p.leakPerMinute / MB).toFixed(1)} MiB/min`,
      pids: [p.pid],
      startAt,
      endAt: p.endAt,
      event: false,
      suggest: ['kill_process'],
    });
  }
  // Journal OOM kills are events (raised and resolved at once); the home disk fills up on day 4.
  for (let i = 0; i < 3; i++) {
    const at = firstAt + (1 + 2 * i + random()) * DAY_MS;
    episodes.push({
      rule: 'oom_kill',
      subject: `journal:s=${Math.floor(random() * 1e12).toString(16)}`,
      severity: 'high',
      summary: 'the kernel OOM killer killed rust-analyzer (pid 48211, 6.1 GiB)',
      pids: [],
      startAt: at,
      endAt: at,
      event: true,
      suggest: [],
    });
  }
  episodes.push({
    rule: 'disk_low',
    subject: '/home',
    severity: 'medium',
    summary: '/home has 8.9% free (41 GiB of 456 GiB)',
    pids: [],
    startAt: firstAt + 4.3 * DAY_MS,
    endAt: Number.POSITIVE_INFINITY,
    event: false,
    suggest: [],
  });
  return episodes.sort((a, b) => a.startAt - b.startAt);
}

const COLLECTORS = ['gpu', 'units', 'processes', 'memory', 'cpu', 'thermal', 'disks', 'network'] as const;

function collectorStatuses(random: () => number, at: number, firstAt: number): CollectorStatus[] {
  // The user bus is gone for two hours on day 3: the units collector fails, as `vigil health` would see.
  const busDown = at >= firstAt + 2.5 * DAY_MS && at < firstAt + 2.5 * DAY_MS + 2 * HOUR_MS;
  return COLLECTORS.map((name) => ({
    name,
    ok: !(busDown && name === 'units'),
    durationMs: Math.round((name === 'processes' ? 25 : 1) * (1 + random()) * 1000) / 1000,
    error:
      busDown && name === 'units'
        ? 'systemctl --user exited with 1: Failed to connect to bus: No medium found'
        : null,
    unsupported: name === 'gpu' ? 'nvidia-smi not found: no NVIDIA driver installed' : null,
  }));
}

/**
 * Writes the week into a new database at `dbPath`, ending at `endAt`, and says what it holds.
 * `progress` is called once per simulated day.
 */
export async function buildHistory(
  dbPath: string,
  endAt: number,
  progress: (line: string) => void,
): Promise<HistoryFacts> {
  const { openStore } = await importDist<typeof import('../src/store/store.js')>('store/store.js');
  const started = performance.now();
  const random = generator(0x5eed);
  const lastAt = endAt - (endAt % MINUTE_MS);
  const firstAt = lastAt - (SNAPSHOTS - 1) * MINUTE_MS;
  const processes = planProcesses(random, firstAt, lastAt);
  const episodes = planEpisodes(random, processes, firstAt, lastAt);
  const store = openStore(dbPath, { log: (message) => progress(`store: ${message}`) });
  if (store.problem) throw new Error(`cannot write ${dbPath}: ${store.problem.message}`);

  // The daemon was restarted twice in the week.
  const restarts = [firstAt + 2.2 * DAY_MS, firstAt + 5.6 * DAY_MS].map((t) => t - (t % CYCLE_MS));
  let daemonPid = 4000;
  let runId = store.beginRun(daemonPid, firstAt - CYCLE_MS);
  let runs = 1;
  let daemonCpuSeconds = 0;
  let next = 0;
  const firing = new Map<string, Episode>();
  let events = 0;
  let raised = 0;
  let snapshots = 0;
  let processSamples = 0;
  const identities = new Set<string>();
  let cycles = 0;

  const cycle = (at: number) => {
    if (restarts.includes(at)) {
      store.endRun(runId, at);
      daemonPid += 37;
      runId = store.beginRun(daemonPid, at + 1);
      runs++;
    }
    // Raise what starts, refresh what fires (every full cycle, as the daemon does), resolve what ends.
    while (next < episodes.length && episodes[next]!.startAt <= at) {
      const e = episodes[next++]!;
      const finding = { ...e, fingerprint: `${e.rule}|${e.subject}`, since: e.startAt };
      // An episode overlapping an open one of the same rule and subject extends it (one alert).
      const open = firing.get(finding.fingerprint);
      if (open !== undefined) {
        if (e.endAt > open.endAt) firing.set(finding.fingerprint, e);
        continue;
      }
      if (store.recordFiring(finding, at).isNew) raised++;
      if (e.event) events++;
      else firing.set(finding.fingerprint, e);
    }
    for (const [fingerprint, e] of firing) {
      if (e.endAt <= at) {
        store.resolveAlert(fingerprint, at);
        firing.delete(fingerprint);
      } else store.recordFiring({ ...e, fingerprint, since: e.startAt }, at);
    }

    const busy = working(at);
    if (at % MINUTE_MS === 0) {
      const record = snapshotAt(at, busy);
      store.insertSnapshot(record);
      store.prune(at - RETENTION_MS, PRUNE_STEP_ROWS);
      snapshots++;
      processSamples += record.processes.length;
      const states: RuleStateRecord[] = [...firing.entries()].map(([fingerprint, e]) => ({
        fingerprint,
        pendingSince: e.startAt,
        firing: true,
        clearingSince: null,
      }));
      store.saveRuleStates(states);
      if (at % HOUR_MS === 0) store.saveBaselines(baselineRows(at));
    }
    store.touchRun(runId, at);
    daemonCpuSeconds += 0.0035 + random() * 0.002;
    const heartbeat: Heartbeat = {
      pid: daemonPid,
      startedAt: firstAt,
      lastCycleAt: at,
      intervalMs: CYCLE_MS,
      mode: 'observe',
      collectors: collectorStatuses(random, at, firstAt),
      rssBytes: Math.round((38 + random() * 4) * MB),
      cpuPercent: Math.round((0.07 + random() * 0.04) * 100) / 100,
      cpuSeconds: daemonCpuSeconds,
      store: { ok: true, error: null, path: dbPath },
      journal: { state: 'following', detail: null },
      config: { ok: true, path: '/home/dev/.config/vigil/config.toml', error: null },
      rules: { count: 13, problems: [] },
      firing: firing.size,
    };
    store.writeHeartbeat(heartbeat);
    cycles++;
  };

  const baselineRows = (at: number) =>
    ['mem_used_percent', 'swap_used_percent', 'load1', 'cpu_percent'].flatMap((metric) =>
      Array.from({ length: 24 }, (_, hour) => ({
        metric,
        hour,
        count: Math.floor((at - firstAt) / HOUR_MS / 24) * 60 + 60,
        mean: 20 + hour,
        m2: 400 + hour * 10,
      })),
    );

  const snapshotAt = (at: number, busy: boolean): SnapshotRecord => {
    const activity = busy ? 1 : 0.3;
    const alive = processes.filter((p) => p.startAt <= at && p.endAt > at);
    const records: ProcessRecord[] = alive.map((p) => {
      const t = p.template;
      const cpuPercent = t.cpuPercent * activity * (0.6 + 0.8 * random());
      p.cpuSeconds += (cpuPercent / 100) * 60;
      const minutes = (at - p.startAt) / MINUTE_MS;
      const rssBytes = Math.round(
        t.rssMb * MB * (1 + 0.05 * Math.sin(at / HOUR_MS + p.pid)) + p.leakPerMinute * minutes,
      );
      identities.add(`${p.pid}:${p.startTicks}`);
      return {
        pid: p.pid,
        startTicks: p.startTicks,
        comm: t.comm,
        name: t.name,
        cmdline: p.cmdline,
        user: 'dev',
        kind: t.kind,
        group: p.group,
        cpuPercent: Math.round(cpuPercent * 10) / 10,
        cpuSeconds: Math.round(p.cpuSeconds * 10) / 10,
        rssBytes,
        state: t.state === 'R' && random() < 0.7 ? 'R' : random() < 0.03 ? 'R' : 'S',
        orphan: at >= p.orphanFrom,
      };
    });
    const rssTotal = records.reduce((sum, r) => sum + r.rssBytes, 0);
    const cpuTotal = records.reduce((sum, r) => sum + r.cpuPercent, 0);
    const inEpisode = (rule: string) => [...firing.values()].some((e) => e.rule === rule);
    const memUsed = Math.min(
      97,
      ((rssTotal + 4 * 1024 ** 3) / MEMORY_TOTAL_BYTES) * 100 + (inEpisode('ram_high') ? 40 : 0),
    );
    const load1 = 0.2 + (cpuTotal / 100) * (0.8 + 0.4 * random()) + (inEpisode('load_high') ? 9 : 0);
    const cpuPercent = Math.min(100, cpuTotal / CORES);
    const days = (at - firstAt) / DAY_MS;
    return {
      takenAt: at,
      memUsedPercent: Math.round(memUsed * 10) / 10,
      memAvailableBytes: Math.round(MEMORY_TOTAL_BYTES * (1 - memUsed / 100)),
      swapUsedPercent: inEpisode('swap_high') ? 62 + random() * 10 : 3 + random(),
      load1: Math.round(load1 * 100) / 100,
      load5: Math.round(load1 * 0.9 * 100) / 100,
      load15: Math.round(load1 * 0.8 * 100) / 100,
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      psiMemSomeAvg10: inEpisode('ram_high') ? 4 + random() * 8 : random() * 0.2,
      psiMemFullAvg10: inEpisode('ram_high') ? random() * 3 : 0,
      psiCpuSomeAvg10: Math.round(cpuPercent * 0.3 * 100) / 100,
      psiIoFullAvg10: random() * 0.5,
      cpuTempCelsius:
        Math.round((42 + cpuPercent * 0.4 + (inEpisode('temperature_high') ? 45 : 0)) * 10) / 10,
      gpuTempCelsius: null,
      disks: { '/': 61.5 + days * 0.1, '/home': 86 + days * 0.9, '/boot/efi': 6.1 },
      processes: records,
    };
  };

  // One transaction per simulated hour (the daemon commits each cycle): what matters here is what ends
  // up in the file. Cycles are 5 s apart from the first snapshot to the last.
  for (let hourAt = firstAt; hourAt <= lastAt; hourAt += HOUR_MS) {
    store.batch(() => {
      for (let at = hourAt; at < hourAt + HOUR_MS && at <= lastAt; at += CYCLE_MS) cycle(at);
    });
    const done = hourAt + HOUR_MS - firstAt;
    if (done % DAY_MS === 0) progress(`  history: day ${done / DAY_MS} of 7 written`);
  }
  const openSizeBytes = store.sizeBytes();
  store.close();
  const closedSizeBytes = store.sizeBytes();
  return {
    snapshots,
    cycles,
    processIdentities: identities.size,
    processesPerSnapshot: processSamples / Math.max(1, snapshots),
    alerts: raised,
    events,
    firingAtEnd: firing.size,
    runs,
    firstSnapshotAt: firstAt,
    lastSnapshotAt: lastAt,
    openSizeBytes,
    closedSizeBytes,
    buildMs: performance.now() - started,
  };
}
