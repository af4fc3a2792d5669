import { stepLabel } from '../chain.js';
import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import { CliError } from '../errors.js';
import { followJob } from '../follow.js';
import { json } from '../format.js';
import { aboutJob, failedJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';

export const wait: Command = {
  name: 'wait',
  summary: 'Wait for a job to complete',
  usage: 'wait [flags] <jobid>',
  description: `
Wait until the job is finished (exit 0) or failed (exit 1, with its error).
There is no polling delay: the server reports each change of state the moment
it happens. With -v, each change of state is printed on stderr as it happens.
The job id may be shortened to its start, as 'bsubio jobs' shows it. If the
server goes away (a restart), bsubio reconnects for up to
BSUBIO_RECONNECT_SECONDS (default 120). Ctrl-C stops waiting (exit 130); the
job goes on.`,
  flags: [
    { name: 'v', type: 'boolean', description: 'Print each change of state on stderr as it happens' },
    {
      name: 't',
      type: 'string',
      value: '<seconds>',
      description: 'Polling interval of the original CLI; accepted and unused (there is no polling)',
    },
    JSON_FLAG,
  ],
  examples: ['bsubio wait <jobid>', 'bsubio wait -v <jobid> && bsubio cat <jobid>'],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 1);
    if (flags.t !== undefined && !/^\d+$/.test(String(flags.t))) {
      throw new CliError(`-t takes a whole number of seconds, not "${flags.t}"`, "Run 'bsubio help wait'.");
    }
    const id = await resolveJobId(ctx, args[0]!);
    const verbose = Boolean(flags.v) || ctx.verbose;
    const started = Date.now();
    const job = await followJob(ctx, id, {
      onStatus: (seen) => {
        // A pipeline says its step too: Status: processing (step 2/3 pdf/thumbnail).
        const step = stepLabel(seen);
        if (verbose) ctx.say(`Status: ${seen.status}${step ? ` (${step})` : ''}`);
      },
      onConnection: (state, detail) => {
        if (state === 'lost') ctx.say(`Lost the connection to the server (${detail}); reconnecting...`);
        else ctx.say('Reconnected.');
      },
    }).catch((error: unknown) => {
      if (error instanceof CliError || ctx.signal.aborted) throw error;
      return aboutJob(id)(error);
    });
    if (flags.json) ctx.print(json(job));
    if (job.status === 'failed') throw failedJob(job);
    if (!flags.json) ctx.say(`Job completed successfully (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  },
};
