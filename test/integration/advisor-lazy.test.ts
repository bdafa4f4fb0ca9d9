import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The SDK costs ~22 MB resident: loading the advisor (and the daemon that holds it) must not load it;
 * only a call does. A module resolve hook records every module a real Node process resolves.
 */

const dir = mkdtempSync(join(tmpdir(), 'vigil-lazy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hooks = join(dir, 'hooks.mjs');
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
const register = join(dir, 'register.mjs');
writeFileSync(
  register,
  `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
);

const src = (path: string) =>
  pathToFileURL(fileURLToPath(new URL(`../../src/${path}`, import.meta.url))).href;

function resolvedBy(code: string): string[] {
  const trace = join(dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(trace, '');
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', pathToFileURL(register).href, '--input-type=module', '-e', code],
    { encoding: 'utf8', env: { ...process.env, VIGIL_TRACE: trace }, timeout: 60_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  return readFileSync(trace, 'utf8').split('\n').filter(Boolean);
}

describe('loading the advisor', () => {
  it('does not load @anthropic-ai/sdk when the advisor and the daemon are imported', () => {
    const urls = resolvedBy(
      `await import(${JSON.stringify(src('advisor/advisor.ts'))}); await import(${JSON.stringify(src('daemon/daemon.ts'))}); await import(${JSON.stringify(src('advisor/explain.ts'))});`,
    );
    assert.ok(
      urls.some((u) => u.endsWith('/src/advisor/advisor.ts')),
      'the hook sees the modules loaded',
    );
    assert.deepEqual(
      urls.filter((u) => u.includes('@anthropic-ai/sdk')),
      [],
    );
  });

  it('loads it when a call is made (the hook would see it)', () => {
    const code = `
      const { callModel } = await import(${JSON.stringify(src('advisor/client.ts'))});
      const r = await callModel({ model: 'm', max_tokens: 64, system: '', messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema: {} } } },
        { apiKey: 'k', baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 });
      if (r.kind !== 'network' && r.kind !== 'timeout') throw new Error(JSON.stringify(r));`;
    const urls = resolvedBy(code);
    assert.ok(urls.some((u) => u.includes('@anthropic-ai/sdk')));
  });

  it('keeps it out of the asking process when the call is made from the child, as the daemon does', () => {
    const code = `
      const { callModelInChild } = await import(${JSON.stringify(src('advisor/client.ts'))});
      const r = await callModelInChild({ model: 'm', max_tokens: 64, system: '', messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema: {} } } },
        { apiKey: 'k', baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 });
      if (r.kind !== 'network' && r.kind !== 'timeout') throw new Error(JSON.stringify(r));`;
    const urls = resolvedBy(code);
    assert.ok(urls.some((u) => u.endsWith('/src/advisor/client.ts')));
    assert.deepEqual(
      urls.filter((u) => u.includes('@anthropic-ai/sdk')),
      [],
    );
  });
});
