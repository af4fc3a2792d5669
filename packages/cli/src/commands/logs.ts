import { type Command, expectArgs } from '../command.js';
import { aboutJob } from '../job-errors.js';
import { resolveJobId } from '../job-id.js';

export const logs: Command = {
  name: 'logs',
  summary: 'Show job logs (stderr)',
  usage: 'logs [flags] <jobid>',
  description: `
Write what the job's tool wrote to stderr, in any state (empty while there is
nothing yet), to stdout.`,
  flags: [],
  examples: ['bsubio logs <jobid>'],
  async run(ctx, { args }) {
    expectArgs(this, args, 1);
    const id = await resolveJobId(ctx, args[0]!);
    ctx.print(await ctx.client().output.getJobLogs(id, { signal: ctx.signal }).catch(aboutJob(id)));
  },
};
