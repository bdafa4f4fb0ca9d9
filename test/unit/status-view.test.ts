import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusJudgement } from '../../src/cli/status-judge.js';
import { renderStatus } from '../../src/cli/status-view.js';
import { shortCommand } from '../../src/model/command.js';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import type { Finding } from '../../src/rules/types.js';
import type { ProcessInfo } from '../../src/understand/facts.js';
import { processSample } from '../helpers/snapshots.js';

const NOW = Date.parse('2026-05-01T12:00:00Z');

/** Started ten minutes before NOW, a little more memory and CPU the higher the pid. */
function proc(pid: number, argv: string[], extra: Partial<ProcessSample> = {}): ProcessSample {
  return processSample(pid, argv, {
    startTime: NOW - 600_000,
    startTicks: pid * 10,
    rssBytes: (100 + pid) * 2 ** 20,
    cpuPercent: pid % 7,
    cpuSeconds: 1,
    ...extra,
  });
}

/** A 32-core workstation with eight MCP servers of one script told apart only by their port, and others. */
function workstation(): { snapshot: Snapshot; judgement: StatusJudgement } {
  const servers = Array.from({ length: 8 }, (_, i) =>
    proc(
      500 + i,
      ['/usr/bin/python3', '/home/dev/src/tools/mcp/mcp_server.py', '--port', String(41000 + i), '--stdio'],
      { rssBytes: (1400 + i) * 2 ** 20 },
    ),
  );
  const others = Array.from({ length: 20 }, (_, i) =>
    proc(900 + i, ['/usr/bin/node', `/home/dev/src/app/node_modules/.bin/worker-${i}`]),
  );
  const processes = [...servers, ...others];
  const info = new Map<number, ProcessInfo>();
  for (const p of servers)
    info.set(p.pid, { kind: 'mcp-server', orphan: true, originalParent: 'claude', group: 'mcp' });
  const finding = (rule: string, summary: string): Finding => ({
    fingerprint: `${rule}|x`,
    rule,
    title: rule,
    severity: 'high',
    scope: 'group',
    subject: 'x',
    summary,
    pids: servers.map((p) => p.pid),
    since: NOW - 60_000,
    suggest: ['kill_matching'],
    event: false,
  });
  const snapshot: Snapshot = {
    takenAt: NOW,
    host: { hostname: 'desk', kernel: '6.8.0', uptimeSecs: 90_000 },
    processes,
    cpu: {
      cores: 32,
      load: [3, 2, 1],
      runnable: 2,
      tasks: 28,
      usagePercent: 40,
      iowaitPercent: 0,
      perCore: Array.from({ length: 32 }, (_, i) => ({
        name: `cpu${i}`,
        usagePercent: 40,
        frequencyMhz: null,
      })),
      pressure: null,
      bootTime: NOW - 90_000_000,
    },
    collectors: [],
  };
  const judgement: StatusJudgement = {
    findings: [
      finding(
        'ghost_process_storm',
        '⚠️ 8 identical python3 mcp_server processes (1.4 GiB) — MCP servers, all 8 orphaned: left by claude (in ~/src/tools, 40 min ago)',
      ),
      finding('orphan_cpu', 'Orphaned python3 mcp_server (pid 500, left by claude) uses 90% CPU'),
    ],
    from: 'local',
    daemonPid: null,
    daemonProblem: null,
    processes: info,
    needHistory: ['ram_high'],
    problems: [],
  };
  return { snapshot, judgement };
}

describe('vigil status on a terminal', () => {
  it('fits a 40-row terminal so the findings at its top stay on screen', () => {
    const { snapshot, judgement } = workstation();
    const unfitted = renderStatus(snapshot, { color: false, top: 10, width: 100 }, judgement);
    assert.ok(unfitted.split('\n').length > 40, 'everything printed is longer than the terminal');
    const text = renderStatus(snapshot, { color: false, top: 10, width: 100, rows: 40 }, judgement);
    const lines = text.split('\n');
    assert.ok(lines.length - 1 <= 39, `${lines.length - 1} lines and a prompt fit 40 rows:\n${text}`);
    assert.match(lines[2]!, /^HIGH +ghost_process_storm: .*left by claude \(in ~\/src\/tools, 40 min ago\)$/);
    assert.match(lines[3]!, /^HIGH +orphan_cpu: /);
    assert.match(text, /^Top \d+ by memory$/m, 'the process tables are shortened, not dropped');
  });

  it('counts the findings that do not fit instead of pushing everything else off', () => {
    const { snapshot, judgement } = workstation();
    const many = { ...judgement, findings: Array.from({ length: 30 }, () => judgement.findings[1]!) };
    const text = renderStatus(snapshot, { color: false, top: 10, width: 100, rows: 40 }, many);
    assert.match(text, /^… and 17 more \(vigil status --json lists them all\)$/m);
    assert.ok(text.split('\n').length - 1 <= 39);
  });

  for (const width of [80, 100, 120]) {
    it(`shows KIND and the program with its script at ${width} columns, so the servers can be told apart`, () => {
      const { snapshot, judgement } = workstation();
      const text = renderStatus(snapshot, { color: false, top: 10, width }, judgement);
      const table = text.slice(text.indexOf('Top 10 by memory'));
      assert.match(table, /KIND +COMMAND/);
      const rows = table
        .split('\n')
        .filter((l) => /mcp-server·orphan +python3 …\/mcp_server\.py --port/.test(l));
      assert.equal(rows.length, 8, table);
      const ports = rows.map((l) => /--port (\d+)/.exec(l)?.[1]);
      assert.equal(new Set(ports).size, 8, `each row shows its own port:\n${table}`);
      for (const line of table.split('\n'))
        assert.ok([...line].length <= width, `wider than ${width}: ${line}`);
    });
  }
});

describe('the short form of a command line', () => {
  it('keeps the program’s base name and the script’s file name, and every other argument', () => {
    assert.equal(
      shortCommand(['/usr/bin/python3', '/home/u/mcp/mcp_server.py', '--port', '41000'], 'python3'),
      'python3 …/mcp_server.py --port 41000',
    );
    assert.equal(
      shortCommand(['/usr/bin/node', '/home/u/.npm/_npx/3f2a/node_modules/.bin/mcp-server-github'], 'node'),
      'node …/mcp-server-github',
    );
  });

  it('keeps the directory of a generic file name, option values that are paths, and URLs', () => {
    assert.equal(
      shortCommand(
        ['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js', '--resume', 'x'],
        'node',
      ),
      'node …/claude-code/cli.js --resume x',
    );
    assert.equal(shortCommand(['app', '--config=/etc/app/conf.d/a.toml'], 'app'), 'app --config=…/a.toml');
    assert.equal(shortCommand(['curl', 'https://example.com/a/b'], 'curl'), 'curl https://example.com/a/b');
    assert.equal(shortCommand(['cat', './notes.md', '/x'], 'cat'), 'cat ./notes.md /x');
  });

  it('reads a rewritten title as its words, a shell script word by word, and [comm] without a cmdline', () => {
    assert.equal(
      shortCommand(['npm exec /home/u/.npm/_npx/ab/node_modules/@x/server-notes'], 'npm exec'),
      'npm exec …/server-notes',
    );
    assert.equal(
      shortCommand(['sh', '-c', 'cd /home/u/src/app && make'], 'sh'),
      'sh -c cd …/src/app && make',
    );
    assert.equal(shortCommand([], 'kworker/0:1'), '[kworker/0:1]');
  });
});
