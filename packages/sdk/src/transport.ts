/**
 * The small core every API class goes through: builds the request, applies the
 * idle timeout and the caller's AbortSignal, turns every failure into a
 * `BsubError`, and retries calls that are safe to send again with jittered
 * backoff (as openai-node does): GET and DELETE always, a POST when it says
 * so (createJob with its Idempotency-Key, submit and cancel).
 */
import type { BaseConfiguration } from './configuration.js';
import { BsubError, errorFromResponse } from './errors.js';

/** Accepted by every call as its last argument. */
export interface RequestOptions {
  /** Abort the call; it then fails with kind `aborted`. */
  signal?: AbortSignal;
  /** Overrides `Configuration.timeoutMs` for this call. */
  timeoutMs?: number;
  /** Overrides `Configuration.maxRetries` for this call (calls that are safe to retry only). */
  maxRetries?: number;
}

export interface PreparedBody {
  body: BodyInit;
  headers: Record<string, string>;
  /** True when `body` is a ReadableStream (Node's fetch then needs `duplex: 'half'`). */
  streaming: boolean;
}

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Send the API key (default true). Public endpoints and token uploads do not. */
  auth?: boolean;
  json?: unknown;
  /** More request headers (an Idempotency-Key). */
  headers?: Record<string, string>;
  /** A POST that is safe to send again (GET and DELETE always are). */
  retry?: boolean;
  /** Called before each retry: an earlier try may have reached the server. */
  onRetry?: () => void;
  /** Builds the body; `progress` must be called as bytes are handed to fetch. */
  body?: (progress: () => void) => Promise<PreparedBody>;
  /** Time the server is asked to hold the request (the `wait` extension), added to the timeout. */
  serverHoldMs?: number;
  accept?: string;
}

const MAX_BACKOFF_MS = 8_000;
const MAX_RETRY_AFTER_MS = 60_000;

/** The idle timer and the combined abort signal of one attempt. */
export class Attempt {
  readonly controller = new AbortController();
  timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);

  constructor(
    private readonly idleMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.touch();
  }

  /** Progress was made: restart the idle timer. */
  readonly touch = () => {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new DOMException('The call made no progress in time.', 'TimeoutError'));
    }, this.idleMs);
  };

  release() {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  /** What a thrown error means, given why (or whether) the attempt was aborted. */
  classify(error: unknown, method: string, url: string): BsubError {
    if (error instanceof BsubError) return error;
    if (this.timedOut) {
      return new BsubError('timeout', `${method} ${url} made no progress for ${this.idleMs} ms.`, {
        method,
        url,
        cause: error,
      });
    }
    if (this.caller?.aborted) {
      return new BsubError('aborted', `${method} ${url} was aborted.`, {
        method,
        url,
        cause: this.caller.reason ?? error,
      });
    }
    const detail = describeNetworkError(error);
    return new BsubError('network', `Could not complete ${method} ${url}: ${detail}.`, {
      method,
      url,
      cause: error,
    });
  }
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}

export function abortedError(signal: AbortSignal, what: string): BsubError {
  return new BsubError('aborted', `${what} was aborted.`, { cause: signal.reason });
}

/** Resolve after `ms`, or reject with an `aborted` error as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal, 'The wait'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!, 'The wait'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isRetryable(error: BsubError): boolean {
  switch (error.kind) {
    case 'network':
    case 'timeout':
      return true;
    case 'http':
      // 408: the server gave up waiting for the request; nothing was done.
      return error.status === 408;
    case 'rate_limited':
      return (error.retryAfterMs ?? 0) <= MAX_RETRY_AFTER_MS;
    case 'server':
      return error.status !== 501;
    default:
      return false;
  }
}

/** Full jitter on an exponential base, unless the server said when (`Retry-After`). */
function backoffMs(attempt: number, error: BsubError): number {
  if (error.retryAfterMs !== undefined) return error.retryAfterMs;
  const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

export class Transport {
  constructor(readonly config: BaseConfiguration) {}

  url(call: Call): string {
    const url = new URL(`${this.config.host}${call.path}`);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /**
   * Run `call` and hand the 2xx response to `consume`, which must call
   * `attempt.release()` once it is done with the body (for streamed bodies:
   * when the stream ends). Failures become `BsubError`s; calls that are
   * safe to send again (GET, DELETE, and POSTs marked `retry`) are retried
   * on network errors, timeouts, 408, 429 and 5xx.
   */
  async run<T>(
    call: Call,
    options: RequestOptions | undefined,
    consume: (response: Response, attempt: Attempt) => Promise<T>,
  ): Promise<T> {
    const url = this.url(call);
    const idempotent = call.method === 'GET' || call.method === 'DELETE' || call.retry === true;
    const maxRetries = idempotent ? (options?.maxRetries ?? this.config.maxRetries) : 0;
    const idleMs = (options?.timeoutMs ?? this.config.timeoutMs) + (call.serverHoldMs ?? 0);
    const signal = options?.signal;

    for (let attemptNumber = 0; ; attemptNumber++) {
      if (signal?.aborted) throw abortedError(signal, `${call.method} ${url}`);
      const attempt = new Attempt(idleMs, signal);
      let error: BsubError;
      try {
        const response = await this.send(call, url, attempt);
        attempt.touch();
        if (!response.ok) throw await errorFromResponse(response, call.method, url);
        return await consume(response, attempt);
      } catch (thrown) {
        attempt.release();
        error = attempt.classify(thrown, call.method, url);
      }
      if (attemptNumber >= maxRetries || !isRetryable(error)) throw error;
      await sleep(backoffMs(attemptNumber, error), signal);
      call.onRetry?.();
    }
  }

  private async send(call: Call, url: string, attempt: Attempt): Promise<Response> {
    const headers: Record<string, string> = { accept: call.accept ?? 'application/json', ...call.headers };
    if (call.auth !== false && this.config.accessToken) {
      headers.authorization = `Bearer ${this.config.accessToken}`;
    }
    const init: RequestInit & { duplex?: 'half' } = {
      method: call.method,
      headers,
      signal: attempt.controller.signal,
    };
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(call.json);
    } else if (call.body) {
      const prepared = await call.body(attempt.touch);
      Object.assign(headers, prepared.headers);
      init.body = prepared.body;
      if (prepared.streaming) {
        init.duplex = 'half';
        // Node's fetch clones a request that may be redirected, and cloning
        // tees a stream body: the unread branch then buffers the whole upload
        // (1 GiB in, 1 GiB of RSS). A stream body cannot be replayed to follow
        // a redirect anyway, so refuse redirects and keep the upload streaming.
        init.redirect = 'error';
      }
    }
    return this.config.fetch(url, init);
  }

  /** A JSON answer, checked to be an object of the expected shape. */
  json<T>(call: Call, options: RequestOptions | undefined, isShape: (value: unknown) => boolean): Promise<T> {
    const url = this.url(call);
    return this.run(call, options, async (response, attempt) => {
      try {
        const text = await response.text();
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw invalidResponse(call, url, response, `a body that is not JSON: ${text.slice(0, 80)}`);
        }
        if (!isShape(value)) {
          throw invalidResponse(call, url, response, `JSON of an unexpected shape: ${text.slice(0, 80)}`);
        }
        return value as T;
      } finally {
        attempt.release();
      }
    });
  }

  /** An answer whose body is not needed (204, or a message). */
  empty(call: Call, options: RequestOptions | undefined): Promise<void> {
    return this.run(call, options, async (response, attempt) => {
      try {
        await response.arrayBuffer();
      } finally {
        attempt.release();
      }
    });
  }

  /** The answer's body as a stream; the idle timeout keeps running while it is read. */
  stream(call: Call, options: RequestOptions | undefined): Promise<StreamedBody> {
    const url = this.url(call);
    return this.run(call, options, async (response, attempt) => {
      const source = response.body;
      const reader = source?.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (!reader) {
            attempt.release();
            controller.close();
            return;
          }
          try {
            const { done, value } = await reader.read();
            if (done) {
              attempt.release();
              controller.close();
            } else {
              attempt.touch();
              controller.enqueue(value);
            }
          } catch (error) {
            attempt.release();
            controller.error(attempt.classify(error, call.method, url));
          }
        },
        async cancel(reason) {
          attempt.release();
          await reader?.cancel(reason);
        },
      });
      const length = response.headers.get('content-length');
      return {
        body,
        contentType: response.headers.get('content-type') ?? 'application/octet-stream',
        size: length === null ? null : Number(length),
        fileName: fileNameFromDisposition(response.headers.get('content-disposition')),
      };
    });
  }
}

export interface StreamedBody {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  /** From `Content-Length`, when the server sent it. */
  size: number | null;
  /** From `Content-Disposition`, when the server sent it. */
  fileName: string | null;
}

function invalidResponse(call: Call, url: string, response: Response, what: string): BsubError {
  return new BsubError(
    'invalid_response',
    `${call.method} ${url} answered ${response.status} with ${what} — is the host a bsub.io API?`,
    { status: response.status, method: call.method, url },
  );
}

function fileNameFromDisposition(value: string | null): string | null {
  if (!value) return null;
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(value);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/** Read a stream to its end (without `for await`, which Safari's streams lack). */
export async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    // Stopped early (a break, or the consumer failed): stop the download too.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of chunksOf(stream)) {
    parts.push(chunk);
    length += chunk.byteLength;
  }
  const all = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.byteLength;
  }
  return all;
}
