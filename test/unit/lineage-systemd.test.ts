import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProcessSample } from '../../src/model/snapshot.js';
import { Lineage, serviceOwned } from '../../src/understand/lineage.js';

/**
 * Who is left behind under systemd, judged from cgroup paths as /proc/PID/cgroup shows them on a desktop
 * (the real-manager version of these cases is test/integration/ghost-systemd.test.ts, which needs root).
 */
const USER = '/user.slice/user-1000.slice/user@1000.service';

describe('which cgroups are a service’s own', () => {
  const cases: [string, boolean][] = [
    ['/system.slice/postgresql@15-main.service', true],
    ['/init.scope', true],
    [`${USER}/app.slice/mcp-pool.service`, true],
    [`${USER}/session.slice/pipewire.service`, true],
    [`${USER}/app.slice/app-claude-1234.scope`, false],
    [`${USER}/app.slice/app-org.gnome.Terminal.slice/vte-spawn-5c1b.scope`, false],
    [`${USER}/app.slice/app-app\\x2dcode.slice/app-code@f00d.service`, false],
    [`${USER}/app.slice/app-gnome-firefox-4242.scope`, false],
    ['/user.slice/user-1000.slice/session-3.scope', false],
    ['/', false],
  ];
  for (const [cgroup, owned] of cases)
    it(`${owned ? 'counts' : 'does not count'} ${cgroup} as a service’s`, () => {
      assert.equal(serviceOwned(cgroup), owned);
    });
});

function proc(pid: number, ppid: number, comm: string, cgroup: string, uid = 1000): ProcessSample {
  return {
    pid,
    ppid,
    pgid: pid,
    sid: pid,
    state: 'S',
    comm,
    cmdline: comm,
    argv: [comm],
    uid,
    user: null,
    startTime: 0,
    startTicks: pid,
    threads: 1,
    rssBytes: 0,
    swapBytes: 0,
    virtualBytes: 0,
    nice: 0,
    cpuPercent: 0,
    cpuSeconds: 0,
    cgroup,
    tty: null,
    kernelThread: false,
    gpuMemoryBytes: null,
  };
}

/** Two scans: the server under its starter, then the starter gone and the server adopted by systemd --user. */
function afterStarterExits(cgroup: string) {
  const manager = proc(900, 1, 'systemd', `${USER}/init.scope`);
  const starter = proc(1000, 900, 'python3', cgroup);
  const server = proc(1001, 1000, 'python3', cgroup);
  const lineage = new Lineage('/nonexistent-procfs');
  const first = [manager, starter, server];
  lineage.observe(first, new Map(first.map((p) => [p.pid, p])));
  const adopted = { ...server, ppid: manager.pid };
  const second = [manager, adopted];
  const byPid = new Map(second.map((p) => [p.pid, p]));
  lineage.observe(second, byPid);
  return lineage.orphanhood(adopted, byPid);
}

describe('a process whose starter vigil saw exit, adopted by systemd --user', () => {
  it('is no orphan in a user service (a forking service’s starter exits by design)', () => {
    assert.equal(afterStarterExits(`${USER}/app.slice/mcp-pool.service`).orphan, false);
  });

  it('is an orphan in an app’s service, naming the parent that died', () => {
    const o = afterStarterExits(`${USER}/app.slice/app-app\\x2dcode.slice/app-code@f00d.service`);
    assert.equal(o.orphan, true);
    assert.equal(o.reason, 'its parent python3 (pid 1000) exited');
  });
});

describe('a process vigil first sees already adopted by systemd --user', () => {
  const judge = (cgroup: string) => {
    const manager = proc(900, 1, 'systemd', `${USER}/init.scope`);
    const server = proc(1001, 900, 'python3', cgroup);
    const byPid = new Map([manager, server].map((p) => [p.pid, p]));
    const lineage = new Lineage('/nonexistent-procfs');
    lineage.observe([manager, server], byPid);
    return lineage.orphanhood(server, byPid);
  };

  it('is an orphan in an app’s service, as in an app scope', () => {
    assert.deepEqual(
      [
        judge(`${USER}/app.slice/app-app\\x2dcode.slice/app-code@f00d.service`),
        judge(`${USER}/app.slice/app-claude-1.scope`),
      ].map((o) => [o.orphan, o.reason]),
      [
        [true, 'adopted by systemd inside app-code@f00d.service'],
        [true, 'adopted by systemd inside app-claude-1.scope'],
      ],
    );
  });

  it('is no orphan in a user service', () => {
    assert.equal(judge(`${USER}/app.slice/mcp-pool.service`).orphan, false);
  });
});
