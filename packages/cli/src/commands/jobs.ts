import type { Job } from 'bsubio';
import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { cutMiddle, json, localTime, paintStatus, relativeTime, table, visibleLength } from '../format.js';
import { isJobState, JOB_STATES } from '../states.js';

export const jobs: Command = {
  name: 'jobs',
  summary: 'List recent jobs',
  usage: 'jobs [flags]',
  description: `
List this key's jobs, newest first: id, type, status, when it was created and
the input file. Past 100, bsubio pages through the server's listing.

Piped or redirected, the table is the Go CLI's: a header line, a dashed
line, fixed columns and absolute times (YYYY-MM-DD HH:MM), with the input
file added last. On a terminal, times are relative ("5m ago") and the table
fits the width: the input is cut in the middle (down to 12 characters), then
the ids are shortened to a start that is still unique, which every command
taking a job id accepts; only then does the input narrow further or go.`,
  flags: [
    {
      name: 'status',
      type: 'string',
      value: '<status>',
      description: `Only jobs in this state (${JOB_STATES.join(', ')})`,
    },
    { name: 'limit', type: 'string', value: '<n>', description: 'Show at most n jobs (default 20)' },
    JSON_FLAG,
  ],
  examples: [
    'bsubio jobs',
    'bsubio jobs --status failed',
    'bsubio jobs --limit 10',
    'bsubio jobs --json | jq -r .[].id',
  ],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 0);
    const status = flags.status === undefined ? undefined : String(flags.status);
    if (status !== undefined && !isJobState(status)) {
      throw new CliError(`unknown status "${status}"`, `Use one of: ${JOB_STATES.join(', ')}.`);
    }
    const limitText = flags.limit === undefined ? '20' : String(flags.limit);
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1) {
      throw new CliError(`--limit takes a whole number of at least 1, not "${limitText}"`);
    }
    const client = ctx.client();
    let list: Job[] = [];
    let total: number | undefined;
    if (limit <= 100) {
      const { data } = await client.jobs.listJobs({ status, limit }, { signal: ctx.signal });
      list = data.jobs;
      total = data.total;
    } else {
      for await (const job of client.listAllJobs({ status, pageSize: 100 }, { signal: ctx.signal })) {
        list.push(job);
        if (list.length >= limit) break;
      }
    }
    if (flags.json) {
      ctx.print(json(list));
      return;
    }
    if (list.length === 0) {
      ctx.say(status ? `No ${status} jobs found` : 'No jobs found');
      return;
    }
    const text = ctx.stdout.isTTY ? forTerminal(ctx, list) : goTable(list);
    ctx.print(text);
    if (total !== undefined && total > list.length) {
      ctx.say(`Showing ${list.length} of ${total} jobs; use --limit ${Math.min(total, 1000)} to see more.`);
    }
  },
};

/**
 * The Go CLI's layout, kept for scripts that read it (`tail -n +3`, `cut -c1-36`,
 * `awk '{print $1}'`): `%-40s %-12s %-15s %s` and 80 dashes; the input file, which
 * the Go CLI does not show, comes last so that no column moves.
 */
function goTable(list: Job[]): string {
  const withInput = list.some((job) => job.input_name);
  const line = (id: string, type: string, status: string, created: string, input: string) =>
    `${id.padEnd(40)} ${type.padEnd(12)} ${status.padEnd(15)} ${withInput ? `${created.padEnd(16)}  ${input}` : created}`.trimEnd();
  const rows = [line('JOB ID', 'TYPE', 'STATUS', 'CREATED AT', 'INPUT'), '-'.repeat(80)];
  for (const job of list) {
    rows.push(
      line(job.id, job.type, job.status, localTime(job.created_at).slice(0, 16), job.input_name ?? ''),
    );
  }
  return `${rows.join('\n')}\n`;
}

/** Aligned, coloured, relative times, and never wider than the terminal. */
function forTerminal(ctx: Context, list: Job[]): string {
  const width = (ctx.stdout.columns || 80) - 1;
  const now = Date.now();
  let idLength = 36;
  let inputWidth = Math.max(0, ...list.map((job) => (job.input_name ?? '').length));
  const render = () => {
    const withInput = inputWidth > 0;
    const rows = [
      ['JOB ID', 'TYPE', 'STATUS', 'CREATED', ...(withInput ? ['INPUT'] : [])].map((h) => ctx.out.bold(h)),
      ...list.map((job) => [
        job.id.slice(0, idLength),
        job.type,
        paintStatus(job.status, ctx.out),
        relativeTime(job.created_at, now),
        ...(withInput ? [cutMiddle(job.input_name ?? '', inputWidth)] : []),
      ]),
    ];
    const lines = table(rows).split('\n');
    const widest = Math.max(...lines.map(visibleLength));
    lines.splice(1, 0, '-'.repeat(widest));
    return { text: lines.join('\n'), widest };
  };
  let shown = render();
  // Too wide: the input gives way first, down to 12 characters; then the ids
  // shorten to a start that tells them apart (every command takes one); only
  // then does the input, which is how people know their jobs, narrow further
  // or go.
  const narrowInput = (least: number) => {
    if (shown.widest <= width || inputWidth === 0) return;
    inputWidth = Math.max(least, inputWidth - (shown.widest - width));
    shown = render();
  };
  const fullInput = inputWidth;
  narrowInput(12);
  if (shown.widest > width) {
    idLength = shortestUniquePrefix(list.map((job) => job.id));
    // The room the ids gave back goes to the input.
    inputWidth = fullInput;
    shown = render();
  }
  narrowInput(8);
  if (shown.widest > width && inputWidth > 0) {
    inputWidth = 0;
    shown = render();
  }
  return shown.text;
}

/** The shortest start (at least 13 characters, `019a3256-26b4`) that tells these ids apart. */
function shortestUniquePrefix(ids: string[]): number {
  for (let length = 13; length < 36; length++) {
    if (new Set(ids.map((id) => id.slice(0, length))).size === ids.length) return length;
  }
  return 36;
}
