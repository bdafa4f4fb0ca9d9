/**
 * Text from other programs made safe to show. A cmdline, a process name or a journal message is written
 * by whoever started the process (another user's too: /proc is world-readable), so it may carry newlines
 * that break a table, or escape sequences that would move the cursor, retitle the window or clear the
 * screen when printed. Every such string is passed through `printable` where it enters vigil, so the
 * terminal, the dashboard, notifications, logs and the advisor all see the same visible form.
 */

/** C0 controls, DEL, C1 controls, line/paragraph separators and bidirectional overrides. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * The text with every control character written out as an escape (`\n`, `\t`, `\e`, `\x07`, `\u202e`),
 * as `ps` and journalctl avoid printing them raw. Text without any (nearly all of it) is returned as is.
 */
export function printable(text: string): string {
  // search() ignores the g flag's lastIndex, so one expression serves both the test and the replace.
  return text.search(UNPRINTABLE) < 0 ? text : text.replace(UNPRINTABLE, escapeOne);
}

/** The languages vigil speaks to people in: notices, reports and the advisor's answers. */
export type Language = 'en' | 'fr';
