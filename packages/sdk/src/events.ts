/**
 * The per-user event stream (`GET /v1/events`, an extension): one
 * server-sent-event connection that carries every change of every job of the
 * caller, so a dashboard or a many-file submit holds one connection however
 * many jobs it watches (a browser allows only 6 per host over HTTP/1.1).
 * Read with fetch rather than EventSource so that it works with an API key
 * (EventSource cannot send headers) and in Node; it reconnects by itself and
 * resumes with `Last-Event-ID`, so no change is lost across a dropped link.
 */
import type { Job } from '@bsubio/protocol';
import type { BaseConfiguration } from './configuration.js';
import { BsubError, errorFromResponse } from './errors.js';
import { sleep } from './transport.js';

/** What the stream says, one object per server-sent event. `id` is the resume point. */
export type JobStreamEvent =
  /** A job was created or changed: the job as `GET /v1/jobs/{id}` returns it. */
  | { event: 'job'; id: string; job: Job }
  /** A job was deleted. */
  | { event: 'deleted'; id: string; jobId: string }
  /** New stderr of a running job, only when asked for with `logs`; `offset` is where `text` starts in the log. */
  | { event: 'log'; id: string; jobId: string; text: string; offset: number }
  /** The stream is live (after replaying what was missed): the moment to fetch lists. */
  | { event: 'ready'; id: string }
  /** The server cannot replay what was missed: fetch the lists again. */
  | { event: 'reset'; id: string };

export type StreamState = 'connecting' | 'open' | 'reconnecting';

export interface FollowEventsOptions {
  /** Also send log lines (`?logs=1`). */
  logs?: boolean;
  /** Only this job's log lines (`?job=`). */
  job?: string;
  /** Resume after this event id. */
  lastEventId?: string;
  /** Stop following: the returned promise then resolves. */
  signal?: AbortSignal;
  onEvent: (event: JobStreamEvent) => void;
  /** Told when the link opens or drops, e.g. to show "reconnecting…". */
  onState?: (state: StreamState, error?: BsubError) => void;
  /** Reconnect when nothing (not even a ping, sent every 15 s) arrived for this long. Default 45 000 ms. */
  idleMs?: number;
}

const MAX_BACKOFF_MS = 15_000;

export class EventsApi {
  constructor(readonly configuration: BaseConfiguration) {}

  /**
   * Follow the stream until `signal` aborts (then resolve). Network failures,
   * server errors and a silent link are retried with backoff, resuming from
   * the last event seen; a refusal that retrying cannot fix rejects: kind
   * `auth` (signed out, key revoked), `unsupported` (no `/v1/events` here),
   * `not_found` (the `job` asked for is gone) or `bad_request`.
   */
  async follow(options: FollowEventsOptions): Promise<void> {
    const { signal } = options;
    let lastEventId = options.lastEventId;
    let failures = 0;
    let retryMs: number | undefined;
    while (!signal?.aborted) {
      options.onState?.(failures === 0 ? 'connecting' : 'reconnecting');
      try {
        await this.readOnce(
          options,
          lastEventId,
          (event) => {
            lastEventId = event.id || lastEventId;
            failures = 0;
            options.onEvent(event);
          },
          (ms) => {
            retryMs = ms;
          },
        );
      } catch (error) {
        if (signal?.aborted) return;
        if (
          error instanceof BsubError &&
          ['auth', 'unsupported', 'not_found', 'bad_request'].includes(error.kind)
        ) {
          throw error;
        }
        options.onState?.('reconnecting', error instanceof BsubError ? error : undefined);
      }
      if (signal?.aborted) return;
      failures++;
      const base = retryMs ?? Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures, 5));
      try {
        await sleep(base / 2 + Math.random() * (base / 2), signal);
      } catch {
        return;
      }
    }
  }

  /** One connection, read until it ends, breaks or goes silent. */
  private async readOnce(
    options: FollowEventsOptions,
    lastEventId: string | undefined,
    dispatch: (event: JobStreamEvent) => void,
    setRetry: (ms: number) => void,
  ): Promise<void> {
    const url = new URL(`${this.configuration.host}/v1/events`);
    if (options.logs) url.searchParams.set('logs', '1');
    if (options.job) url.searchParams.set('job', options.job);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.configuration.accessToken) headers.authorization = `Bearer ${this.configuration.accessToken}`;
    if (lastEventId) headers['last-event-id'] = lastEventId;

    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const idleMs = options.idleMs ?? 45_000;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), idleMs);
    };
    touch();
    try {
      const response = await this.configuration.fetch(url.toString(), {
        headers,
        signal: controller.signal,
        cache: 'no-store',
      });
      // 404 for `?job=` is that job being gone; otherwise the server has no such route.
      if ((response.status === 404 && !options.job) || response.status === 405) {
        await response.body?.cancel();
        throw new BsubError(
          'unsupported',
          `This server has no per-user event stream (GET ${url.pathname}).`,
          {
            status: response.status,
          },
        );
      }
      if (!response.ok) throw await errorFromResponse(response, 'GET', url.toString());
      // 204: nothing to follow (the server asks us not to reconnect at once).
      if (response.status === 204 || !response.body) return;
      options.onState?.('open');
      const parser = new SseParser((fields) => {
        const event = toJobEvent(fields);
        if (event) dispatch(event);
      }, setRetry);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        touch();
        parser.push(value);
      }
    } finally {
      clearTimeout(idle);
      options.signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }
}

interface SseFields {
  event: string;
  data: string;
  id: string;
}

/** The text/event-stream format: `field: value` lines, an empty line ends an event, `:` starts a comment. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id = '';

  constructor(
    private readonly onMessage: (fields: SseFields) => void,
    private readonly onRetry: (ms: number) => void = () => {},
  ) {}

  push(text: string): void {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end === -1) return;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (this.buffer[end] === '\r' && end === this.buffer.length - 1) return;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0)
        this.onMessage({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value));
  }
}

function toJobEvent({ event, data, id }: SseFields): JobStreamEvent | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (event === 'job' && typeof body.id === 'string') return { event, id, job: body as unknown as Job };
  if (event === 'deleted' && typeof body.id === 'string') return { event, id, jobId: body.id };
  if (event === 'log' && typeof body.id === 'string' && typeof body.text === 'string') {
    return {
      event,
      id,
      jobId: body.id,
      text: body.text,
      offset: typeof body.offset === 'number' ? body.offset : -1,
    };
  }
  if (event === 'reset' || event === 'ready') return { event, id };
  // Unknown events are for newer clients: ignored, as unknown fields are.
  return undefined;
}
