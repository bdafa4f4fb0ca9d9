import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file under test/fixtures. */
export function fixturePath(relative: string): string {
  return fileURLToPath(new URL(`../fixtures/${relative}`, import.meta.url));
}

/** A real sample from test/fixtures/samples, without its `# ` provenance comments (`## ` block headers stay). */
export function sampleText(name: string): string {
  return readFileSync(fixturePath(`samples/${name}`), 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('#') || line.startsWith('##'))
    .join('\n');
}

/** The lines of one `## X. ...` block of a sample file (up to the next `## ` header). */
export function sampleBlock(name: string, header: string): string {
  const lines = sampleText(name).split('\n');
  const start = lines.findIndex((line) => line.startsWith(`## ${header}`));
  if (start < 0) throw new Error(`no block "## ${header}" in ${name}`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}
