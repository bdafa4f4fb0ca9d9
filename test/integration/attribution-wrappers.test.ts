import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assembleSnapshot, CollectorSet, makeContext } from '../../src/collectors/index.js';
import { defaultConfig } from '../../src/config/schema.js';
import { kindFiles, loadKindPatterns } from '../../src/understand/classify.js';
import { FactBuilder } from '../../src/understand/facts.js';
import type { GroupFacts } from '../../src/understand/facts-schema.js';
import { liveSampling } from '../helpers/context.js';
import { type Actor, GhostLab } from '../helpers/ghosts.js';
import { waitUntil } from '../helpers/procs.js';

const SESSION = '4bc1f741-a4d0-420e-bb60-bf447585fb00';
const config = defaultConfig();
const kinds = loadKindPatterns(kindFiles({}), {}).patterns;

async function look(builder: FactBuilder, pids: readonly number[]): Promise<GroupFacts | undefined> {
  const set = new CollectorSet();
  const ctx = makeContext(liveSampling());
  const snapshot = assembleSnapshot(await set.run(['processes', 'memory'], ctx), ctx);
  const facts = builder.build(snapshot, config);
  return facts.subjects.group?.find((g) => pids.every((pid) => g.pids.includes(pid)))?.facts as
    | GroupFacts
    | undefined;
}

describe('who left servers behind their wrappers (npm exec → sh -c → node)', () => {
  const lab = new GhostLab('attribution');
  const project = mkdtempSync(join(homedir(), 'vigil-project-'));
  after(async () => {
    await lab.cleanup();
    rmSync(project, { recursive: true, force: true });
  });

  it('names the agent that started the wrappers, not the live wrapper each server runs under', async () => {
    const node = lab.runtime('bin/node');
    const claude = lab.script('lib/node_modules/@anthropic-ai/claude-code/cli.js');
    const server = lab.script('.npm/_npx/3f2a9c1b7d4e5f60/node_modules/.bin/mcp-server-fake');
    const wrapper = (): Actor => ({
      role: 'wrapper',
      title: ['npm exec @modelcontextprotocol/server-fake'],
      comm: 'npm exec @model',
      children: [
        {
          role: 'sh',
          actor: false,
          exec: '/bin/sh',
          argv: ['sh', '-c', `${node} ${server}`],
          inner: { role: 'server', mib: 4 },
        },
      ],
    });
    lab.start({
      role: 'owner',
      exec: node,
      argv: [node, claude, '--resume', SESSION],
      cwd: project,
      children: Array.from({ length: 6 }, wrapper),
    });
    const servers = await lab.ready('server', 6);
    const builder = new FactBuilder({ procfs: '/proc', kinds, uid: process.getuid?.() ?? -1 });
    await look(builder, servers);

    const [owner] = lab.pids('owner');
    assert.ok(owner !== undefined && lab.kill(owner));
    await waitUntil(() => !lab.owns(owner), 'the agent gone');
    const group = await look(builder, servers);
    assert.ok(group, 'the six servers form a group');
    assert.equal(group.left_by, 'claude-code');
    assert.equal(group.session, SESSION);
    assert.equal(group.cwd, `~/${basename(project)}`);
    assert.ok(group.owner_gone_secs >= 0, 'vigil saw the wrappers re-parented');
    assert.match(
      group.attribution,
      new RegExp(`^left by claude-code \\(session 4bc1f741…, in ~/${basename(project)}, `),
    );
  });
});
