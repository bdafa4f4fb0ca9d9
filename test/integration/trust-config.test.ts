import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lchownSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN, type VigilRun } from '../helpers/cli.js';
import {
  attackerUser,
  mkdirAs,
  runVigilAs,
  spawnAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * A second user tries to steer the victim's vigil through the files that configure it. Whatever the
 * attacker's file names — a program to run as nvidia-smi, an AI endpoint to receive the victim's API key,
 * a webhook, an Alertmanager, a /metrics listener, rules — must not be run or contacted; vigil runs on
 * its defaults in observe mode and says why on one line. Each attack is also run with the victim's own
 * copy of the file, which does all of it: that is what shows the refusal is what stopped it.
 */
const victim = victimUser();
const attacker = attackerUser();
const skip = typeof victim === 'string' ? victim : typeof attacker === 'string' ? attacker : false;
const V = victim as TestUser;
const A = attacker as TestUser;
const API_KEY = 'sk-ant-api03-VIGILtrustTESTkey0123456789abcdefghijklmnopqrstuvwxyz';

/** Every request that reached the attacker's server: the AI endpoint, webhook and Alertmanager at once. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}
const requests: Seen[] = [];
let server: Server;
let url = '';
const homes: UserHome[] = [];
const scratch: string[] = [];

before(async () => {
  assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
  server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const h of homes) h.cleanup();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
  await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
});

/** The victim's fresh XDG home, with a rule of the victim's own that fires at once (critical). */
function victimHome(): UserHome {
  const h = userHome(V, 'trust');
  homes.push(h);
  writeFileAs(
    V,
    join(h.configDir, 'rules', 'fire.toml'),
    '[[rule]]\nid = "victim_fire"\ntitle = "Always"\nseverity = "critical"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "the victim rule fires"\n',
  );
  return h;
}

/** A directory of the attacker's in /tmp, and in it a script that leaves a marker when it is run. */
function attackerKit(): { dir: string; script: string; marker: string } {
  const dir = mkdirAs(A, mkdtempSync(join(tmpdir(), 'vigil-attacker-')), 0o755);
  scratch.push(dir);
  const drop = mkdirAs(A, join(dir, 'drop'), 0o777);
  const marker = join(drop, 'ran-as-the-victim');
  const script = writeFileAs(A, join(dir, 'nvidia-smi'), `#!/bin/sh\nid -un > ${marker}\nexit 9\n`, 0o755);
  return { dir, script, marker };
}

/** What the attacker writes: their program, their servers, a listener, and auto mode. */
function attackerConfig(script: string, metricsPort: number): string {
  return [
    '[general]',
    'mode = "auto"',
    `nvidia_smi = "${script}"`,
    '[ai]',
    'enabled = true',
    `base_url = "${url}/ai"`,
    'cooldown_secs = 0',
    '[notifications]',
    'desktop = false',
    `webhook_url = "${url}/webhook"`,
    'webhook_min_severity = "low"',
    `alertmanager_url = "${url}/alertmanager"`,
    '[metrics]',
    `listen = "127.0.0.1:${metricsPort}"`,
    '',
  ].join('\n');
}

function freePort(): number {
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
    ],
    { encoding: 'utf8' },
  );
  return Number(probe.stdout.trim());
}

/**
 * Runs vigil as the victim without blocking this process, so the attacker's server here can answer (and
 * record) while it runs; resolves once vigil has exited and every request it made has been seen.
 */
async function run(args: readonly string[], env: NodeJS.ProcessEnv): Promise<VigilRun> {
  const child = spawnAs(V, [process.execPath, VIGIL_BIN, ...args], env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Requests still being read when vigil exited.
  await new Promise((resolve) => setImmediate(resolve));
  return { status, stdout, stderr };
}

function runOnce(h: UserHome, args: readonly string[] = []): Promise<VigilRun> {
  return run(['run', '--once', ...args], { ...h.env, ANTHROPIC_API_KEY: API_KEY });
}

function count(text: string, pattern: RegExp): number {
  return text.split('\n').filter((line) => pattern.test(line)).length;
}

/** The directories from the victim's home down to `dir` searchable by others (not writable): 0711. */
function openWay(h: UserHome, dir: string): void {
  chmodSync(V.home, 0o751);
  for (let d = dir; d.startsWith(h.dir); d = join(d, '..')) chmodSync(d, 0o711);
}

describe('a config the victim cannot trust steers nothing', { skip }, () => {
  it('the victim’s own copy runs the program and reaches every server it names (the attack works)', async () => {
    const h = victimHome();
    const kit = attackerKit();
    const port = freePort();
    writeFileAs(V, join(h.configDir, 'config.toml'), attackerConfig(kit.script, port));
    requests.length = 0;
    const result = await runOnce(h);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(existsSync(kit.marker), 'the program the config names ran');
    assert.match(result.stderr, new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${port}/metrics`));
    const paths = requests.map((r) => r.url.split('/')[1]);
    assert.ok(paths.includes('webhook'), `the webhook was called: ${paths.join(' ')}`);
    assert.ok(paths.includes('alertmanager'), `Alertmanager was called: ${paths.join(' ')}`);
    assert.ok(paths.includes('ai'), `the AI endpoint was called: ${paths.join(' ')}`);
    assert.ok(
      requests.some((r) => JSON.stringify(r.headers).includes(API_KEY)),
      `the AI endpoint received the API key: ${JSON.stringify(requests)}`,
    );
  });

  it('owned by the attacker: nothing it names runs or is contacted, and vigil says why once', async () => {
    const h = victimHome();
    const kit = attackerKit();
    const port = freePort();
    writeFileAs(A, join(h.configDir, 'config.toml'), attackerConfig(kit.script, port), 0o644);
    requests.length = 0;
    const result = await runOnce(h, ['--mode', 'auto']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(kit.marker), false, 'the attacker’s program never ran');
    assert.deepEqual(requests, [], 'no request reached the attacker’s server');
    assert.doesNotMatch(result.stderr, /metrics/, 'no /metrics listener');
    assert.equal(
      count(
        result.stderr,
        /^vigil: refusing ~\S+\/config\/vigil\/config\.toml, running on built-in defaults in observe mode: ~\S+config\.toml is owned by vigil-attacker, not by you \(vigil-victim\) or root/,
      ),
      1,
      result.stderr,
    );
    assert.match(
      result.stderr,
      /running in observe mode instead of auto: vigil refused ~\S+\/config\.toml \(said above\)/,
    );
    assert.match(
      result.stdout,
      /CRITICAL\s+victim_fire/,
      'the victim’s own rule still fires (watching goes on)',
    );
  });

  it('left writable by the victim and rewritten by the attacker: refused the same way', async () => {
    const h = victimHome();
    const kit = attackerKit();
    const config = writeFileAs(V, join(h.configDir, 'config.toml'), '[general]\nmode = "observe"\n', 0o666);
    openWay(h, h.configDir);
    // The attacker, as themselves, writes through the open file.
    const write = spawnSync('sh', ['-c', `cat > '${config}'`], {
      uid: A.uid,
      gid: A.gid,
      input: attackerConfig(kit.script, freePort()),
      encoding: 'utf8',
    });
    assert.equal(write.status, 0, write.stderr);
    requests.length = 0;
    const result = await runOnce(h);
    assert.equal(existsSync(kit.marker), false, 'the attacker’s program never ran');
    assert.deepEqual(requests, [], 'no request reached the attacker’s server');
    assert.match(
      result.stderr,
      /^vigil: refusing \S+config\.toml, running on built-in defaults in observe mode: \S+config\.toml is writable by group vigil-victim and others: chmod go-w \S+config\.toml$/m,
    );
  });

  it('every command that loads the config says the one line once, and health shows it', async () => {
    const h = victimHome();
    const kit = attackerKit();
    writeFileAs(A, join(h.configDir, 'config.toml'), attackerConfig(kit.script, freePort()), 0o644);
    const line = /^vigil: refusing \S+config\.toml, running on built-in defaults in observe mode: /;
    const commands = [
      ['status'],
      ['rules', 'list'],
      ['report'],
      ['config', 'show'],
      ['explain', String(process.pid), '--no-ai'],
      ['fix', '1', '--yes'],
      ['kill', '4194000'],
      ['health'],
    ];
    for (const args of commands) {
      const result = await run(args, { ...h.env, ANTHROPIC_API_KEY: API_KEY });
      assert.equal(count(result.stderr, line), 1, `vigil ${args.join(' ')}: ${result.stderr}`);
    }
    const health = runVigilAs(V, ['health'], h.env);
    assert.equal(health.status, 1, 'unhealthy');
    assert.match(health.stdout, /^config {5}REFUSED: refusing \S+config\.toml, .* owned by vigil-attacker/m);
    const json = JSON.parse(runVigilAs(V, ['health', '--json'], h.env).stdout);
    assert.match(json.config.refused, /owned by vigil-attacker/);
    assert.equal(existsSync(kit.marker), false, 'no command ran the attacker’s program');
    assert.deepEqual(requests, []);
  });

  it('named with --config, it stops the command with exit 2 and the reason; config validate reports it', async () => {
    const h = victimHome();
    const kit = attackerKit();
    const config = writeFileAs(A, join(h.dir, 'shared.toml'), attackerConfig(kit.script, freePort()), 0o644);
    const reason = /shared\.toml: refused: \S+shared\.toml is owned by vigil-attacker/;
    const daemon = runVigilAs(V, ['run', '--once', '--config', config], h.env);
    assert.equal(daemon.status, 2);
    assert.match(daemon.stderr, /not started, the configuration has problems:/);
    assert.match(daemon.stderr, reason);
    const status = runVigilAs(V, ['--config', config, 'status'], h.env);
    assert.equal(status.status, 2);
    assert.match(status.stderr, reason);
    const validate = runVigilAs(V, ['config', 'validate', config], h.env);
    assert.equal(validate.status, 1);
    assert.match(validate.stderr, reason);
    assert.equal(existsSync(kit.marker), false);
  });

  it('a config linked into the victim’s dotfiles is used; one linked to the attacker’s file in /tmp is not', async () => {
    const h = victimHome();
    const dotfiles = mkdirAs(V, join(h.dir, 'dotfiles'));
    writeFileAs(V, join(dotfiles, 'vigil.toml'), '[general]\ninterval_secs = 7\n');
    const link = join(h.configDir, 'config.toml');
    symlinkSync('../../dotfiles/vigil.toml', link);
    lchownSync(link, V.uid, V.gid);
    const used = runVigilAs(V, ['config', 'show', '--json'], h.env);
    assert.equal(used.status, 0, used.stderr);
    assert.doesNotMatch(used.stderr, /refusing/);
    assert.equal(
      JSON.parse(used.stdout).values.find((v: { key: string }) => v.key === 'general.interval_secs').value,
      7,
    );

    const kit = attackerKit();
    const evil = writeFileAs(A, join(kit.dir, 'vigil.toml'), '[general]\ninterval_secs = 9\n', 0o644);
    rmSync(link);
    symlinkSync(evil, link);
    lchownSync(link, V.uid, V.gid);
    const refused = runVigilAs(V, ['config', 'show', '--json'], h.env);
    assert.match(
      refused.stderr,
      /^vigil: refusing \S+config\.toml, .*: \/tmp\/vigil-attacker-\w+ is owned by vigil-attacker, not by you or root/m,
    );
    assert.equal(
      JSON.parse(refused.stdout).values.find((v: { key: string }) => v.key === 'general.interval_secs').value,
      5,
    );
  });
});

/** The attacker's rule: fires at once, and says so. */
const ATTACKER_RULE =
  '[[rule]]\nid = "attacker_rule"\ntitle = "Attacker"\nseverity = "critical"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "ATTACKER RULE LOADED"\n';

describe('rules and kinds the victim cannot trust are not loaded, and vigil holds observe mode', {
  skip,
}, () => {
  it('a rules directory anyone can write (0777): none of it loads, even the victim’s own file', async () => {
    const h = victimHome();
    const rules = join(h.configDir, 'rules');
    chmodSync(rules, 0o777);
    openWay(h, h.configDir);
    chmodSync(rules, 0o777);
    const write = spawnSync('sh', ['-c', `cat > '${join(rules, 'evil.toml')}'`], {
      uid: A.uid,
      gid: A.gid,
      input: ATTACKER_RULE,
      encoding: 'utf8',
    });
    assert.equal(write.status, 0, write.stderr);
    const result = await runOnce(h, ['--mode', 'auto']);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /ATTACKER|victim rule fires/);
    assert.equal(
      count(
        result.stderr,
        /^vigil: refusing the rules in \S+\/rules, holding observe mode until vigil can trust it: \S+\/rules is writable by group vigil-victim and others: chmod go-w \S+\/rules$/,
      ),
      1,
      result.stderr,
    );
    assert.match(
      result.stderr,
      /running in observe mode instead of auto: vigil refused \S+\/rules \(said above\)/,
    );
    const list = runVigilAs(V, ['rules', 'list'], h.env);
    assert.doesNotMatch(list.stdout, /attacker_rule|victim_fire/);
    const health = runVigilAs(V, ['health'], h.env);
    assert.match(health.stdout, /^rules .* REFUSED: refusing the rules in /m);
  });

  it('an attacker’s symlink in the rules directory, or a link to the attacker’s file in /tmp, is not loaded', async () => {
    const h = victimHome();
    const kit = attackerKit();
    const evil = writeFileAs(A, join(kit.dir, 'evil.toml'), ATTACKER_RULE, 0o644);
    // A link of the victim's to the attacker's file…
    const toTmp = join(h.configDir, 'rules', 'linked.toml');
    symlinkSync(evil, toTmp);
    lchownSync(toTmp, V.uid, V.gid);
    // …and a link the attacker owns (planted while the directory was open), to a file of the victim's.
    const mine = writeFileAs(
      V,
      join(h.dir, 'mine.toml'),
      ATTACKER_RULE.replace('attacker_rule', 'victim_extra'),
    );
    const planted = join(h.configDir, 'rules', 'planted.toml');
    symlinkSync(mine, planted);
    lchownSync(planted, A.uid, A.gid);
    const result = await runOnce(h, ['--mode', 'auto']);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /ATTACKER RULE/);
    assert.match(result.stdout, /CRITICAL\s+victim_fire/, 'the victim’s own trusted file still loads');
    assert.match(
      result.stderr,
      /^vigil: refusing \S+\/rules\/linked\.toml, holding observe mode until vigil can trust it: \/tmp\/vigil-attacker-\w+ is owned by vigil-attacker/m,
    );
    assert.match(
      result.stderr,
      /^vigil: refusing \S+\/rules\/planted\.toml, .*: \S+\/rules\/planted\.toml is a symbolic link owned by vigil-attacker, not by you or root: remove it$/m,
    );
    assert.match(result.stderr, /running in observe mode instead of auto: vigil refused /);
    const check = runVigilAs(V, ['rules', 'check', evil], h.env);
    assert.equal(check.status, 1, 'rules check fails on a refused file');
    assert.match(check.stderr, /0 problem\(s\), 1 file\(s\) refused/);
  });

  it('a kinds file the attacker owns is not loaded, and holds observe mode', async () => {
    const h = victimHome();
    const kinds = (label: string) => `[[kind]]\nkind = "editor"\nlabel = "${label}"\ncomm = "node"\n`;
    const labelOfThisProcess = async () =>
      JSON.parse((await run(['explain', String(process.pid), '--no-ai', '--json'], h.env)).stdout).process
        .kindLabel;
    const file = writeFileAs(V, join(h.configDir, 'kinds.toml'), kinds('VICTIM KIND'));
    assert.equal(await labelOfThisProcess(), 'VICTIM KIND', 'the victim’s own kinds file is used');
    rmSync(file);
    writeFileAs(A, file, kinds('ATTACKER KIND'), 0o644);
    assert.notEqual(await labelOfThisProcess(), 'ATTACKER KIND', 'the attacker’s is not');
    const result = await runOnce(h, ['--mode', 'auto']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stderr,
      /^vigil: refusing \S+\/kinds\.toml, holding observe mode until vigil can trust it: \S+kinds\.toml is owned by vigil-attacker/m,
    );
    assert.match(result.stderr, /running in observe mode instead of auto: vigil refused \S+kinds\.toml/);
  });
});
