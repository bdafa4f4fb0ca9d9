import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { killAll, memTotalBytes, spawnOrphanedStorm, stateOf, waitUntil } from '../helpers/procs.js';
import { fixturePath } from '../helpers/samples.js';
import { hasTmux, TmuxPane } from '../helpers/tmux.js';

describe('vigil status on the live machine', () => {
  it('prints a readable report without colour codes when piped', () => {
    const run = runVigil(['status', '--sample', '200']);
    assert.equal(run.status, 0, run.stderr);
    for (const heading of ['vigil ·', 'CPU', 'Mem', 'Top 10 by CPU', 'Top 10 by memory']) {
      assert.ok(run.stdout.includes(heading), `missing "${heading}" in:\n${run.stdout}`);
    }
    assert.equal(
      run.stdout.includes(`${String.fromCharCode(27)}[`),
      false,
      'no ANSI escapes when NO_COLOR is set and stdout is a pipe',
    );
    // The process count line names as many processes as /proc holds (give or take those born meanwhile).
    const count = Number(run.stdout.match(/^ {2}(\d+) processes/m)?.[1]);
    const inProc = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
    assert.ok(Math.abs(count - inProc) <= 20, `${count} processes listed, ${inProc} in /proc`);
  });

  it('prints one JSON object with the documented fields and types', () => {
    const run = runVigil(['status', '--json', '--sample', '200']);
    assert.equal(run.status, 0, run.stderr);
    const s = JSON.parse(run.stdout);
    const me = s.processes.find((p: { pid: number }) => p.pid === process.pid);
    assert.ok(me, 'the test runner itself is in the process table');
    for (const key of [
      'pid',
      'ppid',
      'pgid',
      'state',
      'comm',
      'cmdline',
      'uid',
      'user',
      'startTime',
      'rssBytes',
      'cpuPercent',
      'gpuMemoryBytes',
    ]) {
      assert.ok(key in me, `processes[].${key}`);
    }
    assert.equal(typeof me.cpuPercent, 'number', 'two samples give every process a CPU %');
    assert.ok(
      Math.abs(me.startTime - (Date.now() - process.uptime() * 1000)) < 5000,
      'startTime is wall-clock ms',
    );
    for (const key of [
      'totalBytes',
      'availableBytes',
      'usedPercent',
      'swapTotalBytes',
      'swapUsedBytes',
      'pressure',
    ]) {
      assert.ok(key in s.memory, `memory.${key}`);
    }
    assert.equal(s.cpu.load.length, 3);
    assert.equal(typeof s.cpu.usagePercent, 'number');
    assert.equal(s.cpu.perCore.length, s.cpu.cores);
    assert.ok(Array.isArray(s.disks) && s.disks.length > 0, 'at least the root file system');
    for (const key of [
      'mount',
      'device',
      'fsType',
      'totalBytes',
      'availableBytes',
      'usedPercent',
      'inodesUsedPercent',
    ]) {
      assert.ok(key in s.disks[0], `disks[].${key}`);
    }
    assert.ok(Array.isArray(s.network));
    const names = s.collectors.map((c: { name: string }) => c.name).sort();
    assert.deepEqual(names, [
      'cpu',
      'disks',
      'gpu',
      'journal',
      'memory',
      'network',
      'processes',
      'thermal',
      'units',
    ]);
    for (const c of s.collectors) {
      assert.deepEqual(Object.keys(c).slice(0, 5).sort(), [
        'durationMs',
        'error',
        'name',
        'ok',
        'unsupported',
      ]);
    }
  });

  it('says a GPU is unsupported, not failing, when nvidia-smi is not installed', () => {
    const run = runVigil(['status', '--json', '--sample', '0', '--nvidia-smi', '/nonexistent/nvidia-smi']);
    const gpu = JSON.parse(run.stdout).collectors.find((c: { name: string }) => c.name === 'gpu');
    assert.equal(gpu.ok, true);
    assert.match(gpu.unsupported, /nvidia-smi/);
  });
});

describe('vigil status piped, with COLUMNS and --wide', () => {
  // A process with a command line far longer than any terminal: the row is found by its marker.
  const marker = `vigil-wide-${'x'.repeat(300)}-end`;
  let child: ChildProcess;
  before(() => {
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', marker], { stdio: 'ignore' });
  });
  after(() => child.kill('SIGKILL'));
  /** The process table rows of the test's process, as `vigil status` lists every process. */
  const rowsOf = (args: string[], env: NodeJS.ProcessEnv) => {
    const run = runVigil(['status', '--sample', '0', '--top', '100000', ...args], env);
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout
      .split('\n')
      .filter((line) => line.startsWith(`  ${String(child.pid).padStart(7)} `));
    assert.equal(rows.length, 2, `one row by CPU and one by memory in:\n${run.stdout}`);
    return rows;
  };

  it('takes its width from COLUMNS when piped, as ps does', () => {
    for (const row of rowsOf([], { COLUMNS: '250' })) {
      assert.equal([...row].length, 250, row);
      assert.match(row, /node -e setInterval.* vigil-wide-x+…$/);
    }
    for (const row of rowsOf([], { COLUMNS: '80' })) assert.equal([...row].length, 80, row);
  });

  it('with --wide, prints the whole command line uncut, whatever COLUMNS says', () => {
    for (const row of rowsOf(['--wide'], { COLUMNS: '80' }))
      assert.ok(row.endsWith(` ${process.execPath} -e setInterval(() => {}, 1e6) ${marker}`), row);
  });
});

describe('vigil status when called wrongly or fed broken files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
    cpSync(fixturePath('proc'), join(dir, 'proc'), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2 naming the option when a root directory does not exist', () => {
    const run = runVigil(['status', '--procfs', '/nonexistent/proc']);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--procfs \/nonexistent\/proc: no such directory/);
  });

  it('exits 2 on an unknown option or a bad value', () => {
    assert.equal(runVigil(['status', '--frobnicate']).status, 2);
    const bad = runVigil(['status', '--sample', 'soon']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /milliseconds/);
  });

  it('reports a garbled meminfo as one failing collector and still shows the rest', () => {
    writeFileSync(join(dir, 'proc/meminfo'), 'this is not meminfo\n');
    const run = runVigil([
      'status',
      '--sample',
      '0',
      '--procfs',
      join(dir, 'proc'),
      '--sysfs',
      fixturePath('sys'),
      '--rootfs',
      fixturePath('root'),
      '--nvidia-smi',
      '/nonexistent/nvidia-smi',
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Collectors failing: memory \(cannot read .*meminfo: no MemTotal line\)/);
    assert.match(run.stdout, /Top 10 by CPU/);
    assert.match(run.stdout, /Skipped \d+ unreadable item\(s\): processes: .*4242\/stat/);
  });
});

describe('vigil status in a real terminal (tmux, 100×40)', () => {
  let home = '';
  let storm: number[] = [];
  let pane: TmuxPane | null = null;
  after(() => {
    pane?.close();
    killAll(storm);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('fits the terminal: the findings at the top are still on screen above the prompt', async (t) => {
    if (!hasTmux()) return t.skip('needs tmux (Debian package tmux)');
    home = mkdtempSync(join(tmpdir(), 'vigil-status-tty-'));
    mkdirSync(join(home, 'config', 'vigil'), { recursive: true });
    // Eight orphaned servers holding a share of RAM above a low threshold: a ghost storm, judged here.
    const share = ((8 * 4 * 2 ** 20) / memTotalBytes()) * 100;
    writeFileSync(
      join(home, 'config', 'vigil', 'config.toml'),
      `[thresholds]\nghost_storm_min_ram_percent = ${(share / 4).toFixed(4)}\n`,
    );
    storm = spawnOrphanedStorm(8, 4);
    await waitUntil(() => storm.every((pid) => stateOf(pid) !== null), 'the storm');
    pane = new TmuxPane(100, 40, {
      ...process.env,
      NO_COLOR: '1',
      XDG_CONFIG_HOME: join(home, 'config'),
      VIGIL_STATE_DIR: join(home, 'state'),
      VIGIL_RUNTIME_DIR: join(home, 'run'),
    });
    await pane.waitFor(/^PROMPT\$ ?$/m, 'the shell prompt');
    pane.type(`${process.execPath} ${VIGIL_BIN} status --sample 200`, true);
    const screen = await pane.waitFor(
      (text) => text.includes(' processes') && /\nPROMPT\$ ?\s*$/.test(text),
      'the status and the prompt after it',
    );
    assert.match(screen, /^HIGH +ghost_process_storm: ⚠️ 8 identical python3 mcp_server_fake/m);
    assert.match(screen, /^vigil · /m, `the title line is still on screen:\n${screen}`);
    assert.match(screen, /KIND +COMMAND/);
  });
});
