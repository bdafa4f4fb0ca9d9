import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { MODES, type Mode } from '../config/schema.js';
import type { GlobalOptions } from '../pipeline/options.js';

function io() {
  return {
    env: process.env,
    out: (text: string) => process.stdout.write(text),
    err: (text: string) => process.stderr.write(text),
  };
}

/** `vigil service install|uninstall|status`: vigil as a systemd user service. */
export function makeServiceCommand(): Command {
  const service = new Command('service').description('install, remove or show the systemd user service');
  service
    .command('install')
    .description('write ~/.config/systemd/user/vigil.service, then daemon-reload and enable it')
    .addOption(new Option('--mode <mode>', 'mode the service runs in').choices(MODES).default('observe'))
    .option('--now', 'start it now too (systemctl --user enable --now)')
    .option('--dry-run', 'print the unit and change nothing')
    .option('--sandbox', 'add mount-namespace hardening (needs unprivileged user namespaces)')
    .action(
      async (
        options: { mode: Mode; now?: boolean; dryRun?: boolean; sandbox?: boolean },
        command: Command,
      ) => {
        const global = command.optsWithGlobals() as GlobalOptions;
        const { installService } = await import('../service/manage.js');
        process.exitCode = await installService(io(), {
          mode: options.mode,
          now: options.now === true,
          dryRun: options.dryRun === true,
          sandbox: options.sandbox === true,
          config: global.config ? resolve(global.config) : undefined,
        });
      },
    );
  service
    .command('uninstall')
    .description('stop and disable the service, then remove its unit file')
    .action(async () => {
      const { uninstallService } = await import('../service/manage.js');
      process.exitCode = await uninstallService(io());
    });
  service
    .command('status')
    .description('is the unit installed, enabled and active; the daemon’s pid and last heartbeat')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { formatServiceStatus, serviceStatus } = await import('../service/manage.js');
      const status = await serviceStatus(io());
      process.stdout.write(
        options.json ? `${JSON.stringify(status, null, 2)}\n` : formatServiceStatus(status),
      );
    });
  return service;
}
