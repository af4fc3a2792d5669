/**
 * `bsubio <command> [flags] [arguments]`: finds the command, parses its flags
 * (plus -verbose and -debug, which every command takes, before or after the
 * command name), runs it, and turns any failure into one line on stderr and
 * exit status 1. Ctrl-C ends it quietly with status 130.
 */
import { GLOBAL_FLAGS, helpText } from './command.js';
import { overview } from './commands/help.js';
import { Context, type Io } from './context.js';
import { CliError, errorLine } from './errors.js';
import { parseFlags } from './flags.js';
import { paint, wrapForTerminal } from './format.js';
import { commands, findCommand } from './registry.js';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => {
    // A second Ctrl-C does not wait for the clean-up.
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new CliError('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  // `bsubio submit -w ... | head -1`: a reader that has gone is not an error.
  io.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
  });
  let verbose = false;
  let debug = false;
  try {
    // Global flags may come before the command: `bsubio -verbose jobs`.
    let i = 0;
    for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
      const name = argv[i]!.replace(/^--?/, '');
      if (name === 'verbose') verbose = true;
      else if (name === 'debug') debug = true;
      else if (name === 'h' || name === 'help') break;
      else throw new CliError(`unknown flag ${argv[i]}`, "Run 'bsubio help' for usage.");
    }
    const name = argv[i];
    if (name === undefined || name === '-h' || name === '--help' || name === '-help') {
      io.stdout.write(overview());
      return 0;
    }
    const command = findCommand(name);
    if (!command) {
      const close = commands().find((c) => c.name.startsWith(name.slice(0, 2)));
      throw new CliError(
        `unknown command: ${name}`,
        `${close ? `Did you mean '${close.name}'? ` : ''}Run 'bsubio help' for usage.`,
      );
    }
    const parsed = parseFlags(argv.slice(i + 1), [...command.flags, ...GLOBAL_FLAGS], command.name);
    verbose ||= parsed.flags.verbose === true;
    debug ||= parsed.flags.debug === true;
    if (parsed.flags.help) {
      io.stdout.write(helpText(command));
      return 0;
    }
    const ctx = new Context(io, verbose, debug, controller.signal);
    await command.run(ctx, parsed);
    return 0;
  } catch (error) {
    // Ctrl-C: the command has stopped (and cleaned up what it must); the user
    // knows why, so no error line, and the shell's status for SIGINT.
    if (controller.signal.aborted) return 130;
    const red = paint(Boolean(io.stderr.isTTY) && !io.env.NO_COLOR).red;
    const line = wrapForTerminal(`Error: ${errorLine(error)}`, io.stderr, 'Error: '.length);
    io.stderr.write(`${red('Error:')}${line.slice('Error:'.length)}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

function processIo(): Io {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}
