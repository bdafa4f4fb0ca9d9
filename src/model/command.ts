/**
 * A command line as a table column shows it in 30 to 60 cells: what tells one process from another is
 * the program and the script it runs, not the directories they live in. The program keeps its base name;
 * every path argument keeps its last component behind `…/` (its last two when the file name says nothing
 * on its own, as `…/claude-code/cli.js`); everything else stays as written.
 *
 *   /usr/bin/python3 /home/u/mcp/mcp_server.py --port 41000   →  python3 …/mcp_server.py --port 41000
 *   /usr/bin/node /home/u/.npm/_npx/3f2a/node_modules/.bin/mcp-server-github  →  node …/mcp-server-github
 *
 * Used by `vigil status` and `vigil watch` alike; the whole command line stays in `--json`, explain and
 * the kill dialog.
 */

/** File names that say nothing about the program without their directory. */
const GENERIC_FILES =
  /^(index|main|cli|server|app|start|run|entry|__main__|__init__|launcher|bootstrap|init|bundle)(\.[\w]+)?$/;

/** A word that is a path worth shortening: a directory part of more than `/` or `.`, and no URL. */
function shortPath(word: string): string {
  if (!word.includes('/') || word.includes('://')) return word;
  const trimmed = word.replace(/\/+$/, '');
  const parts = trimmed.split('/');
  const last = parts[parts.length - 1] ?? '';
  if (last === '' || parts.length < 2) return word;
  const dir = parts.slice(0, -1).join('/');
  if (dir === '' || dir === '.' || dir === '~') return word;
  const keep = GENERIC_FILES.test(last) && parts.length >= 3 ? `${parts[parts.length - 2]}/${last}` : last;
  const shortened = `…/${keep}`;
  return shortened.length < word.length ? shortened : word;
}

/** One argument: a path, or an option whose value is one (`--config=/etc/x/y.toml`). */
function shortWord(word: string): string {
  if (word.startsWith('-')) {
    const eq = word.indexOf('=');
    return eq > 0 ? `${word.slice(0, eq + 1)}${shortPath(word.slice(eq + 1))}` : word;
  }
  return shortPath(word);
}

/**
 * The short form of a command line; `[comm]` for a process without one (a kernel thread, a zombie). A
 * title rewritten into one argument with spaces (`npm exec @x/y`) is read as its words.
 */
export function shortCommand(argv: readonly string[], comm: string): string {
  let words = argv;
  while (words.length > 0 && words[words.length - 1] === '') words = words.slice(0, -1);
  if (words.length === 0) return `[${comm}]`;
  if (words.length === 1 && /\s/.test(words[0]!)) words = words[0]!.trim().split(/\s+/);
  const first = words[0]!;
  const program = first.includes('/') ? first.slice(first.lastIndexOf('/') + 1) || first : first;
  // An argument holding spaces (`sh -c "cd /a/b && make"`) is shortened word by word.
  const rest = words
    .slice(1)
    .map((w) => (/\s/.test(w) ? w.split(' ').map(shortWord).join(' ') : shortWord(w)));
  return [program, ...rest].join(' ');
}

/** The short form of a space-joined command line (a group's normalised cmdline). */
export function shortCommandLine(cmdline: string, comm = ''): string {
  return shortCommand(cmdline === '' ? [] : [cmdline], comm);
}
