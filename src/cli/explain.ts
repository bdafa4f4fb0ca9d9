import { Command } from 'commander';

/** `vigil explain <pid>`: explain a process: what it is, its lineage and history, and what the advisor says (placeholder until it is written). */
export function makeExplainCommand(): Command {
  return new Command('explain')
    .description('explain a process: what it is, its lineage and history, and what the advisor says')
    .action(() => {
      process.stderr.write('vigil: not implemented yet\n');
      process.exitCode = 1;
    });
}
