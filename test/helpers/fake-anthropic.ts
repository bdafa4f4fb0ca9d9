import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fake Anthropic Messages API on 127.0.0.1: a real HTTP server the real SDK is pointed at (base_url).
 * It records every request (path, headers, raw body) and answers from a queue of replies, the last one
 * repeating: a structured answer, raw text, an HTTP error with headers, or a hang (for timeouts).
 */

export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type FakeReply =
  /** A message whose single text block is JSON.stringify(answer). */
  | { readonly answer: unknown; readonly stopReason?: string }
  /** A message whose single text block is this text. */
  | { readonly text: string; readonly stopReason?: string }
  /** An API error. */
  | { readonly status: number; readonly errorType?: string; readonly headers?: Record<string, string> }
  /** Never answers (the client times out). */
  | { readonly hang: true };

export class FakeAnthropic {
  readonly requests: FakeRequest[] = [];
  private replies: FakeReply[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeAnthropic> {
    const server = createServer();
    const fake = new FakeAnthropic(server);
    server.on('request', (req, res) => fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Replies for the next requests, in order; the last one repeats. */
  reply(...replies: FakeReply[]): void {
    this.replies = replies;
  }

  /** Calls to POST /v1/messages so far. */
  get calls(): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/messages')).length;
  }

  /** Every body received, joined: what left the machine. */
  get allBodies(): string {
    return this.requests.map((r) => r.body).join('\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const reply = this.replies.length > 1 ? this.replies.shift()! : this.replies[0];
      if (!reply) {
        this.error(res, 500, 'api_error', {});
        return;
      }
      if ('hang' in reply) return;
      if ('status' in reply) {
        this.error(res, reply.status, reply.errorType ?? errorTypeOf(reply.status), reply.headers ?? {});
        return;
      }
      let model = 'unknown';
      try {
        model = (JSON.parse(body) as { model?: string }).model ?? model;
      } catch {
        // not JSON: answer anyway
      }
      const text = 'answer' in reply ? JSON.stringify(reply.answer) : reply.text;
      const message = {
        id: `msg_fake_${this.requests.length}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: reply.stopReason ?? 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: Math.ceil(body.length / 4), output_tokens: Math.ceil(text.length / 4) },
      };
      res.writeHead(200, {
        'content-type': 'application/json',
        'request-id': `req_fake_${this.requests.length}`,
      });
      res.end(JSON.stringify(message));
    });
  }

  private error(res: ServerResponse, status: number, type: string, headers: Record<string, string>): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ type: 'error', error: { type, message: `fake ${type}` } }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function errorTypeOf(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A well-formed answer, with the actions given. */
export function answer(
  actions: unknown[] = [],
  diagnostic = 'Eight MCP servers were left behind by an agent CLI that exited.',
): unknown {
  return {
    diagnostic,
    severity: 'high',
    actions,
    prevention: 'Close agent sessions with /exit so their MCP servers are stopped with them.',
  };
}
