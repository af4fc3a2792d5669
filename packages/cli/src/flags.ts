/**
 * The flag parser. The bsub.io CLI is written with Go's `flag` package, so its
 * users type `-json`, `-type pdf/extract` and `--limit 5` alike; node:util's
 * parseArgs cannot take a long flag after one dash, hence this small parser:
 *
 * - every flag works with one dash or two: `-json`, `--json`, `-limit=5`;
 * - a string flag takes the next argument or `=value`; a boolean may be `-w=false`;
 * - a repeatable string flag (`--param a=1 --param b=2`) collects every value;
 * - flags and arguments may come in any order (`submit a.pdf -w` works, unlike Go);
 * - `--` ends the flags; a lone `-` is an argument (stdin).
 */
import { CliError } from './errors.js';

export interface FlagSpec {
  /** The long name, without dashes. */
  name: string;
  /** A one-letter alias (also with one dash or two). */
  short?: string;
  type: 'boolean' | 'string';
  /** Placeholder shown in help, for string flags: `<file>`. */
  value?: string;
  description: string;
  /** Accepted but not listed in `help` (e.g. `-h`). */
  hidden?: boolean;
  /** A string flag that may be given several times; its value is then a list. */
  repeatable?: boolean;
}

export interface ParsedArgs {
  flags: Record<string, string | boolean | string[] | undefined>;
  args: string[];
}

/** Split `argv` into flags (by long name) and arguments; an unknown flag is a CliError. */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(spec.name, spec);
    if (spec.short) byName.set(spec.short, spec);
  }
  const flags: ParsedArgs['flags'] = {};
  const args: string[] = [];
  const help = `Run 'bsubio help ${command}' for its flags.`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    const spec = byName.get(name);
    if (!spec) throw new CliError(`unknown flag ${arg} for 'bsubio ${command}'.`, help);
    if (spec.type === 'boolean') {
      if (inline === undefined || inline === 'true' || inline === '1') flags[spec.name] = true;
      else if (inline === 'false' || inline === '0') flags[spec.name] = false;
      else throw new CliError(`flag -${name} is true or false, not "${inline}".`, help);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined)
        throw new CliError(`flag -${name} needs a value ${spec.value ?? ''}.`.trim(), help);
      i++;
    }
    if (spec.repeatable) {
      const seen = flags[spec.name];
      flags[spec.name] = [...(Array.isArray(seen) ? seen : []), value];
    } else flags[spec.name] = value;
  }
  return { flags, args };
}

/** `-o <file>`, `-a, --all`: how a flag is written in help. */
export function flagSynopsis(spec: FlagSpec): string {
  const long = spec.name.length === 1 ? `-${spec.name}` : `--${spec.name}`;
  const names = spec.short ? `-${spec.short}, ${long}` : long;
  return spec.type === 'string' ? `${names} ${spec.value ?? '<value>'}` : names;
}
