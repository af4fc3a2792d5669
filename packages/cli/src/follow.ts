/**
 * Following one job until it ends, seeing every state it passes through as
 * it happens: the server's per-job event stream (`GET /v1/jobs/{id}/events`,
 * an extension; one `status` event per change). `?wait=` alone only answers
 * at the end, which left the live table and `wait -v` frozen until then.
 *
 * A server that goes away (restart, network) is reconnected with backoff,
 * resuming with Last-Event-ID, for BSUBIO_RECONNECT_SECONDS (default 120);
 * after that the user is told the job id and how to pick the job up again.
 * A server without the stream (bsub.io) is waited on with `?wait=`/polling.
 */
import { BsubError, type Job } from 'bsubio';
import type { Context } from './context.js';
import { CliError, errorLine } from './errors.js';
import { TERMINAL_STATES } from './states.js';

const TERMINAL = new Set<string>(TERMINAL_STATES);
const DEFAULT_RECONNECT_SECONDS = 120;
const IDLE_MS = 45_000;

export interface FollowOptions {
  /** Called with the job each time it is seen in a new state or pipeline step (the current state first). */
  onStatus?: (job: Job) => void;
  /** Called when the connection is lost and when it is back, for the people watching. */
  onConnection?: (state: 'lost' | 'back', detail: string) => void;
}

/** The job once it is finished or failed. Throws a CliError once reconnecting has been given up. */
export async function followJob(ctx: Context, id: string, options: FollowOptions = {}): Promise<Job> {
  const client = ctx.client();
  const { host, accessToken } = client.configuration;
  const url = `${host}/v1/jobs/${encodeURIComponent(id)}/events`;
  const reconnectMs = reconnectSeconds(ctx.env) * 1000;
  let lastEventId: string | undefined;
  let lastStatus: string | undefined;
  let last: Job | undefined;
  let lostSince: number | undefined;
  let lostBecause = '';
  let attempt = 0;

  let lastStep: number | undefined;
  const seen = (job: Job) => {
    last = job;
    if (job.status === lastStatus && job.step === lastStep) return;
    lastStatus = job.status;
    lastStep = job.step;
    options.onStatus?.(job);
  };

  for (;;) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    let response: Response | undefined;
    // A connection that goes quiet (a dropped network sends nothing, not even
    // an error) is given up after IDLE_MS: the server sends a comment every 15 s.
    const connection = new AbortController();
    const onAbort = () => connection.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new Error('no word from the server for 45 s')), IDLE_MS);
    };
    try {
      alive();
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (accessToken) headers.authorization = `Bearer ${accessToken}`;
      if (lastEventId) headers['last-event-id'] = lastEventId;
      response = await client.configuration.fetch(url, { headers, signal: connection.signal });
      if (response.status === 404 || response.status === 405 || response.status === 501) {
        clearTimeout(idle);
        await response.body?.cancel();
        // No such job (the API says so in one sentence), or a server without the stream.
        const { data } = await client.jobs.getJob(id, { signal: ctx.signal });
        if (TERMINAL.has(data.status)) {
          seen(data);
          return data;
        }
        return await client.waitForJob(id, { signal: ctx.signal, onStatus: seen });
      }
      if (response.status === 204 && last) return last;
      if (!response.ok || !response.body) {
        // 401 and the like are for the user; 5xx may pass, as a restart does.
        const error = new BsubError(
          response.status >= 500 ? 'server' : 'http',
          `answered ${response.status}`,
          {
            status: response.status,
          },
        );
        await response.body?.cancel();
        if (response.status < 500) {
          clearTimeout(idle);
          const { data } = await client.jobs.getJob(id, { signal: ctx.signal });
          return await client.waitForJob(data.id, { signal: ctx.signal, onStatus: seen });
        }
        throw error;
      }
      if (lostSince !== undefined) options.onConnection?.('back', host);
      lostSince = undefined;
      attempt = 0;
      for await (const event of readEvents(response.body, alive)) {
        if (event.id !== undefined) lastEventId = event.id;
        if (event.event !== 'status') continue;
        const job = JSON.parse(event.data) as Job;
        seen(job);
        if (TERMINAL.has(job.status)) return job;
      }
      // The stream ended before the job did: the server is stopping. Reconnect.
      lostBecause = 'the server closed the event stream';
    } catch (thrown) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? thrown;
      const error = connection.signal.aborted ? connection.signal.reason : thrown;
      if (error instanceof BsubError && error.kind !== 'network' && error.kind !== 'server') throw error;
      if (error instanceof SyntaxError) throw error;
      lostBecause = describe(error);
    } finally {
      clearTimeout(idle);
      ctx.signal.removeEventListener('abort', onAbort);
    }
    lostSince ??= Date.now();
    if (attempt === 0) options.onConnection?.('lost', lostBecause);
    if (Date.now() - lostSince >= reconnectMs) {
      throw new CliError(
        `lost the connection to ${host} while waiting for job ${id} (${lostBecause}); gave up after ${Math.round(reconnectMs / 1000)} s`,
        `The job stays on the server${lastStatus ? ` (last seen ${lastStatus})` : ''}: run 'bsubio wait ${id}' to pick it up again, then 'bsubio cat ${id}' for its output.`,
      );
    }
    // Backoff with jitter: 0.5 s, 1 s, 2 s, then every 4–5 s.
    const delay = Math.min(4_000, 500 * 2 ** attempt) * (1 + Math.random() * 0.25);
    attempt++;
    await sleep(Math.min(delay, Math.max(0, lostSince + reconnectMs - Date.now())), ctx.signal);
  }
}

function reconnectSeconds(env: NodeJS.ProcessEnv): number {
  const text = env.BSUBIO_RECONNECT_SECONDS;
  if (text === undefined || text === '') return DEFAULT_RECONNECT_SECONDS;
  if (!/^\d+$/.test(text.trim())) {
    throw new CliError(
      `BSUBIO_RECONNECT_SECONDS must be a whole number of seconds, not "${text}"`,
      'Unset it for the default (120).',
    );
  }
  return Number(text);
}

function describe(error: unknown): string {
  const line = errorLine(error);
  // "cannot reach http://…(ECONNREFUSED). Is the server running? …" → the code.
  const code = /\(([A-Z][A-Z_]+)\)/.exec(line)?.[1];
  if (code) return code;
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const c = (cause as { code?: unknown }).code;
    if (typeof c === 'string') return c;
    cause = (cause as { cause?: unknown }).cause;
  }
  return error instanceof Error ? error.message : String(error);
}

interface ServerEvent {
  id?: string;
  event: string;
  data: string;
}

/** Server-sent events, one object per event (https://html.spec.whatwg.org/#event-stream-interpretation). */
async function* readEvents(body: ReadableStream<Uint8Array>, alive: () => void): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let current: { id?: string; event?: string; data: string[] } = { data: [] };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      alive();
      buffer += decoder.decode(value, { stream: true });
      for (;;) {
        const newline = buffer.search(/\r\n|\r|\n/);
        if (newline < 0) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (current.data.length > 0 || current.event) {
            yield { id: current.id, event: current.event ?? 'message', data: current.data.join('\n') };
          }
          current = { data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') current.data.push(value);
        else if (field === 'event') current.event = value;
        else if (field === 'id') current.id = value;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
