/**
 * Finds the line of a key in TOML text, for error messages that name file, line and key. smol-toml gives
 * positions only for syntax errors, so this scans the text: table headers (`[a.b]`, `[[a]]` with their
 * index) and `key = value` lines (bare, quoted and dotted keys). Multi-line values are not keys and so
 * never match. Returns a 1-based line, or null when the key is not written in the text (a default).
 */
export function lineOfKey(text: string, path: readonly (string | number)[]): number | null {
  const lines = text.split('\n');
  let table: (string | number)[] = [];
  const arrayCounts = new Map<string, number>();
  let best: number | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = stripComment(lines[i]!).trim();
    if (line === '') continue;
    const arrayHeader = line.match(/^\[\[\s*(.+?)\s*\]\]$/);
    const header = arrayHeader ? null : line.match(/^\[\s*(.+?)\s*\]$/);
    if (arrayHeader) {
      const name = splitKey(arrayHeader[1]!);
      const id = name.join('.');
      const index = arrayCounts.get(id) ?? 0;
      arrayCounts.set(id, index + 1);
      table = [...name, index];
      if (startsWith(path, table)) best = i + 1;
      continue;
    }
    if (header) {
      table = splitKey(header[1]!);
      if (startsWith(path, table) && (best === null || table.length >= 1)) best = i + 1;
      continue;
    }
    const eq = findEquals(line);
    if (eq < 0) continue;
    const key = [...table, ...splitKey(line.slice(0, eq))];
    if (startsWith(path, key)) return i + 1;
  }
  return best;
}

function startsWith(path: readonly (string | number)[], prefix: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => String(part) === String(path[i]));
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') return line.slice(0, i);
  }
  return line;
}

function findEquals(line: string): number {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '=') return i;
  }
  return -1;
}

function splitKey(key: string): string[] {
  const parts: string[] = [];
  for (const match of key.matchAll(/\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^.\s]+)\s*(?:\.|$)/g)) {
    const raw = match[1]!;
    parts.push(raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1) : raw);
  }
  return parts;
}
