/**
 * The journal as the daemon's full cycles receive it (src/pipeline/journal-feed.ts): a stand-in
 * journalctl (a real process, which notes how it was started) writes entries; the feed keeps them for
 * the next cycle, keeps its place in a real SQLite store, and says what the follower is doing once.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { JournalFeed } from '../../src/pipeline/journal-feed.js';
import { StoreGuard } from '../../src/store/guard.js';
import { waitUntil } from '../helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-journal-feed-'));
const feeds: JournalFeed[] = [];
after(async () => {
  await Promise.all(feeds.map((f) => f.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A journalctl that answers the probe with the cursor `c0` and, following, writes entries `entry 1` …
 * `entry <count>` (cursors c1 …) and waits to be stopped. Each start appends its arguments to `calls`.
 */
function standIn(count: number): { program: string; calls: () => string[][] } {
  const calls = join(dir, `calls-${Math.random().toString(36).slice(2)}.jsonl`);
  const program = join(dir, `journalctl-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    program,
    `#!${process.execPath}
const fs = require('node:fs');
const argv = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify(argv) + '\\n');
if (argv.includes('--show-cursor')) { console.log('-- cursor: c0'); process.exit(0); }
let out = '';
for (let n = 1; n <= ${count}; n++)
  out += JSON.stringify({ __CURSOR: 'c' + n, __REALTIME_TIMESTAMP: String(1767225600000000 + n), PRIORITY: '3', MESSAGE: 'entry ' + n }) + '\\n';
process.stdout.write(out);
setInterval(() => {}, 1000);
`,
  );
  chmodSync(program, 0o755);
  const read = () =>
    readFileSync(calls, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string[]);
  return { program, calls: read };
}

let made = 0;
function feedOn(guard: StoreGuard, journalctl: string, maxPending?: number) {
  const logs: string[] = [];
  const feed = new JournalFeed({
    source: { kind: 'system' },
    guard,
    log: (line) => logs.push(line),
    journalctl,
    ...(maxPending === undefined ? {} : { maxPending }),
  });
  feeds.push(feed);
  return { feed, logs };
}

function history(): StoreGuard {
  const guard = new StoreGuard(join(dir, `state${made++}`), () => {});
  assert.ok(guard.open());
  return guard;
}

describe('the journal between full cycles', () => {
  it('hands the next cycle what came since the last one, keeping the newest when more came than it holds', async () => {
    const guard = history();
    const { program } = standIn(12);
    const { feed, logs } = feedOn(guard, program, 5);
    assert.equal(feed.take(), undefined, 'nothing to hand before it follows');
    feed.start();
    await waitUntil(() => guard.store!.getJournalCursor() === 'c12', 'the cursor of the last entry stored');
    assert.deepEqual(
      feed.take()!.map((e) => e.message),
      ['entry 8', 'entry 9', 'entry 10', 'entry 11', 'entry 12'],
    );
    assert.deepEqual(feed.take(), [], 'each entry is handed once');
    assert.deepEqual(feed.state, { state: 'following', detail: 'system journal' });
    assert.deepEqual(logs, ['journal: following (system journal)']);
    await feed.stop();
  });

  it('starts again after the cursor the last run stored, so a restart neither misses nor repeats an entry', async () => {
    const guard = history();
    guard.store!.setJournalCursor('c41');
    const { program, calls } = standIn(1);
    const { feed } = feedOn(guard, program);
    feed.start();
    await waitUntil(() => guard.store!.getJournalCursor() === 'c1', 'the entry received');
    const follow = calls().find((argv) => argv.includes('-f'))!;
    assert.equal(follow[follow.indexOf('--after-cursor') + 1], 'c41');
    await feed.stop();
  });

  it('says once that the journal cannot be followed without journalctl, and the heartbeat says why', async () => {
    const guard = history();
    const { feed, logs } = feedOn(guard, join(dir, 'no-such-journalctl'));
    feed.start();
    await waitUntil(() => feed.state.state === 'unsupported', 'the follower to give up');
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^journal: unsupported \(.+\)$/);
    assert.match(feed.state.detail!, /journalctl/);
    assert.deepEqual(feed.take(), []);
    await feed.stop();
  });
});
