import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseComputeAppsCsv } from '../../src/collectors/gpu.js';
import { parseJournalJson } from '../../src/collectors/journal.js';
import { parseListUnits } from '../../src/collectors/units.js';
import { fakeSecrets, leaksIn } from '../helpers/secrets.js';

/**
 * Besides command lines (test/unit/redact.test.ts), text enters vigil as journal messages, GPU process
 * names and unit descriptions: each is masked where it is parsed, so nothing downstream holds a secret.
 */

const FAKES = fakeSecrets();

describe('secrets are masked where journal, GPU and unit text enters vigil', () => {
  it('masks every format in journal messages, including a PEM key over several lines and a byte-array MESSAGE', () => {
    const lines = FAKES.map((f, i) =>
      JSON.stringify({
        __REALTIME_TIMESTAMP: String(1_700_000_000_000_000 + i),
        PRIORITY: '4',
        SYSLOG_IDENTIFIER: 'leaky-app',
        MESSAGE: i % 2 === 0 ? f.text : [...Buffer.from(f.text, 'utf8')],
      }),
    );
    const { entries, skipped } = parseJournalJson(lines.join('\n'));
    assert.deepEqual(skipped, []);
    assert.equal(entries.length, FAKES.length);
    const messages = entries.map((e) => e.message).join('\n');
    assert.deepEqual(leaksIn(messages, FAKES), []);
    assert.equal(entries[0]!.message, 'loaded ‹redacted› from the store');
  });

  it('masks a secret in a journal line it skips, before cutting it for the log', () => {
    const token = FAKES.find((f) => f.format === 'GitHub ghp_ token')!;
    const { skipped } = parseJournalJson(
      `{"MESSAGE": "x", ${'"pad": 1, '.repeat(2)}"t": "${token.argv[0]}" garbled`,
    );
    assert.equal(skipped.length, 1);
    assert.deepEqual(leaksIn(skipped[0]!, [token]), [], skipped[0]);
  });

  it('masks a GPU process name that carries a secret', () => {
    const fake = FAKES.find((f) => f.format === 'postgres:// user:password@')!;
    const csv = `GPU-b2f5e8c4-1d3a-4f6b-9e2c-7a8d5f3b1e09, 4242, /opt/app/bin/worker ${fake.argv[0]}, 1024`;
    const { processes } = parseComputeAppsCsv(csv);
    assert.equal(processes.length, 1);
    assert.deepEqual(leaksIn(processes[0]!.name, [fake]), []);
    assert.equal(processes[0]!.gpuUuid, 'GPU-b2f5e8c4-1d3a-4f6b-9e2c-7a8d5f3b1e09', 'the GPU UUID is kept');
  });

  it('masks a unit description that carries a secret, and keeps the unit name', () => {
    const fake = FAKES.find((f) => f.format === '*_TOKEN=')!;
    const [unit] = parseListUnits(`deploy.service loaded failed failed Deploy with ${fake.argv[0]}\n`);
    assert.equal(unit!.name, 'deploy.service');
    assert.deepEqual(leaksIn(unit!.description, [fake]), []);
    assert.match(unit!.description, /DEPLOY_TOKEN=‹redacted›/);
  });
});
