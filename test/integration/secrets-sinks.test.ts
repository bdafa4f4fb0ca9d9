import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { VIGIL_BIN, type VigilRun } from '../helpers/cli.js';
import { answer, FakeAnthropic } from '../helpers/fake-anthropic.js';
import {
  appendJournalEntries,
  type ExportEntry,
  JOURNAL_REMOTE_MISSING,
  journalRemoteAvailable,
} from '../helpers/journal.js';
import { killAll, waitUntil } from '../helpers/procs.js';
import { type FakeSecret, fakeSecrets, formatsLeaked, leaksIn } from '../helpers/secrets.js';
import { asUser, type TestUser, type UserHome, userHome, victimUser, writeFileAs } from '../helpers/users.js';

/**
 * Every fake secret format (test/helpers/secrets.ts) put where vigil reads text — the command lines of
 * real processes and lines of a real journal file — and then looked for in everything vigil writes or
 * sends: the AI request, `--print-prompt`, the terminal, the logs, desktop pop-ups, JSON, Slack and Discord
 * webhooks, Alertmanager, /metrics, `vigil report` in its three formats, `vigil explain` (text and JSON),
 * `vigil fix` and `vigil kill`, the support bundle, and the raw bytes of the SQLite files. A rule pack made
 * for the test fires on those processes and log lines with the command line and the message in its
 * summaries, so alerts, advice, proposed actions and audit entries all exist and all carry them.
 */

const victim = victimUser();
const skip = typeof victim === 'string' ? victim : !journalRemoteAvailable() ? JOURNAL_REMOTE_MISSING : false;

const FAKES = fakeSecrets();
/**
 * Formats per process: each command line, its witnesses and the `sh -c sleep 600; : vigil-leak-N` before
 * them stay under 200 characters, the most `vigil kill` shows of one, so no sink's cut hides a format.
 */
const CHUNK_CHARS = 160;
/** The hostile name: Markdown, HTML, Slack and Discord syntax that must be shown, not obeyed. */
const MARKUP_ARGV0 = '[click](http://evil) <!channel> <@123> *bold* _it_ `code` <b>x</b>';
const MARKUP_COMM = '@everyone';

const RULES = `
[[rule]]
id = "leak_probe"
title = "Leak probe"
description = "Test only: fires on the processes carrying fake secrets, with their command line."
severity = "high"
scope = "process"
when = "proc.cmdline.contains('vigil-leak-')"
summary = "{{ proc.name }} runs {{ proc.cmdline }}"
suggest = ["kill_process"]

[[rule]]
id = "leak_probe_journal"
title = "Leak probe (journal)"
description = "Test only: fires on the log lines carrying fake secrets, with the message."
severity = "high"
scope = "journal"
when = "entry.message.contains('vigil-leak-journal')"
summary = "{{ entry.identifier }} logged {{ entry.message }}"
suggest = ["notify_only"]

[[rule]]
id = "markup_probe"
title = "Markup probe"
description = "Test only: fires on the process whose name is Markdown, HTML and chat syntax."
# Critical: a digest lists its findings most severe first, so the hostile name is never cut off as "…and N more".
severity = "critical"
scope = "process"
when = "proc.comm == '${MARKUP_COMM}'"
summary = "{{ proc.comm }} runs {{ proc.cmdline }}"
suggest = ["notify_only"]
`;

/** An HTTP server on 127.0.0.1 that keeps every request body (webhooks, Alertmanager). */
class Receiver {
  readonly bodies: string[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    const receiver = new Receiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        receiver.bodies.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get all(): string {
    return this.bodies.join('\n');
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `vigil run` as the victim, its output kept. */
class Daemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<void>;

  constructor(h: UserHome, args: readonly string[]) {
    this.child = spawn(process.execPath, [VIGIL_BIN, 'run', '--interval', '1', ...args], {
      ...asUser(h.user),
      cwd: h.env['HOME'],
      env: h.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', () => resolve()));
  }

  async waitFor(pattern: RegExp, stream: 'stdout' | 'stderr', timeoutMs = 30_000): Promise<void> {
    await waitUntil(() => pattern.test(this[stream]), `${pattern} in ${stream}:\n${this.stderr}`, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** Runs the built vigil as the victim, without blocking the event loop (the receivers keep answering). */
function vigil(h: UserHome, args: readonly string[], timeoutMs = 60_000): Promise<VigilRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VIGIL_BIN, ...args], {
      ...asUser(h.user),
      cwd: h.env['HOME'],
      env: h.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs `jobs` at most `width` at a time. */
async function inTurn<T>(jobs: ReadonlyArray<() => Promise<T>>, width = 3): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

/** Groups the fakes into command lines of about CHUNK_CHARS characters. */
function chunks(fakes: readonly FakeSecret[]): FakeSecret[][] {
  const out: FakeSecret[][] = [];
  let current: FakeSecret[] = [];
  let length = 0;
  for (const fake of fakes) {
    const size = fake.argv.join(' ').length + witness(fake, 'p').length + 2;
    if (current.length > 0 && length + size > CHUNK_CHARS) {
      out.push(current);
      current = [];
      length = 0;
    }
    current.push(fake);
    length += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function chownTree(user: TestUser, path: string): void {
  if (process.getuid?.() !== 0) return;
  chownSync(path, user.uid, user.gid);
  for (const name of readdirSync(path)) chownSync(join(path, name), user.uid, user.gid);
}

/**
 * A word put after each fake, in its command line (`p`) and in its log line (`j`). Found in a sink, it
 * shows that the text up to and past the secret reached that sink, so the sink's check could have failed.
 */
const witness = (fake: FakeSecret, where: 'p' | 'j') => `vigil-w${where}${FAKES.indexOf(fake)}x`;

/** The formats whose text reached `output`: by their command line or by their log line. */
function reached(output: string): FakeSecret[] {
  return FAKES.filter((f) => output.includes(witness(f, 'p')) || output.includes(witness(f, 'j')));
}

const leakers: number[] = [];
const groups: FakeSecret[][] = chunks(FAKES);
/** Sink name → everything that sink got. */
const sinks = new Map<string, string>();
const markup = { markdown: '', slack: '', discord: '' };
/** The database files as read while the daemon ran (its -wal among them), by name. */
const liveDbFiles = new Map<string, number>();
/** Rows of the actions and audit tables that name a leak process (vigil fix and kill wrote them). */
let actionRows = 0;

describe('secrets never leave or get stored', { skip }, () => {
  const user = victim as TestUser;
  let main: UserHome;
  let slackHome: UserHome;
  let discordHome: UserHome;
  let fake: FakeAnthropic;
  let webhook: Receiver;
  let slack: Receiver;
  let discord: Receiver;
  let alertmanager: Receiver;
  const daemons: Daemon[] = [];

  before(async () => {
    main = userHome(user, 'secrets');
    slackHome = userHome(user, 'secrets-slack');
    discordHome = userHome(user, 'secrets-discord');
    fake = await FakeAnthropic.start();
    fake.reply({ answer: answer([], 'These test processes only sleep.') });
    [webhook, slack, discord, alertmanager] = await Promise.all([
      Receiver.start(),
      Receiver.start(),
      Receiver.start(),
      Receiver.start(),
    ]);
    const metricsPort = await freePort();

    // A desktop: a display, and a notify-send that writes down what it is asked to show.
    const bin = join(main.dir, 'bin');
    mkdirSync(bin);
    const popups = join(main.dir, 'popups.txt');
    writeFileAs(user, join(bin, 'notify-send'), `#!/bin/sh\nprintf '%s\\n' "$@" >> ${popups}\n`, 0o755);
    chownTree(user, bin);
    main.env['PATH'] = `${bin}:${main.env['PATH']}`;
    main.env['DISPLAY'] = ':99';
    main.env['VIGIL_FAKE_KEY'] = ['sk', 'ant', 'fake-key-of-the-test'].join('-');

    for (const h of [main, slackHome, discordHome])
      writeFileAs(user, join(h.configDir, 'rules', 'leak-probe.toml'), RULES, 0o644);
    writeFileAs(
      user,
      join(main.configDir, 'config.toml'),
      [
        '[general]',
        'mode = "suggest"',
        '[notifications]',
        'min_severity = "low"',
        'desktop_min_severity = "low"',
        `webhook_url = "${webhook.url}/hook"`,
        'webhook_format = "json"',
        'webhook_min_severity = "low"',
        `alertmanager_url = "${alertmanager.url}"`,
        '[ai]',
        'enabled = true',
        'api_key_env = "VIGIL_FAKE_KEY"',
        `base_url = "${fake.url}"`,
        'cooldown_secs = 0',
        'timeout_secs = 20',
        '[metrics]',
        `listen = "127.0.0.1:${metricsPort}"`,
        '[actions]',
        'veto_secs = 3600',
        '',
      ].join('\n'),
    );
    for (const [h, receiver, format] of [
      [slackHome, slack, 'slack'],
      [discordHome, discord, 'discord'],
    ] as const) {
      writeFileAs(
        user,
        join(h.configDir, 'config.toml'),
        `[notifications]\nterminal = false\ndesktop = false\nlog = false\nmin_severity = "low"\nwebhook_url = "${receiver.url}/hook"\nwebhook_format = "${format}"\nwebhook_min_severity = "low"\n`,
      );
    }

    // The processes: the victim's own sleepers whose command lines carry the fakes, and the hostile name.
    for (const [n, group] of groups.entries()) {
      const child = spawn(
        'sh',
        ['-c', 'sleep 600; :', `vigil-leak-${n}`, ...group.flatMap((f) => [...f.argv, witness(f, 'p')])],
        {
          ...asUser(user),
          stdio: 'ignore',
          detached: true,
        },
      );
      leakers.push(child.pid!);
    }
    const sleeper = join(main.dir, MARKUP_COMM);
    symlinkSync('/bin/sleep', sleeper);
    const named = spawn(sleeper, ['600'], {
      ...asUser(user),
      argv0: MARKUP_ARGV0,
      stdio: 'ignore',
      detached: true,
    });
    leakers.push(named.pid!);

    // The journal: a file with one line from before the daemons start; the fakes come after.
    const journalDir = join(main.dir, 'journal');
    mkdirSync(journalDir);
    let t = Date.now() * 1000;
    const entry = (message: string): ExportEntry => ({
      __REALTIME_TIMESTAMP: String(t++),
      __MONOTONIC_TIMESTAMP: String(t),
      _BOOT_ID: '0123456789abcdef0123456789abcdef',
      SYSLOG_IDENTIFIER: 'leaky-app',
      PRIORITY: '4',
      MESSAGE: message,
    });
    const journalFile = join(journalDir, 'system.journal');
    appendJournalEntries(journalFile, [entry('starting up')]);
    chownTree(user, journalDir);

    for (const h of [main, slackHome, discordHome])
      daemons.push(new Daemon(h, ['--journal-dir', journalDir]));
    await Promise.all(daemons.map((d) => d.waitFor(/journal: following/, 'stderr')));
    appendJournalEntries(
      journalFile,
      FAKES.map((f) => entry(`vigil-leak-journal ${f.text} ${witness(f, 'j')}`)),
    );
    chownTree(user, journalDir);

    const db = join(main.stateDir, 'vigil.db');
    const count = (rule: string) => {
      if (!existsSync(db)) return 0;
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        return (d.prepare('SELECT count(*) AS n FROM alerts WHERE rule = ?').get(rule) as { n: number }).n;
      } finally {
        d.close();
      }
    };
    await waitUntil(
      () =>
        count('leak_probe') >= groups.length &&
        count('leak_probe_journal') >= FAKES.length &&
        count('markup_probe') >= 1 &&
        fake.calls >= 3 &&
        webhook.bodies.length > 0 &&
        alertmanager.bodies.length > 0 &&
        slack.all.includes('@everyone'.slice(1)) &&
        discord.all.includes('everyone') &&
        existsSync(popups),
      `alerts, advice and notices everywhere\n${daemons[0]!.stderr}`,
      90_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    sinks.set('/metrics', metrics);
    // The raw bytes of the database files: while the daemon writes (the -wal holds the newest pages),
    // after it stopped, and after vigil fix and kill wrote their actions and audit entries.
    const dbBytes = () =>
      readdirSync(main.stateDir)
        .filter((f) => f.startsWith('vigil.db'))
        .map((f) => {
          const bytes = readFileSync(join(main.stateDir, f));
          return { name: f, text: bytes.toString('latin1') };
        });
    const dbSeen: string[] = [];
    for (const file of dbBytes()) {
      liveDbFiles.set(file.name, file.text.length);
      dbSeen.push(file.text);
    }
    for (const d of daemons) await d.stop();

    sinks.set('AI requests', fake.allBodies);
    sinks.set('terminal (daemon stdout)', daemons[0]!.stdout);
    sinks.set('daemon log (stderr)', daemons.map((d) => d.stderr).join('\n'));
    sinks.set('JSON notifications log', readFileSync(join(main.stateDir, 'notifications.jsonl'), 'utf8'));
    sinks.set('desktop pop-ups', readFileSync(popups, 'utf8'));
    sinks.set('webhook (json)', webhook.all);
    sinks.set('webhook (slack)', slack.all);
    sinks.set('webhook (discord)', discord.all);
    sinks.set('Alertmanager', alertmanager.all);
    for (const file of dbBytes()) dbSeen.push(file.text);

    // The CLI, as the victim.
    const [text, json, markdown] = await Promise.all([
      vigil(main, ['report']),
      vigil(main, ['report', '--json']),
      vigil(main, ['report', '--markdown']),
    ]);
    for (const run of [text, json, markdown]) assert.equal(run.status, 0, run.stderr);
    sinks.set('vigil report', text.stdout + text.stderr);
    sinks.set('vigil report --json', json.stdout + json.stderr);
    sinks.set('vigil report --markdown', markdown.stdout + markdown.stderr);
    markup.markdown = markdown.stdout;
    markup.slack = slack.all;
    markup.discord = discord.all;

    const explains = await inTurn(
      leakers.map((pid) => async () => {
        const plain = await vigil(main, ['explain', String(pid), '--no-ai']);
        const asJson = await vigil(main, ['explain', String(pid), '--no-ai', '--json']);
        const prompt = await vigil(main, ['explain', String(pid), '--print-prompt']);
        return { plain, asJson, prompt };
      }),
    );
    sinks.set(
      'vigil explain',
      explains.map((e) => e.plain.stdout + e.plain.stderr + e.asJson.stdout).join('\n'),
    );
    sinks.set(
      'vigil explain --print-prompt',
      explains.map((e) => e.prompt.stdout + e.prompt.stderr).join('\n'),
    );
    for (const e of explains) assert.equal(e.prompt.status, 0, e.prompt.stderr);

    const bundlePath = join(main.dir, 'bundle.tar.gz');
    const bundle = await vigil(main, ['bundle', '-o', bundlePath]);
    assert.equal(bundle.status, 0, bundle.stderr);
    sinks.set(
      'support bundle',
      bundle.stdout + bundle.stderr + gunzipSync(readFileSync(bundlePath)).toString('latin1'),
    );

    // Half the processes go through vigil fix (the proposal of their alert), the rest through vigil kill.
    const alerts = (() => {
      const d = new Database(db, { readonly: true });
      try {
        return d.prepare("SELECT id, pids FROM alerts WHERE rule = 'leak_probe' ORDER BY id").all() as Array<{
          id: number;
          pids: string;
        }>;
      } finally {
        d.close();
      }
    })();
    const half = Math.ceil(alerts.length / 2);
    const fixes = await inTurn(
      alerts.slice(0, half).map((a) => () => vigil(main, ['fix', String(a.id), '--yes'])),
    );
    const fixed = new Set(alerts.slice(0, half).flatMap((a) => JSON.parse(a.pids) as number[]));
    const kills = await inTurn(
      leakers
        .filter((pid) => !fixed.has(pid))
        .map((pid) => () => vigil(main, ['kill', String(pid), '--yes'])),
    );
    sinks.set('vigil fix', fixes.map((r) => r.stdout + r.stderr).join('\n'));
    sinks.set('vigil kill', kills.map((r) => r.stdout + r.stderr).join('\n'));
    for (const file of dbBytes()) dbSeen.push(file.text);
    sinks.set('SQLite files (raw bytes)', dbSeen.join('\n'));
    {
      const d = new Database(db, { readonly: true });
      try {
        actionRows = (
          d
            .prepare(
              "SELECT (SELECT count(*) FROM actions WHERE target LIKE '%vigil-leak-%') + (SELECT count(*) FROM audit WHERE data LIKE '%vigil-leak-%') AS n",
            )
            .get() as { n: number }
        ).n;
      } finally {
        d.close();
      }
    }
    assert.ok(
      fixes.some((r) => /vigil-leak-/.test(r.stdout)),
      `vigil fix showed the alerts:\n${fixes.map((r) => r.stdout + r.stderr).join('\n')}`,
    );
  });

  after(async () => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const pid of leakers) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    killAll(leakers);
    await fake?.close();
    await Promise.all([webhook, slack, discord, alertmanager].map((r) => r?.close()));
    for (const h of [main, slackHome, discordHome]) h?.cleanup();
  });

  it('puts every format into a process command line or a log line that vigil reads', () => {
    assert.equal(FAKES.length, 39);
    assert.equal(groups.flat().length, FAKES.length);
    assert.ok(groups.length >= 8, `${groups.length} processes`);
  });

  const expected = [
    'AI requests',
    'vigil explain --print-prompt',
    'terminal (daemon stdout)',
    'daemon log (stderr)',
    'JSON notifications log',
    'desktop pop-ups',
    'webhook (json)',
    'webhook (slack)',
    'webhook (discord)',
    'Alertmanager',
    'vigil report',
    'vigil report --json',
    'vigil report --markdown',
    'vigil explain',
    'vigil fix',
    'vigil kill',
    'support bundle',
    '/metrics',
    'SQLite files (raw bytes)',
  ];
  /**
   * Sinks that show some of what vigil saw, by design: the advisor's context holds the processes of the
   * finding it asks about and the newest log lines; a desktop pop-up and a Slack or Discord message list a
   * batch's first findings and "…and N more"; vigil fix and vigil kill each stop half of the processes
   * (together, all of them).
   */
  const SOME = new Set([
    'AI requests',
    'desktop pop-ups',
    'webhook (slack)',
    'webhook (discord)',
    'vigil fix',
    'vigil kill',
  ]);
  /**
   * Sinks that never carry text from a command line or a log line — vigil's own log says what vigil does,
   * /metrics holds numbers, rule ids and mount points — checked all the same, but left out of the figure.
   */
  const NO_MACHINE_TEXT = new Set(['daemon log (stderr)', '/metrics']);

  for (const sink of expected) {
    it(`leaks no fake secret into ${sink}`, () => {
      const output = sinks.get(sink);
      assert.ok(output !== undefined && output.length > 0, `${sink} got something`);
      assert.deepEqual(leaksIn(output, FAKES), []);
      if (NO_MACHINE_TEXT.has(sink)) return;
      const got = reached(output);
      if (SOME.has(sink)) assert.ok(got.length > 0, `some format reached ${sink}`);
      else
        assert.deepEqual(
          FAKES.filter((f) => !got.includes(f)).map((f) => f.format),
          [],
          `every format reached ${sink}`,
        );
    });
  }

  it('shows every format through vigil fix or vigil kill', () => {
    const got = reached(`${sinks.get('vigil fix')}\n${sinks.get('vigil kill')}`);
    assert.deepEqual(
      FAKES.filter((f) => !got.includes(f)).map((f) => f.format),
      [],
    );
  });

  it('reads the database’s write-ahead log while the daemon runs, and the rows vigil fix and kill add', () => {
    assert.ok(
      (liveDbFiles.get('vigil.db-wal') ?? 0) > 0,
      `files read: ${[...liveDbFiles.keys()].join(', ')}`,
    );
    assert.ok(actionRows >= leakers.length, `${actionRows} action and audit rows name a leak process`);
  });

  it('leaks none of the formats that reached each sink (the figure for the notes)', (t) => {
    let leaked = 0;
    let tried = 0;
    const lines: string[] = [];
    for (const sink of expected) {
      const output = sinks.get(sink) ?? '';
      const formats = formatsLeaked(output, FAKES);
      leaked += formats.length;
      if (!NO_MACHINE_TEXT.has(sink)) tried += reached(output).length;
      t.diagnostic(`${sink}: ${reached(output).length} of ${FAKES.length} formats reached it`);
      if (formats.length > 0) lines.push(`${sink}: ${formats.length} (${formats.join(', ')})`);
    }
    t.diagnostic(
      `formats × sinks leaked: ${leaked} of ${tried} that reached a sink (${FAKES.length} formats, ${expected.length} sinks, ${NO_MACHINE_TEXT.size} of them carrying no text from the machine)`,
    );
    for (const line of lines) t.diagnostic(line);
    assert.equal(leaked, 0, lines.join('\n'));
  });

  it('shows a process named with Markdown, HTML and mentions literally in the Markdown report', () => {
    const text = markup.markdown;
    assert.match(text, /markup_probe/);
    assert.ok(text.includes('\\[click\\](http://evil)'), text);
    for (const raw of [
      '[click](http://evil)',
      '<!channel>',
      '<@123>',
      '<b>',
      '@everyone',
      '*bold*',
      '`code`',
    ])
      assert.ok(!text.includes(raw), `${raw} reaches the Markdown report raw`);
  });

  it('sends it to Slack as plain text with its control characters escaped', () => {
    const bodies = markup.slack.split('\n').filter((b) => b.includes('everyone'));
    assert.ok(bodies.length > 0);
    for (const body of bodies) {
      for (const raw of ['<!channel>', '<@123>', '<b>']) assert.ok(!body.includes(raw), `${raw} in ${body}`);
      const blocks = (JSON.parse(body) as { blocks: Array<{ type: string; text?: { type: string } }> })
        .blocks;
      assert.equal(blocks.find((b) => b.type === 'section')?.text?.type, 'plain_text');
    }
  });

  it('sends it to Discord escaped, so it neither links, formats nor pings', () => {
    const bodies = markup.discord.split('\n').filter((b) => b.includes('everyone'));
    assert.ok(bodies.length > 0);
    for (const body of bodies) {
      const shown = JSON.stringify((JSON.parse(body) as { embeds: unknown; content: unknown }).embeds);
      assert.ok(shown.includes('\\\\[click\\\\](http://evil)'), shown);
      assert.doesNotMatch(shown, /(?<!\\\\)\[click\]|(?<!\\\\)<@123>|(?<!\\\\)<!channel>|@everyone/);
    }
  });
});
