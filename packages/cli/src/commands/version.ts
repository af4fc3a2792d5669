import { type Command, expectArgs, JSON_FLAG } from '../command.js';
import { json } from '../format.js';
import { CLI_VERSION } from '../version.js';

export const version: Command = {
  name: 'version',
  summary: 'Show CLI and API server version',
  usage: 'version [flags]',
  description: `
Print this CLI's version and the server's (name, version and build). No API
key is needed.`,
  flags: [JSON_FLAG],
  examples: ['bsubio version'],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 0);
    const server = await ctx.client(false).system.getVersion({ signal: ctx.signal });
    if (flags.json) {
      ctx.print(json({ cli: CLI_VERSION, server }));
      return;
    }
    ctx.print(`CLI Version:    ${CLI_VERSION}\n`);
    ctx.print(
      `Server Version: ${server.version}${server.server ? ` (${server.server}${server.build ? `, built ${server.build}` : ''})` : ''}\n`,
    );
    ctx.print(`Server URL:     ${ctx.settings.baseUrl}\n`);
  },
};
