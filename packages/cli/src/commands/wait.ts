import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import { CliError } from '../errors.js';
import { json } from '../format.js';
import { aboutJob } from '../job-errors.js';

export const wait: Command = {
  name: 'wait',
  summary: 'Wait for a job to complete',
  usage: 'wait [flags] <jobid>',
  description: `
Wait until the job is finished (exit 0) or failed (exit 1, with its error).
There is no polling delay: the server answers the moment the job ends. With
-v, each change of state is printed on stderr.`,
  flags: [
    { name: 'v', type: 'boolean', description: 'Print each change of state on stderr' },
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
    const id = args[0]!;
    if (flags.t !== undefined && !/^\d+$/.test(String(flags.t))) {
      throw new CliError(`-t takes a whole number of seconds, not "${flags.t}"`, "Run 'bsubio help wait'.");
    }
    const started = Date.now();
    const job = await ctx
      .client()
      .waitForJob(id, {
        signal: ctx.signal,
        onStatus: (seen) => {
          if (flags.v || ctx.verbose) ctx.say(`Status: ${seen.status}`);
        },
      })
      .catch(aboutJob(id));
    if (flags.json) ctx.print(json(job));
    if (job.status === 'failed') {
      throw new CliError(
        `job ${id} failed with ${job.error_code ?? 'no code'}: ${job.error_message ?? 'no message'}`,
        `Run 'bsubio logs ${id}' to see its stderr.`,
      );
    }
    if (!flags.json) ctx.say(`Job completed successfully (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  },
};
