import { join } from 'node:path';
import { readText } from '../host/files.js';
import type { MemorySlice } from '../model/snapshot.js';
import { readPressure } from './pressure.js';
import type { SyncCollector } from './types.js';

/**
 * Parses /proc/meminfo (`Key:   value kB` lines, see proc(5)) into bytes. Lines without a unit (the
 * HugePages_* counts) are kept as plain numbers. Unknown keys are kept; nothing is required here.
 */
export function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const rest = line.slice(colon + 1).trim();
    const space = rest.indexOf(' ');
    const value = Number(space < 0 ? rest : rest.slice(0, space));
    if (!Number.isFinite(value)) continue;
    const unit = space < 0 ? '' : rest.slice(space + 1);
    values.set(line.slice(0, colon), unit === 'kB' ? value * 1024 : value);
  }
  return values;
}

/**
 * Builds the memory slice from meminfo values. MemAvailable appeared in kernel 3.14; without it the
 * estimate is what the kernel's own heuristic mostly amounts to: free memory plus the page cache that can
 * be dropped (active + inactive file pages) plus reclaimable slab, never more than total.
 */
export function memoryFromMeminfo(values: Map<string, number>): Omit<MemorySlice, 'pressure'> {
  const total = values.get('MemTotal');
  if (total === undefined || total <= 0) throw new Error('no MemTotal line');
  const free = values.get('MemFree') ?? 0;
  let available = values.get('MemAvailable');
  const availableEstimated = available === undefined;
  if (available === undefined) {
    const file = (values.get('Active(file)') ?? 0) + (values.get('Inactive(file)') ?? 0);
    const pageCache = file > 0 ? file : (values.get('Cached') ?? 0) + (values.get('Buffers') ?? 0);
    available = Math.min(total, free + pageCache + (values.get('SReclaimable') ?? 0));
  }
  const swapTotal = values.get('SwapTotal') ?? 0;
  const swapFree = values.get('SwapFree') ?? 0;
  const swapUsed = Math.max(0, swapTotal - swapFree);
  return {
    totalBytes: total,
    availableBytes: available,
    availableEstimated,
    freeBytes: free,
    buffersBytes: values.get('Buffers') ?? 0,
    cachedBytes: values.get('Cached') ?? 0,
    usedPercent: ((total - available) / total) * 100,
    swapTotalBytes: swapTotal,
    swapFreeBytes: swapFree,
    swapUsedBytes: swapUsed,
    swapUsedPercent: swapTotal > 0 ? (swapUsed / swapTotal) * 100 : 0,
  };
}

/** Memory and swap from /proc/meminfo, plus memory pressure from /proc/pressure/memory. */
export function createMemoryCollector(): SyncCollector<MemorySlice> {
  return {
    name: 'memory',
    collect(ctx) {
      const path = join(ctx.paths.procfs, 'meminfo');
      let memory: Omit<MemorySlice, 'pressure'>;
      try {
        memory = memoryFromMeminfo(parseMeminfo(readText(path)));
      } catch (error) {
        throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
      }
      return { ...memory, pressure: readPressure(ctx.paths, 'memory') };
    },
  };
}
