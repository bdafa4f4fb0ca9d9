import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { formatListen, isLoopback, type ListenAddress, parseListen } from '../config/listen.js';
import type { LoadedConfig } from '../config/load.js';
import { lineOfKey } from '../config/locate.js';
import { formatProblem } from '../config/problems.js';
import { vigilVersion } from '../host/version.js';
import type { Finding } from '../rules/types.js';
import type { MetricsInput, VigilMetrics } from './registry.js';

/**
 * The `/metrics` endpoint (`[metrics] listen`). Nothing of it is loaded while metrics are off: prom-client
 * and the registry come with the first `start`, by dynamic import, so a daemon without metrics pays
 * nothing. node:http serves it (no fetch/undici: 15–40 MiB). Measured on Node 20: the HTTP server costs
 * about 3 MiB resident and prom-client's registry, gauge and counter about 1.5 MiB more; the package's
 * entry point would cost about 9 MiB (see prom-client.d.ts).
 *
 * A failure here (a port in use, an address not on this machine) turns this one feature off with a log
 * line; it never stops the daemon. A scrape reads what the last full cycle saw: it never collects.
 */

/**
 * What a connection may take, so that a local user holding connections (idle, dribbling a request a
 * byte at a time, or never reading an answer) cannot keep Prometheus out for long. Node checks the header
 * and request deadlines every {@link CHECK_EVERY_MS}; the idle timeout covers a socket that never sends a
 * byte, which those deadlines do not.
 */
export const METRICS_LIMITS = {
  /** Open connections at most; at the cap a newcomer replaces the oldest one not being answered. */
  maxConnections: 32,
  /** The request head must be complete this long after it started. */
  headersTimeoutMs: 5_000,
  /** The whole request, likewise. */
  requestTimeoutMs: 10_000,
  /** A kept-alive connection waits this long for its next request. */
  keepAliveTimeoutMs: 5_000,
  /** A socket with no traffic either way this long is closed. */
  idleTimeoutMs: 10_000,
} as const;
const CHECK_EVERY_MS = 1_000;

export interface MetricsServerOptions {
  log(line: string): void;
  /** vigil's version for vigil_build_info (default: package.json's). */
  version?: string;
}

async function loadMetrics(version: string): Promise<VigilMetrics> {
  const [registry, gauge, counter, { VigilMetrics }] = await Promise.all([
    import('prom-client/lib/registry.js'),
    import('prom-client/lib/gauge.js'),
    import('prom-client/lib/counter.js'),
    import('./registry.js'),
  ]);
  return new VigilMetrics(
    { Registry: registry.default, Gauge: gauge.default, Counter: counter.default },
    version,
  );
}

/**
 * At most `max` open connections. Where `server.maxConnections` refuses every newcomer once the cap is
 * reached — so whoever holds 32 idle sockets shuts Prometheus out — a newcomer here replaces the oldest
 * connection that is not in the middle of being answered; only when all are is it refused. Holding
 * sockets then buys an attacker nothing but churn, and a scrape (which sends its request at once and is
 * answered from memory) gets through.
 */
function capConnections(server: Server, max: number): void {
  /** Open sockets, oldest first (a Set keeps insertion order). */
  const open = new Set<Socket>();
  const answering = new WeakSet<Socket>();
  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      let oldest: Socket | undefined;
      for (const candidate of open) {
        if (!answering.has(candidate)) {
          oldest = candidate;
          break;
        }
      }
      if (oldest === undefined) {
        socket.destroy();
        return;
      }
      open.delete(oldest);
      oldest.destroy();
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    answering.add(socket);
    res.once('close', () => answering.delete(socket));
  });
}

export class MetricsServer {
  private metrics: VigilMetrics | null = null;
  private server: Server | null = null;
  /** The address served (`127.0.0.1:9633`), or null. */
  private serving: string | null = null;
  private last: MetricsInput | null = null;
  private closed = false;

  constructor(private readonly options: MetricsServerOptions) {}

  private log(line: string): void {
    this.options.log(`metrics: ${line}`);
  }

  /** Where it serves (`127.0.0.1:9633`), or null when off. */
  get address(): string | null {
    return this.serving;
  }

  /**
   * Applies a config's `[metrics] listen` (at start and on SIGHUP): starts, moves or stops the endpoint.
   * A bad value is logged as `file:line: metrics.listen: …`; the endpoint already running stays. Never throws.
   */
  async apply(loaded: Pick<LoadedConfig, 'config' | 'path' | 'text'>): Promise<void> {
    const { address, problem } = configuredListen(loaded);
    if (problem !== null) {
      this.log(
        `${problem}${this.serving ? `; still serving ${this.serving}` : '; /metrics is off, everything else goes on'}`,
      );
      return;
    }
    if (address === null) {
      if (this.server) {
        await this.stopServer();
        this.log('off');
      }
      return;
    }
    await this.start(address);
  }

  /**
   * Serves `/metrics` on `listen` (moving from another address if needed). False when it cannot, said
   * in the log. Never throws.
   */
  async start(listen: ListenAddress | string): Promise<boolean> {
    if (this.closed) return false;
    let address: ListenAddress;
    try {
      address = typeof listen === 'string' ? parseListen(listen) : listen;
    } catch (error) {
      this.log(`metrics.listen: ${(error as Error).message}; /metrics is off`);
      return false;
    }
    const key = formatListen(address);
    if (key === this.serving) return true;
    await this.stopServer();
    try {
      this.metrics ??= await loadMetrics(this.options.version ?? vigilVersion());
      if (this.last) this.metrics.update(this.last);
      const { createServer } = await import('node:http');
      const server = createServer(
        {
          headersTimeout: METRICS_LIMITS.headersTimeoutMs,
          requestTimeout: METRICS_LIMITS.requestTimeoutMs,
          keepAliveTimeout: METRICS_LIMITS.keepAliveTimeoutMs,
          connectionsCheckingInterval: CHECK_EVERY_MS,
        },
        (req, res) => void this.handle(req, res),
      );
      server.setTimeout(METRICS_LIMITS.idleTimeoutMs);
      capConnections(server, METRICS_LIMITS.maxConnections);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address.port, address.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (error) => this.log(`server error: ${error.message}`));
      this.server = server;
      this.serving = key;
      this.log(
        `serving http://${key}/metrics${isLoopback(address) ? '' : ' (reachable from other machines: bind to 127.0.0.1 to keep it local)'}`,
      );
      return true;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const why =
        code === 'EADDRINUSE'
          ? 'the port is in use'
          : code === 'EADDRNOTAVAIL'
            ? 'the address is not on this machine'
            : code === 'EACCES'
              ? 'permission denied (ports under 1024 need privileges)'
              : (error as Error).message;
      this.log(`cannot listen on ${key}: ${why}; /metrics is off, everything else goes on`);
      return false;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('vigil: metrics at /metrics\n');
      return;
    }
    if (path !== '/metrics' || !this.metrics) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    try {
      const body = await this.metrics.text();
      res.writeHead(200, {
        'content-type': this.metrics.contentType,
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      res
        .writeHead(500, { 'content-type': 'text/plain' })
        .end(`cannot render metrics: ${(error as Error).message}\n`);
    }
  }

  /** One full cycle's picture (kept for a registry started later). Never throws. */
  update(input: MetricsInput): void {
    this.last = input;
    try {
      this.metrics?.update(input);
    } catch (error) {
      this.log(`update failed: ${(error as Error).message}`);
    }
  }

  /** Findings just raised, for vigil_alerts_total (counted only while metrics are on). */
  countRaised(findings: readonly Finding[]): void {
    if (findings.length > 0) this.metrics?.countRaised(findings);
  }

  /** An action run, for vigil_actions_total. */
  countAction(action: string, outcome: string): void {
    this.metrics?.countAction(action, outcome);
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.serving = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Stops serving (daemon shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopServer();
  }
}

/**
 * The configured listen address, or null when metrics are off. A bad value gives `file:line: key:
 * message` as the config's other problems do.
 */
export function configuredListen(loaded: Pick<LoadedConfig, 'config' | 'path' | 'text'>): {
  address: ListenAddress | null;
  problem: string | null;
} {
  const value = loaded.config.metrics.listen;
  if (value.trim() === '') return { address: null, problem: null };
  try {
    return { address: parseListen(value), problem: null };
  } catch (error) {
    const problem = formatProblem({
      file: loaded.path,
      line: lineOfKey(loaded.text, ['metrics', 'listen']),
      key: 'metrics.listen',
      message: (error as Error).message,
    });
    return { address: null, problem };
  }
}
