/**
 * The watch section: what `vigil watch --interval 1` costs on a terminal, beside btop and glances (curses
 * mode) refreshing every second, all three started at the same moment in panes of one private tmux server
 * (120×40 each), with ~600 processes alive. After a warm-up the bench reads, for each, /proc/[pid]/stat
 * (CPU, with its children's: nvidia-smi, systemctl) at the start and the end of the window and
 * /proc/[pid]/status (VmRSS) every 2 s. Each pane runs its program through `exec`, so the pane's pid is
 * the program's. btop gets a config of its own (update_ms = 1000) in a temporary XDG_CONFIG_HOME; vigil a
 * temporary config, state and runtime directory, so nothing here touches the user's.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  countProcesses,
  hasProgram,
  median,
  ROOT,
  type Row,
  row,
  type Section,
  type SectionResult,
  VIGIL_BIN,
  withVerdict,
} from './lib.js';
import { CLOCK_TICKS, rssBytes, treeTicks } from './proc.js';
import { Sleepers } from './sleepers.js';

const SECTION = 'watch';
const INTERVAL_SECS = 1;
const WARMUP_MS = 8_000;
const WINDOW_MS = 40_000;
const SAMPLE_EVERY_MS = 2_000;
const TARGET_PROCESSES = 600;
const TARGET_RSS_MB = 120;
const COLUMNS = 120;
const ROWS = 40;
const MB = 1024 * 1024;

interface Pane {
  readonly label: string;
  readonly session: string;
  pid: number | null;
  ticksStart: number | null;
  ticksEnd: number | null;
  readonly rss: number[];
}

class Tmux {
  readonly socket: string;
  constructor(dir: string) {
    this.socket = join(dir, 'tmux.sock');
  }
  run(args: readonly string[], env?: NodeJS.ProcessEnv): string | null {
    const result = spawnSync('tmux', ['-S', this.socket, ...args], {
      encoding: 'utf8',
      timeout: 10_000,
      ...(env ? { env } : {}),
    });
    return result.status === 0 ? result.stdout : null;
  }
  start(session: string, command: string, env: NodeJS.ProcessEnv): number | null {
    const first = this.run(['has-session'], env) === null;
    const args = ['new-session', '-d', '-s', session, '-x', String(COLUMNS), '-y', String(ROWS), command];
    if (this.run(args, env) === null) return null;
    if (first) this.run(['set-option', '-g', 'status', 'off']);
    const pid = Number(this.run(['display-message', '-p', '-t', `${session}:0.0`, '#{pane_pid}'])?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }
  screen(session: string): string {
    return this.run(['capture-pane', '-p', '-t', `${session}:0.0`]) ?? '';
  }
  stop(): void {
    this.run(['kill-server']);
  }
}

async function run(log: (line: string) => void): Promise<SectionResult> {
  const notes: string[] = [];
  if (!hasProgram('tmux', ['-V'])) {
    return {
      rows: [
        row({
          section: SECTION,
          metric: 'vigil watch CPU and RSS',
          vigil: null,
          peer: null,
          peerName: '—',
          target: `RSS ≤ ${TARGET_RSS_MB} MB`,
          unit: 'MB',
          verdict: 'skipped',
          note: 'needs tmux (apt-get install tmux)',
        }),
      ],
      notes,
    };
  }
  const home = mkdtempSync(join(tmpdir(), 'vigil-bench-watch-'));
  const tmux = new Tmux(home);
  const sleepers = new Sleepers();
  try {
    const extra = Math.max(0, TARGET_PROCESSES - countProcesses());
    log(`starting ${extra} sleepers for ~${TARGET_PROCESSES} processes`);
    await sleepers.grow(extra);
    for (const dir of ['config/btop', 'state', 'run']) mkdirSync(join(home, dir), { recursive: true });
    writeFileSync(join(home, 'config/btop/btop.conf'), `update_ms = ${INTERVAL_SECS * 1000}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', LANG: 'C.UTF-8' };
    for (const name of ['CI', 'VIGIL_CONFIG', 'VIGIL_STATE_DIR', 'XDG_RUNTIME_DIR', 'NO_COLOR', 'TMUX'])
      delete env[name];
    Object.assign(env, {
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_STATE_HOME: join(home, 'state'),
      VIGIL_RUNTIME_DIR: join(home, 'run'),
    });

    const contenders: Array<{ label: string; command: string }> = [
      { label: 'vigil watch', command: `exec ${VIGIL_BIN} watch --interval ${INTERVAL_SECS}` },
    ];
    const btop = hasProgram('btop', ['--version']);
    const glances = hasProgram('glances', ['--version']);
    if (btop) contenders.push({ label: 'btop', command: 'exec btop --utf-force' });
    else notes.push('btop is not installed (apt-get install btop)');
    if (glances) contenders.push({ label: 'glances', command: `exec glances -t ${INTERVAL_SECS}` });
    else notes.push('glances is not installed (apt-get install glances)');

    const panes: Pane[] = contenders.map((c, i) => ({
      label: c.label,
      session: `s${i}`,
      pid: tmux.start(`s${i}`, `cd ${ROOT} && ${c.command}`, env),
      ticksStart: null,
      ticksEnd: null,
      rss: [],
    }));
    for (const pane of panes) if (pane.pid === null) notes.push(`${pane.label} did not start in tmux`);
    log(`warming up ${WARMUP_MS / 1000} s, then measuring ${WINDOW_MS / 1000} s`);
    await sleep(WARMUP_MS);
    const vigilScreen = tmux.screen('s0');
    if (!vigilScreen.includes('COMMAND'))
      notes.push(`vigil watch had not drawn its table after the warm-up:\n${vigilScreen}`);
    const startedAt = Date.now();
    for (const pane of panes) pane.ticksStart = pane.pid === null ? null : treeTicks(pane.pid);
    while (Date.now() - startedAt < WINDOW_MS) {
      await sleep(SAMPLE_EVERY_MS);
      for (const pane of panes) {
        const rss = pane.pid === null ? null : rssBytes(pane.pid);
        if (rss !== null) pane.rss.push(rss);
      }
    }
    const secs = (Date.now() - startedAt) / 1000;
    for (const pane of panes) pane.ticksEnd = pane.pid === null ? null : treeTicks(pane.pid);

    const cpuPercent = (p: Pane) =>
      p.ticksStart === null || p.ticksEnd === null
        ? null
        : ((p.ticksEnd - p.ticksStart) / CLOCK_TICKS / secs) * 100;
    const maxRssMb = (p: Pane) => (p.rss.length === 0 ? null : Math.max(...p.rss) / MB);
    const medianRssMb = (p: Pane) => (p.rss.length === 0 ? null : median(p.rss) / MB);
    const vigil = panes[0]!;
    const procs = `~${countProcesses()} processes`;
    const rows: Row[] = [];
    const peers = panes.slice(1);
    for (const peer of peers.length > 0 ? peers : [null]) {
      const peerName = peer ? `${peer.label} (${INTERVAL_SECS} s refresh, ${COLUMNS}×${ROWS})` : '—';
      const cpu = row({
        section: SECTION,
        metric: `CPU, % of one core, ${INTERVAL_SECS} s refresh, ${procs}`,
        vigil: cpuPercent(vigil),
        peer: peer ? cpuPercent(peer) : null,
        peerName,
        target: peer ? '≤ 1.00× (at or below the peer)' : '—',
        unit: '%',
      });
      rows.push(peer ? withVerdict(cpu, cpu.ratio, 1) : cpu);
      rows.push(
        row({
          section: SECTION,
          metric: 'RSS median',
          vigil: medianRssMb(vigil),
          peer: peer ? medianRssMb(peer) : null,
          peerName,
          target: '—',
          unit: 'MB',
        }),
      );
    }
    rows.push(
      withVerdict(
        row({
          section: SECTION,
          metric: 'RSS max over the window',
          vigil: maxRssMb(vigil),
          peer: null,
          peerName: '—',
          target: `≤ ${TARGET_RSS_MB} MB`,
          unit: 'MB',
        }),
        maxRssMb(vigil),
        TARGET_RSS_MB,
      ),
    );
    return { rows, notes };
  } finally {
    tmux.stop();
    await sleepers.stopAndReap();
    rmSync(home, { recursive: true, force: true });
  }
}

export const watchSection: Section = {
  name: SECTION,
  description: `vigil watch --interval ${INTERVAL_SECS} vs btop and glances (curses) in ${COLUMNS}×${ROWS} tmux panes at ~${TARGET_PROCESSES} processes: CPU, RSS`,
  run,
};
