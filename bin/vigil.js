#!/usr/bin/env node
// Entry point of the `vigil` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    'vigil: the compiled code is missing (dist/). Run `npm run build` (npm ci does it).\n',
  );
  process.exit(1);
}
await import(main.href);
