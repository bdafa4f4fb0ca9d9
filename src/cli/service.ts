import { Command } from 'commander';

/** `vigil service`: install, remove or show the systemd user service (placeholder until it is written). */
export function makeServiceCommand(): Command {
  return new Command('service').description('install, remove or show the systemd user service').action(() => {
    process.stderr.write('vigil: not implemented yet\n');
    process.exitCode = 1;
  });
}
