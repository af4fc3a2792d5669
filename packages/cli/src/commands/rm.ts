import { BsubError, type Job } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import { CliError, errorLine } from '../errors.js';
import { aboutJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';

export const rm: Command = {
  name: 'rm',
  summary: 'Delete a job (or all jobs with -a)',
  usage: 'rm [flags] <jobid> | rm -a',
  description: `
Delete a finished or failed job with its input, output and logs. A job that
is still running cannot be deleted: cancel it first. The job id may be
shortened to its start, as 'bsubio jobs' shows it. With -a, delete every
finished or failed job of this key and print their ids on stdout, one per
line; each job that has not ended is skipped, saying so on stderr.`,
  flags: [{ name: 'all', short: 'a', type: 'boolean', description: 'Delete every finished or failed job' }],
  examples: ['bsubio rm <jobid>', 'bsubio rm -a'],
  async run(ctx, { flags, args }) {
    const client = ctx.client();
    if (flags.all) {
      expectArgs(this, args, 0);
      const all: Job[] = [];
      for await (const job of client.listAllJobs({}, { signal: ctx.signal })) all.push(job);
      let deleted = 0;
      let skipped = 0;
      let failures = 0;
      for (const job of all) {
        if (job.status !== 'finished' && job.status !== 'failed') {
          skipped++;
          ctx.say(`Skipped job ${job.id}: it is ${job.status}; cancel it first ('bsubio cancel ${job.id}')`);
          continue;
        }
        try {
          await client.jobs.deleteJob(job.id, { signal: ctx.signal });
          deleted++;
          ctx.print(`${job.id}\n`);
        } catch (error) {
          failures++;
          ctx.say(`Failed to delete job ${job.id}: ${errorLine(error, { jobId: job.id })}`);
        }
      }
      ctx.say(`Deleted ${deleted} job(s)${skipped > 0 ? `, skipped ${skipped} that had not ended` : ''}`);
      if (failures > 0) throw new CliError(`${failures} job(s) could not be deleted`, 'See the lines above.');
      return;
    }
    expectArgs(this, args, 1);
    const id = await resolveJobId(ctx, args[0]!);
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
