import { Command, type Option } from 'commander';

/** What completion needs besides the command table: the kinds, and the host names of a desired-state directory. */
export interface CompletionSources {
  kinds: () => string[];
  /** Host names of DIR (with the `--inventory` given); [] when it cannot be read. */
  hosts: (dir: string, inventory?: string) => string[];
}

/**
 * The candidates for the word being typed (pure but for `sources`), as cobra's `__complete` does for kubectl:
 * `words` are the arguments after `hostop`, the last one the (maybe empty) word under the cursor. Commands, then
 * a command's flags, the choices of a flag that takes one (`--mode`, `-o`), host names after `--hosts` (after
 * the last comma of a list), kinds for `explain`. An empty answer lets the shell complete file names.
 */
export function completions(program: Command, words: string[], sources: CompletionSources): string[] {
  const cur = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const starts = (c: string) => c.startsWith(cur);
  const commands = program.commands.filter((c) => !c.name().startsWith('_'));
  if (before.length === 0) return commands.map((c) => c.name()).filter(starts);
  const cmd = commands.find((c) => c.name() === before[0]);
  if (!cmd) return [];
  const prev = before.at(-1)!;
  const flag = cmd.options.find((o) => takesValue(o) && (o.long === prev || o.short === prev));
  if (flag) {
    if (flag.long === '--hosts') {
      const head = cur.slice(0, cur.lastIndexOf(',') + 1);
      const taken = new Set(head.split(',').filter(Boolean));
      const dir = before.slice(1).find((w, i, all) => !w.startsWith('-') && !isOptionValue(cmd, all[i - 1]));
      const inventory = optionValue(before, '--inventory');
      return sources
        .hosts(dir ?? 'desired-state', inventory)
        .filter((h) => !taken.has(h))
        .map((h) => head + h)
        .filter(starts);
    }
    return (flag.argChoices ?? []).filter(starts);
  }
  if (cur.startsWith('-'))
    return cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)).filter(starts);
  if (cmd.name() === 'explain') return sources.kinds().filter(starts);
  return [];
}

const takesValue = (o: Option) => o.required || o.optional;

function isOptionValue(cmd: Command, prev: string | undefined): boolean {
  return !!prev && cmd.options.some((o) => takesValue(o) && (o.long === prev || o.short === prev));
}

function optionValue(words: string[], flag: string): string | undefined {
  const i = words.lastIndexOf(flag);
  return i >= 0 ? words[i + 1] : undefined;
}

/** The shell functions `hostop completion bash|zsh` prints: they ask `hostop __complete WORDS...` on each tab. */
export function completionScript(shell: 'bash' | 'zsh'): string {
  if (shell === 'bash')
    return `# hostop completion for bash: source <(hostop completion bash)
_hostop() {
  local IFS=$'\\n'
  COMPREPLY=($(hostop __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -o nospace -F _hostop hostop
`;
  return `#compdef hostop
# hostop completion for zsh: source <(hostop completion zsh)
_hostop() {
  local -a c
  c=("\${(@f)$(hostop __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if (( \${#c[@]} )) && [[ -n "\${c[1]}" ]]; then compadd -S '' -- "\${c[@]}"; else _files; fi
}
compdef _hostop hostop
`;
}

/** `hostop completion bash|zsh`, and the hidden `hostop __complete` the scripts call. */
export function completionCommands(program: () => Command, sources: CompletionSources): Command[] {
  const completion = new Command('completion')
    .description(
      'Prints a shell completion script: commands, flags, their choices, host names for --hosts, kinds for explain. ' +
        'bash: source <(hostop completion bash); zsh: source <(hostop completion zsh).',
    )
    .usage('bash|zsh')
    .argument('<SHELL>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh')
        throw new Error(`completion: unknown shell "${shell}" (bash or zsh)`);
      process.stdout.write(completionScript(shell));
    });
  const complete = new Command('__complete')
    .description('(used by the completion scripts)')
    .argument('[WORDS...]')
    .allowUnknownOption()
    .helpOption(false)
    .action((words: string[]) => {
      const out = completions(program(), words.length ? words : [''], sources);
      process.stdout.write(out.length ? `${out.join('\n')}\n` : '');
    });
  return [completion, complete];
}
