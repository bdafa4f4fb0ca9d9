#!/usr/bin/env -S node --max-semi-space-size=1
// Entry point of the `vigil` command. `vigil` alone and `vigil run` start the daemon through a lean entry
// (no commander: the long-running process loads only what it uses); every other command goes to the CLI.
// The young generation is capped at 1 MiB: measured in npm run bench, the daemon stays ~28 MB smaller
// for no measurable CPU. Measured and not shipped (600 processes, 3 min): --no-opt saves 12 MB more for
// 1.09x CPU, --lite-mode 18-20 MB (79 -> 60 MB) for 1.2-1.5x, which would take the CPU past half of glances'.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Options of `vigil [run]` that take a value (src/daemon/args.ts): their value is not a command word.
const VALUE_OPTIONS = new Set([
  '--mode',
  '--interval',
  '--exit-after',
  '--config',
  '--procfs',
  '--sysfs',
  '--rootfs',
  '--nvidia-smi',
  '--journal-file',
  '--journal-dir',
]);
const args = process.argv.slice(2);
/** The first word that is neither an option nor an option's value: the command, or undefined. */
function commandWord() {
  for (let i = 0; i < args.length; i++) {
    if (VALUE_OPTIONS.has(args[i])) i++;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}
const command = commandWord();
// The daemon runs for `vigil run` and `vigil` alone; any other word (a command, or a typo the CLI answers
// with the nearest command) goes to the CLI.
const daemon =
  command === 'run' ||
  (command === undefined && !args.some((a) => ['-V', '--version', '-h', '--help'].includes(a)));
// `vigil … | head` closes the pipe early: that is the reader's choice, not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const entry = new URL(daemon ? '../dist/daemon/entry.js' : '../dist/cli/main.js', import.meta.url);
if (existsSync(fileURLToPath(entry))) {
  await import(entry.href);
} else {
  // A source checkout that was not built yet (npm ci does not build: the package builds in prepack, so
  // an install has no build step): run the TypeScript through tsx, a dev dependency. `npm run build`
  // makes later starts faster.
  const source = new URL(daemon ? '../src/daemon/entry.ts' : '../src/cli/main.ts', import.meta.url);
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    register = null;
  }
  if (register === null || !existsSync(fileURLToPath(source))) {
    process.stderr.write('vigil: the compiled code is missing (dist/). Run `npm run build`.\n');
    process.exit(1);
  }
  // tsx looks for a tsconfig in the current directory only: run from elsewhere, it would miss the
  // project's (and with it "jsx": "react-jsx", so the dashboard would die on "React is not defined").
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  await import(source.href);
}
