import { join } from 'node:path';
import { errorCode, readText } from '../host/files.js';
import type { HostPaths } from '../host/paths.js';
import type { Pressure, PressureLine } from '../model/snapshot.js';

/**
 * Parses a /proc/pressure/{cpu,memory,io,irq} file (Documentation/accounting/psi.rst):
 * `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and the same for `full`. Either line may be absent:
 * cpu has no `full` line before kernel 5.13, irq has only `full`. Unknown lines are ignored.
 * Throws when neither line can be read (a garbled file).
 */
export function parsePressure(text: string): Pressure {
  let some: PressureLine | null = null;
  let full: PressureLine | null = null;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const values: Record<string, number> = {};
    for (const field of fields) {
      const eq = field.indexOf('=');
      if (eq > 0) values[field.slice(0, eq)] = Number(field.slice(eq + 1));
    }
    const { avg10, avg60, avg300, total } = values;
    if (![avg10, avg60, avg300, total].every((v) => v !== undefined && Number.isFinite(v))) continue;
    const parsed: PressureLine = { avg10: avg10!, avg60: avg60!, avg300: avg300!, totalMicros: total! };
    if (kind === 'some') some = parsed;
    else full = parsed;
  }
  if (some === null && full === null) throw new Error('no "some" or "full" line');
  return { some, full };
}

/**
 * Reads one PSI resource. Returns null when PSI is not available on this kernel: the directory is absent
 * (CONFIG_PSI unset, kernel < 4.20) or the read fails with EOPNOTSUPP (compiled in but disabled, boot with
 * `psi=1`). A garbled file throws with the path in the message.
 */
export function readPressure(paths: HostPaths, resource: 'cpu' | 'memory' | 'io' | 'irq'): Pressure | null {
  const path = join(paths.procfs, 'pressure', resource);
  let text: string;
  try {
    text = readText(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'EACCES') return null;
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parsePressure(text);
  } catch (error) {
    throw new Error(`cannot parse ${path}: ${(error as Error).message}`, { cause: error });
  }
}
