import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import { json, table, visibleLength } from '../format.js';

export const types: Command = {
  name: 'types',
  summary: 'List available job types',
  usage: 'types [flags]',
  description: `
List the processing types the server offers: the name to pass to 'bsubio
submit', the input it takes, the output it gives, and what it does. No API
key is needed. Types whose tool is not installed on this server are marked.`,
  flags: [JSON_FLAG],
  examples: ['bsubio types', "bsubio types --json | jq -r '.[].type'"],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 0);
    const { types: list } = await ctx.client(false).system.getTypes({ signal: ctx.signal });
    if (flags.json) {
      ctx.print(json(list));
      return;
    }
    if (list.length === 0) {
      ctx.say('No job types available');
      return;
    }
    const rows = [
      ['TYPE', 'INPUT', 'OUTPUT', 'DESCRIPTION'].map((h) => ctx.out.bold(h)),
      ...list.map((t) => [
        t.type,
        abbreviate(t.input.mime_in),
        `${abbreviate(t.output.mime_out)} (${t.output.ext})`,
        (t.available === false ? ctx.out.red('[not installed] ') : '') + firstSentence(t.description),
      ]),
    ];
    const text = table(rows);
    // On a terminal, one line a type: cut what would wrap (--json has it all).
    const width = ctx.stdout.isTTY ? ctx.stdout.columns || 0 : 0;
    ctx.print(
      width > 40
        ? text
            .split('\n')
            .map((line) => cut(line, width))
            .join('\n')
        : text,
    );
  },
};

/** Long MIME lists (image types take a dozen) shown as the first two and a count. */
function abbreviate(mimes: string[]): string {
  return mimes.length <= 2 ? mimes.join(',') : `${mimes.slice(0, 2).join(',')} +${mimes.length - 2}`;
}

function cut(line: string, width: number): string {
  if (visibleLength(line) <= width) return line;
  // Close any colour the cut left open.
  return `${line.slice(0, width - 1)}…${line.includes('\x1b[') ? '\x1b[0m' : ''}`;
}

/** The table keeps to one line a type: the description's first sentence. */
function firstSentence(text: string): string {
  const match = /^.*?[.!?](?=\s|$)/.exec(text);
  return match ? match[0] : text;
}
