import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeRedactor, redact } from '../../src/redact/redact.js';

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
    ['app --password=hunter2 --verbose', 'app --password=‹redacted› --verbose'],
    ['mysql -u root --passwd hunter2', 'mysql -u root --passwd ‹redacted›'],
    ['OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx node x.js', 'OPENAI_API_KEY=‹redacted› node x.js'],
    [
      'export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY',
      'export AWS_SECRET_ACCESS_KEY=‹redacted›',
    ],
    [
      'login failed: {"user": "bob", "password": "hunter2"}',
      'login failed: {"user": "bob", "password": ‹redacted›}',
    ],
    ['config token: abc123def loaded', 'config token: ‹redacted› loaded'],
    ['Authorization: token ghp_abcdefghijklmnopqrstuvwxyz0123', 'Authorization: token ‹redacted›'],
    ['psql postgres://app:s3cret@db:5432/main', 'psql postgres://app:‹redacted›@db:5432/main'],
    ['maps key AIzaSyA-abcdefghijklmnopqrstuvwxyz01234', 'maps key ‹redacted›'],
    [
      'key=-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY----- done',
      'key=-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY----- done'.replace(
        /-----BEGIN[\s\S]*KEY-----/,
        '‹redacted›',
      ),
    ],
    ['slack xoxb-1234567890-abcdefghij', 'slack ‹redacted›'],
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

describe('redaction of what leaves the machine (the advisor)', () => {
  it('writes the home directory as ~ and other homes as ~name', () => {
    const r = makeRedactor({ home: '/home/alice' });
    assert.equal(
      r('node /home/alice/proj/server.js --log /home/bob/x.log'),
      'node ~/proj/server.js --log ~bob/x.log',
    );
    assert.equal(r('cd /home/alice'), 'cd ~');
    assert.equal(r('/home/alicex/data'), '~alicex/data', 'only whole path components');
  });

  it('still masks secrets', () => {
    const r = makeRedactor({ home: '/home/alice' });
    assert.equal(r('/home/alice/bin/app --token=abc123def'), '~/bin/app --token=‹redacted›');
  });

  it('anonymises user and host names consistently, in paths and free text', () => {
    const r = makeRedactor({
      home: '/home/alice',
      anonymize: { users: ['alice', 'bob'], hostnames: ['devbox.example.com', 'devbox'] },
    });
    assert.equal(r('alice'), 'user1', 'a field that is a user name');
    assert.equal(r('ssh bob@devbox.example.com'), 'ssh user2@host');
    assert.equal(r('session opened for user alice by (uid=0)'), 'session opened for user user1 by (uid=0)');
    assert.equal(r('bob started a build on devbox'), 'user2 started a build on host2');
    assert.equal(r('/home/bob/notes.txt'), '~user2/notes.txt');
  });

  it('replaces a user name that is also a word only where it clearly is a user name', () => {
    const r = makeRedactor({ home: '/home/dev', anonymize: { users: ['dev'], hostnames: [] } });
    assert.equal(r('cat /dev/null; make dev'), 'cat /dev/null; make dev');
    assert.equal(r('dev@laptop and user=dev'), 'user1@laptop and user=user1');
    assert.equal(r('dev'), 'user1');
  });

  it('anonymises nothing without the option', () => {
    const r = makeRedactor({ home: null });
    assert.equal(r('alice on devbox'), 'alice on devbox');
  });
});
