import { Command } from 'commander';

/** `vigil watch`: the interactive dashboard (placeholder until it is written). */
export function makeWatchCommand(): Command {
  return new Command('watch').description('the interactive dashboard').action(() => {
    process.stderr.write('vigil: not implemented yet\n');
    process.exitCode = 1;
  });
}
