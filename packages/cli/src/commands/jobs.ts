import type { Job } from 'bsubio';
import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import { CliError } from '../errors.js';
import { json, paintStatus, relativeTime, table } from '../format.js';
import { isJobState, JOB_STATES } from '../states.js';

export const jobs: Command = {
  name: 'jobs',
  summary: 'List recent jobs',
  usage: 'jobs [flags]',
  description: `
List this key's jobs, newest first: id, type, status, input file and when it
was created. Past 100, bsubio pages through the server's listing.`,
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
    const withInput = list.some((job) => job.input_name);
    const now = Date.now();
    const rows = [
      ['JOB ID', 'TYPE', 'STATUS', ...(withInput ? ['INPUT'] : []), 'CREATED'].map((h) => ctx.out.bold(h)),
      ...list.map((job) => [
        job.id,
        job.type,
        paintStatus(job.status, ctx.out),
        ...(withInput ? [job.input_name ?? ''] : []),
        relativeTime(job.created_at, now),
      ]),
    ];
    ctx.print(table(rows));
    if (total !== undefined && total > list.length) {
      ctx.say(`Showing ${list.length} of ${total} jobs; use --limit ${Math.min(total, 1000)} to see more.`);
    }
  },
};
