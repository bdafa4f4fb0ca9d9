import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runVigil } from '../helpers/cli.js';
import { daemonHome, RunningDaemon } from '../helpers/daemon.js';
import { appendJournalEntries, JOURNAL_REMOTE_MISSING, journalRemoteAvailable } from '../helpers/journal.js';
import { killAll, memTotalBytes, spawnOrphanedStorm, stateOf, waitUntil } from '../helpers/procs.js';
import { cannotCreateIn, makeReadOnly } from '../helpers/readonly.js';

const homes: Array<ReturnType<typeof daemonHome>> = [];
const daemons: RunningDaemon[] = [];
const started = new Set<number>();
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  killAll(started);
  for (const h of homes) h.cleanup();
});
function home() {
  const h = daemonHome();
  homes.push(h);
  return h;
}
function daemon(h: ReturnType<typeof daemonHome>, args: string[] = []) {
  const d = new RunningDaemon(h, args);
  daemons.push(d);
  return d;
}
const db = (h: ReturnType<typeof daemonHome>) => join(h.stateDir, 'vigil.db');
function count(h: ReturnType<typeof daemonHome>, table: string): number {
  return query<{ n: number }>(h, `select count(*) as n from ${table}`)[0]!.n;
}
function query<T>(h: ReturnType<typeof daemonHome>, sql: string): T[] {
  const conn = new Database(db(h), { readonly: true });
  try {
    return conn.prepare(sql).all() as T[];
  } finally {
    conn.close();
  }
}

describe('vigil run', () => {
  it('--once takes one full cycle, stores it and exits 0 (vigil alone is the daemon too)', () => {
    const h = home();
    const run = runVigil(['--once'], h.env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /vigil: started \(pid \d+, mode observe, every 5 s, 13 rules/);
    assert.equal(count(h, 'snapshots'), 1);
    assert.ok(existsSync(join(h.runtimeDir, 'heartbeat.json')));
    assert.ok(!existsSync(join(h.runtimeDir, 'vigil.pid')), 'the pid file is removed on exit');
  });

  it('stops by itself after --exit-after', async () => {
    const h = home();
    const t0 = Date.now();
    const d = daemon(h, ['--interval', '1', '--exit-after', '2']);
    assert.equal((await d.exited).code, 0);
    assert.ok(Date.now() - t0 < 6000);
    assert.match(d.stderr, /stopping: --exit-after elapsed/);
  });

  it('stops on SIGTERM within 2 s with status 0, and on SIGINT too', async () => {
    const h = home();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const d = daemon(h, ['--interval', '1']);
      await d.waitFor(/started/);
      await new Promise((r) => setTimeout(r, 1500));
      const { code, ms } = await d.stop(signal);
      assert.equal(code, 0, d.stderr);
      assert.ok(ms < 2000, `${signal} took ${ms} ms`);
      assert.match(d.stderr, new RegExp(`stopping: ${signal}`));
    }
  });

  it('refuses a second daemon of the same user, naming the running pid', async () => {
    const h = home();
    const first = daemon(h, ['--interval', '1']);
    await first.waitFor(/started/);
    const second = runVigil(['run'], h.env, 10_000);
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`vigil is already running \\(pid ${first.pid}\\)`));
    assert.equal((await first.stop()).code, 0);
  });

  it('exits 2 naming file, line and key for a broken config, and starts nothing', () => {
    const h = home();
    writeFileSync(join(h.configDir, 'config.toml'), '[general]\ninterval_secs = "fast"\nbogus = 1\n');
    const run = runVigil(['run'], h.env, 10_000);
    assert.equal(run.status, 2);
    assert.match(
      run.stderr,
      /config\.toml:2: general\.interval_secs: expected number, found the string "fast"/,
    );
    assert.match(run.stderr, /config\.toml:3: general\.bogus: unknown key/);
    assert.ok(!existsSync(db(h)), 'no database was created');
  });

  it('reloads on SIGHUP, and refuses an invalid new config while the old one stays in force', async () => {
    const h = home();
    const config = join(h.configDir, 'config.toml');
    writeFileSync(config, '[thresholds]\nram_warn_percent = 80\n');
    const d = daemon(h, ['--interval', '1']);
    await d.waitFor(/started/);
    writeFileSync(join(h.configDir, 'rules', 'off.toml'), '[[rule]]\nid = "load_high"\nenabled = false\n');
    d.child.kill('SIGHUP');
    await d.waitFor(/reloaded config and 12 rules/);
    writeFileSync(config, '[thresholds]\nram_warn_percent = "high"\n');
    d.child.kill('SIGHUP');
    await d.waitFor(
      /config reload refused, the previous configuration stays in force:\n.*config\.toml:2: thresholds\.ram_warn_percent: expected number/,
    );
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(d.child.exitCode, null, 'still running');
    const health = runVigil(['health', '--json'], h.env);
    assert.equal(JSON.parse(health.stdout).daemon.running, true);
    assert.equal((await d.stop()).code, 0);
  });

  it('keeps a pending rule duration across a restart', async () => {
    const h = home();
    // Holds always; must hold 6 s before it fires.
    writeFileSync(
      join(h.configDir, 'rules', 'slow.toml'),
      '[[rule]]\nid = "always_slow"\ntitle = "Always"\nseverity = "medium"\nscope = "system"\nwhen = "sys.cores > 0.0"\nfor = "6s"\nsummary = "held {{ fixed(sys.cores) }}"\n',
    );
    const first = daemon(h, ['--interval', '1']);
    await first.waitFor(/started/);
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal((await first.stop()).code, 0);
    assert.doesNotMatch(first.stdout, /always_slow/);
    const t0 = Date.now();
    const second = daemon(h, ['--interval', '1']);
    await second.waitFor(/MEDIUM\s+always_slow: held/, 10_000, 'stdout');
    assert.ok(
      Date.now() - t0 < 5500,
      `fired ${Date.now() - t0} ms after the restart: the 3.5 s before counted`,
    );
    await second.stop();
  });

  it('survives kill -9 during writes: the database stays intact and history continues', async () => {
    const h = home();
    writeFileSync(join(h.configDir, 'config.toml'), '[history]\nsnapshot_interval_secs = 5\n');
    for (let i = 0; i < 3; i++) {
      const d = daemon(h, ['--interval', '1']);
      await d.waitFor(/started/);
      await new Promise((r) => setTimeout(r, 1200 + i * 700));
      await d.stop('SIGKILL');
    }
    const conn = new Database(db(h));
    assert.equal(conn.pragma('integrity_check', { simple: true }), 'ok');
    const before = (conn.prepare('select count(*) as n from snapshots').get() as { n: number }).n;
    conn.close();
    const run = runVigil(['run', '--once'], h.env);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(count(h, 'snapshots'), before + 1);
    assert.equal(count(h, 'runs'), 4);
  });

  it('moves a database full of garbage aside, warns loudly and keeps running', () => {
    const h = home();
    runVigil(['run', '--once'], h.env);
    writeFileSync(db(h), 'this is not a database '.repeat(500));
    const run = runVigil(['run', '--once'], h.env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /corrupt/i);
    const aside = readdirSync(h.stateDir).filter((f) => f.startsWith('vigil.db.corrupt-'));
    assert.equal(aside.length, 1, readdirSync(h.stateDir).join(' '));
    assert.equal(readFileSync(join(h.stateDir, aside[0]!), 'utf8').slice(0, 23), 'this is not a database ');
    assert.equal(count(h, 'snapshots'), 1);
  });
});

describe('the journal, followed', () => {
  const skip = journalRemoteAvailable() ? false : JOURNAL_REMOTE_MISSING;
  it('notifies an OOM kill appended while running, once, and not again after a restart', {
    skip,
  }, async () => {
    const h = home();
    const dir = join(h.dir, 'journal');
    mkdirSync(dir);
    const file = join(dir, 'system.journal');
    let t = Date.now() * 1000;
    const kernel = (message: string) => ({
      __REALTIME_TIMESTAMP: String(t++),
      __MONOTONIC_TIMESTAMP: String(t),
      _BOOT_ID: '0123456789abcdef0123456789abcdef',
      _TRANSPORT: 'kernel',
      SYSLOG_IDENTIFIER: 'kernel',
      PRIORITY: '3',
      MESSAGE: message,
    });
    appendJournalEntries(file, [kernel('EXT4-fs warning: something from before vigil started')]);
    const first = daemon(h, ['--interval', '1', '--journal-dir', dir]);
    await first.waitFor(/journal: following/);
    appendJournalEntries(file, [
      kernel(
        'Out of memory: Killed process 4242 (java) total-vm:9000000kB, anon-rss:4194304kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0',
      ),
    ]);
    await first.waitFor(/HIGH\s+oom_kill: kernel killed java \(pid 4242\) using 4\.0 GiB/, 15_000, 'stdout');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await first.stop()).code, 0);
    assert.equal(first.stdout.match(/oom_kill/g)?.length, 1);

    const second = daemon(h, ['--interval', '1', '--journal-dir', dir]);
    await second.waitFor(/journal: following/);
    appendJournalEntries(file, [
      kernel(
        'Out of memory: Killed process 5151 (node) total-vm:900000kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:900kB oom_score_adj:0',
      ),
    ]);
    await second.waitFor(/HIGH\s+oom_kill: kernel killed node \(pid 5151\)/, 15_000, 'stdout');
    await new Promise((r) => setTimeout(r, 1500));
    await second.stop();
    assert.doesNotMatch(second.stdout, /java/, 'the kill before the restart is not repeated');
    const alerts = query<{ rule: string }>(h, "select rule from alerts where rule = 'oom_kill'");
    assert.equal(alerts.length, 2);
  });
});

describe('a history store that cannot be written', () => {
  it('keeps collecting, judging and notifying, and vigil health says the store is failing', async (t) => {
    const h = home();
    mkdirSync(h.stateDir, { recursive: true });
    const undo = makeReadOnly(h.stateDir, true);
    if (typeof undo === 'string') return t.skip(undo);
    try {
      assert.ok(cannotCreateIn(h.stateDir), 'the state directory really is read-only');
      writeFileSync(
        join(h.configDir, 'rules', 'always.toml'),
        '[[rule]]\nid = "always_on"\ntitle = "Always"\nseverity = "medium"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "still judging"\n',
      );
      const d = daemon(h, ['--interval', '1']);
      await d.waitFor(/MEDIUM\s+always_on: still judging/, 15_000, 'stdout');
      await d.waitFor(/history store failing \(collection and rules go on\)|history unavailable/);
      await new Promise((r) => setTimeout(r, 1500));
      const health = runVigil(['health'], h.env);
      assert.equal(health.status, 1);
      assert.match(health.stdout.split('\n')[0]!, /^the history store is failing: /);
      assert.equal(d.child.exitCode, null, 'the daemon is still running');
      assert.equal((await d.stop()).code, 0);
    } finally {
      undo();
    }
  });
});

describe('vigil health', () => {
  it('says healthy while the daemon cycles, and why not once it stopped (exit 1)', async () => {
    const h = home();
    const d = daemon(h, ['--interval', '1']);
    await d.waitFor(/started/);
    await new Promise((r) => setTimeout(r, 1500));
    const ok = runVigil(['health'], h.env);
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, new RegExp(`^healthy: daemon pid ${d.pid}, last cycle \\d+s ago, 13 rules`));
    assert.match(ok.stdout, new RegExp(`^its cost +the daemon \\(pid ${d.pid}\\): \\d+ MiB resident`, 'm'));
    assert.match(ok.stdout, /database\s+.*vigil\.db, \d+ KiB, integrity ok/);
    assert.match(ok.stdout, /processes\s+[\d.]+ ms\s+ok/);
    assert.match(ok.stdout, /notify\s+terminal ok; .*log ok/);
    const json = JSON.parse(runVigil(['health', '--json'], h.env).stdout);
    assert.equal(json.healthy, true);
    assert.ok(json.self.rssBytes > 10 * 1024 * 1024);
    await d.stop();
    const down = runVigil(['health'], h.env);
    assert.equal(down.status, 1);
    assert.match(down.stdout.split('\n')[0]!, /^the daemon is not running/);
  });
});

describe('vigil health and a dead webhook', () => {
  it('names the failing channel (exit 1) while the daemon keeps cycling', async () => {
    const h = home();
    const listener = createServer();
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as AddressInfo).port;
    await new Promise((r) => listener.close(r)); // nobody listens there now
    const share = ((8 * 24 * 1024 * 1024) / memTotalBytes()) * 100;
    writeFileSync(
      join(h.configDir, 'config.toml'),
      `[thresholds]\nghost_storm_min_ram_percent = ${(share / 2).toFixed(4)}\n\n[notifications]\nwebhook_url = "http://127.0.0.1:${port}/hook"\nwebhook_min_severity = "low"\ndesktop = false\n`,
    );
    const storm = spawnOrphanedStorm(8, 24);
    for (const pid of storm) started.add(pid);
    await waitUntil(() => storm.every((pid) => stateOf(pid) !== null), 'the storm');
    const d = daemon(h, ['--interval', '1']);
    await d.waitFor(/HIGH\s+ghost_process_storm/, 20_000, 'stdout');
    let health = runVigil(['health'], h.env);
    await waitUntil(
      () => {
        health = runVigil(['health'], h.env);
        return health.status === 1;
      },
      'vigil health to see the webhook failing',
      20_000,
    );
    assert.match(
      health.stdout.split('\n')[0]!,
      new RegExp(`^notification channel webhook is failing: cannot reach http://127\\.0\\.0\\.1:${port}`),
    );
    assert.match(health.stdout, /notify\s+.*webhook FAILING \(cannot reach .*\), 1 queued/);
    killAll(storm);
    await d.stop();
  });
});

describe('vigil report', () => {
  it('tells what happened: the ghost storm raised and resolved, with its pids, in JSON and Markdown', async () => {
    const h = home();
    const share = ((8 * 24 * 1024 * 1024) / memTotalBytes()) * 100;
    writeFileSync(
      join(h.configDir, 'config.toml'),
      `[thresholds]\nghost_storm_min_ram_percent = ${(share / 2).toFixed(4)}\n\n[history]\nsnapshot_interval_secs = 5\n`,
    );
    const storm = spawnOrphanedStorm(8, 24);
    for (const pid of storm) started.add(pid);
    await waitUntil(() => storm.every((pid) => stateOf(pid) !== null), 'the storm');
    const d = daemon(h, ['--interval', '1']);
    await d.waitFor(
      /HIGH\s+ghost_process_storm: ⚠️ 8 identical python3 mcp_server_fake processes/,
      20_000,
      'stdout',
    );
    killAll(storm);
    await d.waitFor(/RESOLVED ghost_process_storm/, 20_000, 'stdout');
    await d.stop();
    const run = runVigil(['report', '--json', '--since', '1h'], h.env);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    const storms = report.alerts.filter((a: { rule: string }) => a.rule === 'ghost_process_storm');
    assert.equal(storms.length, 1);
    assert.deepEqual(
      storms[0].pids,
      [...storm].sort((a, b) => a - b),
    );
    assert.equal(storms[0].severity, 'high');
    assert.ok(storms[0].firstSeen <= storms[0].lastSeen && storms[0].lastSeen <= storms[0].resolvedAt);
    const md = runVigil(['report', '--markdown', '--since', '1h'], h.env).stdout;
    assert.match(md, /^# vigil report: /);
    assert.match(
      md,
      /\| \d{4}-\d\d-\d\d \d\d:\d\d \| raised \| \d+ \| high \| `ghost_process_storm` \| ⚠️ 8 identical/,
    );
    assert.match(md, /\| \d{4}-\d\d-\d\d \d\d:\d\d \| resolved \| \d+ \| high \| `ghost_process_storm` \|/);
    assert.match(md, /## Top by peak memory/);
  });
});
