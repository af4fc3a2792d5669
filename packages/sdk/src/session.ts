/**
 * Signing in the way the dashboard does: an HttpOnly session cookie the page
 * never sees, instead of an API key. `sessionFetch` is the `fetch` to give a
 * `Configuration` or `BsubClient` (with no key) so that every call carries the
 * cookie and the CSRF header the server requires of cookie-authenticated
 * changes; `AccountApi` is the account area (session, API keys, device
 * approval), which answers only to a signed-in person, never to a key.
 */
import type { Account, ApiKeyInfo } from '@bsubio/protocol';
import type { BaseConfiguration } from './configuration.js';
import { BsubError, errorFromResponse } from './errors.js';
import type { RequestOptions } from './transport.js';

/** protocol's CSRF_HEADER, copied: its module loads TypeBox, which a browser bundle need not carry. */
const CSRF_HEADER = 'x-bsubio-csrf';

/** A `fetch` for same-origin pages signed in with the session cookie. */
export const sessionFetch: typeof fetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  // Any value will do: a cross-site form or image cannot set a custom header.
  headers.set(CSRF_HEADER, '1');
  return globalThis.fetch(input, { ...init, headers, credentials: 'same-origin' });
};

export interface SignedInAccount extends Account {
  /** How this request was authenticated: `session` (cookie) or `key`. */
  via?: string;
}

/** A device (`bsubio register`) waiting for approval, as looked up by its code. */
export interface PendingDevice {
  user_code: string;
  hostname: string;
  created_at: string;
}

export interface CreatedKey {
  id: string;
  prefix: string;
  label: string | null;
  /** The whole key: shown once, never again. */
  api_key: string;
}

/** `POST/GET/DELETE /v1/auth/session`, `/v1/auth/keys`, `/v1/auth/device`: the dashboard's account calls. */
export class AccountApi {
  constructor(readonly configuration: BaseConfiguration) {}

  /** Sign in with an email and password, or with an API key; the server sets the session cookie. */
  async signIn(
    credentials: { email: string; password: string } | { api_key: string },
    options?: RequestOptions,
  ): Promise<SignedInAccount> {
    return (await this.call<{ data: SignedInAccount }>('POST', '/v1/auth/session', credentials, options))
      .data;
  }

  /** Who is signed in; fails with kind `auth` when nobody is. */
  async session(options?: RequestOptions): Promise<SignedInAccount> {
    return (await this.call<{ data: SignedInAccount }>('GET', '/v1/auth/session', undefined, options)).data;
  }

  async signOut(options?: RequestOptions): Promise<void> {
    await this.call('DELETE', '/v1/auth/session', undefined, options);
  }

  async listKeys(options?: RequestOptions): Promise<ApiKeyInfo[]> {
    return (await this.call<{ data: { keys: ApiKeyInfo[] } }>('GET', '/v1/auth/keys', undefined, options))
      .data.keys;
  }

  async createKey(label: string | undefined, options?: RequestOptions): Promise<CreatedKey> {
    return (await this.call<{ data: CreatedKey }>('POST', '/v1/auth/keys', { label }, options)).data;
  }

  async revokeKey(keyId: string, options?: RequestOptions): Promise<void> {
    await this.call('DELETE', `/v1/auth/keys/${encodeURIComponent(keyId)}`, undefined, options);
  }

  /** The device that showed `userCode`, so that a person can check it before approving. */
  async lookUpDevice(userCode: string, options?: RequestOptions): Promise<PendingDevice> {
    const path = `/v1/auth/device?code=${encodeURIComponent(userCode)}`;
    return (await this.call<{ data: PendingDevice }>('GET', path, undefined, options)).data;
  }

  /** Approve (hand the device an API key) or deny a pending `bsubio register`. */
  async decideDevice(userCode: string, approve: boolean, options?: RequestOptions): Promise<void> {
    await this.call('POST', '/v1/auth/device/approve', { user_code: userCode, approve }, options);
  }

  /** One call, never retried: signing in twice counts as two guesses against the lockout. */
  private async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    json: unknown,
    options: RequestOptions | undefined,
  ): Promise<T> {
    const url = `${this.configuration.host}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.configuration.accessToken) headers.authorization = `Bearer ${this.configuration.accessToken}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.configuration.fetch(url, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: options?.signal,
      });
    } catch (error) {
      if (options?.signal?.aborted) throw new BsubError('aborted', `${method} ${url} was aborted.`);
      throw new BsubError('network', `Could not complete ${method} ${url}: ${(error as Error).message}.`, {
        method,
        url,
        cause: error,
      });
    }
    if (!response.ok) throw await errorFromResponse(response, method, url);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}
