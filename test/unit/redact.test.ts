import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact } from '../../src/redact/redact.js';

describe('redaction of secrets in cmdlines and log text', () => {
  const cases: Array<[string, string]> = [
    ['server --token=abc123def --port 80', 'server --token=‹redacted› --port 80'],
    ['psql --password hunter2 -h db', 'psql --password ‹redacted› -h db'],
    ['node mcp.js --api-key sk-ant-api03-AAAABBBBCCCCDDDD', 'node mcp.js --api-key ‹redacted›'],
    ['GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123 make', 'GITHUB_TOKEN=‹redacted› make'],
    [
      'curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl"',
      'curl -H "Authorization: Bearer ‹redacted›"',
    ],
    [
      'git clone https://alice:s3cr3t@example.com/repo.git',
      'git clone https://alice:‹redacted›@example.com/repo.git',
    ],
    ['aws s3 ls AKIAIOSFODNN7EXAMPLE', 'aws s3 ls ‹redacted›'],
    ['echo sk-ant-api03-xyzxyzxyzxyz', 'echo ‹redacted›'],
    ['DB_PASSWORD="two words" app', 'DB_PASSWORD=‹redacted› app'],
  ];
  for (const [input, expected] of cases) {
    it(`masks ${input.split(' ')[0]}…: ${expected}`, () => assert.equal(redact(input), expected));
  }
  it('leaves ordinary cmdlines alone', () => {
    for (const text of [
      'python3 -m mcp_server_fetch --port 8123',
      'vite --host 0.0.0.0',
      'ssh -p 22 host',
      'make -j8 auth-service',
    ]) {
      assert.equal(redact(text), text);
    }
  });
});
