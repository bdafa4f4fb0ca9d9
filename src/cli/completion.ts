import { Argument, type Command, Command as CommandClass, type Option } from 'commander';
import { RUN_USAGE } from '../daemon/args.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** One option as completion sees it. */
export interface CompletionOption {
  /** `--long` and/or `-s`. */
  readonly names: readonly string[];
  readonly description: string;
  readonly takesValue: boolean;
  /** Allowed values (commander `.choices()`), else empty: complete file names. */
  readonly choices: readonly string[];
}

/** One command (the program itself has path ''), its subcommands and the options valid after it. */
export interface CompletionNode {
  readonly path: string;
  readonly description: string;
  readonly subcommands: ReadonlyArray<{ readonly name: string; readonly description: string }>;
  /** Its own options and its ancestors' (commander accepts program options after a subcommand). */
  readonly options: readonly CompletionOption[];
  /** Values of its first positional argument, when it has choices. */
  readonly argChoices: readonly string[];
}

function fromOption(option: Option): CompletionOption {
  return {
    names: [option.long, option.short].filter((n): n is string => typeof n === 'string'),
    description: option.description ?? '',
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
  };
}

const HELP: CompletionOption = {
  names: ['--help', '-h'],
  description: 'show help',
  takesValue: false,
  choices: [],
};

/** `vigil run` parses its own options (no commander, see daemon/args.ts): read them from its usage text. */
function runOptions(): CompletionOption[] {
  const options: CompletionOption[] = [];
  for (const line of RUN_USAGE.split('\n')) {
    const match = line.match(/^ {2}(-\S.*?)(?: {2,}(.*))?$/);
    if (!match) continue;
    for (const part of match[1]!.split(/,\s*/)) {
      const name = part.match(/--?[a-z][a-z-]*/)?.[0];
      if (!name || name === '-h') continue;
      const choices = part.match(/<([a-z|]+\|[a-z|]+)>/)?.[1]?.split('|') ?? [];
      options.push({ names: [name], description: match[2] ?? '', takesValue: part.includes('<'), choices });
    }
  }
  return options;
}

/** Walks the commander program into a flat list of completion nodes, parents first. */
export function completionTree(program: Command): CompletionNode[] {
  const nodes: CompletionNode[] = [];
  const visit = (command: Command, path: string, inherited: readonly CompletionOption[]) => {
    const own = command.options.filter((o) => !o.hidden).map(fromOption);
    const isRun = path === 'run';
    const options = [...inherited, ...(isRun ? runOptions() : own), HELP].filter(
      (o, i, all) => all.findIndex((other) => other.names[0] === o.names[0]) === i,
    );
    const subcommands = command.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => ({ name: c.name(), description: c.description() }));
    if (path === '' && command.commands.length > 0)
      subcommands.push({ name: 'help', description: 'help for a command' });
    const args = command.registeredArguments ?? [];
    nodes.push({
      path,
      description: command.description(),
      subcommands,
      options,
      argChoices: args[0]?.argChoices ?? [],
    });
    // Program options are inherited by subcommands; `--version` only works on the program itself.
    const passDown = path === '' ? own.filter((o) => !o.names.includes('--version')) : own;
    // Only the program's options are inherited (they are the ones users type after a subcommand).
    for (const sub of command.commands)
      visit(sub, path ? `${path} ${sub.name()}` : sub.name(), path === '' ? passDown : inherited);
  };
  visit(program, '', []);
  return nodes;
}

const sq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
const words = (list: readonly string[]) => list.join(' ');

/** Case arms for a shell `case "$1" in … esac` that sets REPLY, one per node with something to say. */
function caseArms(
  nodes: readonly CompletionNode[],
  pick: (node: CompletionNode) => readonly string[],
): string {
  return nodes
    .map((node) => ({ node, list: pick(node) }))
    .filter(({ list }) => list.length > 0)
    .map(({ node, list }) => `    ${sq(node.path)}) REPLY=${sq(words(list))} ;;`)
    .join('\n');
}

/** Shell functions shared by bash and zsh: what follows a command path. */
function shellTables(nodes: readonly CompletionNode[]): string {
  const valueChoices = nodes.flatMap((node) =>
    node.options
      .filter((o) => o.takesValue)
      .flatMap((o) => o.names.map((name) => ({ key: `${node.path}|${name}`, choices: o.choices }))),
  );
  return `_vigil_commands() {
  REPLY=''
  case "$1" in
${caseArms(nodes, (n) => n.subcommands.map((s) => s.name))}
  esac
}
_vigil_options() {
  REPLY=''
  case "$1" in
${caseArms(nodes, (n) => n.options.flatMap((o) => o.names))}
  esac
}
_vigil_args() {
  REPLY=''
  case "$1" in
${caseArms(nodes, (n) => n.argChoices)}
  esac
}
# 0 and REPLY=choices (possibly empty: a file) when option $2 after command path $1 takes a value.
_vigil_value() {
  REPLY=''
  case "$1|$2" in
${valueChoices.map((v) => `    ${sq(v.key)}) REPLY=${sq(words(v.choices))} ;;`).join('\n')}
    *) return 1 ;;
  esac
  return 0
}
# The command path (e.g. "rules test") of words $2.. (the command line without the word being completed).
_vigil_path() {
  local p='' skip=0 w
  shift
  for w in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$w" in
      -*=*) continue ;;
      -*) _vigil_value "$p" "$w" && skip=1; continue ;;
    esac
    _vigil_commands "$p"
    case " $REPLY " in *" $w "*) p="\${p:+$p }$w" ;; esac
  done
  REPLY="$p"
}`;
}

export function bashScript(nodes: readonly CompletionNode[]): string {
  return `# bash completion for vigil, generated by \`vigil completion bash\`.
# Load it with: source <(vigil completion bash)
# or install it: vigil completion bash > ~/.local/share/bash-completion/completions/vigil
${shellTables(nodes)}
_vigil() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" p
  [ "$COMP_CWORD" -gt 1 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  _vigil_path "\${COMP_WORDS[@]:0:COMP_CWORD}"
  p="$REPLY"
  COMPREPLY=()
  if [ "$COMP_CWORD" -gt 1 ] && _vigil_value "$p" "$prev" && [[ $prev == -* ]]; then
    if [ -n "$REPLY" ]; then
      mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    _vigil_options "$p"
  else
    local list
    _vigil_commands "$p"
    list="$REPLY"
    _vigil_args "$p"
    list="$list $REPLY"
    REPLY="$list"
  fi
  mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
  return 0
}
complete -F _vigil vigil
`;
}

function zshDescribe(items: ReadonlyArray<{ name: string; description: string }>): string {
  return items.map((i) => sq(`${i.name.replace(/:/g, '\\:')}:${i.description}`)).join(' ');
}

export function zshScript(nodes: readonly CompletionNode[]): string {
  const described = nodes
    .map(
      (node) =>
        `    ${sq(node.path)}) cmds=(${zshDescribe(node.subcommands)}); opts=(${zshDescribe(
          node.options.flatMap((o) => o.names.map((name) => ({ name, description: o.description }))),
        )}) ;;`,
    )
    .join('\n');
  return `#compdef vigil
# zsh completion for vigil, generated by \`vigil completion zsh\`.
# Load it with: source <(vigil completion zsh)   (after compinit)
# or install it as _vigil in a directory of $fpath.
${shellTables(nodes)}
_vigil_describe() {
  case "$1" in
${described}
  esac
}
_vigil() {
  local p prev cmds opts
  _vigil_path "\${(@)words[1,CURRENT-1]}"
  p="$REPLY"
  prev="\${words[CURRENT-1]}"
  if (( CURRENT > 2 )) && [[ $prev == -* ]] && _vigil_value "$p" "$prev"; then
    if [[ -n $REPLY ]]; then
      compadd -- \${=REPLY}
    else
      _files
    fi
    return
  fi
  cmds=() opts=()
  _vigil_describe "$p"
  if [[ $PREFIX == -* ]]; then
    _describe -t options 'option' opts
  else
    _vigil_args "$p"
    [[ -n $REPLY ]] && compadd -- \${=REPLY}
    (( \${#cmds} )) && _describe -t commands 'command' cmds
  fi
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _vigil "$@"
else
  compdef _vigil vigil
fi
`;
}

export function fishScript(nodes: readonly CompletionNode[]): string {
  const commands = nodes.filter((n) => n.path !== '').map((n) => sq(n.path));
  const valueKeys = nodes.flatMap((node) =>
    node.options
      .filter((o) => o.takesValue)
      .flatMap((o) => o.names.map((name) => sq(`${node.path}|${name}`))),
  );
  const lines: string[] = [];
  for (const node of nodes) {
    const when = sq(`__vigil_at ${sq(node.path)}`);
    for (const sub of node.subcommands) {
      lines.push(`complete -c vigil -f -n ${when} -a ${sq(sub.name)} -d ${sq(sub.description)}`);
    }
    if (node.argChoices.length > 0)
      lines.push(`complete -c vigil -f -n ${when} -a ${sq(words(node.argChoices))}`);
    for (const option of node.options) {
      const names = option.names
        .map((name) => (name.startsWith('--') ? `-l ${sq(name.slice(2))}` : `-s ${sq(name.slice(1))}`))
        .join(' ');
      // -f: no file names; -x: a value from the list; -r -F: a value that is a file name.
      const value = !option.takesValue
        ? '-f'
        : option.choices.length > 0
          ? `-x -a ${sq(words(option.choices))}`
          : '-r -F';
      lines.push(`complete -c vigil -n ${when} ${names} ${value} -d ${sq(option.description)}`);
    }
  }
  return `# fish completion for vigil, generated by \`vigil completion fish\`.
# Install it: vigil completion fish > ~/.config/fish/completions/vigil.fish
set -g __vigil_commands ${commands.join(' ')}
set -g __vigil_value_options ${valueKeys.join(' ')}
# The command path (e.g. "rules test") of the words before the cursor.
function __vigil_path
    set -l p ''
    set -l skip 0
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*=*'
                continue
            case '-*'
                if contains -- "$p|$w" $__vigil_value_options
                    set skip 1
                end
                continue
        end
        set -l next (string trim -- "$p $w")
        if contains -- $next $__vigil_commands
            set p $next
        end
    end
    echo $p
end
function __vigil_at
    set -l p (__vigil_path)
    test "$p" = "$argv[1]"
end
complete -c vigil -f
${lines.join('\n')}
`;
}

export function completionScript(shell: Shell, program: Command): string {
  const nodes = completionTree(program);
  if (shell === 'bash') return bashScript(nodes);
  if (shell === 'zsh') return zshScript(nodes);
  return fishScript(nodes);
}

/** `vigil completion <shell>`: prints a completion script generated from the commands themselves. */
export function makeCompletionCommand(): Command {
  return new CommandClass('completion')
    .description('print a completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action((shell: Shell, _options: unknown, command: Command) => {
      // The program this command was added to: the whole CLI, with no import of main.ts (a cycle).
      let root = command;
      while (root.parent) root = root.parent;
      process.stdout.write(completionScript(shell, root));
    });
}
