/** Where the API is and how to call it: the `Configuration` of the official SDKs. */
import type { Platform } from './platform.js';

export const DEFAULT_HOST = 'https://app.bsub.io';

export interface ConfigurationParameters {
  /** Base URL of the API, without `/v1`. Default `https://app.bsub.io`. */
  host?: string;
  /** The API key, sent as `Authorization: Bearer <accessToken>`. */
  accessToken?: string;
  /**
   * How long a call may go without progress (no byte sent or received) before it
   * fails with kind `timeout`. Default 60 000 ms. A long upload or download that
   * keeps moving is never cut off.
   */
  timeoutMs?: number;
  /** Retries of idempotent calls (GET, DELETE) after network errors, timeouts, 429 and 5xx. Default 2. */
  maxRetries?: number;
  /** A `fetch` to use instead of the global one (e.g. one that goes through a corporate proxy). */
  fetch?: typeof fetch;
}

export class BaseConfiguration {
  readonly host: string;
  readonly accessToken: string | undefined;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly fetch: typeof fetch;
  /** @internal */
  readonly platform: Platform;

  /** @internal Use `Configuration`, which binds the platform of the entry you imported. */
  constructor(parameters: ConfigurationParameters, platform: Platform) {
    this.host = (parameters.host ?? DEFAULT_HOST).replace(/\/+$/, '');
    this.accessToken = parameters.accessToken || undefined;
    this.timeoutMs = positive(parameters.timeoutMs, 60_000, 'timeoutMs');
    this.maxRetries = parameters.maxRetries ?? 2;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) {
      throw new TypeError(`maxRetries must be an integer >= 0, not ${parameters.maxRetries}.`);
    }
    // Bound so that a method reference works (`fetch` called on another `this` throws in browsers).
    this.fetch = parameters.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.platform = platform;
    try {
      new URL(this.host);
    } catch {
      throw new TypeError(`host must be an absolute URL such as "https://app.bsub.io", not "${this.host}".`);
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new TypeError(`${name} must be a positive number of milliseconds, not ${value}.`);
  return value;
}
