import { MODES, type Mode } from '../config/schema.js';

/** Options of `vigil run` (and of `vigil` alone). Parsed without commander to keep the daemon small. */
export interface RunOptions {
  mode?: Mode;
  intervalSecs?: number;
  once: boolean;
  exitAfterSecs?: number;
  config?: string;
  procfs?: string;
  sysfs?: string;
  rootfs?: string;
  nvidiaSmi?: string;
  journalFile?: string;
  journalDir?: string;
  help: boolean;
}

export class ArgsError extends Error {}

export const RUN_USAGE = `Usage: vigil [run] [options]

Runs the watchdog in the foreground: collects every --interval seconds (memory, swap, pressure and load
every second in between), keeps history, evaluates the rules and notifies.

Options:
  --mode <observe|suggest|auto>  what to do about findings; wins over the config's general.mode,
                                 also when it is reloaded (default: general.mode, observe)
  --interval <seconds>           full cycle period (default: config general.interval_secs, 5)
  --once                         one full cycle (collect, store, evaluate, notify), then exit
  --exit-after <seconds>         stop by itself after this long
  --config <file>                configuration file
  --procfs <dir>, --sysfs <dir>, --rootfs <dir>, --nvidia-smi <path>
  --journal-file <path>, --journal-dir <dir>   follow this journal instead of the system's
  -h, --help                     this text
`;

const VALUE_OPTIONS: Record<string, keyof RunOptions> = {
  '--mode': 'mode',
  '--interval': 'intervalSecs',
  '--exit-after': 'exitAfterSecs',
  '--config': 'config',
  '--procfs': 'procfs',
  '--sysfs': 'sysfs',
  '--rootfs': 'rootfs',
  '--nvidia-smi': 'nvidiaSmi',
  '--journal-file': 'journalFile',
  '--journal-dir': 'journalDir',
};

function positiveNumber(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ArgsError(`${option} ${value}: expected a positive number of seconds`);
  return n;
}

/** Parses `vigil [run] …` arguments (argv without node and the script). */
export function parseRunArgs(args: readonly string[]): RunOptions {
  const options: RunOptions = { once: false, help: false };
  const rest = args[0] === 'run' ? args.slice(1) : [...args];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('-')) {
      throw new ArgsError(`unknown command ${arg} (see vigil --help for the commands)`);
    }
    if (arg === '--once') options.once = true;
    else if (arg === '-h' || arg === '--help') options.help = true;
    else {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      const key = VALUE_OPTIONS[name];
      if (!key) throw new ArgsError(`unknown option ${arg}`);
      const value = eq > 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined) throw new ArgsError(`${name} needs a value`);
      if (key === 'mode') {
        if (!(MODES as readonly string[]).includes(value))
          throw new ArgsError(`--mode ${value}: expected observe, suggest or auto`);
        options.mode = value as Mode;
      } else if (key === 'intervalSecs' || key === 'exitAfterSecs') {
        options[key] = positiveNumber(name, value);
      } else {
        (options as unknown as Record<string, string>)[key] = value;
      }
    }
  }
  return options;
}
