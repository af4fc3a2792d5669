import { type Command, expectArgs } from '../command.js';
import { CliError } from '../errors.js';
import { aboutJob } from '../job-errors.js';

export const cat: Command = {
  name: 'cat',
  summary: 'Print job output (stdout)',
  usage: 'cat [flags] <jobid>',
  description: `
Write a finished job's output (the tool's stdout) to stdout, streamed, byte
for byte. A job that is still running is an error unless -wait is given.`,
  flags: [{ name: 'wait', short: 'w', type: 'boolean', description: 'Wait for the job to finish first' }],
  examples: ['bsubio cat <jobid> > result.txt', 'bsubio cat -wait <jobid> | less'],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 1);
    const id = args[0]!;
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
      job = await client.waitForJob(id, { signal: ctx.signal }).catch(aboutJob(id));
    }
    if (job.status === 'failed') {
      throw new CliError(
        `job ${id} failed with ${job.error_code ?? 'no code'}: ${job.error_message ?? 'no message'}; it has no output`,
        `Run 'bsubio logs ${id}' to see its stderr.`,
      );
    }
    await client.downloadOutput(id, ctx.stdout, { signal: ctx.signal }).catch(aboutJob(id));
  },
};
