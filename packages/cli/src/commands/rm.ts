import { BsubError } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import { CliError, errorLine } from '../errors.js';
import { aboutJob } from '../job-errors.js';
import { jobIdsIn } from './cancel.js';

export const rm: Command = {
  name: 'rm',
  summary: 'Delete a job (or all jobs with -a)',
  usage: 'rm [flags] <jobid> | rm -a',
  description: `
Delete a finished or failed job with its input, output and logs. A job that
is still running cannot be deleted: cancel it first. With -a, delete every
finished or failed job of this key and print their ids on stdout, one per
line.`,
  flags: [{ name: 'all', short: 'a', type: 'boolean', description: 'Delete every finished or failed job' }],
  examples: ['bsubio rm <jobid>', 'bsubio rm -a'],
  async run(ctx, { flags, args }) {
    const client = ctx.client();
    if (flags.all) {
      expectArgs(this, args, 0);
      const ids = await jobIdsIn(ctx, ['finished', 'failed']);
      let failures = 0;
      for (const id of ids) {
        try {
          await client.jobs.deleteJob(id, { signal: ctx.signal });
          ctx.print(`${id}\n`);
        } catch (error) {
          failures++;
          ctx.say(`Failed to delete job ${id}: ${errorLine(error, { jobId: id })}`);
        }
      }
      ctx.say(`Deleted ${ids.length - failures} job(s)`);
      if (failures > 0) throw new CliError(`${failures} job(s) could not be deleted`, 'See the lines above.');
      return;
    }
    expectArgs(this, args, 1);
    const id = args[0]!;
    await client.jobs.deleteJob(id, { signal: ctx.signal }).catch(async (error: unknown) => {
      if (error instanceof BsubError && error.kind === 'conflict') {
        const { data: job } = await client.jobs.getJob(id).catch(aboutJob(id));
        throw new CliError(
          `job ${id} is ${job.status}; only finished or failed jobs can be deleted`,
          `Run 'bsubio cancel ${id}' first, or wait for it.`,
        );
      }
      return aboutJob(id)(error);
    });
    ctx.say(`Job deleted: ${id}`);
  },
};
