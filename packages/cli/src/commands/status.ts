import type { Job } from 'bsubio';
import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import type { Context } from '../context.js';
import { formatBytes, json, localTime, paintStatus, relativeTime, wrapWords } from '../format.js';
import { aboutJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';

export const status: Command = {
  name: 'status',
  summary: 'Show detailed job status',
  usage: 'status [flags] <jobid>',
  description: `
Show one job: its type, state, sizes, times, and why it failed if it did.
With --json, print the job object exactly as the API returns it.`,
  flags: [JSON_FLAG],
  examples: [
    'bsubio status 019a3256-26b4-7f1f-b1aa-0b45ab7b371d',
    'bsubio status --json <jobid> | jq .status',
  ],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 1);
    const id = await resolveJobId(ctx, args[0]!);
    const { data: job } = await ctx.client().jobs.getJob(id, { signal: ctx.signal }).catch(aboutJob(id));
    ctx.print(flags.json ? json(job) : describeJob(ctx, job));
  },
};

/** The values start in this column, after "Label:" and spaces. */
const VALUE_COLUMN = 13;

/**
 * The `status` text: one "Label: value" line per known field. On a terminal
 * a value too long for the width goes on under itself, where the terminal
 * would have wrapped it to the first column; in a pipe each field stays on
 * one line, for scripts.
 */
export function describeJob(ctx: Context, job: Job): string {
  const p = ctx.out;
  const width = ctx.stdout.isTTY ? Math.max(20, (ctx.stdout.columns || 80) - 1 - VALUE_COLUMN) : Infinity;
  const rows: [string, string | null | undefined, ((text: string) => string)?][] = [
    ['ID', job.id],
    ['Type', job.type],
    ['Status', paintStatus(job.status, p)],
    // A pipeline: each step with its state.
    ['Steps', job.steps?.map((step) => `${step.type} (${step.status})`).join(' → ')],
    ['Name', job.name],
    [
      'Input',
      job.input_name ? `${job.input_name}${job.input_type ? ` (${job.input_type})` : ''}` : undefined,
    ],
    ['Data Size', `${job.data_size} bytes${job.data_size >= 1024 ? ` (${formatBytes(job.data_size)})` : ''}`],
    ['Output Size', typeof job.output_size === 'number' ? `${job.output_size} bytes` : undefined],
    ['Created At', when(job.created_at)],
    ['Claimed At', job.claimed_at ? when(job.claimed_at) : undefined],
    ['Started At', job.started_at ? when(job.started_at) : undefined],
    ['Finished At', job.finished_at ? when(job.finished_at) : undefined],
    ['Claimed By', job.claimed_by],
    ['Attempts', typeof job.attempts === 'number' && job.attempts > 0 ? String(job.attempts) : undefined],
    [
      'Error',
      job.error_code || job.error_message
        ? `${job.error_code ?? ''} ${job.error_message ?? ''}`.trim()
        : undefined,
      p.red,
    ],
  ];
  return rows
    .filter((row): row is [string, string, ((text: string) => string)?] => !!row[1])
    .map(([label, value, paint = (text: string) => text]) =>
      wrapWords(value, width)
        .map((line, i) => `${(i === 0 ? `${label}:` : '').padEnd(VALUE_COLUMN)}${paint(line)}\n`)
        .join(''),
    )
    .join('');
}

const when = (iso: string) => `${localTime(iso)} (${relativeTime(iso)})`;
