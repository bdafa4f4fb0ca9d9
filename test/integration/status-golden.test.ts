import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runVigil } from '../helpers/cli.js';
import { fixtureStatusArgs } from '../helpers/context.js';
import { fixturePath } from '../helpers/samples.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const GOLDEN = fixturePath('status-golden.json');
const emptyJournal = mkdtempSync(join(tmpdir(), 'vigil-golden-'));
after(() => rmSync(emptyJournal, { recursive: true, force: true }));

/**
 * Masks what depends on the machine running the test rather than on the fixture tree: the clock (wall and
 * monotonic), how long collectors took, where the repository is, and what statfs says about the real file
 * systems the fixture's mount table names.
 */
function normalise(status: Record<string, unknown>): unknown {
  const text = JSON.stringify(status, (key, value) => {
    if (key === 'takenAt' || key === 'durationMs' || key === 'readAtMonoMs') return '<varies>';
    return value;
  }).replaceAll(REPO, '<repo>');
  const s = JSON.parse(text);
  for (const disk of s.disks ?? []) {
    for (const key of ['totalBytes', 'availableBytes', 'usedPercent', 'inodesUsedPercent'])
      disk[key] = '<statfs>';
  }
  // The machine's own user units: failed ones, or no user bus at all.
  delete s.units;
  for (const c of s.collectors) {
    // The journal is an empty directory: an error or "unsupported" worded by the local journalctl.
    if (c.name === 'journal' || c.name === 'units')
      Object.assign(c, { ok: '<varies>', error: '<varies>', unsupported: '<varies>' });
  }
  return s;
}

describe('vigil status --json on a fixture procfs and sysfs', () => {
  it('prints exactly the golden snapshot (real samples: odd comms, a zombie, 8 GPUs with per-process VRAM)', () => {
    const run = runVigil(
      [
        ...fixtureStatusArgs({ sampleMs: 50, nvidiaSmi: fixturePath('bin/fake-nvidia-smi') }),
        '--journal-dir',
        emptyJournal,
      ],
      {
        FAKE_NVIDIA_SMI_GPU: fixturePath('samples/nvidia-smi-query-gpu-8x-v100-multigpu.csv'),
        FAKE_NVIDIA_SMI_APPS: fixturePath('samples/nvidia-smi-query-compute-apps.csv'),
        FAKE_NVIDIA_SMI_APPS_SECTION: 'h100-80gb-hbm3__590.48.01.txt load',
        XDG_CONFIG_HOME: emptyJournal,
        VIGIL_CONFIG: '',
      },
    );
    assert.equal(run.status, 0, run.stderr);
    const actual = normalise(JSON.parse(run.stdout));
    if (process.env['UPDATE_GOLDEN']) writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 2)}\n`);
    assert.deepEqual(actual, JSON.parse(readFileSync(GOLDEN, 'utf8')));
  });
});
