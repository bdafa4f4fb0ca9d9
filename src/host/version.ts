import { readFileSync } from 'node:fs';

/** vigil's version, from the package.json beside dist/ (or src/); 'unknown' when it cannot be read. */
export function vigilVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
