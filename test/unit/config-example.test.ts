import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { loadConfig } from '../../src/config/load.js';
import { defaultConfig } from '../../src/config/schema.js';

const path = fileURLToPath(new URL('../../config.example.toml', import.meta.url));

describe('config.example.toml', () => {
  it('is valid and its values are exactly the defaults', () => {
    assert.deepEqual(loadConfig(path, {}).config, defaultConfig());
  });

  it('writes out every key of every section', () => {
    const written = parse(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>>;
    for (const [section, keys] of Object.entries(defaultConfig())) {
      assert.deepEqual(Object.keys(written[section] ?? {}).sort(), Object.keys(keys).sort(), `[${section}]`);
    }
  });
});
