import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import { WatchApp, type WatchAppProps } from '../../src/watch/App.js';
import { adviceText, explainRow } from '../../src/watch/explain.js';
import {
  type AlertView,
  compareRows,
  filterRows,
  groupRows,
  handleKey,
  initialUiState,
  type ProcInfo,
  type ProcRow,
  processRows,
  scrollFor,
  sortRows,
  tableColumns,
  treeRows,
  type UiState,
  visibleRows,
  type WatchFrame,
} from '../../src/watch/model.js';
import { buildScreen, lineText, meter, rowText } from '../../src/watch/screen.js';
import { StaticSource } from '../../src/watch/source.js';

const ESC = String.fromCharCode(27);
const NOW = Date.parse('2026-05-01T12:00:00Z');

function proc(pid: number, ppid: number, cmdline: string, extra: Partial<ProcessSample> = {}): ProcessSample {
  const argv = cmdline.split(' ');
  return {
    pid,
    ppid,
    pgid: pid,
    sid: pid,
    state: 'S',
    comm: (argv[0] ?? '').split('/').pop()!.slice(0, 15),
    cmdline,
    argv,
    uid: 1000,
    user: 'dev',
    startTime: NOW - 60_000,
    startTicks: pid * 10,
    threads: 1,
    rssBytes: 10 * 2 ** 20,
    swapBytes: 0,
    virtualBytes: 100 * 2 ** 20,
    nice: 0,
    cpuPercent: 0,
    cpuSeconds: 1,
    cgroup: null,
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
    ...extra,
  };
}

/** A desk: a shell running an editor, an agent whose three MCP servers were orphaned, a busy build. */
function desk(): { frame: WatchFrame; processes: ProcessSample[] } {
  const storm = 'python3 /home/dev/mcp_server_fetch.py --port <port>';
  const processes = [
    proc(1, 0, '/sbin/init', { user: 'root', uid: 0, startTime: NOW - 86_400_000 }),
    proc(100, 1, 'bash', { startTime: NOW - 7_200_000 }),
    proc(200, 100, 'nvim notes.md', { cpuPercent: 1, rssBytes: 40 * 2 ** 20 }),
    proc(300, 100, 'make -j8', { cpuPercent: 5 }),
    proc(301, 300, 'cc -O2 big.c', { cpuPercent: 95, rssBytes: 300 * 2 ** 20, state: 'R' }),
    proc(401, 1, 'python3 /home/dev/mcp_server_fetch.py --port 41000', { startTime: NOW - 3_600_000 }),
    proc(402, 1, 'python3 /home/dev/mcp_server_fetch.py --port 41001', { startTime: NOW - 3_500_000 }),
    proc(403, 1, 'python3 /home/dev/mcp_server_fetch.py --port 41002', { startTime: NOW - 3_400_000 }),
    proc(2, 0, '', { comm: 'kthreadd', kernelThread: true, argv: [] }),
  ];
  const info = new Map<number, ProcInfo>();
  for (const p of processes) {
    const mcp = p.cmdline.includes('mcp_server');
    info.set(p.pid, {
      kind: mcp ? 'mcp-server' : p.comm === 'nvim' ? 'editor' : null,
      orphan: mcp,
      originalParent: mcp ? 'claude (pid 390)' : null,
      group: mcp ? storm : p.cmdline,
    });
  }
  const alerts: AlertView[] = [
    {
      id: null,
      fingerprint: 'ghost-storm|1000|storm',
      rule: 'ghost-storm',
      severity: 'high',
      summary: '3 identical orphaned python3 mcp_server_fetch processes',
      pids: [401, 402, 403],
      since: NOW - 60_000,
      advice: null,
    },
  ];
  const snapshot: Snapshot = {
    takenAt: NOW,
    host: { hostname: 'desk', kernel: '6.8.0', uptimeSecs: 90_000 },
    processes,
    cpu: {
      cores: 2,
      load: [1.5, 1.2, 0.9],
      runnable: 2,
      tasks: 9,
      usagePercent: 55,
      iowaitPercent: 0,
      perCore: [
        { name: 'cpu0', usagePercent: 97, frequencyMhz: null },
        { name: 'cpu1', usagePercent: 13, frequencyMhz: null },
      ],
      pressure: null,
      bootTime: NOW - 90_000_000,
    },
    collectors: [],
  };
  return {
    processes,
    frame: {
      snapshot,
      info,
      alerts,
      alertsFrom: 'local',
      daemon: { running: false, pid: null, mode: null, fresh: false },
      mode: 'observe',
      notes: [],
    },
  };
}

const pids = (rows: readonly ProcRow[]) => rows.map((r) => r.pid);

describe('watch view-model: rows', () => {
  it('lists every user process with its kind, marks orphans and the rows in a finding, leaves kernel threads out', () => {
    const rows = processRows(desk().frame);
    assert.deepEqual(
      pids(rows).sort((a, b) => a - b),
      [1, 100, 200, 300, 301, 401, 402, 403],
    );
    const mcp = rows.find((r) => r.pid === 401)!;
    assert.equal(mcp.kind, 'mcp-server·orphan');
    assert.equal(mcp.severity, 'high');
    assert.equal(rows.find((r) => r.pid === 200)!.kind, 'editor');
    assert.equal(rows.find((r) => r.pid === 200)!.severity, null);
    assert.equal(rows.find((r) => r.pid === 100)!.ageSecs, 7200);
  });

  it('sorts by cpu, memory, pid, age and name, and reverses', () => {
    const rows = processRows(desk().frame);
    assert.equal(sortRows(rows, 'cpu')[0]!.pid, 301);
    assert.equal(sortRows(rows, 'mem')[0]!.pid, 301);
    assert.deepEqual(pids(sortRows(rows, 'pid')).slice(0, 3), [1, 100, 200]);
    assert.equal(sortRows(rows, 'age')[0]!.pid, 1, 'oldest first');
    assert.equal(sortRows(rows, 'name')[0]!.name, 'bash');
    assert.equal(sortRows(rows, 'pid', true)[0]!.pid, 403);
  });

  it('filters by cmdline, ignoring case, and by pid', () => {
    const rows = processRows(desk().frame);
    assert.deepEqual(pids(filterRows(rows, 'MCP_server')).sort(), [401, 402, 403]);
    assert.deepEqual(pids(filterRows(rows, '301')), [301]);
    assert.equal(filterRows(rows, '').length, rows.length);
    assert.equal(filterRows(rows, 'no such thing').length, 0);
  });

  it('groups a ghost storm into one line counted ×3, with memory summed and the oldest pid', () => {
    const grouped = groupRows(processRows(desk().frame));
    const storm = grouped.find((r) => r.count > 1)!;
    assert.equal(storm.count, 3);
    assert.equal(storm.pid, 401);
    assert.equal(storm.rssBytes, 30 * 2 ** 20);
    assert.equal(storm.severity, 'high');
    assert.deepEqual(
      storm.members.map((m) => m.pid),
      [401, 402, 403],
    );
    assert.equal(grouped.length, 6);
    assert.match(rowText(storm, tableColumns(120)), /×3 python3 …\/mcp_server_fetch\.py --port <port>/);
  });

  it('draws the tree by parent: children under their parent, siblings in sort order', () => {
    const tree = treeRows(processRows(desk().frame), compareRows('pid'));
    assert.deepEqual(pids(tree), [1, 100, 200, 300, 301, 401, 402, 403]);
    const text = tree.map((r) => `${r.prefix}${r.name}`);
    assert.deepEqual(text.slice(0, 5), ['init', '├─ bash', '│  ├─ nvim', '│  └─ make', '│     └─ cc']);
    assert.equal(text[7], '└─ python3');
  });

  it('filters before grouping or drawing the tree', () => {
    const rows = processRows(desk().frame);
    const view = { sort: 'cpu' as const, reverse: false, filter: 'mcp', mode: 'group' as const };
    assert.equal(visibleRows(rows, view).length, 1);
    assert.deepEqual(pids(visibleRows(rows, { ...view, mode: 'tree' })), [401, 402, 403]);
  });

  it('draws bars with the filled share coloured by level', () => {
    const [filled, empty] = meter(75, 8);
    assert.equal(filled!.text, '██████');
    assert.equal(empty!.text, '░░');
    assert.equal(filled!.color, 'green');
    assert.equal(meter(95, 8)[0]!.color, 'red');
    assert.equal(meter(null, 8)[0]!.text, '');
  });

  it('drops columns on a narrow terminal before the command gets too short', () => {
    const wide = tableColumns(160).map((c) => c.id);
    assert.deepEqual(wide, ['mark', 'pid', 'user', 'kind', 'cpu', 'mem', 'state', 'age', 'command']);
    const narrow = tableColumns(80);
    assert.ok(!narrow.some((c) => c.id === 'state'));
    assert.ok(!narrow.some((c) => c.id === 'user'), 'a one-person workstation can spare the user first');
    assert.ok(narrow.at(-1)!.width >= 30);
    assert.equal(narrow.reduce((sum, c) => sum + c.width + 1, 0) - 1, 80, 'the row fills the width exactly');
    assert.ok(tableColumns(60).some((c) => c.id === 'cpu'));
  });

  it('keeps the selection visible while scrolling as little as possible', () => {
    assert.equal(scrollFor(0, 0, 10, 100), 0);
    assert.equal(scrollFor(15, 0, 10, 100), 6);
    assert.equal(scrollFor(8, 6, 10, 100), 6);
    assert.equal(scrollFor(3, 6, 10, 100), 3);
    assert.equal(scrollFor(5, 4, 10, 8), 0);
  });
});

describe('watch view-model: keys', () => {
  const rows = sortRows(processRows(desk().frame), 'cpu');
  const press = (state: UiState, input: string, key = {}) => handleKey(state, input, key, rows, 5, 1);

  it('moves the selection with arrows, pages, Home and End, and follows the process, not the line', () => {
    let s = initialUiState();
    s = press(s, '', { downArrow: true }).state;
    assert.equal(s.selectedKey, rows[1]!.key);
    s = press(s, '', { pageDown: true }).state;
    assert.equal(s.selectedIndex, 6);
    s = press(s, '', { end: true }).state;
    assert.equal(s.selectedIndex, rows.length - 1);
    s = press(s, '', { home: true }).state;
    assert.equal(s.selectedKey, rows[0]!.key);
    s = press(s, '', { upArrow: true }).state;
    assert.equal(s.selectedIndex, 0, 'stops at the top');
  });

  it('cycles the sort column with s and reverses with r', () => {
    let s = initialUiState();
    const seen = [s.sort];
    for (let i = 0; i < 5; i++) {
      s = press(s, 's').state;
      seen.push(s.sort);
    }
    assert.deepEqual(seen, ['cpu', 'mem', 'pid', 'age', 'name', 'cpu']);
    assert.equal(press(s, 'r').state.reverse, true);
  });

  it('types a filter after / or f, keeps it on Enter and clears it on Esc', () => {
    let s = press(initialUiState(), '/').state;
    assert.equal(s.editingFilter, true);
    for (const ch of 'mcpx') s = press(s, ch).state;
    s = press(s, '', { backspace: true }).state;
    assert.equal(s.filter, 'mcp');
    assert.equal(press(s, 'q').state.filter, 'mcpq', 'q is text while typing, not quit');
    const kept = press(s, '', { return: true }).state;
    assert.equal(kept.editingFilter, false);
    assert.equal(kept.filter, 'mcp');
    assert.equal(press(press(initialUiState(), 'f').state, '', { escape: true }).state.filter, '');
  });

  it('toggles tree and grouping, each replacing the other', () => {
    let s = press(initialUiState(), 't').state;
    assert.equal(s.mode, 'tree');
    s = press(s, 'g').state;
    assert.equal(s.mode, 'group');
    assert.equal(press(s, 'g').state.mode, 'list');
  });

  it('asks before a kill: y kills the selected row, n cancels', () => {
    const asking = press(initialUiState(), 'k').state;
    assert.equal(asking.dialog?.type, 'kill');
    const yes = press(asking, 'y');
    assert.equal(yes.effect?.type, 'kill');
    assert.equal(yes.effect?.type === 'kill' && yes.effect.row.pid, rows[0]!.pid);
    const no = press(asking, 'n');
    assert.equal(no.effect, undefined);
    assert.equal(no.state.dialog, null);
    assert.equal(no.state.message, 'kill cancelled');
  });

  it('toggles panels with 1–5, pauses with p, opens help with ?, quits with q and Ctrl-C', () => {
    const s = initialUiState();
    assert.equal(press(s, '1').state.panels.cpu, false);
    assert.equal(press(s, '5').state.panels.alerts, false);
    assert.equal(press(s, 'p').state.paused, true);
    assert.equal(press(s, '?').state.dialog?.type, 'help');
    assert.equal(press(s, 'q').effect?.type, 'quit');
    assert.equal(press(s, 'c', { ctrl: true }).effect?.type, 'quit');
    assert.equal(press(s, 'e').effect?.type, 'explain');
    assert.equal(press(s, 'a').state.focus, 'alerts');
  });
});

describe('watch view-model: screen and explanation', () => {
  it('fits an 80×24 terminal: 23 lines, none wider than 80, header, panels, table and status line', () => {
    const { frame } = desk();
    const rows = visibleRows(processRows(frame), { sort: 'cpu', reverse: false, filter: '', mode: 'list' });
    const screen = buildScreen(frame, initialUiState(), rows, { columns: 80, rows: 24 });
    assert.equal(screen.lines.length, 23);
    const text = screen.lines.map(lineText);
    for (const line of text) assert.ok([...line].length <= 80, line);
    assert.match(text[0]!, /^vigil · desk · mode observe · daemon off · alerts crit 0 high 1 med 0 low 0$/);
    assert.ok(text.some((l) => /HIGH ghost-storm: 3 identical orphaned/.test(l)));
    assert.ok(text.some((l) => /^ +PID +KIND +CPU%/.test(l)));
    assert.match(text.at(-1)!, /sort cpu ▼ · list · 8 processes/);
    const storm = text.find((l) => /^. +401 /.test(l))!;
    assert.ok(storm.startsWith('!'), 'a row in a finding is marked without colour');
  });

  it('shows memory, swap and pressure, GPUs with the processes holding VRAM, disks and network rates', () => {
    const { frame } = desk();
    const psi = (avg10: number) => ({ avg10, avg60: 0, avg300: 0, totalMicros: 0 });
    const GiB = 2 ** 30;
    const rich: WatchFrame = {
      ...frame,
      snapshot: {
        ...frame.snapshot,
        memory: {
          totalBytes: 16 * GiB,
          availableBytes: 4 * GiB,
          availableEstimated: false,
          freeBytes: GiB,
          buffersBytes: 0,
          cachedBytes: 0,
          usedPercent: 75,
          swapTotalBytes: 2 * GiB,
          swapFreeBytes: GiB,
          swapUsedBytes: GiB,
          swapUsedPercent: 50,
          pressure: { some: psi(12.5), full: psi(3) },
        },
        gpus: [
          {
            index: 0,
            uuid: 'GPU-1',
            name: 'NVIDIA GeForce RTX 4090',
            temperatureCelsius: 83,
            utilizationPercent: 97,
            memoryUtilizationPercent: 40,
            memoryUsedBytes: 20 * GiB,
            memoryTotalBytes: 24 * GiB,
            powerWatts: 410,
            powerLimitWatts: 450,
            fanPercent: 80,
          },
        ],
        gpuProcesses: [{ gpuUuid: 'GPU-1', pid: 301, name: '/usr/bin/python3', usedMemoryBytes: 18 * GiB }],
        disks: [
          {
            mount: '/home',
            device: '/dev/nvme0n1p2',
            fsType: 'ext4',
            totalBytes: 500 * GiB,
            availableBytes: 25 * GiB,
            usedPercent: 95,
            inodesUsedPercent: 10,
            io: {
              name: 'nvme0n1p2',
              readBytesPerSec: 2 * 2 ** 20,
              writeBytesPerSec: 0,
              utilizationPercent: 3,
              awaitMs: 1,
            },
          },
        ],
        network: [
          {
            name: 'lo',
            rxBytes: 0,
            txBytes: 0,
            rxBytesPerSec: 9,
            txBytesPerSec: 9,
            rxErrors: 0,
            txErrors: 0,
            rxDrops: 0,
            txDrops: 0,
          },
          {
            name: 'wlan0',
            rxBytes: 0,
            txBytes: 0,
            rxBytesPerSec: 1536,
            txBytesPerSec: 0,
            rxErrors: 0,
            txErrors: 0,
            rxDrops: 0,
            txDrops: 0,
          },
        ],
      },
    };
    const rows = processRows(rich);
    const text = buildScreen(rich, initialUiState(), rows, { columns: 140, rows: 50 })
      .lines.map(lineText)
      .join('\n');
    assert.match(
      text,
      /^Mem +█{15}░{5} {2}75% {2}12 GiB \/ 16 GiB, 4\.0 GiB available {3}Swap █{5}░{5} 50% 1\.0 GiB \/ 2\.0 GiB$/m,
    );
    assert.match(text, /^PSI {2}memory some 12\.5% full 3\.0%/m);
    assert.match(
      text,
      /^GPU0 NVIDIA GeForce RTX 4090 +util █+░* +97% {2}VRAM █+░* 20 GiB \/ 24 GiB {2}83°C {2}410 W$/m,
    );
    assert.match(text, /^ +python3 \(301\) 18 GiB$/m);
    assert.match(text, /^Disk \/home +█+░* +95% 25 GiB free r 2\.0 MiB\/s w 0 B\/s/m);
    assert.match(text, /^Net {2}wlan0 ↓1\.5 KiB\/s ↑0 B\/s/m);
    assert.doesNotMatch(text, /\blo ↓/, 'loopback is left out');
    const without = {
      ...initialUiState(),
      panels: { cpu: true, memory: true, gpu: false, io: false, alerts: true },
    };
    const hidden = buildScreen(rich, without, rows, { columns: 140, rows: 50 })
      .lines.map(lineText)
      .join('\n');
    assert.doesNotMatch(hidden, /^GPU0|^Disk|^Net/m, 'keys 3 and 4 hide the GPU and disk-and-network panels');
  });

  it('at 80×24 drops whole items from a full line, never cutting one mid-word (PSI, swap, TCP)', () => {
    const { frame } = desk();
    const psi = (avg10: number) => ({ avg10, avg60: 0, avg300: 0, totalMicros: 0 });
    const GiB = 2 ** 30;
    const iface = (name: string) => ({
      name,
      rxBytes: 0,
      txBytes: 0,
      rxBytesPerSec: 123_456,
      txBytesPerSec: 65_432,
      rxErrors: 0,
      txErrors: 0,
      rxDrops: 0,
      txDrops: 0,
    });
    const busy: WatchFrame = {
      ...frame,
      snapshot: {
        ...frame.snapshot,
        cpu: {
          ...frame.snapshot.cpu!,
          load: [10.25, 9.5, 8.75],
          pressure: { some: psi(37.4), full: psi(12.3) },
        },
        temperatures: [
          {
            chip: 'coretemp',
            label: 'Package id 0',
            tempCelsius: 71,
            maxCelsius: null,
            critCelsius: null,
            source: 'hwmon',
            path: '/sys/class/hwmon/hwmon1',
            input: 'temp1',
          },
        ],
        memory: {
          totalBytes: 16 * GiB,
          availableBytes: 4 * GiB,
          availableEstimated: false,
          freeBytes: GiB,
          buffersBytes: 0,
          cachedBytes: 0,
          usedPercent: 75,
          swapTotalBytes: 2 * GiB,
          swapFreeBytes: GiB,
          swapUsedBytes: GiB,
          swapUsedPercent: 50,
          pressure: { some: psi(37.4), full: psi(12.3) },
        },
        ioPressure: { some: psi(21.5), full: psi(20.1) },
        network: [iface('enp3s0'), iface('wlp2s0'), iface('docker0'), iface('tailscale0')],
        tcp: { ESTABLISHED: 0 },
      },
    };
    const rows = processRows(busy);
    const text = buildScreen(busy, initialUiState(), rows, { columns: 80, rows: 24 }).lines.map(lineText);
    for (const line of text) assert.ok([...line].length <= 80, line);
    const whole: Array<[RegExp, RegExp]> = [
      [/PSI some/, /PSI some 37\.4% full 12\.3%/],
      [/TCP/, /TCP 0 established/],
      [/Swap/, /Swap [█░]+ 50% 1\.0 GiB \/ 2\.0 GiB/],
      [/ io /, /io some 21\.5% full 20\.1%/],
      [/tailscale/, /tailscale0 ↓\S+ \S+ ↑\S+ \S+/],
    ];
    for (const line of text)
      for (const [seen, entire] of whole)
        if (seen.test(line)) assert.match(line, entire, `an item cut short in: ${JSON.stringify(line)}`);
    assert.match(text.join('\n'), /^CPU .* load 10\.25 9\.50 8\.75/m, 'what fits stays');
    assert.match(text.join('\n'), /^Net {2}enp3s0 /m);
  });

  it('at 80×24 drops an empty KIND column before USER, and narrows KIND to its longest value', () => {
    const { frame } = desk();
    const plain: WatchFrame = { ...frame, info: new Map() };
    const header = (f: WatchFrame) =>
      buildScreen(f, initialUiState(), processRows(f), { columns: 80, rows: 24 })
        .lines.map(lineText)
        .find((l) => /\bPID\b/.test(l))!;
    const noKinds = header(plain);
    assert.match(noKinds, /\bUSER\b/, 'the user stays when no process has a kind');
    assert.doesNotMatch(noKinds, /\bKIND\b/, 'a column with nothing in it goes first');
    assert.match(noKinds, /\bAGE\b/);
    const short: WatchFrame = {
      ...frame,
      info: new Map([[301, { kind: 'build', orphan: false, originalParent: null, group: 'cc' }]]),
    };
    assert.match(header(short), /\bUSER +KIND +CPU%/, 'KIND is as wide as "build", so USER fits beside it');
  });

  it('at 60×15 keeps the alerts and drops the per-core bars first (alerts are the last panel to go)', () => {
    const { frame } = desk();
    const text = buildScreen(frame, initialUiState(), processRows(frame), { columns: 60, rows: 15 })
      .lines.map(lineText)
      .join('\n');
    assert.match(text, /HIGH ghost-storm: 3 identical/);
    assert.match(text, /^CPU /m, 'the CPU summary stays');
    assert.doesNotMatch(text, /^ +0 [█░]/m, 'the per-core bars go before the alerts');
    assert.match(text, /^ +PID /m, 'the process table keeps its place');
  });

  it('says on the line above the status bar what is not working (a rule file, the database)', () => {
    const { frame } = desk();
    const troubled = {
      ...frame,
      notes: ['rules/my.toml:3: when: unknown variable foo', 'cannot read vigil.db'],
    };
    const screen = buildScreen(troubled, initialUiState(), processRows(troubled), { columns: 100, rows: 30 });
    const text = screen.lines.map(lineText);
    assert.equal(text.length, 29);
    assert.equal(text.at(-2), 'rules/my.toml:3: when: unknown variable foo (+1 more)');
    assert.match(text.at(-1)!, /^sort cpu/);
  });

  it('browses the alerts with a and shows the stored advice of the selected one', () => {
    const { frame } = desk();
    const advised: WatchFrame = {
      ...frame,
      alerts: [
        {
          ...frame.alerts[0]!,
          id: 7,
          advice: 'The agent that started them exited.\n→ stop them (vigil fix 7)',
        },
      ],
      alertsFrom: 'daemon',
    };
    const rows = processRows(advised);
    const ui = handleKey(initialUiState(), 'a', {}, rows, 10, 1).state;
    assert.equal(ui.focus, 'alerts');
    const text = buildScreen(advised, ui, rows, { columns: 120, rows: 40 }).lines.map(lineText).join('\n');
    assert.match(text, /Alerts 1 firing \(from the daemon\)/);
    assert.match(text, /HIGH #7 ghost-storm: 3 identical/);
    assert.match(text, /│ The agent that started them exited\.\n +│ → stop them \(vigil fix 7\)/);
  });

  it('explains a process at once: kind, user, age, state, cmdline, lineage, orphanhood and findings', () => {
    const { frame } = desk();
    const row = processRows(frame).find((r) => r.pid === 402)!;
    const text = explainRow(frame, row).join('\n');
    assert.match(text, /pid 402 python3 — an MCP server, user dev, up 58m 20s, sleeping/);
    assert.match(text, /, 1 thread\b/);
    assert.match(text, /lineage: python3 \(402\) ← init \(1\)/);
    assert.match(text, /orphaned: its parent \(claude \(pid 390\)\) exited/);
    assert.match(text, /finding: HIGH ghost-storm/);
  });

  it('counts in words a person would use: 1 thread, 1 child, 2 children, an editor, a build tool', () => {
    const { frame } = desk();
    const rows = processRows(frame);
    const explain = (pid: number) => explainRow(frame, rows.find((r) => r.pid === pid)!).join('\n');
    assert.match(explain(300), /^1 child: cc \(301\)$/m);
    assert.match(explain(100), /^2 children: nvim \(200\), make \(300\)$/m);
    assert.match(explain(200), /— an editor,/);
    const threaded: WatchFrame = {
      ...frame,
      snapshot: {
        ...frame.snapshot,
        processes: frame.snapshot.processes!.map((p) => (p.pid === 301 ? { ...p, threads: 8 } : p)),
      },
      info: new Map([
        ...frame.info,
        [301, { kind: 'build', orphan: false, originalParent: null, group: 'cc' }],
      ]),
    };
    const cc = explainRow(threaded, processRows(threaded).find((r) => r.pid === 301)!).join('\n');
    assert.match(cc, /— a build tool,/);
    assert.match(cc, /, 8 threads\b/);
  });

  it('shows the advisor’s stored JSON answer as text', () => {
    const text = adviceText(
      JSON.stringify({
        diagnostic: 'An agent died and left its servers.',
        severity: 'high',
        actions: [{ type: 'kill_matching', command: 'vigil fix 3', explanation: 'stop the orphans' }],
        prevention: 'update the agent',
      }),
    );
    assert.equal(
      text,
      'An agent died and left its servers.\n→ stop the orphans (vigil fix 3)\nprevention: update the agent',
    );
    assert.equal(adviceText('plain words'), 'plain words');
  });

  it('writes out the escape sequences an advice stored before vigil cleaned it may hold', () => {
    const text = adviceText(
      JSON.stringify({
        diagnostic:
          'clear \u001b[2J title \u001b]0;pwned\u0007 clipboard \u001b]52;c;ZXZpbA==\u0007 \u202eevil',
        actions: [],
      }),
    );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    assert.match(text, /clear \\e\[2J title \\e\]0;pwned\\x07/);
  });
});

describe('watch dashboard (ink)', () => {
  const size = { columns: 100, rows: 40 }; // ink-testing-library's stdout is 100 columns wide

  async function until(check: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  function mount(props: Partial<WatchAppProps> = {}) {
    const source = new StaticSource(desk().frame);
    const app = render(createElement(WatchApp, { source, color: false, size, ...props }));
    const frame = () => stripVTControlCharacters(app.lastFrame() ?? '');
    const press = async (keys: string, expect: RegExp) => {
      app.stdin.write(keys);
      await until(() => expect.test(frame()), `${JSON.stringify(keys)} to show ${expect}`);
    };
    return { app, source, frame, press };
  }

  /** The table's data rows, top to bottom, as pids. */
  const tablePids = (text: string) =>
    text
      .split('\n')
      .map((l) => /^[!* ] +(\d+) +(dev|root) /.exec(l)?.[1])
      .filter((pid): pid is string => pid !== undefined)
      .map(Number);

  it('shows the header, the CPU, the alert and the table with the finding’s rows marked', async () => {
    const { app, frame } = mount();
    await until(() => frame().includes('COMMAND'), 'the first frame');
    const text = frame();
    assert.match(text, /vigil · desk · up 1d 1h · mode observe · daemon off · alerts crit 0 high 1/);
    assert.match(text, /CPU +█+░+ +55%/);
    assert.match(text, /HIGH ghost-storm: 3 identical orphaned python3/);
    assert.match(text, /^! +401 dev +mcp-server·orphan/m);
    assert.deepEqual(tablePids(text).slice(0, 3), [301, 300, 200], 'by CPU');
    assert.equal(text.split('\n').length, 39, 'one line short of the terminal, so it never scrolls');
    app.unmount();
  });

  it('changes the sort with s and r, filters with /, groups with g and draws the tree with t', async () => {
    const { app, frame, press } = mount();
    await until(() => frame().includes('COMMAND'), 'the first frame');
    await press('s', /sort mem/);
    await press('s', /sort pid/);
    assert.deepEqual(tablePids(frame()).slice(0, 3), [1, 100, 200]);
    await press('r', /sort pid ▲/);
    assert.deepEqual(tablePids(frame()).slice(0, 3), [403, 402, 401]);
    await press('/', /filter: █/);
    await press('mcp', /filter: mcp█/);
    await press('\r', /filter "mcp"/);
    assert.deepEqual(tablePids(frame()), [403, 402, 401]);
    await press('g', /grouped · 1 of 8 processes/);
    assert.match(
      frame(),
      /^! +401 dev +mcp-server·orphan +0\.0% +30 MiB S +1h 0m ×3 python3 …\/mcp_server_fetch\.py/m,
    );
    await press('\u001b', /list|grouped/);
    await until(() => !frame().includes('filter "mcp"'), 'Esc to clear the filter');
    await press('t', /· tree ·/);
    assert.match(frame(), /└─ bash\n.*├─ make -j8\n.*│ {2}└─ cc -O2 big\.c/);
    app.unmount();
  });

  it('moves the selection with the arrows and kills the selected process only after y', async () => {
    const killed: ProcRow[] = [];
    const kill = async (row: ProcRow) => {
      killed.push(row);
      return `success: killed ${row.pid}`;
    };
    const { app, frame, press } = mount({ kill });
    await until(() => frame().includes('COMMAND'), 'the first frame');
    await press('\u001b[B', /./);
    await press('k', /Kill pid 300\?/);
    await press('n', /kill cancelled/);
    assert.equal(killed.length, 0);
    await press('k', /Kill pid 300\?/);
    await press('y', /success: killed 300/);
    assert.deepEqual(
      killed.map((r) => r.pid),
      [300],
    );
    app.unmount();
  });

  it('explains the selection at once and adds the advisor’s answer when it arrives', async () => {
    let answer: (text: string) => void = () => {};
    const explain = () => new Promise<string>((resolve) => (answer = resolve));
    const { app, frame, press } = mount({ explain });
    await until(() => frame().includes('COMMAND'), 'the first frame');
    await press('e', /Explain pid 301/);
    assert.match(frame(), /lineage: cc \(301\) ← make \(300\) ← bash \(100\) ← init \(1\)/);
    assert.match(frame(), /advisor: asking…/);
    answer('The build is compiling; it will finish.');
    await until(() => frame().includes('The build is compiling'), 'the advisor’s answer');
    await press('\u001b', /COMMAND/);
    app.unmount();
  });

  it('uses no colour without `color` (NO_COLOR), yet shows the selection in reverse video', async () => {
    const plain = mount();
    await until(() => plain.frame().includes('COMMAND'), 'the first frame');
    const raw = plain.app.lastFrame() ?? '';
    assert.doesNotMatch(raw, new RegExp(`${ESC}\\[(3[0-7]|9[0-7])m`), 'no foreground colour');
    assert.match(raw, new RegExp(`${ESC}\\[7m +301 `), 'the selected row is in reverse video');
    plain.app.unmount();
    const coloured = mount({ color: true });
    await until(() => coloured.frame().includes('COMMAND'), 'the first frame');
    assert.match(coloured.app.lastFrame() ?? '', new RegExp(`${ESC}\\[31m`), 'the finding’s rows in red');
    coloured.app.unmount();
  });

  it('follows new frames, and keeps the last one while paused', async () => {
    const { app, source, frame, press } = mount();
    await until(() => frame().includes('COMMAND'), 'the first frame');
    const next = desk().frame;
    const busier: WatchFrame = {
      ...next,
      snapshot: { ...next.snapshot, takenAt: NOW + 1000, processes: next.snapshot.processes!.slice(0, 4) },
    };
    source.push(busier);
    await until(() => /4 processes/.test(frame()), 'the new frame');
    await press('p', /PAUSED/);
    assert.equal(source.paused, true);
    source.push(desk().frame);
    await new Promise((r) => setTimeout(r, 50));
    assert.match(frame(), /4 processes/);
    app.unmount();
  });
});
