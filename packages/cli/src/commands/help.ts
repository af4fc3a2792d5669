import { type Command, expectArgs, GLOBAL_FLAGS, helpText } from '../command.js';
import { CliError } from '../errors.js';
import { flagSynopsis } from '../flags.js';
import { commands, findCommand } from '../registry.js';

export const help: Command = {
  name: 'help',
  summary: 'Show help, or the help of one command',
  usage: 'help [<command>]',
  description: `
Without a command, list the commands. With one, show its usage, what it
does, every flag it accepts and examples. 'bsubio <command> -h' is the same.`,
  flags: [],
  examples: ['bsubio help', 'bsubio help submit'],
  async run(ctx, { args }) {
    expectArgs(this, args, 0, 1);
    if (args.length === 0) {
      ctx.print(overview());
      return;
    }
    const command = findCommand(args[0]!);
    if (!command) {
      throw new CliError(
        `no help available for command: ${args[0]}`,
        "Run 'bsubio help' to list the commands.",
      );
    }
    ctx.print(helpText(command));
  },
};

export function overview(): string {
  const usages = commands().map((c) => c.usage);
  const width = Math.max(...usages.map((u) => u.length));
  const lines = [
    'bsubio - Command line tool for bsub.io batch processing',
    '',
    'USAGE:',
    '    bsubio <command> [flags] [arguments]',
    '',
    'COMMANDS:',
    ...commands().map((c, i) => `    ${usages[i]!.padEnd(width)}  ${c.summary}`),
    '',
    'FLAGS OF EVERY COMMAND (one dash or two):',
    ...GLOBAL_FLAGS.filter((f) => !f.hidden).map(
      (f) => `    ${flagSynopsis(f).padEnd(width)}  ${f.description}`,
    ),
    '',
    'EXAMPLES:',
    '    bsubio config',
    '    bsubio types',
    '    bsubio submit -w pdf/extract report.pdf | grep total',
    '    bsubio submit -o texts/ pdf/extract *.pdf',
    '    bsubio jobs --status failed',
    '    bsubio help submit',
    '',
    "Run 'bsubio help <command>' for a command's flags; 'bsubio quickstart' for a guide.",
  ];
  return `${lines.join('\n')}\n`;
}
