import { Command } from 'commander';

/** `vigil config`: show, locate, create, edit or validate the configuration (placeholder until it is written). */
export function makeConfigCommand(): Command {
  return new Command('config')
    .description('show, locate, create, edit or validate the configuration')
    .action(() => {
      process.stderr.write('vigil: not implemented yet\n');
      process.exitCode = 1;
    });
}
