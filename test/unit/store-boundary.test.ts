/**
 * The SQLite file belongs to src/store/: opening it, its schema and every query live there, one repository
 * per table, and everything else goes through the store (`store.actions`, `store.advice`, `store.outbox`,
 * `store.audit`, the history methods). This names, file and line, each place outside src/store/ that
 * imports better-sqlite3, prepares or runs a statement, reaches for the raw handle, or holds SQL text.
 * Run alone with `node --import tsx --test test/unit/store-boundary.test.ts`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** What only src/store/ may do, each with what it looks like in a line of code. */
const SIGNS: ReadonlyArray<{ readonly what: string; readonly pattern: RegExp }> = [
  {
    what: 'imports better-sqlite3',
    pattern: /(?:from\s*|import\s*\(?\s*|require\s*\(\s*)['"]better-sqlite3['"]/,
  },
  { what: 'prepares a statement', pattern: /\.prepare\s*(?:<.*?>)?\s*\(/ },
  { what: 'reaches for the raw database handle', pattern: /\.raw\s*\(\s*\)/ },
  // RegExp#exec takes the text to match; a database's exec takes SQL, a literal or a handle's call.
  {
    what: 'runs SQL with exec',
    pattern: /(?:\b(?:db|database|sqlite|conn|connection|handle)\s*\.\s*exec\s*\(|\.exec\s*\(\s*['"`])/,
  },
  { what: 'runs a pragma or a transaction', pattern: /\.(?:pragma|transaction)\s*\(/ },
  {
    what: 'holds SQL',
    pattern:
      /\b(?:SELECT\b.*\bFROM\b|INSERT (?:OR \w+ )?INTO\b|UPDATE \w+ SET\b|DELETE FROM\b|CREATE (?:UNIQUE )?(?:TABLE|INDEX)\b|PRAGMA \w+)|\bsqlite_(?:master|schema)\b/,
  },
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every sign of database work in `text`, as `file:line what`. */
function signsIn(file: string, text: string): string[] {
  const found: string[] = [];
  for (const [n, line] of text.split('\n').entries()) {
    for (const { what, pattern } of SIGNS) {
      if (pattern.test(line)) found.push(`${file}:${n + 1} ${what}: ${line.trim()}`);
    }
  }
  return found;
}

describe('the store owns the database', () => {
  it('no file outside src/store/ imports better-sqlite3, prepares or runs SQL, holds SQL, or calls raw()', () => {
    const outside = sources(SRC).filter((file) => !relative(SRC, file).startsWith(`store/`));
    assert.ok(outside.length > 50, `found ${outside.length} source files under ${SRC}`);
    const found = outside.flatMap((file) =>
      signsIn(`src/${relative(SRC, file)}`, readFileSync(file, 'utf8')),
    );
    assert.deepEqual(found, [], 'move these into a repository under src/store/ and call it from there');
  });

  it('recognises each sign of database work, and a regular expression’s exec as none', () => {
    const lines = [
      "import Database from 'better-sqlite3';",
      "const { default: Sqlite } = await import('better-sqlite3');",
      "db.prepare('SELECT 1').get();",
      'const rows = db.prepare<[number], Row>(sql).all(1);',
      'const rows = db.prepare<[number, number], Record<string, unknown>>(sql);',
      'const handle = store.raw();',
      "db.exec('BEGIN IMMEDIATE');",
      'conn.exec(script);',
      "db.pragma('user_version');",
      'const tx = db.transaction(() => {});',
      "const sql = 'DELETE FROM outbox WHERE id = ?';",
      '  const q = `SELECT id, payload FROM outbox`;',
      'if (get("SELECT 1 FROM sqlite_master WHERE name = \'outbox\'")) {}',
    ];
    for (const line of lines) assert.equal(signsIn('x.ts', line).length > 0, true, `not seen: ${line}`);
    const innocent = [
      'const match = /^(\\d+):(\\d+)$/.exec(fields[2] ?? "");',
      'for (let m = NAME.exec(text); m !== null; m = NAME.exec(text)) {}',
      "process.stdout.write('Select a process to kill');",
      'const sorted = rows.sort((a, b) => a.id - b.id);',
    ];
    for (const line of innocent) assert.deepEqual(signsIn('x.ts', line), [], `mistaken: ${line}`);
  });
});
