import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { createDisksCollector } from '../../src/collectors/disks.js';
import { liveContext } from '../helpers/context.js';

const MiB = 1024 * 1024;

/** What `df -B1 --output=target,size,avail,pcent MOUNT` says; the target may contain spaces. */
function df(mount: string): { size: number; avail: number; percent: number | null } {
  const out = execFileSync('df', ['-B1', '--output=target,size,avail,pcent', mount], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    timeout: 10_000,
  });
  const line = out.trim().split('\n').at(-1)!;
  const fields = line.trim().split(/\s+/);
  const pcent = fields.at(-1)!;
  return {
    size: Number(fields.at(-3)),
    avail: Number(fields.at(-2)),
    percent: pcent === '-' ? null : Number(pcent.replace('%', '')),
  };
}

const context = liveContext();

describe('disk sizes on this machine, compared with df', () => {
  it('agrees with df on size, available space and Use% for every disk vigil reports', async () => {
    const skipped: string[] = [];
    const { disks } = await createDisksCollector().collect(context, {
      skip: (reason) => skipped.push(reason),
    });
    assert.ok(disks.length > 0, `no disk found on this machine (skipped: ${skipped.join('; ')})`);
    for (const disk of disks) {
      const theirs = df(disk.mount);
      assert.equal(disk.totalBytes, theirs.size, `${disk.mount}: size`);
      const drift = Math.abs(disk.availableBytes - theirs.avail);
      assert.ok(
        drift <= Math.max(MiB, theirs.size * 0.005),
        `${disk.mount}: available ${disk.availableBytes} vs df ${theirs.avail}`,
      );
      if (theirs.percent !== null) {
        const ours = Math.ceil(disk.usedPercent);
        assert.ok(
          Math.abs(ours - theirs.percent) <= 1,
          `${disk.mount}: Use% ${ours} vs df ${theirs.percent}`,
        );
      }
    }
  });
});
