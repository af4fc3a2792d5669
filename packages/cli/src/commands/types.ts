import { describeAccepted } from '@bsubio/protocol/file-kinds';
import type { ProcessingType } from 'bsubio';

type ParamSpec = NonNullable<ProcessingType['params']>[number];

import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import type { Context } from '../context.js';
import { json, table, visibleLength, wrapWords } from '../format.js';
import { findType } from '../type-lookup.js';

export const types: Command = {
  name: 'types',
  summary: 'List available job types',
  usage: 'types [flags] [<type>]',
  description: `
List the processing types the server offers: the name to pass to 'bsubio
submit', the input it takes, the output it gives, its parameters and what it
does. With a type, show all of it: the files it takes, the description,
and each parameter with its allowed values and default, to pass as
'bsubio submit --param key=value'; --json adds the exact MIME types. No API
key is needed. Types whose tool is not installed on this server are marked.`,
  flags: [JSON_FLAG],
  examples: ['bsubio types', 'bsubio types image/convert', "bsubio types --json | jq -r '.[].type'"],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 0, 1);
    const { types: list } = await ctx.client(false).system.getTypes({ signal: ctx.signal });
    if (args.length === 1) {
      const spec = findType(args[0]!, list);
      ctx.print(flags.json ? json(spec) : describeType(ctx, spec));
      return;
    }
    if (flags.json) {
      ctx.print(json(list));
      return;
    }
    if (list.length === 0) {
      ctx.say('No job types available');
      return;
    }
    const build = (withDescription: boolean) => [
      ['TYPE', 'INPUT', 'OUTPUT', 'PARAMETERS', ...(withDescription ? ['DESCRIPTION'] : [])].map((h) =>
        ctx.out.bold(h),
      ),
      ...list.map((t) => [
        t.type,
        shortList(t.input.mime_in, 24),
        `${shortList(t.output.mime_out, 14)} ${t.output.ext}`.trim(),
        (t.params ?? []).map((p) => p.name).join(', ') || '-',
        ...(withDescription ? [(t.available === false ? ctx.out.red('[not installed] ') : '') + t.name] : []),
      ]),
    ];
    // On a terminal nothing may wrap: the description is folded onto
    // continuation lines, or left out when there is no room for it
    // ('types <type>' and --json have it all).
    const width = ctx.stdout.isTTY ? (ctx.stdout.columns || 80) - 1 : 0;
    let rows = build(true);
    let text = table(rows);
    if (width > 0) {
      const lastStart = visibleLength(text.split('\n')[1]!) - visibleLength(rows[1]!.at(-1)!);
      if (width - lastStart < 16) {
        rows = build(false);
        text = table(rows);
      }
      // Now the parameters may be last: folded the same way.
      text = foldLastColumn(text, rows, width);
    }
    ctx.print(text);
    ctx.say("Run 'bsubio types <type>' for its description and parameters.");
  },
};

/** `types <type>`: everything about one type, parameters with their defaults. */
function describeType(ctx: Context, t: ProcessingType): string {
  const b = ctx.out.bold;
  const lines = [`${b(t.type)}: ${t.name}`, ''];
  const width = ctx.stdout.isTTY ? Math.max(40, (ctx.stdout.columns || 80) - 1) : 100;
  lines.push(...wrapWords(t.description, width), '');
  if (t.available === false)
    lines.push(ctx.out.red(`Not installed on this server. ${t.install_hint ?? ''}`.trim()), '');
  // Long lists go on as many lines as they need, never past the width.
  const field = (label: string, value: string) =>
    wrapWords(value, width - 8).map((line, i) =>
      i === 0 ? `${b(label.padEnd(7))} ${line}` : `        ${line}`,
    );
  // The files it takes as people name them (office/pdf's eleven MIME types are in --json).
  lines.push(...field('Input:', describeAccepted(t.input.mime_in)));
  lines.push(...field('Output:', `${t.output.mime_out.join(', ')} (${t.output.ext})`));
  if (t.aliases?.length) lines.push(`${b('Aliases:')} ${t.aliases.join(', ')}`);
  const params = t.params ?? [];
  lines.push('');
  if (params.length === 0) lines.push(`${b('Parameters:')} none`);
  else {
    lines.push(`${b('Parameters')} (bsubio submit --param key=value):`);
    for (const p of params) {
      const spec = `${allowed(p)}${p.default === undefined ? '' : `, default ${p.default}`}`;
      // A long pattern goes on under itself, not into the terminal's first column.
      const [first = '', ...rest] = wrapWords(spec, Math.max(20, width - 4 - p.name.length));
      lines.push(
        `  ${b(p.name)}  ${first}`,
        ...rest.map((line) => `${' '.repeat(4 + p.name.length)}${line}`),
      );
      lines.push(...wrapWords(p.description, width - 4).map((line) => `    ${line}`));
    }
  }
  lines.push('', `${b('Example:')} ${t.example.cmd}`);
  const param = params[0];
  if (param && !t.example.cmd.includes('--param')) {
    const value =
      param.type === 'enum'
        ? (param.values?.find((v) => v !== param.default) ?? param.default)
        : param.default;
    lines.push(`         ${t.example.cmd} --param ${param.name}=${value ?? '...'}`);
  }
  return `${lines.join('\n')}\n`;
}

function allowed(p: ParamSpec): string {
  if (p.type === 'enum') return (p.values ?? []).join('|');
  if (p.type === 'integer') {
    if (p.minimum !== undefined && p.maximum !== undefined) return `integer ${p.minimum}..${p.maximum}`;
    return 'integer';
  }
  return p.pattern ? `text matching ${p.pattern}` : 'text';
}

/** MIME types as people say them (pdf, png, docx), then as many as fit and "+N". */
function shortList(mimes: string[], width: number): string {
  const names = mimes.map(shortMime);
  let shown = names.join(',');
  for (let n = names.length - 1; shown.length > width && n >= 1; n--) {
    shown = `${names.slice(0, n).join(',')} +${names.length - n}`;
  }
  return shown;
}

const SHORT: Record<string, string> = {
  '*/*': 'any',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.oasis.opendocument.text': 'odt',
  'application/octet-stream': 'bytes',
  'text/plain': 'text',
};

function shortMime(mime: string): string {
  if (SHORT[mime]) return SHORT[mime];
  const [kind, sub] = mime.split('/');
  if (sub === '*') return kind ?? mime;
  return (sub ?? mime).replace(/^x-/, '');
}

/** Fold the last column of an aligned table onto continuation lines so that no line passes `width`. */
function foldLastColumn(text: string, rows: string[][], width: number): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const out: string[] = [];
  lines.forEach((line, i) => {
    const last = rows[i]![rows[i]!.length - 1]!;
    const start = visibleLength(line) - visibleLength(last);
    const room = width - start;
    if (visibleLength(line) <= width || room < 12) {
      out.push(line);
      return;
    }
    const head = line.slice(0, line.length - last.length);
    const pieces = wrapWords(last, room);
    out.push(head + pieces[0]);
    for (const piece of pieces.slice(1)) out.push(' '.repeat(start) + piece);
  });
  return `${out.join('\n')}\n`;
}
