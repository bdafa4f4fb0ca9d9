import type { Severity } from '../config/schema.js';
import type { Finding } from '../rules/types.js';
import { type DirectChannel, type Notice, noticeTitle, raiseNote, resolvedText } from './channel.js';
import { digestTag, resolvedTag, severityTag } from './messages.js';

/**
 * The terminal channel: one line per finding on the daemon's stdout,
 *
 *     2026-11-21 09:58:12 HIGH     ghost_process_storm: 8 identical python3 … (1.2 GiB)
 *     2026-11-21 10:04:40 RESOLVED ghost_process_storm: 8 identical python3 … (lasted 6m)
 *
 * (UTC, the tag padded to 8 columns). A reminder ends with "(still firing after 1h)". A digest is a
 * `DIGEST` line ("7 findings at once") followed by each finding's own line: a terminal loses nothing by
 * being told everything. Colour (the tag only) when `color` is set; see {@link terminalColorWanted}.
 */

const RESET = '\u001b[0m';
const TAG_COLOR: Record<Severity | 'resolved' | 'digest', string> = {
  info: '\u001b[2m',
  low: '\u001b[36m',
  medium: '\u001b[33m',
  high: '\u001b[31m',
  critical: '\u001b[1;31m',
  resolved: '\u001b[32m',
  digest: '\u001b[1m',
};

/** Colour when the output is a terminal and `NO_COLOR` (https://no-color.org) is unset or empty. */
export function terminalColorWanted(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  return isTTY === true && !env['NO_COLOR'];
}

/** "2026-11-21 09:58:12" (UTC). */
export function terminalTime(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').slice(0, 19);
}

/** The lines a notice prints, without a trailing newline. */
export function terminalLines(notice: Notice, color: boolean): string[] {
  const when = terminalTime(notice.at);
  const paint = (kind: keyof typeof TAG_COLOR, tag: string) => {
    const padded = tag.padEnd(8);
    return color ? `${TAG_COLOR[kind]}${padded}${RESET}` : padded;
  };
  const raised = (f: Finding, note: string | null) =>
    `${when} ${paint(f.severity, severityTag(f.severity, notice.language))} ${f.rule}: ${f.summary}${note ? ` (${note})` : ''}`;
  const resolved = (f: Finding) =>
    `${when} ${paint('resolved', resolvedTag(notice.language))} ${f.rule}: ${resolvedText(notice, f)}`;

  if (notice.kind === 'raised') return notice.findings.map((f) => raised(f, raiseNote(notice, f)));
  if (notice.kind === 'resolved') return notice.findings.map(resolved);
  // The daemon prints its action lines itself (SUGGEST, NOTICE, ACTED…), whatever the terminal's minimum.
  if (notice.kind === 'action') return [];
  return [
    `${when} ${paint('digest', digestTag(notice.language))} ${noticeTitle(notice)}`,
    ...notice.findings.map((f) => raised(f, null)),
    ...notice.resolved.map(resolved),
  ];
}

export function createTerminalChannel(options: {
  minSeverity: Severity;
  /** Writes one line (the daemon: stdout). */
  write: (line: string) => void;
  color: boolean;
}): DirectChannel {
  return {
    name: 'terminal',
    queued: false,
    minSeverity: options.minSeverity,
    unsupported: null,
    async deliver(notice) {
      for (const line of terminalLines(notice, options.color)) options.write(line);
    },
  };
}
