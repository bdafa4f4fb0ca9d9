import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { waitUntil } from '../helpers/procs.js';
import { eventually, freePort, http } from '../helpers/prometheus.js';
import {
  attackerUser,
  spawnAs,
  spawnVigilAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * `/metrics` listens on 127.0.0.1, where every local user can connect. One who opens connections and
 * holds them — idle, or dribbling a request a byte at a time (slowloris), or never reading an answer —
 * must not keep Prometheus from scraping: the held sockets are closed within the server's timeouts, and
 * at the connection cap a newcomer replaces the oldest socket that is not being answered instead of being
 * refused. The daemon runs as the victim; the connections are held by the attacker (another user, when
 * the suite runs as root; else the same user).
 */

const victim = victimUser();
const attacker = attackerUser();
const skip = typeof victim === 'string' ? victim : false;
/** Who holds the connections: the attacker when there is one, else the victim's own user. */
const holder = (): TestUser => (typeof attacker === 'string' ? (victim as TestUser) : attacker);

const homes: UserHome[] = [];
const children: ChildProcess[] = [];

before(() => {
  assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
});

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const home of homes) home.cleanup();
});

/**
 * The one holding connections, as a script: `idle` sockets that never send a byte, `slow` ones that send
 * a request line and then one header byte a second, `unread` ones that send whole requests (pipelined)
 * and never read the answers. With `again`, each socket the server closes is opened again at once (an
 * attacker who keeps the pressure on). Prints JSON lines: {ready} once every socket was tried, {closed,
 * kind, afterMs} as the server closes them, {held} every second.
 */
const HOLDER = `
const net = require('node:net');
const [port, idle, slow, unread, again] = process.argv.slice(1).map(Number);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let open = 0;
let tried = 0;
const total = idle + slow + unread;
function hold(kind) {
  const t0 = Date.now();
  const s = net.connect(port, '127.0.0.1');
  let timer = null;
  let connected = false;
  s.on('error', () => {});
  s.on('connect', () => {
    connected = true;
    open++;
    if (kind === 'idle') {
      s.resume();
    } else if (kind === 'slow') {
      s.write('GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX-Slow: ');
      timer = setInterval(() => s.write('a'), 1000);
    } else if (kind === 'unread') {
      s.pause();
      s.write('GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n'.repeat(200));
    }
  });
  s.on('close', () => {
    if (timer) clearInterval(timer);
    if (connected) open--;
    say({ closed: true, kind, afterMs: Date.now() - t0 });
    if (again) setImmediate(() => hold(kind));
  });
  if (++tried === total) setTimeout(() => say({ ready: true }), 500);
}
// Interleaved, so that whichever sockets the server keeps are of every kind.
const left = { idle, slow, unread };
while (left.idle + left.slow + left.unread > 0)
  for (const kind of ['idle', 'slow', 'unread'])
    if (left[kind] > 0) {
      left[kind]--;
      hold(kind);
    }
setInterval(() => say({ held: open }), 1000);
`;

interface HolderEvent {
  ready?: true;
  closed?: true;
  kind?: string;
  afterMs?: number;
  held?: number;
}

function startHolder(port: number, counts: { idle: number; slow: number; unread: number }, again: boolean) {
  const user = holder();
  const child = spawnAs(
    user,
    [
      process.execPath,
      '-e',
      HOLDER,
      String(port),
      String(counts.idle),
      String(counts.slow),
      String(counts.unread),
      again ? '1' : '0',
    ],
    { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: user.home },
  );
  children.push(child);
  const events: HolderEvent[] = [];
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line) events.push(JSON.parse(line) as HolderEvent);
  });
  return { child, events };
}

async function metricsDaemon(label: string) {
  const user = victim as TestUser;
  const home = userHome(user, label);
  homes.push(home);
  const port = await freePort();
  writeFileAs(user, join(home.configDir, 'config.toml'), `[metrics]\nlisten = "127.0.0.1:${port}"\n`);
  const daemon = spawnVigilAs(user, ['run', '--mode', 'observe', '--interval', '1'], home.env);
  children.push(daemon);
  let log = '';
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => {
    log += d;
  });
  daemon.stdout!.resume();
  await waitUntil(() => /metrics: serving/.test(log), `/metrics to be served; log:\n${log}`, 30_000);
  return { port, daemon, log: () => log };
}

/** How many sockets a process has open (its /proc/PID/fd links to socket:[…]). */
function socketsOf(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** A scrape as Prometheus makes it: one GET /metrics, answered 200 with vigil's series. */
async function scrape(port: number): Promise<void> {
  const answer = await http(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 10_000 });
  assert.equal(answer.status, 200);
  assert.match(answer.body, /^vigil_build_info\{/m);
}

describe('a local user holding connections to /metrics', { skip }, () => {
  it('cannot keep a scrape out, and idle, slowloris and unread sockets are closed by their timeouts', async () => {
    const { port, daemon } = await metricsDaemon('metrics-hold');
    await eventually(
      async () => ((await http(`http://127.0.0.1:${port}/metrics`)).status === 200 ? true : undefined),
      'a first scrape',
    );
    await new Promise((r) => setTimeout(r, 500));
    const baseline = socketsOf(daemon.pid!);
    // Three times the cap: the server keeps the newest, which its timeouts must then close.
    const counts = { idle: 60, slow: 30, unread: 12 };
    const total = counts.idle + counts.slow + counts.unread;
    const held = startHolder(port, counts, false);
    await waitUntil(() => held.events.some((e) => e.ready), 'the connections to be opened', 30_000);
    // While they are held, and more keep coming than the cap allows: scrapes answer.
    for (let i = 0; i < 3; i++) await scrape(port);
    const during = socketsOf(daemon.pid!);
    assert.ok(during > baseline, 'the daemon holds the connections meanwhile');
    // Every held socket is closed by the server: the daemon is back to the sockets it had before. (The
    // holder cannot see all of it: a socket it never reads from does not notice the server's close.)
    const t0 = Date.now();
    await waitUntil(
      () => socketsOf(daemon.pid!) <= baseline,
      `the daemon to close the held sockets (it had ${baseline}, now ${socketsOf(daemon.pid!)})`,
      90_000,
    );
    const closedAll = Date.now() - t0;
    // The holder notices an idle socket's close at once, a slowloris one at its next byte.
    await waitUntil(
      () => held.events.filter((e) => e.closed && e.kind !== 'unread').length >= counts.idle + counts.slow,
      'the holder to see its idle and slowloris sockets closed',
      30_000,
    );
    const seen = (kind: string) =>
      Math.max(0, ...held.events.filter((e) => e.closed && e.kind === kind).map((e) => e.afterMs ?? 0));
    process.stdout.write(
      `# ${total} connections held; the daemon had closed them all ${(closedAll / 1000).toFixed(1)} s after the scrapes; the holder saw idle ones closed after ${(seen('idle') / 1000).toFixed(1)} s, slowloris ones after ${(seen('slow') / 1000).toFixed(1)} s\n`,
    );
    await scrape(port);
    assert.equal(daemon.exitCode, null, 'the daemon is still running');
  });

  it('cannot keep a scrape out by holding more than the cap and reopening every socket closed', async () => {
    const { port, daemon } = await metricsDaemon('metrics-churn');
    await eventually(
      async () => ((await http(`http://127.0.0.1:${port}/metrics`)).status === 200 ? true : undefined),
      'a first scrape',
    );
    const held = startHolder(port, { idle: 48, slow: 32, unread: 8 }, true);
    await waitUntil(() => held.events.some((e) => e.ready), 'the connections to be opened', 30_000);
    for (let i = 0; i < 5; i++) {
      await scrape(port);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(daemon.exitCode, null, 'the daemon is still running');
  });
});
