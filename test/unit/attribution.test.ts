import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProcessSample } from '../../src/model/snapshot.js';
import {
  Attributor,
  agoText,
  attributionPhrase,
  ownerName,
  parseHomes,
  sessionOf,
  underHome,
} from '../../src/understand/attribution.js';
import { Lineage } from '../../src/understand/lineage.js';
import { processSample } from '../helpers/snapshots.js';

const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);

const proc = (pid: number, ppid: number, argv: string[], extra: Partial<ProcessSample> = {}) =>
  processSample(pid, argv, {
    ppid,
    sid: 1,
    user: 'alice',
    startTime: T0 - 3_600_000,
    startTicks: pid * 10,
    rssBytes: 100 * 2 ** 20,
    ...extra,
  });

const init = proc(1, 0, ['/sbin/init'], { uid: 0, user: 'root' });
const agent = proc(100, 50, ['claude', '--resume', '3f2a9c1e-1b2c-4d5e-8f90-1234567890ab']);
const shell = proc(50, 1, ['bash']);
const wrappers = [201, 202, 203].map((pid) => proc(pid, 100, ['npm exec @acme/mcp-server-notes']));
const servers = [301, 302, 303].map((pid, i) =>
  proc(pid, 201 + i, ['node', '/home/alice/.npm/_npx/ab12/node_modules/.bin/mcp-server-notes']),
);

function byPid(list: readonly ProcessSample[]): Map<number, ProcessSample> {
  return new Map(list.map((p) => [p.pid, p]));
}

describe('who left a group behind', () => {
  it('names the agent that started the wrappers of a wrapper chain, its session, and how long ago it died', () => {
    // procfs without the processes: the working directory is unknown, the rest comes from the lineage.
    const lineage = new Lineage('/nonexistent');
    const attributor = new Attributor({ procfs: '/nonexistent', etc: '/nonexistent' });
    const before = [init, shell, agent, ...wrappers, ...servers];
    lineage.observe(before, byPid(before), T0);
    // The agent dies: its wrappers are adopted by pid 1, each server still under its live wrapper.
    const after = [init, shell, ...wrappers.map((w) => ({ ...w, ppid: 1 })), ...servers];
    lineage.observe(after, byPid(after), T0 + 5000);
    const later = T0 + 5000 + 40 * 60_000;
    lineage.observe(after, byPid(after), later);
    // The facts call the servers orphans too (their runner was left behind), or only the runners: the
    // owner is found either way.
    const runners = new Set(wrappers.map((w) => w.pid));
    const both = new Set([...runners, ...servers.map((p) => p.pid)]);
    const ctx = (orphans: Set<number>) => ({
      byPid: byPid(after),
      lineage,
      kindOf: (p: ProcessSample) => (p.comm === 'claude' ? 'agent-cli' : ''),
      orphan: (p: ProcessSample) => orphans.has(p.pid),
      now: later,
    });
    assert.deepEqual(attributor.attribute(servers, ctx(runners)), attributor.attribute(servers, ctx(both)));
    const a = attributor.attribute(servers, ctx(both));
    assert.equal(a.left_by, 'claude');
    assert.equal(a.session, '3f2a9c1e-1b2c-4d5e-8f90-1234567890ab');
    assert.equal(a.owner_gone_secs, 40 * 60, 'counted from when vigil first saw the wrappers re-parented');
    assert.equal(a.attribution, 'left by claude (session 3f2a9c1e…, 40 min ago)');
  });

  it('says "started by" and "still running" while the agent lives', () => {
    const lineage = new Lineage('/nonexistent');
    const attributor = new Attributor({ procfs: '/nonexistent', etc: '/nonexistent' });
    const live = [init, shell, agent, ...wrappers, ...servers];
    lineage.observe(live, byPid(live), T0);
    const a = attributor.attribute(wrappers, {
      byPid: byPid(live),
      lineage,
      kindOf: (p) => (p.comm === 'claude' ? 'agent-cli' : ''),
      orphan: () => false,
      now: T0,
    });
    assert.equal(a.owner_gone_secs, -1);
    assert.equal(a.attribution, 'started by claude (session 3f2a9c1e…, still running)');
  });

  it('says "before vigil started" with the oldest member’s age when vigil never saw the owner', () => {
    const lineage = new Lineage('/nonexistent');
    const attributor = new Attributor({ procfs: '/nonexistent', etc: '/nonexistent' });
    const adopted = [init, ...servers.map((s) => ({ ...s, ppid: 1 }))];
    lineage.observe(adopted, byPid(adopted), T0);
    const a = attributor.attribute(adopted.slice(1), {
      byPid: byPid(adopted),
      lineage,
      kindOf: () => '',
      orphan: () => true,
      now: T0,
    });
    assert.equal(a.left_by, '');
    assert.equal(a.owner_gone_secs, -1);
    assert.equal(a.attribution, 'left behind (before vigil started, up 1 h)');
  });
});

describe('the parts of an attribution', () => {
  it('reads a session id from --resume, --session-id and -r, never a flag or junk', () => {
    assert.equal(sessionOf('claude --output-format stream-json --resume 3f2a9c1e'), '3f2a9c1e');
    assert.equal(sessionOf('claude --session-id=abcd-1234 -p hi'), 'abcd-1234');
    assert.equal(sessionOf('claude -r 0f0f0f0f'), '0f0f0f0f');
    assert.equal(sessionOf('claude --resume --verbose'), '');
    assert.equal(sessionOf('claude --resume'), '');
    assert.equal(sessionOf('claude --resume "x y"'), '');
    assert.equal(sessionOf('code --reuse-window'), '');
  });

  it('names the program behind an interpreter: node …/claude-code/cli.js is claude-code', () => {
    assert.equal(ownerName('claude --resume x', 'node'), 'claude');
    assert.equal(
      ownerName('node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js', 'node'),
      'claude-code',
    );
    assert.equal(ownerName('', 'bash'), 'bash');
  });

  it('writes a directory under the home as ~ and leaves others as they are', () => {
    const homes = parseHomes(
      'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/zsh\n',
    );
    assert.equal(homes.get(1000), '/home/alice');
    assert.equal(underHome('/home/alice/src/foo', homes.get(1000)), '~/src/foo');
    assert.equal(underHome('/home/alice', homes.get(1000)), '~');
    assert.equal(underHome('/home/alicex/src', homes.get(1000)), '/home/alicex/src');
    assert.equal(underHome('/srv/app', homes.get(1000)), '/srv/app');
    assert.equal(underHome('/anything', '/'), '/anything');
  });

  it('says how long ago at a glance', () => {
    assert.equal(agoText(12), '12 s');
    assert.equal(agoText(40 * 60 + 59), '40 min');
    assert.equal(agoText(2 * 3600 + 5 * 60), '2 h 5 min');
    assert.equal(agoText(3 * 86_400 + 4 * 3600), '3 d 4 h');
  });

  it('counts members left by someone else at the end of the phrase', () => {
    assert.equal(
      attributionPhrase({
        left_by: 'claude',
        session: '',
        cwd: '~/src/foo',
        owner_gone_secs: 2400,
        alive: false,
        oldestSecs: 3600,
        others: 2,
      }),
      'left by claude (in ~/src/foo, 40 min ago, 2 more from other owners)',
    );
  });
});
