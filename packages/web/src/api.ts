/**
 * The dashboard's one way to the server: the `bsubio` SDK's browser build,
 * signed in by the session cookie (`sessionFetch`: cookie plus CSRF header,
 * no API key in the page). When any call is refused because the session is
 * gone (signed out in another tab, expired), the person is sent to sign in
 * and brought back; pages keep what was typed in their drafts.
 */
import { AccountApi, BsubClient, BsubError, EventsApi, InsightApi, PartialApi, sessionFetch } from 'bsubio';

const signedOutListeners = new Set<() => void>();

/** Told when the server says nobody is signed in any more. */
export function onSignedOut(listener: () => void): void {
  signedOutListeners.add(listener);
}

const watchedFetch: typeof fetch = async (input, init) => {
  const response = await sessionFetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  // A 401 from the sign-in call itself is a wrong password, not a lost session.
  if (response.status === 401 && !new URL(url, location.origin).pathname.startsWith('/v1/auth/session')) {
    for (const listener of signedOutListeners) listener();
  }
  return response;
};

export const client = new BsubClient({ baseUrl: location.origin, apiKey: '', fetch: watchedFetch });
export const accountApi = new AccountApi(client.configuration);
export const eventsApi = new EventsApi(client.configuration);
export const partialApi = new PartialApi(client.configuration);
export const insightApi = new InsightApi(client.configuration);
export { BsubError };

/** The input of a job as it was uploaded, as a File: to run it again. */
export async function jobInput(jobId: string, name: string): Promise<File> {
  const response = await watchedFetch(`/v1/jobs/${encodeURIComponent(jobId)}/input`);
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(body.error ?? `The input of job ${jobId} could not be read (HTTP ${response.status}).`);
  }
  const type = response.headers.get('content-type') ?? '';
  return new File([await response.blob()], name, { type: type === 'application/octet-stream' ? '' : type });
}

/** The sentence to show for a failed call. */
export function describe(error: unknown): string {
  if (error instanceof BsubError) return error.serverMessage ?? error.message;
  return error instanceof Error ? error.message : String(error);
}
