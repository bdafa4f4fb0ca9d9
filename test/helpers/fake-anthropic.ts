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
  | { readonly hang: true }
  /**
   * A message whose text block holds `bytes` bytes of filler, streamed in 64 KiB writes (the fake never
   * holds it whole): with a content-length header, or chunked when `chunked` is set, so a client that
   * trusts the header and one that counts bytes are both tried.
   */
  | { readonly huge: number; readonly chunked?: boolean; readonly status?: number };

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
      if ('huge' in reply) {
        this.huge(res, reply);
        return;
      }
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

  private huge(res: ServerResponse, reply: { huge: number; chunked?: boolean; status?: number }): void {
    const head = Buffer.from(
      `{"id":"msg_fake_huge","type":"message","role":"assistant","model":"fake","content":[{"type":"text","text":"`,
    );
    const tail = Buffer.from(
      `"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`,
    );
    const chunk = Buffer.alloc(64 * 1024, 'A');
    const total = head.length + reply.huge + tail.length;
    res.writeHead(reply.status ?? 200, {
      'content-type': 'application/json',
      ...(reply.chunked ? {} : { 'content-length': String(total) }),
    });
    res.write(head);
    let left = reply.huge;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end(tail);
    };
    res.on('error', () => {
      // the client hung up (as it should once it has seen enough)
    });
    pump();
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

/**
 * Text a hostile or confused model could answer with: a cursor move and screen clear, an OSC 52 write to
 * the clipboard, a window-title change, a C1 CSI, a bell and a right-to-left override that would reorder
 * what follows. None of it may reach a terminal raw.
 */
export const CONTROL_TEXT =
  'Stale servers\u001b[2J\u001b[H were left behind.\u001b]52;c;cm0gLXJmIH4K\u0007 ' +
  '\u001b]0;pwned\u0007\u009b31m\u0007 See \u202eexe.live\u202c for details.\r\nDone.';

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
