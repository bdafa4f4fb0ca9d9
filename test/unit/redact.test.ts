import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseCmdline } from '../../src/collectors/processes.js';
import { looksRandom, makeRedactor, redact, redactArgv } from '../../src/redact/redact.js';
import { fakeSecrets, leaksIn } from '../helpers/secrets.js';

const FAKES = fakeSecrets();

describe('every secret format is masked where text enters vigil', () => {
  it('covers the formats the issue lists (39 of them)', () => {
    assert.equal(FAKES.length, 39);
  });
  for (const fake of FAKES) {
    it(`masks a ${fake.format} in a log line, in an argv and in a /proc cmdline`, () => {
      const text = redact(fake.text);
      const argv = redactArgv(fake.argv).join(' ');
      const cmdline = parseCmdline(`${fake.argv.join('\0')}\0`).join(' ');
      assert.deepEqual(leaksIn(text, [fake]), [], text);
      assert.deepEqual(leaksIn(argv, [fake]), [], argv);
      assert.deepEqual(leaksIn(cmdline, [fake]), [], cmdline);
      assert.match(text, /‹redacted›/);
    });
  }

  it('masks every format in one long cmdline, as a process carrying all of them would have it', () => {
    const argv = ['python3', '-c', 'import time; time.sleep(600)', ...FAKES.flatMap((f) => f.argv)];
    const cmdline = parseCmdline(argv.join('\0')).join(' ');
    assert.deepEqual(leaksIn(cmdline, FAKES), []);
    assert.ok(cmdline.startsWith('python3 -c import time; time.sleep(600) '), 'the program stays readable');
  });

  it('survives command lines written to break it: 100 KB of a=a=a=…, of mysql mysql …, of sk-sk-…', () => {
    for (const unit of [
      'a=',
      'mysql -p ',
      'curl -u a:',
      'sk-',
      'eyJ-',
      'key: ',
      '"a":',
      '-----BEGIN A-----',
    ]) {
      const text = unit.repeat(Math.ceil(100_000 / unit.length));
      assert.equal(typeof redact(text), 'string', unit);
      assert.ok(parseCmdline(text.split(' ').join('\0')).length > 0, unit);
    }
    assert.equal(
      redact(`${'a='.repeat(50_000)}x DB_PASSWORD=hunter2`),
      `${'a='.repeat(50_000)}x DB_PASSWORD=‹redacted›`,
    );
  });

  it('masking is idempotent, so a second net anywhere downstream changes nothing', () => {
    for (const fake of FAKES) {
      const once = redact(fake.text);
      assert.equal(redact(once), once, fake.format);
    }
  });
});

describe('redaction keeps what names the secret', () => {
  const cases: Array<[string, string]> = [
    ['server --token=abc123def --port 80', 'server --token=‹redacted› --port 80'],
    ['psql --password hunter2 -h db', 'psql --password ‹redacted› -h db'],
    ['node mcp.js --api-key sk-ant-api03-AAAABBBBCCCCDDDD', 'node mcp.js --api-key ‹redacted›'],
    [`GITHUB_TOKEN=${'ghp_'}abcdefghijklmnopqrstuvwxyz0123 make`, 'GITHUB_TOKEN=‹redacted› make'],
    [
      'curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl"',
      'curl -H "Authorization: Bearer ‹redacted›"',
    ],
    [
      'git clone https://alice:s3cr3t@example.com/repo.git',
      'git clone https://alice:‹redacted›@example.com/repo.git',
    ],
    [`aws s3 ls ${'AKIA'}IOSFODNN7EXAMPLE`, 'aws s3 ls ‹redacted›'],
    ['DB_PASSWORD="two words" app', 'DB_PASSWORD="‹redacted›" app'],
    ['app --password=hunter2 --verbose', 'app --password=‹redacted› --verbose'],
    ['mysql -u root --passwd hunter2', 'mysql -u root --passwd ‹redacted›'],
    [
      'export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY',
      'export AWS_SECRET_ACCESS_KEY=‹redacted›',
    ],
    [
      'login failed: {"user": "bob", "password": "hunter2"}',
      'login failed: {"user": "bob", "password": "‹redacted›"}',
    ],
    ['config token: abc123def loaded', 'config token: ‹redacted› loaded'],
    ['psql postgres://app:s3cret@db:5432/main', 'psql postgres://app:‹redacted›@db:5432/main'],
    [
      'java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar',
      'java -Djavax.net.ssl.keyStorePassword=‹redacted› -jar app.jar',
    ],
    ['docker run --env=API_TOKEN=xyz123 img', 'docker run --env=API_TOKEN=‹redacted› img'],
    ['GET /download?file=a.txt&token=abc123&x=1', 'GET /download?file=a.txt&token=‹redacted›&x=1'],
    ['sshpass -p hunter2 ssh -p 22 host', 'sshpass -p ‹redacted› ssh -p 22 host'],
    ['redis-cli -h cache -a hunter2 ping', 'redis-cli -h cache -a ‹redacted› ping'],
    [
      'docker login -u me -p hunter2 registry.example.com',
      'docker login -u me -p ‹redacted› registry.example.com',
    ],
    ['smbclient //nas/share -U alice%hunter2', 'smbclient //nas/share -U alice%‹redacted›'],
    ['curl -uadmin:hunter2 http://localhost', 'curl -uadmin:‹redacted› http://localhost'],
    ['curl --user=admin:hunter2 http://localhost', 'curl --user=admin:‹redacted› http://localhost'],
    ['Cookie: session=abc123; theme=dark', 'Cookie: ‹redacted›'],
    [`vault login ${'hvs.'}CAESIJ3kQ9rT2vLm8Xw4Nb7Hc1Zs6Fd0Ga5Ju3Ke`, 'vault login ‹redacted›'],
    [`grafana ${'glsa_'}${'Ab3'.repeat(10)}Cd_0a1b2c3d`, 'grafana ‹redacted›'],
    [`doctl auth init -t ${'dop_v1_'}${'0a1b2c3d'.repeat(8)}`, 'doctl auth init -t ‹redacted›'],
    [
      'vault write auth/approle/login VAULT_SECRET_ID=5f0c2a41-0b7e',
      'vault write auth/approle/login VAULT_SECRET_ID=‹redacted›',
    ],
    [
      'app --password-file /run/secrets/db --token-id 42',
      'app --password-file /run/secrets/db --token-id 42',
    ],
  ];
  for (const [input, expected] of cases) {
    it(`${input.split(' ')[0]}…: ${expected}`, () => assert.equal(redact(input), expected));
  }

  it('masks a secret option’s whole argument, spaces included, and the argument after a bare one', () => {
    assert.deepEqual(redactArgv(['app', '--password=two words', '--token', 'x y', '--verbose']), [
      'app',
      '--password=‹redacted›',
      '--token',
      '‹redacted›',
      '--verbose',
    ]);
    assert.deepEqual(redactArgv(['env', 'SMTP_PASSWORD=a b c', 'run']), [
      'env',
      'SMTP_PASSWORD=‹redacted›',
      'run',
    ]);
  });
});

describe('redaction leaves a developer’s ordinary command lines alone', () => {
  it('does not take -p for a secret outside the programs that use it for one', () => {
    for (const text of [
      'ssh -p 22 host',
      'python -p 8080',
      'mkdir -p /tmp/build/out',
      'git log -p --stat',
      'psql -h localhost -p 5432 -U app app_dev',
      'docker run -p 8080:80 nginx',
      'sudo -p "password for %u: " ls',
      'kubectl port-forward svc/api 8080:80 -n staging',
      'docker run --user 1000:1000 node:20 bash',
    ]) {
      assert.equal(redact(text), text);
      assert.deepEqual(redactArgv(text.split(' ')), text.split(' '), text);
    }
  });

  it('keeps identifiers that tell processes apart: git SHAs, UUIDs, GPU UUIDs, digests, container ids', () => {
    for (const text of [
      'git fetch origin 9fceb02d0ae598e95dc970b74767f19372d61af8',
      '/home/dev/.vscode-server/bin/e170252f762678dec6ca2cc69aba1570769a5d39/node out/server-main.js',
      'python3 -m mcp_server_fetch --session-id=5f0c2a41-0b7e-4a9c-b2d1-6c9e8f7a3b21',
      'nvidia-smi -i GPU-b2f5e8c4-1d3a-4f6b-9e2c-7a8d5f3b1e09',
      'docker pull postgres@sha256:1f5e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80',
      '/nix/store/9krlzvny65gdc8s7kpb6lkx8cd02c25c-python3-3.11.9/bin/python3 -m pip',
      'ls /var/lib/docker/overlay2/4f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c/merged',
      'memho cpuset=2e088fe462e25e60be1dafafe2c05c47bda1a97978648d10ad2b7484fc0b8f50 mems_allowed=0',
      'Accepted publickey for dev from 10.0.0.2 port 51514 ssh2: ED25519 SHA256:Yp3kQ9rT2vLm8Xw4Nb7Hc1Zs6Fd0Ga5Ju3Ke9Ro2Wq',
      'npm install --integrity sha512-Qm9Xk2LrT7vNp4Hs8WdZ1cYb6Ue3GaJf0RtKiq5Bx7Vn2Mw8Pl4Dy9Cz1Ao6Eu3Hr5Ts7Kg0Jf2Nb4Wq8Lm==',
    ]) {
      assert.equal(redact(text), text);
    }
    const shim = [
      '/usr/bin/containerd-shim-runc-v2',
      '-namespace',
      'moby',
      '-id',
      '4f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c',
      '-address',
      '/run/containerd/containerd.sock',
    ];
    assert.deepEqual(redactArgv(shim), shim, 'a container id after -id is kept in an argv');
    assert.equal(redact(shim.join(' ')), shim.join(' '), 'and in text');
  });

  it('leaves every one of 73 typical developer command lines unchanged', () => {
    const lines = readFileSync(new URL('../fixtures/dev-cmdlines.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter(Boolean);
    assert.equal(lines.length, 73);
    const changed = lines.filter(
      (line) => redact(line) !== line || redactArgv(line.split(' ')).join(' ') !== line,
    );
    assert.deepEqual(changed, []);
  });

  it('takes random base64 of 40 and 64 characters for a key, and camel-case words or paths for none', () => {
    const fakes = fakeSecrets(1);
    const blob = fakes.find((f) => f.format === 'high-entropy base64 blob')!.argv[0]!;
    assert.ok(looksRandom(blob));
    for (const word of [
      'CMakeExtraGeneratorDetermineCompilerMacrosAndIncludeDirs',
      'usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm',
      '25/Modules/Compiler/IntelLLVM-FindBinUtils',
      'GPU-b2f5e8c4-1d3a-4f6b-9e2c-7a8d5f3b1e09',
      'WebRtcAllowInputVolumeAdjustmentFeature2024',
      'e170252f762678dec6ca2cc69aba1570769a5d39e170',
    ]) {
      assert.equal(looksRandom(word), false, word);
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
