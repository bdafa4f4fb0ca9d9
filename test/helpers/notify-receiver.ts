import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** python3 is needed for a real AF_UNIX datagram socket (Node has none). */
export const havePython =
  spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX'], { stdio: 'ignore' }).status === 0;
export const haveSystemdNotify = spawnSync('systemd-notify', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * The receiving end of sd_notify, as systemd binds it: a SOCK_DGRAM AF_UNIX socket. Each datagram is
 * printed as one JSON string; file descriptors passed with BARRIER=1 are closed at once, which is how
 * the manager releases systemd-notify's barrier.
 */
const RECEIVER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("BOUND"), flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

/** A real notification socket and the messages it received, in order. */
export class NotifyReceiver {
  readonly path: string;
  readonly messages: string[] = [];
  private readonly child: ChildProcess;
  private buffer = '';

  constructor(dir: string) {
    this.path = join(dir, 'notify.sock');
    this.child = spawn('python3', ['-c', RECEIVER, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString();
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        this.messages.push(JSON.parse(this.buffer.slice(0, nl)) as string);
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf('\n');
      }
    });
  }

  /** Messages other than the bind marker and systemd-notify's barriers. */
  get received(): string[] {
    return this.messages.filter((m) => m !== 'BOUND' && m !== 'BARRIER=1');
  }

  async waitFor(predicate: (received: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async bound(): Promise<void> {
    const end = Date.now() + 30_000;
    while (!this.messages.includes('BOUND')) {
      if (Date.now() > end) throw new Error('the python3 notify receiver did not start');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.child.kill();
  }
}
