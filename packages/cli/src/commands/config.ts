import { BsubClient, BsubError } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import { CliError, errorLine } from '../errors.js';
import { Prompter } from '../prompt.js';
import { DEFAULT_BASE_URL, readConfigFile, writeConfigFile } from '../settings.js';

export const config: Command = {
  name: 'config',
  summary: 'Configure API key and server URL',
  usage: 'config',
  description: `
Ask for the API key (not echoed) and the server's base URL, check the key
against that server, and write both to ~/.config/bsubio/config.json as
{"api_key", "base_url"}, readable only by you (mode 0600). Press Enter to
keep the value in brackets. The bsub.io CLI and SDKs read the same file.

BSUBIO_API_KEY and BSUBIO_BASE_URL, when set, override the file. Answers can
also be piped, one per line: printf '%s\\n' "$KEY" "$URL" | bsubio config`,
  flags: [],
  examples: ['bsubio config'],
  async run(ctx, { args }) {
    expectArgs(this, args, 0);
    const path = ctx.settings.path;
    const existing = readConfigFile(path) ?? {};
    const oldKey = typeof existing.api_key === 'string' && existing.api_key ? existing.api_key : undefined;
    const oldUrl = typeof existing.base_url === 'string' && existing.base_url ? existing.base_url : undefined;
    const prompter = new Prompter(ctx.stdin, ctx.stderr);
    let apiKey: string;
    let baseUrl: string;
    try {
      const keyShown = oldKey ? ` [keep ${oldKey.slice(0, 10)}…]` : '';
      apiKey =
        (await prompter.ask(`Enter your BSUB.IO API key${keyShown}: `, { secret: true })) || oldKey || '';
      if (!apiKey)
        throw new CliError(
          'API key cannot be empty',
          'Get one from your server, then run bsubio config again.',
        );
      const urlShown = oldUrl ?? DEFAULT_BASE_URL;
      baseUrl = (await prompter.ask(`Enter base URL [${urlShown}]: `)) || urlShown;
    } finally {
      prompter.close();
    }
    baseUrl = baseUrl.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/\s]+/.test(baseUrl)) {
      throw new CliError(`"${baseUrl}" is not an http(s) URL`, 'Give one such as https://app.bsub.io.');
    }
    await checkKey(ctx.say.bind(ctx), apiKey, baseUrl);
    writeConfigFile(path, { api_key: apiKey, base_url: baseUrl });
    ctx.say(`Configuration saved to ${path}`);
    if (ctx.env.BSUBIO_API_KEY || ctx.env.BSUBIO_BASE_URL) {
      ctx.say('Note: BSUBIO_API_KEY / BSUBIO_BASE_URL are set in this shell and override the file.');
    }
  },
};

/** A key the server rejects is not written; a server that cannot be reached only warns. */
async function checkKey(say: (line: string) => void, apiKey: string, baseUrl: string): Promise<void> {
  const client = new BsubClient({ apiKey, baseUrl, maxRetries: 0, timeoutMs: 15_000 });
  try {
    await client.jobs.listJobs({ limit: 1 });
  } catch (error) {
    if (error instanceof BsubError && error.kind === 'auth') {
      throw new CliError(
        `the server at ${baseUrl} rejected this API key (${error.serverMessage ?? error.message}); nothing was written`,
        'Check the key and run bsubio config again.',
      );
    }
    say(`Warning: could not check the key: ${errorLine(error, { baseUrl })}`);
  }
}
