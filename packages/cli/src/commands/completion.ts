import { type Command, expectArgs, GLOBAL_FLAGS } from '../command.js';
import { CliError } from '../errors.js';
import type { FlagSpec } from '../flags.js';
import { commands } from '../registry.js';
import { JOB_STATES } from '../states.js';

/** What a command's arguments are, for completing them. */
const ARGUMENTS: Record<string, 'type-then-files' | 'jobs' | 'commands' | 'shells' | 'bench' | 'none'> = {
  submit: 'type-then-files',
  status: 'jobs',
  wait: 'jobs',
  cat: 'jobs',
  logs: 'jobs',
  cancel: 'jobs',
  rm: 'jobs',
  help: 'commands',
  completion: 'shells',
  bench: 'bench',
};

/** What a flag's value is, for completing it. */
const VALUES: Record<string, 'states' | 'files' | 'dirs' | 'types'> = {
  status: 'states',
  output: 'files',
  dir: 'dirs',
  type: 'types',
};

export const completion: Command = {
  name: 'completion',
  summary: 'Print a shell completion script (bash, zsh, fish)',
  usage: 'completion [flags] <bash|zsh|fish>',
  description: `
Print a script that completes bsubio's commands, flags, job types (after
'submit'), job ids (after 'status', 'cat', ...) and file names. Load it from
your shell's start-up file:

  bash: echo 'source <(bsubio completion bash)' >> ~/.bashrc
  zsh:  echo 'source <(bsubio completion zsh)' >> ~/.zshrc
  fish: bsubio completion fish > ~/.config/fish/completions/bsubio.fish

The scripts call 'bsubio completion -types' and '-jobs' for the names they
offer; those print one name per line.`,
  flags: [
    { name: 'types', type: 'boolean', description: "Print the server's job types, one per line" },
    { name: 'jobs', type: 'boolean', description: 'Print the ids of the 50 newest jobs, one per line' },
  ],
  examples: [
    'source <(bsubio completion bash)',
    'bsubio completion fish > ~/.config/fish/completions/bsubio.fish',
  ],
  async run(ctx, { flags, args }) {
    if (flags.types) {
      expectArgs(this, args, 0);
      const { types } = await ctx.client(false).system.getTypes({ signal: ctx.signal });
      ctx.print(types.map((t) => `${t.type}\n`).join(''));
      return;
    }
    if (flags.jobs) {
      expectArgs(this, args, 0);
      const { data } = await ctx.client().jobs.listJobs({ limit: 50 }, { signal: ctx.signal });
      ctx.print(data.jobs.map((j) => `${j.id}\n`).join(''));
      return;
    }
    expectArgs(this, args, 1);
    const shell = args[0]!;
    if (shell === 'bash') ctx.print(bashScript());
    else if (shell === 'zsh') ctx.print(zshScript());
    else if (shell === 'fish') ctx.print(fishScript());
    else throw new CliError(`no completion for the shell "${shell}"`, 'Use bash, zsh or fish.');
  },
};

const flagsOf = (command: Command): FlagSpec[] => [...command.flags, ...GLOBAL_FLAGS];
const spellings = (flag: FlagSpec): string[] => {
  const long = flag.name.length === 1 ? [`-${flag.name}`] : [`--${flag.name}`, `-${flag.name}`];
  return flag.short ? [`-${flag.short}`, ...long] : long;
};

function bashScript(): string {
  const names = commands()
    .map((c) => c.name)
    .join(' ');
  const flagCases = commands()
    .map((c) => `      ${c.name}) words="${flagsOf(c).flatMap(spellings).join(' ')}" ;;`)
    .join('\n');
  const valueFlags = commands().flatMap((c) => c.flags.filter((f) => f.type === 'string'));
  const takesValue = [...new Set(valueFlags.flatMap(spellings))].join('|');
  const valueCases = Object.entries(VALUES)
    .map(([name, kind]) => {
      const spelled = [...new Set(valueFlags.filter((f) => f.name === name).flatMap(spellings))].join('|');
      if (!spelled) return '';
      const action =
        kind === 'states'
          ? `COMPREPLY=( $(compgen -W "${JOB_STATES.join(' ')}" -- "$cur") )`
          : kind === 'types'
            ? 'COMPREPLY=( $(compgen -W "$(bsubio completion -types 2>/dev/null)" -- "$cur") )'
            : kind === 'dirs'
              ? 'COMPREPLY=( $(compgen -d -- "$cur") )'
              : 'COMPREPLY=( $(compgen -f -- "$cur") )';
      return `    ${spelled}) ${action}; return ;;`;
    })
    .filter(Boolean)
    .join('\n');
  const argCases = commands()
    .map((c) => {
      const kind = ARGUMENTS[c.name] ?? 'none';
      const action = {
        'type-then-files':
          'if [[ $npos -eq 0 ]]; then COMPREPLY=( $(compgen -W "$(bsubio completion -types 2>/dev/null)" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi',
        jobs: 'COMPREPLY=( $(compgen -W "$(bsubio completion -jobs 2>/dev/null)" -- "$cur") )',
        commands: `COMPREPLY=( $(compgen -W "${names}" -- "$cur") )`,
        shells: 'COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") )',
        bench:
          'if [[ $npos -eq 0 ]]; then COMPREPLY=( $(compgen -W "diff" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi',
        none: 'COMPREPLY=()',
      }[kind];
      return `    ${c.name}) ${action} ;;`;
    })
    .join('\n');
  return `# bash completion for bsubio; load with: source <(bsubio completion bash)
_bsubio() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" i npos=0 skip=0
  # The command is the first word that is not a flag; count the arguments after it.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    local w="\${COMP_WORDS[i]}"
    if [[ $skip -eq 1 ]]; then skip=0; continue; fi
    case "$w" in
      ${takesValue}) skip=1; continue ;;
      -*) continue ;;
    esac
    if [[ -z "$cmd" ]]; then cmd="$w"; else npos=$((npos + 1)); fi
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=( $(compgen -W "${names} -verbose -debug" -- "$cur") )
    return
  fi
  case "$prev" in
${valueCases}
  esac
  if [[ "$cur" == -* ]]; then
    local words=""
    case "$cmd" in
${flagCases}
    esac
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
    return
  fi
  case "$cmd" in
${argCases}
  esac
}
complete -o default -F _bsubio bsubio
`;
}

function zshScript(): string {
  // zsh runs the bash function through its bash-completion layer.
  return `# zsh completion for bsubio; load with: source <(bsubio completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript().replace(/^# bash completion.*\n/, '')}`;
}

function fishScript(): string {
  const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = [
    '# fish completion for bsubio; save as ~/.config/fish/completions/bsubio.fish',
    'complete -c bsubio -f',
  ];
  for (const c of commands()) {
    lines.push(`complete -c bsubio -n __fish_use_subcommand -a ${c.name} -d ${quote(c.summary)}`);
  }
  for (const c of commands()) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
    for (const f of flagsOf(c).filter((f) => !f.hidden)) {
      const long = f.name.length === 1 ? `-o ${f.name}` : `-l ${f.name} -o ${f.name}`;
      const short = f.short ? ` -s ${f.short}` : '';
      const value = f.type === 'string' ? ' -r' : '';
      const kind = VALUES[f.name];
      const values =
        f.type !== 'string' || !kind
          ? ''
          : kind === 'states'
            ? ` -a ${quote(JOB_STATES.join(' '))}`
            : kind === 'types'
              ? " -a '(bsubio completion -types 2>/dev/null)'"
              : ' -F';
      lines.push(`complete -c bsubio ${when} ${long}${short}${value}${values} -d ${quote(f.description)}`);
    }
    const kind = ARGUMENTS[c.name];
    if (kind === 'jobs') lines.push(`complete -c bsubio ${when} -a '(bsubio completion -jobs 2>/dev/null)'`);
    if (kind === 'type-then-files') {
      lines.push(
        `complete -c bsubio ${when} -a '(bsubio completion -types 2>/dev/null)'`,
        `complete -c bsubio ${when} -F`,
      );
    }
    if (kind === 'commands')
      lines.push(
        `complete -c bsubio ${when} -a ${quote(
          commands()
            .map((x) => x.name)
            .join(' '),
        )}`,
      );
    if (kind === 'shells') lines.push(`complete -c bsubio ${when} -a 'bash zsh fish'`);
    if (kind === 'bench') lines.push(`complete -c bsubio ${when} -a diff`, `complete -c bsubio ${when} -F`);
  }
  return `${lines.join('\n')}\n`;
}
