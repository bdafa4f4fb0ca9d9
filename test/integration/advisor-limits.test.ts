import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runVigil, VIGIL_BIN } from '../helpers/cli.js';
import { answer, CONTROL_TEXT, FakeAnthropic } from '../helpers/fake-anthropic.js';
import { waitUntil } from '../helpers/procs.js';
import {
  runVigilAs,
  spawnAs,
  spawnVigilAs,
  type TestUser,
  type UserHome,
  userHome,
  victimUser,
  writeFileAs,
} from '../helpers/users.js';

/**
 * What the model answers is untrusted input, sized and shaped by whoever runs the server at base_url.
 * A reply of tens of megabytes is refused where its bytes arrive (the SDK's response in the advisor's
 * child, and the child's output in the daemon) instead of being parsed whole; and the text of an answer
 * is written out like a process name, so no escape sequence, OSC 52 clipboard write or bidi override
 * reaches a terminal. Run as the unprivileged victim, against a real HTTP server on 127.0.0.1.
 */

const MIB = 1024 * 1024;
/** Bytes a terminal acts on: ESC, BEL, CR, C1 CSI and the bidi controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const victim = victimUser();
const skip = typeof victim === 'string' ? victim : false;
let fake: FakeAnthropic;
const homes: UserHome[] = [];
const children: ChildProcess[] = [];

before(async () => {
  assert.equal(runVigil(['--version']).status, 0, 'the CLI is built (npm run build)');
  fake = await FakeAnthropic.start();
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await fake?.close();
  for (const home of homes) home.cleanup();
});

const KEY_ENV = 'VIGIL_FAKE_KEY';

/** A home whose config turns the advisor on against the fake, with rules that fire at once. */
function advisorHome(user: TestUser, label: string, rules: readonly string[]): UserHome {
  const home = userHome(user, label);
  homes.push(home);
  writeFileAs(
    user,
    join(home.configDir, 'config.toml'),
    [
      '[ai]',
      'enabled = true',
      `api_key_env = "${KEY_ENV}"`,
      `base_url = "${fake.url}"`,
      'cooldown_secs = 0',
      'timeout_secs = 30',
      '',
    ].join('\n'),
  );
  writeFileAs(
    user,
    join(home.configDir, 'rules', 'always.toml'),
    rules
      .map(
        (id, i) =>
          `[[rule]]\nid = "${id}"\ntitle = "Always ${i}"\nseverity = "${i === 0 ? 'high' : 'medium'}"\nscope = "system"\nwhen = "sys.cores > 0.0"\nsummary = "${id} fires"\n`,
      )
      .join('\n'),
  );
  (home.env as Record<string, string>)[KEY_ENV] = 'sk-ant-fake-limits-key-0000';
  return home;
}

/** `vigil run` as the user, its log (stderr) and terminal channel (stdout) collected. */
function startDaemon(user: TestUser, home: UserHome) {
  const child = spawnVigilAs(user, ['run', '--mode', 'observe', '--interval', '1'], home.env);
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stderr', timeoutMs = 60_000) =>
    waitUntil(
      () => {
        if (child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}):\n${out.stderr}`);
        return pattern.test(out[stream]);
      },
      `${pattern} in ${stream}; log:\n${out.stderr}\nterminal:\n${out.stdout}`,
      timeoutMs,
    );
  return { child, out, waitFor };
}

/**
 * Runs vigil as the user without blocking this process (the fake API answers from its event loop, which
 * spawnSync would stop).
 */
function vigilAs(user: TestUser, args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawnAs(user, [process.execPath, VIGIL_BIN, ...args], env);
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}

/** When the daemon last completed a cycle, from its heartbeat beside the pid file. */
function lastCycleAt(home: UserHome): number {
  try {
    return (
      JSON.parse(readFileSync(join(home.runtimeDir, 'heartbeat.json'), 'utf8')) as { lastCycleAt: number }
    ).lastCycleAt;
  } catch {
    return 0;
  }
}

/** Peak and current resident memory of a process, from /proc/PID/status (VmHWM, VmRSS). */
function memoryOf(pid: number): { peakBytes: number; rssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1]) * 1024;
  return { peakBytes: kib('VmHWM'), rssBytes: kib('VmRSS') };
}

describe('an advisor reply of tens of megabytes', { skip }, () => {
  it('is refused with its size named, the daemon stays small and keeps running', async () => {
    const user = victim as TestUser;
    const home = advisorHome(user, 'huge', ['always_huge', 'always_chunked']);
    // One 60 MB reply that announces its length, then one sent chunked (no length to trust).
    fake.reply({ huge: 60 * MIB }, { huge: 60 * MIB, chunked: true });
    const calls = fake.calls;
    const daemon = startDaemon(user, home);
    await daemon.waitFor(/vigil: started/);
    const before = memoryOf(daemon.child.pid!);
    await daemon.waitFor(/ignored an answer about always_huge: .*larger than 1 MiB/);
    await daemon.waitFor(/ignored an answer about always_chunked: .*larger than 1 MiB/);
    assert.equal(fake.calls - calls, 2, 'both were asked, once each');
    // Still cycling after both: the heartbeat moves on.
    const cycleAt = lastCycleAt(home);
    await waitUntil(() => lastCycleAt(home) > cycleAt, 'a cycle after the refusals', 30_000);
    const peak = memoryOf(daemon.child.pid!);
    process.stdout.write(
      `# daemon resident memory: ${(before.rssBytes / MIB).toFixed(1)} MiB after start (peak ${(before.peakBytes / MIB).toFixed(1)}), peak ${(peak.peakBytes / MIB).toFixed(1)} MiB after two 60 MB replies\n`,
    );
    assert.ok(
      peak.peakBytes - before.peakBytes < 40 * MIB,
      `the daemon's peak memory grew by ${((peak.peakBytes - before.peakBytes) / MIB).toFixed(1)} MiB`,
    );
    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
    daemon.child.kill('SIGTERM');
    await new Promise((r) => daemon.child.once('exit', r));
  });

  it('is refused by vigil explain too, which says why', { skip }, async () => {
    const user = victim as TestUser;
    const home = advisorHome(user, 'explain-huge', []);
    fake.reply({ huge: 60 * MIB, chunked: true });
    const target = spawnAs(user, ['sleep', '600'], home.env, 'ignore');
    children.push(target);
    const run = await vigilAs(user, ['explain', String(target.pid)], home.env);
    target.kill('SIGKILL');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /advisor unavailable: .*larger than 1 MiB/);
  });
});

describe('an advisor answer carrying escape sequences', { skip }, () => {
  const hostile = answer(
    [
      {
        type: 'custom\u001b[8m',
        target: '\u001b]52;c;Y3VybCBldmlsIHwgc2g=\u0007',
        command: 'echo \u001b]0;owned\u0007\u202egnp.exe',
        risk: 'safe',
        explanation: 'hide \u001b[8mthis\u001b[0m\rOK',
      },
    ],
    CONTROL_TEXT,
  );

  it('is written out on the terminal channel, in the log and in vigil report, never raw', async () => {
    const user = victim as TestUser;
    const home = advisorHome(user, 'controls', ['always_controls']);
    fake.reply({ answer: hostile });
    const daemon = startDaemon(user, home);
    await daemon.waitFor(/ADVICE\s+always_controls/, 'stdout');
    await daemon.waitFor(/prevention: /, 'stdout');
    daemon.child.kill('SIGTERM');
    await new Promise((r) => daemon.child.once('exit', r));
    const advice = daemon.out.stdout
      .split('\n')
      .filter((line) => /ADVICE|option|text only|prevention/.test(line));
    assert.ok(advice.length >= 3, daemon.out.stdout);
    for (const line of advice) assert.doesNotMatch(line, RAW_CONTROL, JSON.stringify(line));
    assert.doesNotMatch(daemon.out.stdout, RAW_CONTROL, 'nothing raw on the terminal channel');
    assert.doesNotMatch(daemon.out.stderr, RAW_CONTROL, 'nothing raw in the log');
    assert.match(daemon.out.stdout, /\\e\]52;c;cm0gLXJmIH4K\\x07/, 'the OSC 52 write is shown written out');
    assert.match(daemon.out.stdout, /\\u202eexe\.live/, 'the bidi override is shown written out');
    const report = runVigilAs(user, ['report', '--since', '1h'], home.env);
    assert.equal(report.status, 0, report.stderr);
    assert.match(report.stdout, /\\e\[2J/);
    assert.doesNotMatch(report.stdout, RAW_CONTROL, 'nothing raw in vigil report');
  });

  it('is written out by vigil explain', { skip }, async () => {
    const user = victim as TestUser;
    const home = advisorHome(user, 'explain-controls', []);
    fake.reply({ answer: hostile });
    const target = spawnAs(user, ['sleep', '600'], home.env, 'ignore');
    children.push(target);
    const run = await vigilAs(user, ['explain', String(target.pid)], home.env);
    target.kill('SIGKILL');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /advisor \(/, run.stdout);
    assert.match(run.stdout, /\\e\]52;c;/);
    assert.doesNotMatch(run.stdout, RAW_CONTROL, JSON.stringify(run.stdout));
    assert.doesNotMatch(run.stderr, RAW_CONTROL);
  });
});
