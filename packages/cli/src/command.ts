/**
 * A command is one file under commands/: its help text (usage, description,
 * flags, examples) sits next to the code that runs it, and the flags listed
 * in `help` are the very specs the parser accepts, so the two cannot drift.
 */
import type { Context } from './context.js';
import { CliError } from './errors.js';
import { type FlagSpec, flagSynopsis, type ParsedArgs } from './flags.js';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** After `bsubio `: `submit [flags] <type> <file>...`. */
  usage: string;
  /** Paragraphs shown by `bsubio help <name>`. */
  description: string;
  flags: FlagSpec[];
  examples: string[];
  run(ctx: Context, parsed: ParsedArgs): Promise<void>;
}

/** Flags every command takes. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  {
    name: 'verbose',
    type: 'boolean',
    description: 'Echo each request to the server and its answer on stderr',
  },
  { name: 'debug', type: 'boolean', description: 'Like -verbose, with headers and JSON bodies' },
  { name: 'help', short: 'h', type: 'boolean', description: 'Show this help', hidden: true },
];

/** The `--json` flag, on every command that shows jobs or types. */
export const JSON_FLAG: FlagSpec = {
  name: 'json',
  type: 'boolean',
  description: 'Print JSON on stdout instead of text, for scripts',
};

export function helpText(command: Command): string {
  const lines = [`Usage: bsubio ${command.usage}`, '', command.description.trim(), ''];
  const shown = [...command.flags, ...GLOBAL_FLAGS].filter((f) => !f.hidden);
  const synopses = shown.map(flagSynopsis);
  const width = Math.max(...synopses.map((s) => s.length));
  lines.push('Flags (one dash or two: -json and --json are the same):');
  shown.forEach((flag, i) => {
    lines.push(`  ${synopses[i]!.padEnd(width)}  ${flag.description}`);
  });
  if (command.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const example of command.examples) lines.push(`  ${example}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Exactly `count` arguments (or between min and max), else a usage error. */
export function expectArgs(command: Command, args: string[], min: number, max = min): void {
  if (args.length >= min && args.length <= max) return;
  const wanted =
    min === max ? `${min}` : max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} to ${max}`;
  throw new CliError(
    `'bsubio ${command.name}' takes ${wanted} argument${min === 1 && max === 1 ? '' : 's'} (${command.usage.replace(/^\S+\s*/, '')}), got ${args.length}`,
    `Run 'bsubio help ${command.name}'.`,
  );
}
