import { Command } from 'commander';

/** `vigil completion <shell>`: print a completion script for bash, zsh or fish (placeholder until it is written). */
export function makeCompletionCommand(): Command {
  return new Command('completion')
    .description('print a completion script for bash, zsh or fish')
    .action(() => {
      process.stderr.write('vigil: not implemented yet\n');
      process.exitCode = 1;
    });
}
