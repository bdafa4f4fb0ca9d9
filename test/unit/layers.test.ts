/**
 * The layout of src/: every folder is a room on a floor, and imports point down or across, never up.
 * Run alone with `node --import tsx --test test/unit/layers.test.ts`; it names each import that points up
 * and each cycle between folders (and between files), with the line that makes it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/**
 * The floors, lowest first. A folder may import its own floor's other folders (as long as no cycle forms)
 * and anything below; the shells on top are imported by nothing.
 */
const FLOORS: readonly (readonly string[])[] = [
  ['model'], // vocabulary: snapshot types, text, durations, formatting, severity
  ['redact', 'host'], // secrets masking; the operating system: commands, files, paths, the pid-file lock
  ['config'], // the configuration file: schema, loading, problems
  ['collectors'], // one file per source, the registry, pure parsers
  ['understand'], // facts, lineage, classification, trends, baselines: memory kept across cycles
  ['rules'], // loading rules, CEL, the engine
  ['store'], // the SQLite file: opening, schema, one repository per table
  ['pipeline'], // the Watcher: collect → understand → judge, on an injected clock and sample source
  ['respond'], // the catalog, plans, policy, execution, the scheduler
  ['notify', 'advisor', 'report', 'audit', 'metrics', 'service'], // features
  ['daemon', 'cli', 'watch'], // thin shells
];
const SHELLS = new Set(FLOORS.at(-1));
/**
 * The one way between shells: the CLI is the front door, so `vigil run` and `vigil watch` start the daemon
 * and the dashboard through their entry points, and completion reads `vigil run`'s options from its usage.
 */
const DOORS = new Set(['cli -> daemon/main', 'cli -> daemon/args', 'cli -> watch/run']);

const floorOf = new Map<string, number>();
for (const [n, floor] of FLOORS.entries()) for (const folder of floor) floorOf.set(folder, n);

interface Edge {
  from: string;
  to: string;
  line: number;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\b[^'"`;]*?(?:from\s*)?\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every relative import in src/, file to file (paths relative to src/, without extension). */
function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const from = relative(SRC, file).replace(/\.tsx?$/, '');
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1]!;
      const to = normalize(join(dirname(from), spec)).replace(/\.(js|jsx|ts|tsx)$/, '');
      const line = text.slice(0, match.index).split('\n').length;
      out.push({ from, to, line });
    }
  }
  return out;
}

const folder = (path: string) => (path.includes('/') ? path.split('/')[0]! : '.');

/** A cycle in `graph` as a list of nodes (first repeated last), or null. */
function cycleIn(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    if (state.get(node) === undefined) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return null;
}

describe('the layout of src/', () => {
  const all = edges();

  it('puts every folder on a floor', () => {
    const folders = new Set(all.flatMap((e) => [folder(e.from), folder(e.to)]));
    const unplaced = [...folders].filter((f) => f !== '.' && f !== '..' && !floorOf.has(f));
    assert.deepEqual(unplaced, [], 'add each new folder to FLOORS in test/unit/layers.test.ts');
  });

  it('has no import that points up, and none into a shell from outside the shells', () => {
    const wrong = all
      .filter((e) => {
        const a = folder(e.from);
        const b = folder(e.to);
        if (a === b || a === '.' || b === '.' || b === '..') return false;
        if (DOORS.has(`${a} -> ${e.to}`)) return false;
        if (SHELLS.has(b)) return true;
        return (floorOf.get(b) ?? 0) > (floorOf.get(a) ?? 0);
      })
      .map((e) => `src/${e.from}.ts:${e.line} imports ${e.to}`);
    assert.deepEqual(wrong, []);
  });

  it('has no cycle between folders', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of all) {
      const a = folder(e.from);
      const b = folder(e.to);
      if (a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
    }
    const cycle = cycleIn(graph);
    const proof = (cycle ?? []).slice(0, -1).map((a, n) => {
      const b = cycle![n + 1]!;
      const e = all.find((x) => folder(x.from) === a && folder(x.to) === b)!;
      return `src/${e.from}.ts:${e.line} imports ${e.to}`;
    });
    assert.deepEqual(proof, []);
  });

  it('has no cycle between files', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of all) {
      if (!graph.has(e.from)) graph.set(e.from, new Set());
      graph.get(e.from)!.add(e.to);
    }
    assert.deepEqual(cycleIn(graph), null);
  });
});
