import { type Command, expectArgs } from '../command.js';
import { CliError } from '../errors.js';
import { followJob } from '../follow.js';
import { aboutJob, failedJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';
import { writeOutputToStdout } from '../output.js';

export const cat: Command = {
  name: 'cat',
  summary: 'Print job output (stdout)',
  usage: 'cat [flags] <jobid>',
  description: `
Write a finished job's output (the tool's stdout) to stdout, streamed, byte
for byte. A job that is still running is an error unless -wait is given.
Binary output (an image, a video) is not written to a terminal: redirect it
to a file or pipe it. Ctrl-C stops (exit 130).`,
  flags: [{ name: 'wait', short: 'w', type: 'boolean', description: 'Wait for the job to finish first' }],
  examples: ['bsubio cat <jobid> > result.txt', 'bsubio cat -wait <jobid> | less'],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 1);
    const id = await resolveJobId(ctx, args[0]!);
    const client = ctx.client();
    let { data: job } = await client.jobs.getJob(id, { signal: ctx.signal }).catch(aboutJob(id));
    if (job.status !== 'finished' && job.status !== 'failed') {
      if (!flags.wait) {
        throw new CliError(
          `job ${id} is not complete (status: ${job.status})`,
          `Use 'bsubio wait ${id}' first, or 'bsubio cat -wait ${id}'.`,
        );
      }
      ctx.note(`Job is ${job.status}, waiting for completion...`);
      job = await followJob(ctx, id).catch((error: unknown) => {
        if (error instanceof CliError || ctx.signal.aborted) throw error;
        return aboutJob(id)(error);
      });
    }
    if (job.status === 'failed') throw failedJob(job, undefined, '; it has no output');
    await writeOutputToStdout(ctx, id, `Redirect it to a file (bsubio cat ${id} > file) or pipe it.`).catch(
      (error: unknown) => {
        if (error instanceof CliError || ctx.signal.aborted) throw error;
        return aboutJob(id)(error);
      },
    );
  },
};
