/**
 * The one error class of the SDK. Every failure — an HTTP error answer, a
 * network failure, a timeout, an abort, a failed job — is a `BsubError` whose
 * `kind` says what happened, so callers branch on `kind`, not on messages.
 */
import type { ErrorBody, Job } from '@bsubio/protocol';

export type BsubErrorKind =
  /** 400 or 415: the request was wrong; the message says what to fix. */
  | 'bad_request'
  /** 401 or 403: missing, malformed, unknown or insufficient API key or upload token. */
  | 'auth'
  /** 404: no such job for this key (another user's job looks the same). */
  | 'not_found'
  /** 409: the job is not in a state that allows this (e.g. output of an unfinished job). */
  | 'conflict'
  /** 413: the upload is larger than the server's limit. */
  | 'too_large'
  /** 429: too many requests; `retryAfterMs` says when to try again. */
  | 'rate_limited'
  /** 5xx: the server failed. */
  | 'server'
  /** Any other non-2xx status. */
  | 'http'
  /** The server could not be reached, or the connection broke. */
  | 'network'
  /** The call made no progress for `timeoutMs`, or `waitForJob` ran out of time. */
  | 'timeout'
  /** The caller's `AbortSignal` fired. */
  | 'aborted'
  /** The server answered something that is not the bsub.io API (e.g. an HTML page). */
  | 'invalid_response'
  /** The job ended `failed`; see `job.error_code` and `logs`. */
  | 'job_failed'
  /** The server lacks an extension this call needs. */
  | 'unsupported';

export interface BsubErrorDetails {
  status?: number;
  serverMessage?: string;
  code?: string;
  method?: string;
  url?: string;
  requestId?: string;
  retryAfterMs?: number;
  job?: Job;
  logs?: string;
  cause?: unknown;
}

export class BsubError extends Error {
  override name = 'BsubError';
  readonly kind: BsubErrorKind;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The server's own sentence (`error` of the error body), when it sent one. */
  readonly serverMessage: string | undefined;
  /** The server's machine-readable `code` (e.g. `payload_too_large`), when it sent one. */
  readonly code: string | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The `x-request-id` of the answer: quote it when reporting a problem. */
  readonly requestId: string | undefined;
  /** From `Retry-After`, for `rate_limited` (and some `server`) errors. */
  readonly retryAfterMs: number | undefined;
  /** The job, for `job_failed` (and `timeout` from `waitForJob`). */
  readonly job: Job | undefined;
  /** The job's stderr, for `job_failed`. */
  readonly logs: string | undefined;

  constructor(kind: BsubErrorKind, message: string, details: BsubErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.status = details.status;
    this.serverMessage = details.serverMessage;
    this.code = details.code;
    this.method = details.method;
    this.url = details.url;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.job = details.job;
    this.logs = details.logs;
  }
}

export function kindForStatus(status: number): BsubErrorKind {
  if (status === 400 || status === 415) return 'bad_request';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 413) return 'too_large';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'http';
}

/** `Retry-After` is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Build the error for a non-2xx answer; reads (and so consumes) the body. */
export async function errorFromResponse(response: Response, method: string, url: string): Promise<BsubError> {
  const text = await response.text().catch(() => '');
  let body: Partial<ErrorBody> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed as Partial<ErrorBody>;
  } catch {}
  const serverMessage = typeof body?.error === 'string' ? body.error : undefined;
  const code = typeof body?.code === 'string' ? body.code : undefined;
  const fallback = text.trim().slice(0, 200) || response.statusText || 'no body';
  const message = serverMessage ?? `${method} ${url} answered ${response.status}: ${fallback}`;
  return new BsubError(kindForStatus(response.status), message, {
    status: response.status,
    serverMessage,
    code,
    method,
    url,
    requestId: response.headers.get('x-request-id') ?? undefined,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
  });
}
