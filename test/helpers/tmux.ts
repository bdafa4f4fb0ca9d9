import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real terminal for tests: a tmux server of its own (its socket in a temp directory, so it never meets
 * the user's tmux), one pane of a fixed size running a plain bash, keys sent as a person types them and
 * the screen read back with `capture-pane`.
 */

/** Whether tmux is installed (Debian package tmux). */
export function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

export class TmuxPane {
  private readonly dir: string;
  private readonly socket: string;
  private readonly target = 'test:0.0';

  /**
   * A pane of `columns`×`rows` running `bash --norc` with the prompt `PROMPT$ `, in `env` (the tmux
   * server, started here, passes its environment to the shell).
   */
  constructor(columns: number, rows: number, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
    this.dir = mkdtempSync(join(tmpdir(), 'vigil-tmux-'));
    this.socket = join(this.dir, 'socket');
    this.tmux(
      [
        'new-session',
        '-d',
        '-s',
        'test',
        '-x',
        String(columns),
        '-y',
        String(rows),
        '-c',
        cwd,
        'bash --norc --noprofile',
      ],
      { ...env, TERM: 'xterm-256color' },
    );
    this.tmux(['set-option', '-t', 'test', 'status', 'off']);
    this.tmux(['resize-window', '-t', 'test', '-x', String(columns), '-y', String(rows)]);
    // tmux does not hand PS1 to the shell, so it is set by typing it.
    this.type("PS1='PROMPT$ '; clear", true);
  }

  private tmux(args: readonly string[], env?: NodeJS.ProcessEnv): string {
    const result = spawnSync('tmux', ['-S', this.socket, ...args], {
      encoding: 'utf8',
      timeout: 10_000,
      ...(env ? { env } : {}),
    });
    if (result.status !== 0) throw new Error(`tmux ${args[0]} failed: ${result.stderr || result.error}`);
    return result.stdout;
  }

  /** Types `text` as it is (no key names), then Enter when `enter` is set. */
  type(text: string, enter = false): void {
    this.tmux(['send-keys', '-t', this.target, '-l', text]);
    if (enter) this.keys('Enter');
  }

  /** Presses keys by tmux name: `Enter`, `Escape`, `Down`, `PageDown`, `C-c`… */
  keys(...names: string[]): void {
    this.tmux(['send-keys', '-t', this.target, ...names]);
  }

  /** Resizes the pane's window, as a person dragging the terminal's corner (the program gets SIGWINCH). */
  resize(columns: number, rows: number): void {
    this.tmux(['resize-window', '-t', 'test', '-x', String(columns), '-y', String(rows)]);
  }

  /** The screen as text, one line per row. */
  screen(): string {
    return this.tmux(['capture-pane', '-p', '-t', this.target]);
  }

  /** The pane's title, which a program can set with an OSC 0 or 2 escape sequence. */
  title(): string {
    return this.tmux(['display-message', '-p', '-t', this.target, '#{pane_title}']).trim();
  }

  /** Polls the screen until `check` holds; throws with the last screen after `timeoutMs`. */
  async waitFor(
    check: RegExp | ((screen: string) => boolean),
    what: string,
    timeoutMs = 30_000,
  ): Promise<string> {
    const ok = typeof check === 'function' ? check : (s: string) => check.test(s);
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = this.screen();
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; the screen was:\n${last}`);
  }

  close(): void {
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
