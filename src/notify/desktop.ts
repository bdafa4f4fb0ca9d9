import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Severity } from '../config/schema.js';
import { type DirectChannel, type Notice, noticeLines, noticeTitle, topSeverity } from './channel.js';

/**
 * The desktop channel: a pop-up through node-notifier, which on Linux runs `notify-send` (libnotify) to
 * reach the session's notification server over D-Bus.
 *
 * node-notifier costs about 10 MB resident, a fifth of the daemon's budget, so it is loaded only when
 * the channel is enabled, the machine has a display or a session bus, `notify-send` exists and
 * node-notifier is installed — and then only when the first pop-up is due. Whatever is missing makes the
 * channel *unsupported* (said once in `vigil health`), never an error: a server, a container or an SSH
 * session has no desktop to tell.
 */

export interface DesktopPopup {
  readonly title: string;
  /** The body; notification servers read a little markup, so `&`, `<` and `>` are escaped. */
  readonly message: string;
  readonly urgency: 'low' | 'normal' | 'critical';
}

/** Shows one pop-up; rejects when it could not. */
export type DesktopBackend = (popup: DesktopPopup) => Promise<void>;

/** How long notify-send may take before the pop-up counts as failed. */
const POPUP_TIMEOUT_MS = 10_000;

export interface DesktopProbe {
  /** Whether a program is on PATH (default: looks through `env.PATH`). */
  hasProgram?: (name: string, env: NodeJS.ProcessEnv) => boolean;
  /** Whether a package can be imported, without importing it (default: import.meta.resolve). */
  hasPackage?: (name: string) => boolean;
}

/**
 * Why pop-ups cannot be shown here, or null when they can: no display nor session bus, no notify-send,
 * no node-notifier. Cheap: nothing is loaded.
 */
export function desktopUnsupported(env: NodeJS.ProcessEnv, probe: DesktopProbe = {}): string | null {
  if (!env['DISPLAY'] && !env['WAYLAND_DISPLAY'] && !env['DBUS_SESSION_BUS_ADDRESS'])
    return 'no display or session bus (DISPLAY, WAYLAND_DISPLAY and DBUS_SESSION_BUS_ADDRESS are unset)';
  if (!(probe.hasProgram ?? onPath)('notify-send', env))
    return 'notify-send is not on PATH (Debian and Ubuntu package libnotify-bin)';
  if (!(probe.hasPackage ?? resolvable)('node-notifier')) return 'node-notifier is not installed';
  return null;
}

function onPath(name: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function resolvable(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Loads node-notifier (the ~10 MB) and wraps its callback API. */
export async function loadNodeNotifier(): Promise<DesktopBackend> {
  const { default: notifier } = await import('node-notifier');
  return (popup) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`notify-send did not answer within ${POPUP_TIMEOUT_MS / 1000} s`)),
        POPUP_TIMEOUT_MS,
      );
      timer.unref();
      notifier.notify(
        { title: popup.title, message: popup.message, urgency: popup.urgency, wait: false, timeout: 10 },
        (error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        },
      );
    });
}

/** The pop-up for a notice: its title, up to 8 lines, urgency from the most severe finding. */
export function desktopPopup(notice: Notice): DesktopPopup {
  const top = topSeverity(notice);
  const urgency =
    notice.kind === 'resolved' || top === 'info' || top === 'low'
      ? 'low'
      : top === 'critical'
        ? 'critical'
        : 'normal';
  return { title: noticeTitle(notice), message: escapeMarkup(noticeLines(notice, 8).join('\n')), urgency };
}

function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function createDesktopChannel(options: {
  env: NodeJS.ProcessEnv;
  minSeverity: Severity;
  /** Default: {@link loadNodeNotifier}. */
  load?: () => Promise<DesktopBackend>;
  probe?: DesktopProbe;
}): DirectChannel {
  let unsupported = desktopUnsupported(options.env, options.probe);
  let backend: Promise<DesktopBackend | null> | null = null;
  const load = options.load ?? loadNodeNotifier;
  return {
    name: 'desktop',
    queued: false,
    minSeverity: options.minSeverity,
    get unsupported() {
      return unsupported;
    },
    async deliver(notice) {
      if (unsupported !== null) return;
      backend ??= load().catch((error: unknown) => {
        unsupported = `node-notifier cannot be loaded: ${(error as Error).message}`;
        return null;
      });
      const show = await backend;
      if (show) await show(desktopPopup(notice));
    },
  };
}
