import { performance } from 'node:perf_hooks';
import type { SampleOptions } from '../../src/collectors/index.js';
import type { CollectContext } from '../../src/collectors/types.js';
import { type HostPaths, LIVE_PATHS } from '../../src/host/paths.js';
import { fixturePath } from './samples.js';

/** The fixture procfs/sysfs tree under test/fixtures, with its own /etc/passwd. */
export const FIXTURE_PATHS: HostPaths = {
  procfs: fixturePath('proc'),
  sysfs: fixturePath('sys'),
  etc: fixturePath('root/etc'),
  rootfs: fixturePath('root'),
};

/** Sampling options for the live machine, with no GPU program and a short command timeout. */
export function liveSampling(overrides: Partial<SampleOptions> = {}): SampleOptions {
  return {
    paths: LIVE_PATHS,
    nvidiaSmi: '/nonexistent/nvidia-smi',
    journal: { kind: 'system' },
    journalSince: '-1h',
    commandTimeoutMs: 5000,
    ...overrides,
  };
}

/** A collector context for the live machine, taken now. */
export function liveContext(overrides: Partial<CollectContext> = {}): CollectContext {
  return {
    ...liveSampling(),
    nvidiaSmi: 'nvidia-smi',
    nowMs: Date.now(),
    monoMs: performance.now(),
    ...overrides,
  };
}

/** A collector context for the fixture tree (or other paths), at a given monotonic time. */
export function fixtureContext(monoMs = 1000, paths: HostPaths = FIXTURE_PATHS): CollectContext {
  return liveContext({ paths, monoMs });
}

/** `vigil status --json` arguments that read the fixture tree (another sysfs or nvidia-smi if given). */
export function fixtureStatusArgs(
  options: { sysfs?: string; nvidiaSmi?: string; sampleMs?: number } = {},
): string[] {
  return [
    'status',
    '--json',
    '--sample',
    String(options.sampleMs ?? 0),
    '--procfs',
    FIXTURE_PATHS.procfs,
    '--sysfs',
    options.sysfs ?? FIXTURE_PATHS.sysfs,
    '--rootfs',
    FIXTURE_PATHS.rootfs,
    '--nvidia-smi',
    options.nvidiaSmi ?? '/nonexistent',
  ];
}
