import { CommandNotFound, CommandTimedOut, runCommand } from '../host/command.js';
import type { UnitSample } from '../model/snapshot.js';
import { printable } from '../model/text.js';
import { redact } from '../redact/redact.js';
import { type Collector, Unsupported } from './types.js';

/**
 * Parses `systemctl --user list-units --state=failed --all --plain --no-legend --no-pager`:
 * `UNIT LOAD ACTIVE SUB DESCRIPTION…` per line (the description may contain spaces; a leading `●`
 * marker appears on some versions even with --plain).
 */
export function parseListUnits(text: string): UnitSample[] {
  const units: UnitSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[●*\s]+/, '').trim();
    if (line === '') continue;
    const [name, load, active, sub, ...description] = line.split(/\s+/);
    if (!name || !load || !active || !sub) continue;
    units.push({
      name,
      // Free text from a unit file: secrets masked and control characters written out where it enters.
      description: printable(redact(description.join(' '))),
      active_state: active,
      sub_state: sub,
      failed: active === 'failed',
    });
  }
  return units;
}

/**
 * Failed systemd user units. Without a user bus (no `systemd --user`, a container, ssh without lingering)
 * this is unsupported, not an error.
 */
export function createUnitsCollector(options: { systemctl?: string } = {}): Collector<UnitSample[]> {
  const systemctl = options.systemctl ?? 'systemctl';
  return {
    name: 'units',
    async collect(ctx) {
      const argv = [
        systemctl,
        '--user',
        'list-units',
        '--state=failed',
        '--all',
        '--plain',
        '--no-legend',
        '--no-pager',
      ];
      let result: Awaited<ReturnType<typeof runCommand>>;
      try {
        result = await runCommand(argv, { timeoutMs: ctx.commandTimeoutMs, signal: ctx.signal });
      } catch (error) {
        if (error instanceof CommandNotFound) throw new Unsupported('systemctl not found (no systemd)');
        throw error;
      }
      if (result.timedOut) throw new CommandTimedOut('systemctl', ctx.commandTimeoutMs);
      const complaint = `${result.stderr}\n${result.stdout}`;
      if (
        /Failed to connect to bus|No medium found|\$DBUS_SESSION_BUS_ADDRESS|XDG_RUNTIME_DIR/.test(complaint)
      ) {
        throw new Unsupported('no systemd user bus in this session');
      }
      if (result.exitCode !== 0) {
        throw new Error(
          `systemctl --user list-units failed: ${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}`,
        );
      }
      return parseListUnits(result.stdout);
    },
  };
}
