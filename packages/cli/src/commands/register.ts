import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import type { DeviceAuthorizedResponse, DeviceCodeResponse } from '@bsubio/protocol';
import { type Command, expectArgs } from '../command.js';
import { CliError } from '../errors.js';
import { writeConfigFile } from '../settings.js';

/** Never poll faster than this, whatever a server says. */
const MIN_INTERVAL_S = 1;

export const register: Command = {
  name: 'register',
  summary: 'Sign in through the browser and save a new API key',
  usage: 'register [flags]',
  description: `
Sign this machine in without copying a key: bsubio asks the server for a
code, opens the server's device page in your browser (when it can) and
prints the page's address and the code. Sign in there and approve the code;
bsubio then receives a new API key for this machine and writes it with the
base URL to ~/.config/bsubio/config.json (mode 0600), like bsubio config.

The server is --base-url, else BSUBIO_BASE_URL or the config file's
base_url, else https://app.bsub.io. The code expires after a few minutes;
run register again then.`,
  flags: [
    { name: 'base-url', type: 'string', value: '<url>', description: 'Server to register with' },
    { name: 'no-browser', type: 'boolean', description: 'Only print the address; do not open a browser' },
  ],
  examples: ['bsubio register', 'bsubio register --base-url http://127.0.0.1:9986'],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 0);
    const baseUrl = String(flags['base-url'] ?? ctx.settings.baseUrl).replace(/\/+$/, '');
    if (!/^https?:\/\/[^/\s]+/.test(baseUrl)) {
      throw new CliError(
        `"${baseUrl}" is not an http(s) URL`,
        'Give one such as --base-url https://app.bsub.io.',
      );
    }
    const post = async (path: string, body: object) => {
      try {
        return await fetch(`${baseUrl}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(body),
          signal: ctx.signal,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        throw new CliError(
          `cannot reach ${baseUrl} (${(error as Error).message})`,
          'Check the address and that the server is running.',
        );
      }
    };

    const started = await post('/v1/auth/device/code', { hostname: hostname() });
    if (!started.ok) {
      throw new CliError(
        `${baseUrl} does not offer device sign-in (HTTP ${started.status})`,
        "Get an API key from the server's dashboard and run 'bsubio config'.",
      );
    }
    const device = (await started.json()) as DeviceCodeResponse;
    const page = device.verification_uri_complete ?? device.verification_uri;
    ctx.say(`To sign in, open ${device.verification_uri}`);
    ctx.say(`and enter the code: ${device.user_code}`);
    if (!flags['no-browser'] && openBrowser(page, ctx.env)) ctx.say('(Opened it in your browser.)');
    ctx.say('Waiting for approval…');

    let interval = Math.max(MIN_INTERVAL_S, device.interval);
    const deadline = Date.now() + device.expires_in * 1000;
    for (;;) {
      await sleep(interval * 1000, ctx.signal);
      if (Date.now() > deadline + interval * 1000) {
        throw new CliError('the code expired before it was approved', "Run 'bsubio register' again.");
      }
      const answer = await post('/v1/auth/device/token', {
        device_code: device.device_code,
        user_code: device.user_code,
      });
      const body = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
      if (answer.status === 202) continue;
      if (answer.status === 429) {
        interval = Math.max(interval + 1, Number(body.interval) || interval * 2);
        continue;
      }
      if (answer.status === 410) {
        throw new CliError('the code expired or was already used', "Run 'bsubio register' again.");
      }
      if (answer.status === 403) {
        throw new CliError('the sign-in was denied in the browser', "Run 'bsubio register' again to retry.");
      }
      if (answer.status === 200) {
        const authorized = body as unknown as DeviceAuthorizedResponse;
        const path = ctx.settings.path;
        writeConfigFile(path, { api_key: authorized.api_key, base_url: baseUrl });
        ctx.say(`Signed in as ${authorized.user.email}. Configuration saved to ${path}`);
        if (ctx.env.BSUBIO_API_KEY || ctx.env.BSUBIO_BASE_URL) {
          ctx.say('Note: BSUBIO_API_KEY / BSUBIO_BASE_URL are set in this shell and override the file.');
        }
        return;
      }
      throw new CliError(
        `the server answered ${answer.status}: ${String(body.error ?? 'no message')}`,
        "Run 'bsubio register' again.",
      );
    }
  },
};

/** xdg-open (Linux) or open (macOS) when there is one and a display; true when started. */
function openBrowser(url: string, env: NodeJS.ProcessEnv): boolean {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  if (process.platform !== 'darwin' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
  const found = (env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, opener)));
  if (!found) return false;
  try {
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
