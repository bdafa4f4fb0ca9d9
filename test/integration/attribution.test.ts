import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assembleSnapshot, CollectorSet, makeContext } from '../../src/collectors/index.js';
import { defaultConfig } from '../../src/config/schema.js';
import { kindFiles, loadKindPatterns } from '../../src/understand/classify.js';
import { FactBuilder } from '../../src/understand/facts.js';
import type { GroupFacts } from '../../src/understand/facts-schema.js';
import { liveSampling } from '../helpers/context.js';
import {
  type AgentStorm,
  killAll,
  spawnAgentStorm,
  spawnOrphanedStorm,
  stateOf,
  waitUntil,
} from '../helpers/procs.js';

const SESSION = '3f2a9c1e-1b2c-4d5e-8f90-1234567890ab';
const config = defaultConfig();
const kinds = loadKindPatterns(kindFiles({}), {}).patterns;

/** One look at the live machine through a builder that lives across looks, as the daemon's does. */
async function look(builder: FactBuilder, pids: readonly number[]): Promise<GroupFacts | undefined> {
  const set = new CollectorSet();
  const ctx = makeContext(liveSampling());
  const snapshot = assembleSnapshot(await set.run(['processes', 'memory'], ctx), ctx);
  const facts = builder.build(snapshot, config);
  // Found by its pids: other storms of the same script may run on this machine meanwhile.
  return facts.subjects.group?.find((g) => pids.every((pid) => g.pids.includes(pid)))?.facts as
    | GroupFacts
    | undefined;
}

describe('a ghost group says who left it', () => {
  // A real project directory under the home, as `~/<name>` in what vigil says.
  let project: string;
  let storm: AgentStorm | null = null;
  const orphans: number[] = [];
  before(() => {
    project = mkdtempSync(join(homedir(), 'vigil-project-'));
  });
  after(() => {
    storm?.stop();
    killAll(orphans);
    rmSync(project, { recursive: true, force: true });
  });

  it('names the agent CLI, its --resume session and the project directory once the agent dies', async () => {
    const builder = new FactBuilder({ procfs: '/proc', kinds, uid: process.getuid?.() ?? -1 });
    storm = await spawnAgentStorm(4, 1, { cwd: project, session: SESSION });
    const alive = await look(builder, storm.servers);
    assert.ok(alive, 'the four servers form a group');
    assert.equal(alive.left_by, 'claude');
    assert.equal(alive.owner_gone_secs, -1, 'the agent still runs');
    assert.match(
      alive.attribution,
      /^started by claude \(session 3f2a9c1e…, in ~\/vigil-project-\w+, still running\)$/,
    );

    await storm.leave();
    await waitUntil(
      () => storm!.servers.every((pid) => stateOf(pid) !== null),
      'the servers outliving the agent',
    );
    const left = await look(builder, storm!.servers);
    assert.ok(left);
    assert.equal(left.orphans, 4);
    assert.equal(left.left_by, 'claude');
    assert.equal(left.session, SESSION);
    assert.equal(left.cwd, `~/${basename(project)}`);
    assert.ok(
      left.owner_gone_secs >= 0 && left.owner_gone_secs < 60,
      `${left.owner_gone_secs} s since it died`,
    );
    assert.match(
      left.attribution,
      new RegExp(`^left by claude \\(session 3f2a9c1e…, in ~/${basename(project)}, `),
    );
  });

  it('says the owner died before vigil started when it never saw it, with the directory still known', async () => {
    const pids = spawnOrphanedStorm(3, 1, { cwd: project });
    orphans.push(...pids);
    const builder = new FactBuilder({ procfs: '/proc', kinds, uid: process.getuid?.() ?? -1 });
    const group = await look(builder, pids);
    assert.ok(group, 'the three orphans form a group');
    assert.equal(group.orphans, 3);
    assert.equal(group.left_by, '');
    assert.equal(group.owner_gone_secs, -1);
    assert.equal(group.cwd, `~/${basename(project)}`);
    assert.match(
      group.attribution,
      new RegExp(`^left behind \\(in ~/${basename(project)}, before vigil started, up \\d+ s\\)$`),
    );
  });
});
