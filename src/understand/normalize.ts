/**
 * Group keys for processes: the same server started twice must give the same key even though each copy
 * got its own port, temp dir, UUID or parent pid. That is what turns "96 python processes" into one line,
 * "96 × python3 mcp_server_fetch", and what the ghost-storm rule counts.
 *
 * Input is the argv as /proc/[pid]/cmdline holds it (NUL-separated, see proc(5)). Two shapes need care:
 * - a process that rewrote its title (`process.title`, setproctitle) shows ONE argv element holding the
 *   whole command line with spaces (`npm exec @modelcontextprotocol/server-github`); it is split on
 *   whitespace here. A lone argv[0] that is a path with spaces would be split too; that is rare and only
 *   changes how the key reads.
 * - a title may leave trailing empty elements behind; they are dropped.
 *
 * This file also knows how interpreters and package runners are invoked (`node x.js`, `python -m mod`,
 * `npx -y pkg`, `uv tool run pkg`, `docker run … image`, `sh -c "cmd …"`), because both the group
 * display name and the kind classifier (`classify.ts`) need "what program is really being run".
 */

/** The argv with a rewritten process title split into words and trailing empty elements dropped. */
export function effectiveArgv(argv: readonly string[]): readonly string[] {
  let end = argv.length;
  while (end > 0 && argv[end - 1] === '') end--;
  if (end === 0) return [];
  if (end === 1) {
    const only = argv[0]!;
    if (/\s/.test(only)) {
      const words = only.trim().split(/\s+/);
      return words.length === 1 && words[0] === '' ? [] : words;
    }
    return [only];
  }
  return end === argv.length ? argv : argv.slice(0, end);
}

/** The last path segment: `/usr/bin/python3.11` → `python3.11`. */
export function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? path : path.slice(slash + 1);
}

/**
 * The interpreter name without its version or location, so that the same server run by different
 * interpreter builds groups together: `/usr/bin/python3.11`, `python3`, `python` and a venv's
 * `bin/python` all become `python3` (on every current distribution and in every venv `python` is
 * Python 3; `python2*` stays `python2`); `nodejs` and `node22` → `node`; a login shell's `-bash` → `bash`; `ruby3.2` → `ruby`; `perl5.36`
 * → `perl`; `php8.3` → `php`; `pypy3.10` → `pypy3`; `lua5.4` → `lua`. Any other name is returned as is.
 */
export function canonicalProgram(name: string): string {
  // A login shell's argv[0] is `-bash`.
  const base = basename(name).replace(/^-(?=[a-z])/, '');
  const python = /^python(\d)?(?:\.\d+)*$/.exec(base);
  if (python) return python[1] === '2' ? 'python2' : 'python3';
  const pypy = /^pypy(\d)?(?:\.\d+)*$/.exec(base);
  if (pypy) return pypy[1] === '3' ? 'pypy3' : 'pypy';
  const other = /^(node|ruby|perl|php|lua)(?:js|\d+(?:\.\d+)*)$/.exec(base);
  if (other) return other[1]!;
  return base;
}

/** How one interpreter, package runner or shell takes the program it runs. */
interface LauncherSpec {
  /**
   * Subcommand sequences that lead to the target (`uv tool run`); `[]` means "directly". When no
   * sequence matches, there is no target (`uv pip install` runs nothing of interest).
   */
  readonly via: readonly (readonly string[])[];
  /** Options whose value is the next argument (`node -r tsx/cjs x.js`, `docker run -e K image`). */
  readonly valueFlags?: ReadonlySet<string>;
  /** Options whose value IS the target (`python -m mod`, `java -jar x.jar`). */
  readonly targetFlags?: ReadonlySet<string>;
  /** Options that make the rest inline code: no target (`python -c`, `node -e`, `npx -c`). */
  readonly codeFlags?: ReadonlySet<string>;
  /** The target must match this to count (Electron apps run as node only for a script file). */
  readonly targetMustMatch?: RegExp;
  /** A shell: with `-c`, the first word of the command string is the target. */
  readonly shell?: boolean;
  /** The target is a package spec or image, not a path (`@scope/name@1.2`, `mcp/fetch:latest`). */
  readonly packages?: boolean;
  /**
   * A package or script runner: it starts its target as a child process and waits for it (`npx`, `npm
   * exec`, `uvx`, `uv run`, `pipx run`, `pnpm dlx`), so the memory is in that child (see `isRunner`).
   */
  readonly runner?: boolean;
}

const set = (...values: string[]): ReadonlySet<string> => new Set(values);

const NODE_VALUE_FLAGS = set(
  '-r',
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '-C',
  '--conditions',
  '--title',
  '--env-file',
  '--watch-path',
  '--input-type',
);
const NODE: LauncherSpec = {
  via: [[]],
  valueFlags: NODE_VALUE_FLAGS,
  codeFlags: set('-e', '--eval', '-p', '--print'),
};
/**
 * Electron apps (VS Code, Cursor …) run extension servers as node scripts: `code …/tsserver.js`, and the
 * built-in servers without extension (`code …/json-language-features/server/dist/node/jsonServerMain`).
 * Anything else after the executable is a folder or file being opened, not a target.
 */
const ELECTRON: LauncherSpec = { ...NODE, targetMustMatch: /(?:\.[cm]?js|ServerMain|bootstrap-fork)$/ };
const PYTHON: LauncherSpec = {
  via: [[]],
  valueFlags: set('-W', '-X', '-Q', '--check-hash-based-pycs'),
  targetFlags: set('-m'),
  codeFlags: set('-c'),
};
const UV_VALUE_FLAGS = set(
  '--from',
  '--with',
  '-w',
  '--with-editable',
  '--with-requirements',
  '--python',
  '-p',
  '--index',
  '--index-url',
  '--extra-index-url',
  '--default-index',
  '--directory',
  '--project',
  '--cache-dir',
  '--config-file',
  '--env-file',
  '--python-preference',
  '--package',
  '--extra',
  '--group',
);
const NPX_VALUE_FLAGS = set('-p', '--package', '--cache', '--registry', '--userconfig', '--prefix');
const DOCKER_VALUE_FLAGS = set(
  '-e',
  '--env',
  '--env-file',
  '-v',
  '--volume',
  '--mount',
  '--name',
  '--network',
  '--net',
  '-p',
  '--publish',
  '-w',
  '--workdir',
  '-u',
  '--user',
  '--entrypoint',
  '-l',
  '--label',
  '--platform',
  '--pull',
  '--add-host',
  '-h',
  '--hostname',
  '-m',
  '--memory',
  '--cpus',
  '--gpus',
  '--ipc',
  '--restart',
  '--log-driver',
  '--log-opt',
  '--cap-add',
  '--cap-drop',
  '--device',
  '--shm-size',
  '--tmpfs',
  '--security-opt',
  '--ulimit',
  '--runtime',
  '--cidfile',
  '--dns',
  '--userns',
  '--group-add',
);
/** A shell's `-c` (also bundled, `-lc`, `-ic`): the command string is the first operand after it. */
const SHELL_COMMAND_FLAG = /^-[a-z]*c[a-z]*$/;
const SHELL: LauncherSpec = { via: [[]], shell: true, valueFlags: set('-o', '+o', '-O', '+O') };
const DOCKER: LauncherSpec = {
  via: [['run'], ['container', 'run']],
  valueFlags: DOCKER_VALUE_FLAGS,
  packages: true,
};

/** Keyed by `canonicalProgram(argv[0])`. */
const LAUNCHERS: ReadonlyMap<string, LauncherSpec> = new Map<string, LauncherSpec>([
  ['node', NODE],
  ['bun', { ...NODE, via: [['run'], ['x'], ['exec'], []] }],
  ['deno', { ...NODE, via: [['run'], ['serve'], ['task']] }],
  ['tsx', { ...NODE, via: [['watch'], []] }],
  ['ts-node', NODE],
  ['code', ELECTRON],
  ['code-insiders', ELECTRON],
  ['codium', ELECTRON],
  ['cursor', ELECTRON],
  ['windsurf', ELECTRON],
  ['electron', ELECTRON],
  ['python3', PYTHON],
  ['python2', PYTHON],
  ['pypy3', PYTHON],
  ['pypy', PYTHON],
  ['ruby', { via: [[]], valueFlags: set('-I', '-r', '-C'), codeFlags: set('-e') }],
  ['perl', { via: [[]], codeFlags: set('-e', '-E') }],
  ['php', { via: [[]], valueFlags: set('-c', '-d', '-t', '-S'), codeFlags: set('-r') }],
  ['lua', { via: [[]], codeFlags: set('-e') }],
  [
    'java',
    {
      via: [[]],
      valueFlags: set(
        '-cp',
        '-classpath',
        '--class-path',
        '-p',
        '--module-path',
        '--add-modules',
        '--add-opens',
      ),
      targetFlags: set('-jar', '-m', '--module'),
    },
  ],
  [
    'npx',
    {
      via: [[]],
      valueFlags: NPX_VALUE_FLAGS,
      codeFlags: set('-c', '--call'),
      packages: true,
      runner: true,
    },
  ],
  ['pnpx', { via: [[]], valueFlags: NPX_VALUE_FLAGS, packages: true, runner: true }],
  ['bunx', { via: [[]], valueFlags: NPX_VALUE_FLAGS, packages: true, runner: true }],
  [
    'npm',
    {
      via: [['exec'], ['x'], ['run'], ['run-script']],
      valueFlags: NPX_VALUE_FLAGS,
      codeFlags: set('-c', '--call'),
      packages: true,
      runner: true,
    },
  ],
  [
    'pnpm',
    { via: [['dlx'], ['exec'], ['run'], []], valueFlags: NPX_VALUE_FLAGS, packages: true, runner: true },
  ],
  [
    'yarn',
    { via: [['dlx'], ['exec'], ['run'], []], valueFlags: NPX_VALUE_FLAGS, packages: true, runner: true },
  ],
  ['uvx', { via: [[]], valueFlags: UV_VALUE_FLAGS, packages: true, runner: true }],
  [
    'uv',
    {
      via: [['run'], ['tool', 'run'], ['tool', 'uvx']],
      valueFlags: UV_VALUE_FLAGS,
      packages: true,
      runner: true,
    },
  ],
  [
    'pipx',
    {
      via: [['run']],
      valueFlags: set('--spec', '--python', '--pip-args', '--index-url'),
      packages: true,
      runner: true,
    },
  ],
  ['poetry', { via: [['run']], valueFlags: set('-C', '--directory', '-P', '--project'), runner: true }],
  ['bundle', { via: [['exec']] }],
  ['docker', DOCKER],
  ['podman', DOCKER],
  ['sh', SHELL],
  ['bash', SHELL],
  ['dash', SHELL],
  ['zsh', SHELL],
  ['ksh', SHELL],
  ['fish', SHELL],
]);

/** What a command line runs, as far as vigil can tell without reading files. */
export interface Invocation {
  /** The argv after `effectiveArgv` (a rewritten title split into words). */
  readonly argv: readonly string[];
  /** Basename of argv[0] as written: `python3.11`, `node`, `code`. Empty for an empty argv. */
  readonly exe: string;
  /** `canonicalProgram(exe)`: `python3`, `node`, `code`. */
  readonly interpreter: string;
  /**
   * The script, module, package or image an interpreter or runner runs, as written:
   * `/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js`, `mcp_server_fetch` (`python -m`),
   * `@modelcontextprotocol/server-github@latest` (npx), `mcp/fetch:latest` (docker run), `vite`
   * (`sh -c "vite --port 3000"`). Null when argv[0] is the program itself or runs inline code.
   */
  readonly target: string | null;
  /** True when `target` is a package spec or container image rather than a path or module. */
  readonly targetIsPackage: boolean;
  /**
   * True for a runner that starts its target as a child and waits for it: `npx`, `npm exec`, `npm run`,
   * `pnpm dlx`, `yarn dlx`, `bunx`, `uvx`, `uv run`, `uv tool run`, `pipx run`, `poetry run`, and npm's own
   * `node …/npx-cli.js` (`npm-cli.js exec`) when it did not rewrite its title.
   */
  readonly runner: boolean;
}

/** Parses argv[0] and, for a known interpreter or runner, the target it runs. */
export function invocationOf(argv: readonly string[]): Invocation {
  const words = effectiveArgv(argv);
  if (words.length === 0)
    return { argv: words, exe: '', interpreter: '', target: null, targetIsPackage: false, runner: false };
  const exe = basename(words[0]!);
  const interpreter = canonicalProgram(exe);
  const spec = LAUNCHERS.get(interpreter);
  let target: string | null = null;
  if (spec !== undefined) {
    target = findTarget(words, spec);
    if (target !== null && spec.targetMustMatch !== undefined && !spec.targetMustMatch.test(target)) {
      target = null;
    }
  }
  return {
    argv: words,
    exe,
    interpreter,
    target,
    targetIsPackage: target !== null && spec?.packages === true,
    runner: target !== null && (spec?.runner === true || isNpmScript(target, words)),
  };
}

/** `node …/npm/bin/npx-cli.js pkg`, `node …/npm/bin/npm-cli.js exec pkg`: npm running a package untitled. */
function isNpmScript(target: string, words: readonly string[]): boolean {
  if (target.endsWith('/npx-cli.js')) return true;
  if (!target.endsWith('/npm-cli.js')) return false;
  const at = words.indexOf(target);
  return at >= 0 && ['exec', 'x', 'run', 'run-script'].includes(words[at + 1] ?? '');
}

/** True when argv is a package or script runner that starts what it runs as a child (see `Invocation.runner`). */
export function isRunner(argv: readonly string[]): boolean {
  return invocationOf(argv).runner;
}

/** True when argv is a shell running a command string: `sh -c "…"`, `bash -c -l "…"`. */
export function isShellCommand(argv: readonly string[]): boolean {
  const words = effectiveArgv(argv);
  if (words.length < 3 || LAUNCHERS.get(canonicalProgram(words[0]!))?.shell !== true) return false;
  return words.some((w, i) => i > 0 && SHELL_COMMAND_FLAG.test(w));
}

function findTarget(words: readonly string[], spec: LauncherSpec): string | null {
  const positionals: string[] = [];
  let afterDashes = false;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (!afterDashes && word.startsWith('-') && word.length > 1) {
      if (word === '--') {
        afterDashes = true;
        continue;
      }
      if (spec.shell === true && SHELL_COMMAND_FLAG.test(word)) {
        // `sh -c "FOO=1 exec vite --port 3000"`: the program is the first word that is not an assignment.
        // Options may come between `-c` and the command string (`bash -c -l "…"`, as agent tool shells run).
        let next = i + 1;
        while (next < words.length && /^[-+]/.test(words[next]!)) next++;
        const command = words[next] ?? '';
        const first = command
          .trim()
          .split(/\s+/)
          .find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) && w !== 'exec' && w !== 'nohup');
        return first !== undefined && first !== '' ? first : null;
      }
      if (spec.codeFlags?.has(word)) return null;
      if (spec.targetFlags?.has(word)) return positionals.length === 0 ? (words[i + 1] ?? null) : null;
      if (spec.valueFlags?.has(word)) i++;
      continue;
    }
    positionals.push(word);
    // A word that may still be a subcommand (`bun run …`) is read as one before it is read as the target.
    const n = positionals.length;
    const prefixOf = (via: readonly string[]): boolean => via.every((w, k) => k >= n || positionals[k] === w);
    if (spec.via.some((via) => via.length >= n && prefixOf(via))) continue;
    const done = spec.via.find((via) => via.length === n - 1 && prefixOf(via));
    return done === undefined ? null : positionals[n - 1]!;
  }
  return null;
}

/** File names that say nothing about the program: `dist/index.js`, `cli.js`, `server.py`. */
const GENERIC_STEMS = new Set([
  'index',
  'main',
  'cli',
  'server',
  'app',
  'start',
  'run',
  'entry',
  '__main__',
  'launcher',
  'bootstrap',
  'init',
  'bundle',
]);
/** Directory names skipped while looking for a better name above a generic file. */
const LAYOUT_DIRS = new Set([
  'dist',
  'build',
  'out',
  'lib',
  'bin',
  'src',
  'cjs',
  'esm',
  'es',
  'umd',
  'node',
  '.bin',
  'dist-cjs',
  'dist-esm',
  'scripts',
  'versions',
  'node_modules',
  'resources',
  'app',
]);
const SCRIPT_EXTENSION = /\.(?:[cm]?[jt]s|py|rb|pl|php|sh|lua|jar)$/;
const VERSION_SUFFIX = /-v?\d+(?:\.\d+)+(?:[-+.][\w.]*)?$/;

/**
 * A short name for what an invocation runs: the program behind the interpreter when there is one,
 * else argv[0]'s basename. `node …/.bin/mcp-server-filesystem` → `mcp-server-filesystem`;
 * `node …/@anthropic-ai/claude-code/cli.js` → `claude-code` (a generic file name is replaced by its
 * package or directory); `python3 -m mcp_server_fetch` → `mcp_server_fetch`; `npx -y
 * @modelcontextprotocol/server-github@latest` → `server-github`; `docker run … mcp/fetch:latest` → `fetch`;
 * `code …/tsserver.js` → `tsserver`; `gopls` → `gopls`.
 */
export function programName(inv: Invocation): string {
  const target = inv.target;
  if (target === null) return inv.exe;
  if (inv.targetIsPackage) return packageName(target);
  if (!target.includes('/')) return target.replace(SCRIPT_EXTENSION, '');
  const parts = target.split('/').filter((p) => p !== '' && p !== '.');
  const stem = (parts[parts.length - 1] ?? target).replace(SCRIPT_EXTENSION, '');
  if (!GENERIC_STEMS.has(stem.replace(/\.(?:bundle|min|prod|production)$/, ''))) return stem;
  const modules = parts.lastIndexOf('node_modules');
  if (modules >= 0 && modules + 1 < parts.length - 1) {
    const first = parts[modules + 1]!;
    const name = first.startsWith('@') ? parts[modules + 2] : first;
    if (name !== undefined && name !== parts[parts.length - 1]) return name;
  }
  for (let k = parts.length - 2; k >= 0; k--) {
    const dir = parts[k]!;
    if (LAYOUT_DIRS.has(dir) || /^v?\d/.test(dir) || dir.startsWith('<')) continue;
    return dir.replace(VERSION_SUFFIX, '');
  }
  return stem;
}

/** `@scope/name@1.2.3` → `name`; `pkg==1.0`, `pkg[extra]` → `pkg`; `ghcr.io/o/img:tag` → `img`; `git+https://…/serena` → `serena`. */
function packageName(spec: string): string {
  let s = spec.replace(/@sha256:[0-9a-f]+$/, '');
  const at = s.lastIndexOf('@');
  if (at > 0) s = s.slice(0, at);
  s = s.replace(/(?:\[[^\]]*\])?(?:[=<>~!]=?.*)?$/, '').replace(/\.git$/, '');
  const last = basename(s.replace(/\/+$/, ''));
  return last.replace(/:[\w.-]*$/, '') || spec;
}

// ---------------------------------------------------------------------------------------------------
// Masking volatile values

const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;
/** npm's per-invocation npx cache (`~/.npm/_npx/<16 hex>/`) and uv's archive ids (`archive-v0/<id>/`). */
const RUNNER_CACHE = /\/(_npx|archive-v\d+|dlx)\/[^/\s,;:]+/g;
/**
 * A temporary location and its first component, which is the random part (`mkdtemp`, AppImage
 * `.mount_XXXXXX`, `vscode-typescript1000`): /tmp, /var/tmp, /dev/shm, $XDG_RUNTIME_DIR (/run/user/UID),
 * macOS /var/folders/xx/yyyy/T, and any absolute path through a directory named tmp/temp (a `$TMPDIR`
 * such as `/home/u/tmp` or `/scratch/tmp`). What follows the random component is kept, masked like any
 * other value, so that `/tmp/.mount_Cursor12ab/…/jsonServerMain` still names the JSON server.
 */
const TEMP_PATH =
  /(?<![\w.~-])(?:\/private)?(?:\/var\/folders\/[^/\s]+\/[^/\s]+\/[A-Z]|\/run\/user\/\d+|\/dev\/shm|(?:\/[^/\s,;:=<>]+)*?\/(?:tmp|temp|Temp|TEMP|TMP|\.tmp))(?=\/|$|[\s,;:])(?:\/[^/\s,;:]*)?/g;
/** ISO 8601 dates with an optional time, also compact (`20240912T101112`) and `_`/`-` separated forms. */
const DATE_TIME =
  /(?<!\d)(?:19|20)\d{2}(-?)[01]\d\1[0-3]\d(?:[T_ -]?[0-2]\d[:-]?[0-5]\d(?:[:-]?[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)/g;
/** `:PORT` after a host (localhost, IPv4, [IPv6], dotted name) or at the start of a value (`=:8080`). */
const HOST_PORT =
  /((?:^|[=/@,])(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]*\]|[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)?):\d{1,5}(?=$|[/?#,;])/g;
/** A run of at least 8 hex digits with at least one digit and one letter (hashes, random ids). */
const HEX = /(?<![0-9A-Za-z])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![0-9A-Za-z])/g;
/** Unix time in seconds or milliseconds between 2001 and 2033 standing alone. */
const EPOCH = /(?<![0-9A-Za-z.])1\d{9}(?:\d{3})?(?![0-9A-Za-z.])/g;
/**
 * A short random word glued to a time: `snapshot-bash-1752002412283-omkv1o.sh`, the shell snapshot an agent
 * CLI's tool shells source (one per agent session, so the same command from two sessions stays one group).
 */
const TIME_SUFFIX = /<time>-[A-Za-z0-9]{4,12}(?![A-Za-z0-9])/g;

/** Masks the volatile parts of one value (a positional argument or the part after `--flag=`). */
export function maskValue(value: string): string {
  let s = value;
  if (s.length < 6 && !s.includes(':')) return s;
  s = s.replace(UUID, '<uuid>');
  if (s.includes('/')) {
    s = s.replace(RUNNER_CACHE, '/$1/<hex>');
    s = s.replace(TEMP_PATH, '<tmp>');
  }
  // Hex before dates: a random id that happens to hold eight date-like digits must still become <hex>.
  s = s.replace(HEX, '<hex>');
  s = s.replace(DATE_TIME, '<time>');
  if (s.includes(':')) s = s.replace(HOST_PORT, '$1:<port>');
  s = s.replace(EPOCH, '<time>');
  if (s.includes('<time>-')) s = s.replace(TIME_SUFFIX, '<time>-<id>');
  return s;
}

type FlagCategory = 'port' | 'pid' | 'time' | 'id' | 'uuid' | 'pipe' | 'socket' | 'secret';

const ID_OWNERS = new Set([
  'client',
  'session',
  'instance',
  'request',
  'trace',
  'run',
  'window',
  'renderer',
  'launch',
  'correlation',
  'connection',
  'child',
  'worker',
]);
const PATH_WORDS = new Set([
  'pipe',
  'socket',
  'sock',
  'name',
  'path',
  'file',
  'dir',
  'addr',
  'address',
  'fd',
]);
const categoryCache = new Map<string, FlagCategory | null>();

/**
 * What an option's value is, judged from the option's name split into words (`--clientProcessId`,
 * `--crashpad-handler-pid`, `--cancellationPipeName`, `-childID`): ports (`*port`, `--inspect*`), pids
 * (`*pid`, `*process id`), times (`*ticks*`, `*time`, `*timestamp`), opaque per-launch ids (`*handle*`,
 * `*seed*`, `*nonce*`, `client id`, `session id` …), UUIDs (`*uuid`, `*guid`), pipes and sockets, and
 * secrets (`*token`, `*password`, `api key` …) which are masked so that keys never reach a summary.
 */
function flagCategory(flag: string): FlagCategory | null {
  const cached = categoryCache.get(flag);
  if (cached !== undefined) return cached;
  const words = flag
    .replace(/^-+/, '')
    .split(/[-_.]|(?<=[a-z0-9])(?=[A-Z])/)
    .map((w) => w.toLowerCase())
    .filter((w) => w !== '');
  const last = words[words.length - 1] ?? '';
  const prev = words[words.length - 2] ?? '';
  let category: FlagCategory | null = null;
  if (last === 'port' || words[0] === 'inspect') category = 'port';
  else if (last === 'pid' || last === 'ppid' || last === 'processid' || (last === 'id' && prev === 'process'))
    category = 'pid';
  else if (words.includes('pipe') && PATH_WORDS.has(last)) category = 'pipe';
  else if ((words.includes('socket') || words.includes('sock')) && PATH_WORDS.has(last)) category = 'socket';
  else if (words.includes('ticks') || last === 'time' || last === 'timestamp' || last === 'epoch')
    category = 'time';
  else if (last === 'uuid' || last === 'guid') category = 'uuid';
  else if (
    words.includes('handle') ||
    words.includes('seed') ||
    words.includes('nonce') ||
    (last === 'id' && ID_OWNERS.has(prev))
  )
    category = 'id';
  else if (
    ['token', 'secret', 'password', 'passwd', 'apikey'].includes(last) ||
    (last === 'key' && ['api', 'access', 'secret', 'auth', 'private'].includes(prev))
  )
    category = 'secret';
  if (categoryCache.size < 4096) categoryCache.set(flag, category);
  return category;
}

/** The placeholder for an option's value, or null when the value does not have the expected shape. */
function maskFlagValue(category: FlagCategory, value: string): string | null {
  switch (category) {
    case 'port':
      return /^\d{1,5}$/.test(value) ? '<port>' : null;
    case 'pid':
      return /^\d+$/.test(value) ? '<pid>' : null;
    case 'time':
      return /^-?\d+(?:\.\d+)?$/.test(value) || maskValue(value) === '<time>' ? '<time>' : null;
    case 'id':
      return '<id>';
    case 'uuid':
      return '<uuid>';
    case 'pipe':
      return '<pipe>';
    case 'socket':
      return '<socket>';
    case 'secret':
      return /^[./~]/.test(value) ? null : '<secret>';
  }
}

/**
 * Masks the volatile parts of a command line so that identical servers started with different values
 * form one group. Returns '' for an empty argv (kernel threads, zombies: the caller uses `[comm]`).
 *
 * - argv[0] becomes its canonical basename (`canonicalProgram`): `/usr/bin/python3.11`, `python` and a
 *   venv's `bin/python` are all `python3`; the same server from two venvs is the same server.
 * - Options whose name says what their value is (see `flagCategory`), in both `--flag=value` and
 *   `--flag value` forms: `--port 8123` → `--port <port>`, `--clientProcessId=4242` → `=<pid>`,
 *   `--cancellationPipeName /tmp/…` → `<pipe>`, `--socket …` → `<socket>`, `--inspect=9229` → `<port>`,
 *   `--field-trial-handle=3,i,…` → `<id>`, `--launch-time-ticks=…` → `<time>`, `--api-key …` →
 *   `<secret>`. `-p 3000` is a port only when its value is a number.
 * - In every value: UUIDs → `<uuid>`; temp paths → `<tmp>` (see `TEMP_PATH`); npx/uv cache ids →
 *   `<hex>`; dates and times → `<time>`; `host:PORT` → `host:<port>`; hex ids of 8+ characters mixing
 *   digits and letters → `<hex>`; Unix timestamps → `<time>`; a positional argument of 2+ digits (a
 *   port, a parent pid) → `<n>`.
 * - The form is kept: `--port 8123` → `--port <port>`, `--port=8123` → `--port=<port>`. Copies of one
 *   server come from one configuration, so they agree on the form.
 * - Program names, subcommands and other flags are kept; whitespace runs become one space.
 */
export function normalizeCmdline(argv: readonly string[]): string {
  return normalizedWords(effectiveArgv(argv)).join(' ').replace(/\s+/g, ' ').trim();
}

function normalizedWords(words: readonly string[]): string[] {
  if (words.length === 0) return [];
  const program = canonicalProgram(words[0]!);
  const shell = LAUNCHERS.get(program)?.shell === true;
  const out: string[] = [program];
  let pending: FlagCategory | null = null;
  // After a shell's `-c`, the first operand is the command string (`bash -c -l "…"` puts options between).
  let command = false;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (command && !/^[-+]/.test(word)) {
      // `sh -c "vite --port 3000"`: the command string is a command line of its own.
      command = false;
      out.push(normalizedWords(word.trim().split(/\s+/)).join(' '));
      continue;
    }
    if (shell && !command && SHELL_COMMAND_FLAG.test(word)) {
      command = true;
      out.push(word);
      continue;
    }
    if (command) {
      out.push(word);
      continue;
    }
    if (pending !== null) {
      const category = pending;
      pending = null;
      const masked = word.startsWith('-') && category !== 'time' ? null : maskFlagValue(category, word);
      if (masked !== null) {
        out.push(masked);
        continue;
      }
    }
    if (word.startsWith('-') && word.length > 1 && word !== '--') {
      const eq = word.indexOf('=');
      if (eq > 0) {
        const name = word.slice(0, eq);
        const value = word.slice(eq + 1);
        const category = flagCategory(name);
        const masked = category === null ? null : maskFlagValue(category, value);
        out.push(`${name}=${masked ?? maskValue(value)}`);
      } else {
        pending = word === '-p' ? 'port' : flagCategory(word);
        out.push(word);
      }
      continue;
    }
    out.push(/^\d{2,}$/.test(word) ? (/^1\d{9}(?:\d{3})?$/.test(word) ? '<time>' : '<n>') : maskValue(word));
  }
  return out;
}

/** The key that groups identical processes: the normalised cmdline, or `[comm]` without an argv. */
export function groupKeyOf(proc: { readonly comm: string; readonly argv: readonly string[] }): string {
  const key = normalizeCmdline(proc.argv);
  return key === '' ? `[${proc.comm}]` : key;
}

/**
 * A short human name for a group, for summaries ("8 identical python3 mcp_server_fetch processes"):
 * the canonical interpreter and, when it runs a script, module or package, that program's short name
 * (`programName`) with volatile parts masked: `python3 mcp_server_fetch`, `node server-github`,
 * `npx server-github`, `code tsserver`. Without a target it is the program alone: `gopls`, `chrome`.
 * '' for an empty argv.
 */
export function displayName(argv: readonly string[]): string {
  const inv = invocationOf(argv);
  if (inv.exe === '') return '';
  if (inv.target === null) return inv.interpreter;
  const program = maskValue(programName(inv));
  return program === inv.interpreter ? program : `${inv.interpreter} ${program}`;
}
