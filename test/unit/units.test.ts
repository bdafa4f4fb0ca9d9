import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Unsupported } from '../../src/collectors/types.js';
import { createUnitsCollector, parseListUnits } from '../../src/collectors/units.js';
import { liveContext } from '../helpers/context.js';

const ctx = liveContext({ commandTimeoutMs: 3000 });
const noop = { skip: () => {} };
const scratch = mkdtempSync(join(tmpdir(), 'vigil-units-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function fakeSystemctl(body: string): string {
  const path = join(scratch, `systemctl-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('failed systemd user units', () => {
  it('reads unit, states and a description with spaces, with or without the ● marker', () => {
    const units = parseListUnits(
      '● syncthing.service loaded failed failed Syncthing - Open Source Continuous File Synchronization\n' +
        'mcp-bridge.service    loaded failed failed MCP bridge\n',
    );
    assert.deepEqual(units[0], {
      name: 'syncthing.service',
      description: 'Syncthing - Open Source Continuous File Synchronization',
      active_state: 'failed',
      sub_state: 'failed',
      failed: true,
    });
    assert.equal(units[1]!.name, 'mcp-bridge.service');
  });

  it('is unsupported, not failing, when there is no user bus', async () => {
    const systemctl = fakeSystemctl('echo "Failed to connect to bus: No medium found" >&2; exit 1');
    await assert.rejects(
      Promise.resolve(createUnitsCollector({ systemctl }).collect(ctx, noop)),
      (error) => error instanceof Unsupported && /no systemd user bus/.test(error.message),
    );
  });

  it('is unsupported when systemctl is not installed', async () => {
    await assert.rejects(
      Promise.resolve(createUnitsCollector({ systemctl: join(scratch, 'none') }).collect(ctx, noop)),
      Unsupported,
    );
  });

  it('lists what a real systemctl prints', async () => {
    const systemctl = fakeSystemctl("printf 'backup.service loaded failed failed Nightly backup\\n'");
    const units = await createUnitsCollector({ systemctl }).collect(ctx, noop);
    assert.deepEqual(
      units.map((u) => [u.name, u.failed]),
      [['backup.service', true]],
    );
  });
});
