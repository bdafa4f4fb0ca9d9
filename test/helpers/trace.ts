import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Which modules a real Node process loads: a module resolve hook, registered with --import, appends the
 * URL of every module `import` resolves to a file, and NODE_DEBUG=module names every file `require`
 * loads (an ES module too, since Node 20.19), which the hook does not see. For checks that something heavy
 * is loaded only when used.
 */
export class ModuleTrace {
  private readonly dir = mkdtempSync(join(tmpdir(), 'vigil-trace-'));
  private readonly register: string;

  constructor() {
    const hooks = join(this.dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.VIGIL_TRACE, result.url + '\\n');
  return result;
}
`,
    );
    this.register = join(this.dir, 'register.mjs');
    writeFileSync(
      this.register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
  }

  /**
   * Runs node with `args` after the hook (and `preload`s such as tsx); returns the URLs it resolved. The
   * run must exit with one of `ok` (default 0).
   */
  urls(
    args: readonly string[],
    options: { preload?: readonly string[]; env?: NodeJS.ProcessEnv; ok?: readonly number[] } = {},
  ): string[] {
    const trace = join(this.dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(trace, '');
    const imports = [...(options.preload ?? []), pathToFileURL(this.register).href].flatMap((m) => [
      '--import',
      m,
    ]);
    const run = spawnSync(process.execPath, [...imports, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...options.env, VIGIL_TRACE: trace, NODE_DEBUG: 'module' },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const required = [...run.stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map(
      (m) => pathToFileURL(m[1]!).href,
    );
    const stderr = run.stderr.replace(/^MODULE \d+: .*\n/gm, '');
    assert.ok((options.ok ?? [0]).includes(run.status ?? -1), `exit ${run.status}: ${stderr}`);
    return [...readFileSync(trace, 'utf8').split('\n').filter(Boolean), ...required];
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
