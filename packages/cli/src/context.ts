/**
 * What a command runs with: the streams (stdout for data, stderr for people),
 * whether they are terminals, colour, the -verbose / -debug switches, and the
 * SDK client, built on first use from the environment and config file.
 */
import { BsubClient } from 'bsubio';
import { CliError } from './errors.js';
import { type Paint, paint } from './format.js';
import { resolveSettings, type Settings } from './settings.js';

export interface Io {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export class Context {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  readonly env: NodeJS.ProcessEnv;
  /** Colours for stderr (messages) and for stdout (tables). */
  readonly err: Paint;
  readonly out: Paint;
  /** A signal that fires on Ctrl-C, so waits and uploads stop and jobs can be cancelled. */
  readonly signal: AbortSignal;
  private clientInstance: BsubClient | undefined;
  private settingsInstance: Settings | undefined;

  constructor(
    io: Io,
    readonly verbose: boolean,
    readonly debug: boolean,
    signal: AbortSignal,
  ) {
    this.stdout = io.stdout;
    this.stderr = io.stderr;
    this.stdin = io.stdin;
    this.env = io.env;
    const colour = (stream: NodeJS.WriteStream) =>
      Boolean(stream.isTTY) && !this.env.NO_COLOR && this.env.TERM !== 'dumb';
    this.err = paint(colour(io.stderr));
    this.out = paint(colour(io.stdout));
    this.signal = signal;
  }

  /** stderr is a terminal: progress bars and live tables, else plain lines. */
  get interactive(): boolean {
    return Boolean(this.stderr.isTTY) && this.env.TERM !== 'dumb';
  }

  get settings(): Settings {
    this.settingsInstance ??= resolveSettings(this.env);
    return this.settingsInstance;
  }

  /** A line for people, on stderr. */
  say(line: string): void {
    this.stderr.write(`${line}\n`);
  }

  /** Data, on stdout. */
  print(text: string): void {
    this.stdout.write(text);
  }

  /** With -verbose (or -debug): what the CLI is doing. */
  note(line: string): void {
    if (this.verbose || this.debug) this.stderr.write(`${this.err.dim(line)}\n`);
  }

  /** The SDK client; `needsKey` false for the calls that work without one (types, version). */
  client(needsKey = true): BsubClient {
    const settings = this.settings;
    if (needsKey && !settings.apiKey) {
      throw new CliError(
        `no API key is configured (${settings.path} has none and BSUBIO_API_KEY is not set)`,
        "Run 'bsubio config' to set one.",
      );
    }
    if (!/^https?:\/\/[^/]/i.test(settings.baseUrl)) {
      const from = settings.baseUrlFrom === 'config file' ? settings.path : settings.baseUrlFrom;
      throw new CliError(
        `the base URL "${settings.baseUrl}" (from ${from}) does not start with http:// or https://`,
        settings.baseUrlFrom === 'BSUBIO_BASE_URL'
          ? `Add it: BSUBIO_BASE_URL=http://${settings.baseUrl.replace(/^\/+/, '')}`
          : "Run 'bsubio config' to set it again, with http:// or https://.",
      );
    }
    if (!this.clientInstance) {
      this.note(
        `bsubio: ${settings.baseUrl} (from ${settings.baseUrlFrom}), API key from ${settings.apiKeyFrom === 'config file' ? settings.path : settings.apiKeyFrom}`,
      );
      this.clientInstance = new BsubClient({
        apiKey: settings.apiKey,
        baseUrl: settings.baseUrl,
        fetch: this.verbose || this.debug ? this.tracingFetch() : undefined,
      });
    }
    return this.clientInstance;
  }

  /** -verbose echoes each request and its answer; -debug adds headers and JSON bodies. */
  private tracingFetch(): typeof fetch {
    const log = (line: string) => this.stderr.write(`${this.err.dim(line)}\n`);
    return async (input, init) => {
      const method = init?.method ?? 'GET';
      const url = String(input instanceof Request ? input.url : input);
      log(`> ${method} ${url}`);
      if (this.debug) {
        for (const [name, value] of new Headers(init?.headers).entries()) {
          log(`> ${name}: ${name === 'authorization' ? `${value.slice(0, 14)}…` : value}`);
        }
        if (typeof init?.body === 'string') log(`> ${init.body.slice(0, 2000)}`);
      }
      const started = Date.now();
      try {
        const response = await globalThis.fetch(input, init);
        log(`< ${response.status} ${method} ${new URL(url).pathname} (${Date.now() - started} ms)`);
        if (this.debug) {
          for (const [name, value] of response.headers.entries()) log(`< ${name}: ${value}`);
          if (/json/.test(response.headers.get('content-type') ?? '')) {
            log(`< ${(await response.clone().text()).slice(0, 2000)}`);
          }
        }
        return response;
      } catch (error) {
        log(`< ${method} ${url} failed after ${Date.now() - started} ms: ${String(error)}`);
        throw error;
      }
    };
  }
}
