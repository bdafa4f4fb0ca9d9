import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ModuleTrace } from '../helpers/trace.js';

/**
 * The SDK costs ~22 MB resident: loading the advisor (and the daemon that holds it) must not load it;
 * only a call does. A module resolve hook records every module a real Node process resolves.
 */

const trace = new ModuleTrace();
after(() => trace.close());

const src = (path: string) =>
  pathToFileURL(fileURLToPath(new URL(`../../src/${path}`, import.meta.url))).href;

function resolvedBy(code: string): string[] {
  return trace.urls(['--input-type=module', '-e', code], { preload: ['tsx'] });
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
