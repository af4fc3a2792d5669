import { BsubError } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import type { Context } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import { aboutJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';
import { MOVES } from '../states.js';

export const cancel: Command = {
  name: 'cancel',
  summary: 'Cancel a job (or all jobs with -a)',
  usage: 'cancel [flags] <jobid> | cancel -a',
  description: `
Stop a job that has not ended: a running tool is killed at once and the job
becomes failed with ECANCELED. With -a, cancel every job of this key that has
not ended, saying each one on stderr ("Canceled job: <id>") as the Go CLI
does. The job id may be shortened to its start, as 'bsubio jobs' shows it.`,
  flags: [{ name: 'all', short: 'a', type: 'boolean', description: 'Cancel every job that has not ended' }],
  examples: ['bsubio cancel <jobid>', 'bsubio cancel -a'],
  async run(ctx, { flags, args }) {
    const client = ctx.client();
    if (flags.all) {
      expectArgs(this, args, 0);
      const ids = await jobIdsIn(ctx, MOVES.cancel.from);
      let failures = 0;
      let cancelled = 0;
      for (const id of ids) {
        try {
          await client.jobs.cancelJob(id, { signal: ctx.signal });
          cancelled++;
          ctx.say(`Canceled job: ${id}`);
        } catch (error) {
          // It may have ended on its own since it was listed.
          if (error instanceof BsubError && error.kind === 'bad_request') continue;
          failures++;
          ctx.say(`Failed to cancel job ${id}: ${errorLine(error, { jobId: id })}`);
        }
      }
      ctx.say(`Canceled ${cancelled} job(s)`);
      if (failures > 0)
        throw new CliError(`${failures} job(s) could not be cancelled`, 'See the lines above.');
      return;
    }
    expectArgs(this, args, 1);
    const id = await resolveJobId(ctx, args[0]!);
    await client.jobs.cancelJob(id, { signal: ctx.signal }).catch(async (error: unknown) => {
      if (error instanceof BsubError && error.kind === 'bad_request') {
        const { data: job } = await client.jobs.getJob(id).catch(aboutJob(id));
        throw new CliError(`job ${id} has already ended (${job.status}); there is nothing to cancel`);
      }
      return aboutJob(id)(error);
    });
    ctx.say(`Job canceled: ${id}`);
  },
};

/** Every job id of this key in one of `states`, listed before anything is changed. */
export async function jobIdsIn(ctx: Context, states: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const status of states) {
    for await (const job of ctx.client().listAllJobs({ status: status as never }, { signal: ctx.signal })) {
      ids.push(job.id);
    }
  }
  return ids;
}
