import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * The real Prometheus, Alertmanager and promtool from Debian's `prometheus` and `prometheus-alertmanager`
 * packages, started on 127.0.0.1 with temporary storage, for tests that check vigil against the real
 * thing. Each is found on PATH (Debian's alertmanager binary is `prometheus-alertmanager`).
 */

/** The first of `names` on PATH, or null. */
export function which(...names: string[]): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    for (const name of names) {
      const path = join(dir, name);
      if (dir && existsSync(path)) return path;
    }
  }
  return null;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP request with node:http; rejects on a network error or after `timeoutMs`. */
export function http(
  url: string,
  options: { method?: string; body?: string; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: options.method ?? 'GET',
      agent: false,
      headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
      timeout: options.timeoutMs ?? 5000,
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.end(options.body);
  });
}

/** Polls `check` (every 250 ms) until it returns a value other than undefined; throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A Prometheus-family server started by a test, with its temporary directory and output. */
export class RealServer {
  output = '';
  private readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits until `path` answers 200 (the server is ready). */
  async ready(path: string, timeoutMs = 60_000): Promise<void> {
    await eventually(
      async () => {
        if (this.child.exitCode !== null) throw new Error(`exited (${this.child.exitCode}):\n${this.output}`);
        return (await http(`${this.url}${path}`)).status === 200 ? true : undefined;
      },
      `${this.url}${path}`,
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const PROMETHEUS_MISSING = 'needs prometheus: install the Debian package prometheus';
export const ALERTMANAGER_MISSING =
  'needs prometheus-alertmanager: install the Debian package prometheus-alertmanager';

/** Prometheus scraping `targets` (host:port) every second, on a free port, with its own storage. */
export async function startPrometheus(targets: readonly string[]): Promise<RealServer> {
  const binary = which('prometheus');
  if (!binary) throw new Error(PROMETHEUS_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: vigil',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const server = new RealServer(child, port, dir);
  await server.ready('/-/ready');
  return server;
}

/**
 * Alertmanager on `port` (a free one unless given), clustering off, its own storage, sending every
 * notification — resolved ones too — at once to `webhookUrl`.
 */
export async function startAlertmanager(webhookUrl: string, port?: number): Promise<RealServer> {
  const binary = which('prometheus-alertmanager', 'alertmanager');
  if (!binary) throw new Error(ALERTMANAGER_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-alertmanager-'));
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(
    config,
    [
      'route:',
      '  receiver: test',
      "  group_by: ['alertname', 'instance']",
      '  group_wait: 1s',
      '  group_interval: 1s',
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: test',
      '    webhook_configs:',
      `      - url: '${webhookUrl}'`,
      '        send_resolved: true',
      '',
    ].join('\n'),
  );
  const chosen = port ?? (await freePort());
  const child = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${chosen}`,
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const server = new RealServer(child, chosen, dir);
  await server.ready('/-/ready');
  return server;
}

/** `promtool check metrics` on an exposition text: its status and what it printed. */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } | null {
  const binary = which('promtool');
  if (!binary) return null;
  const run = spawnSync(binary, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
