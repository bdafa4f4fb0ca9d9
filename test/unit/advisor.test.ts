import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adviceLines } from '../../src/advisor/advisor.js';
import { type Answer, mapSuggestions, parseAnswer } from '../../src/advisor/answer.js';
import { retryAfterMs } from '../../src/advisor/client.js';
import { buildContext, buildRequest, contextTargets, LIMITS } from '../../src/advisor/context.js';
import { explainFacts, renderExplain, unitOfCgroup } from '../../src/advisor/explain.js';
import type { ProcessSample, Snapshot } from '../../src/model/snapshot.js';
import type { Finding } from '../../src/rules/types.js';
import type { FactSet } from '../../src/understand/facts-schema.js';

const NOW = Date.UTC(2026, 10, 21, 10, 0, 0);

function proc(pid: number, over: Partial<ProcessSample> = {}): ProcessSample {
  return {
    pid,
    ppid: 1,
    pgid: pid,
    sid: pid,
    state: 'S',
    comm: 'python3',
    cmdline: `python3 server.py --port ${pid}`,
    argv: ['python3', 'server.py', '--port', String(pid)],
    uid: 1000,
    user: 'alice',
    startTime: NOW - 3_600_000,
    startTicks: pid * 10,
    threads: 1,
    rssBytes: 100 * 1024 * 1024,
    swapBytes: 0,
    virtualBytes: 0,
    nice: 0,
    cpuPercent: 1,
    cpuSeconds: 10,
    cgroup: '/user.slice/user-1000.slice/user@1000.service/app.slice/app-code-42.scope',
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
    ...over,
  };
}

function snapshotOf(processes: ProcessSample[]): Snapshot {
  return {
    takenAt: NOW,
    host: { hostname: 'devbox', kernel: '6.1.0', uptimeSecs: 3600 },
    processes,
    memory: {
      totalBytes: 16 * 1024 ** 3,
      availableBytes: 4 * 1024 ** 3,
      availableEstimated: false,
      freeBytes: 1024 ** 3,
      buffersBytes: 0,
      cachedBytes: 0,
      usedPercent: 75,
      swapTotalBytes: 0,
      swapFreeBytes: 0,
      swapUsedBytes: 0,
      swapUsedPercent: 0,
      pressure: null,
    },
    collectors: [],
  };
}

const noFacts = (processes: ProcessSample[]): FactSet =>
  ({
    now: NOW,
    sys: {} as FactSet['sys'],
    thresholds: {},
    subjects: {
      process: processes.map((p) => ({
        key: `${p.pid}:${p.startTicks}`,
        label: p.comm,
        pids: [p.pid],
        facts: {
          pid: p.pid,
          name: `python3 server.py`,
          kind: 'mcp-server',
          kind_label: 'MCP server',
          orphan: p.ppid === 1,
          orphan_reason: p.ppid === 1 ? 'its parent claude (pid 7) exited' : '',
          original_parent: p.ppid === 1 ? 'claude' : '',
          leak: false,
          zombie_children: 0,
        },
      })),
    },
  }) as unknown as FactSet;

const finding = (pids: number[]): Finding => ({
  fingerprint: 'ghost_process_storm|1000|python3 server.py',
  rule: 'ghost_process_storm',
  title: 'Ghost storm',
  severity: 'high',
  scope: 'group',
  subject: '1000|python3 server.py',
  summary: 'identical python3 server.py',
  pids,
  since: NOW - 60_000,
  suggest: ['kill_matching'],
  event: false,
});

const good = (actions: Answer['actions'] = []) =>
  JSON.stringify({ diagnostic: 'Left behind.', severity: 'high', actions, prevention: 'Exit cleanly.' });

describe('the advisor’s answer', () => {
  it('accepts a well-formed answer, fenced or not', () => {
    assert.equal(parseAnswer(good()).ok, true);
    assert.equal(parseAnswer(`\`\`\`json\n${good()}\n\`\`\``).ok, true);
  });

  it('rejects what does not match the schema, saying where', () => {
    const bad = parseAnswer(
      JSON.stringify({ diagnostic: 'x', severity: 'apocalyptic', actions: [], prevention: '' }),
    );
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /severity/);
    assert.match((parseAnswer('I think you should reboot') as { error: string }).error, /not JSON/);
  });

  it('maps catalog actions onto context targets and keeps everything else as text', () => {
    const processes = [proc(101), proc(102), proc(103, { ppid: 50 })];
    const parsed = parseAnswer(
      good([
        { type: 'kill_matching', target: 'ghost_process_storm', command: '', risk: 'safe', explanation: 'a' },
        { type: 'kill_process', target: 'pid 102', command: 'kill -9 102', risk: 'safe', explanation: 'b' },
        { type: 'kill_process', target: '999', command: '', risk: 'safe', explanation: 'c' },
        { type: 'restart_user_unit', target: 'evil.service', command: '', risk: 'safe', explanation: 'd' },
        { type: 'custom', target: '', command: 'curl x | sh', risk: 'safe', explanation: 'e' },
        { type: 'renice', target: '103', command: '', risk: 'moderate', explanation: 'f' },
      ]),
    );
    assert.ok(parsed.ok);
    const s = mapSuggestions(parsed.answer, {
      processes,
      contextPids: new Set([101, 102, 103]),
      contextUnits: new Set(),
      findings: [finding([101, 102])],
      knowledge: { liveOwner: (p) => p.ppid !== 1 },
    });
    assert.deepEqual(
      s.map((x) => [x.status, x.action, x.command]),
      [
        ['mapped', 'kill_matching', 'kill 101 102'],
        ['mapped', 'kill_process', 'kill 102'],
        ['text', null, null],
        ['text', null, null],
        ['text', null, null],
        ['mapped', 'renice', 'renice -n 10 -p 103'],
      ],
    );
    assert.match(s[2]!.reason!, /999 is not in the context/);
    assert.equal(s[4]!.modelCommand, 'curl x | sh');
    assert.equal(s[5]!.risk, 'moderate', 'more cautious than the catalog: kept');
    assert.equal(s[5]!.lowerConfidence, true);
    const lines = adviceLines({
      finding: finding([101]),
      alertId: 3,
      advice: {
        model: 'm',
        at: NOW,
        diagnostic: 'Left behind.',
        severity: 'high',
        prevention: 'Exit.',
        suggestions: s,
      },
      cached: false,
    });
    assert.match(lines[0]!, /^ADVICE {3}ghost_process_storm \(alert 3\): Left behind\./);
    assert.ok(lines.some((l) => /text only, never run by vigil: curl x \| sh/.test(l)));
  });
});

describe('the advisor’s context', () => {
  it('is bounded whatever the machine looks like', () => {
    const processes = Array.from({ length: 3000 }, (_, i) =>
      proc(1000 + i, { cmdline: `node ${'x'.repeat(2000)} --n ${i}`, rssBytes: (3000 - i) * 1024 * 1024 }),
    );
    const journal = Array.from({ length: 500 }, (_, i) => ({
      time: NOW - i,
      priority: 3,
      identifier: 'kernel',
      unit: null,
      pid: null,
      transport: 'kernel',
      message: 'y'.repeat(5000),
      messageId: null,
      cursor: null,
    }));
    const context = buildContext({
      snapshot: snapshotOf(processes),
      facts: noFacts(processes),
      findings: Array.from({ length: 50 }, () => finding(processes.slice(0, 100).map((p) => p.pid))),
      journal,
      anonymize: false,
    });
    assert.ok(
      JSON.stringify(context).length <= LIMITS.contextChars + 2000,
      `${JSON.stringify(context).length}`,
    );
    assert.ok(context.findings.length <= LIMITS.findings);
    assert.ok(context.processes.every((p) => p.cmdline.length <= LIMITS.cmdlineChars));
  });

  it('carries kind, lineage (the parent that died) and the reason a process is suspicious', () => {
    const processes = [proc(201), proc(202)];
    const context = buildContext({
      snapshot: snapshotOf(processes),
      facts: noFacts(processes),
      findings: [finding([201, 202])],
      anonymize: false,
    });
    const p = context.processes.find((x) => x.pid === 201)!;
    assert.equal(p.kind, 'mcp-server');
    assert.equal(p.originalParent, 'claude');
    assert.match(
      context.suspicious.find((s) => s.pid === 201)!.reason,
      /in finding ghost_process_storm; orphan: its parent claude/,
    );
    assert.deepEqual([...contextTargets(context).pids].sort(), [201, 202]);
  });

  it('anonymises user and host names when asked', () => {
    const processes = [proc(301, { cmdline: 'ssh alice@devbox', user: 'alice' })];
    const context = buildContext({
      snapshot: snapshotOf(processes),
      facts: noFacts(processes),
      findings: [],
      anonymize: true,
    });
    const text = JSON.stringify(buildRequest('q', context, { model: 'm', maxTokens: 100, language: 'fr' }));
    assert.ok(!/\balice\b/.test(text), text);
    assert.ok(!/\bdevbox\b/.test(text));
    assert.match(text, /Answer in French/);
  });
});

describe('retry-after', () => {
  const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name] ?? null });
  it('reads seconds, milliseconds and HTTP dates', () => {
    assert.equal(retryAfterMs(headers({ 'retry-after': '30' })), 30_000);
    assert.equal(retryAfterMs(headers({ 'retry-after-ms': '1500', 'retry-after': '30' })), 1500);
    assert.equal(retryAfterMs(headers({ 'retry-after': new Date(NOW + 90_000).toUTCString() }), NOW), 90_000);
    assert.equal(retryAfterMs(headers({})), null);
  });
});

describe('vigil explain, the deterministic part', () => {
  it('names the unit of a cgroup', () => {
    assert.equal(
      unitOfCgroup('/user.slice/user-1000.slice/user@1000.service/app.slice/app-code-42.scope'),
      'app-code-42.scope',
    );
    assert.equal(unitOfCgroup('/system.slice/ssh.service'), 'ssh.service');
    assert.equal(unitOfCgroup('/'), null);
  });

  it('gathers lineage, children, findings and history, and renders them in French too', () => {
    const processes = [
      proc(1, { ppid: 0, comm: 'systemd', argv: ['systemd'], cmdline: 'systemd', uid: 0, user: 'root' }),
      proc(401, { cmdline: 'python3 s.py --token=abc123def' }),
      proc(402, { ppid: 401 }),
    ];
    const facts = explainFacts(401, snapshotOf(processes), noFacts(processes), {
      findings: [finding([401])],
      history: [
        {
          takenAt: NOW - 600_000,
          processes: [{ pid: 401, startTicks: 4010, rssBytes: 50 * 1024 * 1024, cpuPercent: 2 }],
        },
        {
          takenAt: NOW,
          processes: [{ pid: 401, startTicks: 4010, rssBytes: 150 * 1024 * 1024, cpuPercent: 4 }],
        },
      ] as never,
    })!;
    assert.equal(facts.cmdline, 'python3 s.py --token=‹redacted›');
    assert.deepEqual(
      facts.ancestors.map((a) => a.pid),
      [1],
    );
    assert.deepEqual(
      facts.children.map((c) => c.pid),
      [402],
    );
    assert.equal(facts.originalParent, 'claude');
    assert.equal(facts.unit, 'app-code-42.scope');
    assert.equal(facts.history?.rssLastBytes, 150 * 1024 * 1024);
    const en = renderExplain(facts, 'en');
    assert.match(en, /first parent\s+claude \(exited\)/);
    assert.match(en, /history\s+50 MiB → 150 MiB over 10m 0s/);
    assert.match(renderExplain(facts, 'fr'), /premier parent\s+claude \(terminé\)/);
    assert.equal(explainFacts(999, snapshotOf(processes), noFacts(processes)), null);
  });
});
