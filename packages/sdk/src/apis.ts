/**
 * The low-level API, one class per area as in the official SDKs: each method
 * is one HTTP call and returns the wire answer, typed by `@bsubio/protocol`.
 */
import type {
  CreateJobRequest,
  Job,
  JobResponse,
  JobState,
  ListJobsResponse,
  MessageResponse,
  TypesResponse,
  UploadResponse,
  VersionResponse,
} from '@bsubio/protocol';
import type { BaseConfiguration } from './configuration.js';
import { BsubError } from './errors.js';
import { collect, type RequestOptions, type StreamedBody, Transport } from './transport.js';
import { multipartBody, type UploadInput, type UploadOptions } from './upload.js';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const hasJob = (value: unknown) =>
  isObject(value) && value.success === true && isObject(value.data) && typeof value.data.id === 'string';
const hasMessage = (value: unknown) => isObject(value) && value.success === true;

function jobPath(jobId: string, suffix = ''): string {
  if (typeof jobId !== 'string' || jobId === '') {
    throw new TypeError(`jobId must be a non-empty string, not ${JSON.stringify(jobId)}.`);
  }
  return `/v1/jobs/${encodeURIComponent(jobId)}${suffix}`;
}

export interface CreateJobOptions extends RequestOptions {
  /**
   * Extension: the key that makes retries of this create return one job. A
   * new random one per call by default; pass your own to make a create safe
   * to repeat across calls (the server keeps keys 24 hours).
   */
  idempotencyKey?: string;
}

/** 128 random bits as hex: crypto.randomUUID is missing from pages served over plain http. */
function newIdempotencyKey(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The messages of the server's answers (protocol MESSAGES), for answers the SDK gives itself. */
const SUBMITTED = 'Job submitted for processing';
const CANCELLED = 'Job cancelled';

const isRefusal = (error: unknown) => error instanceof BsubError && error.kind === 'bad_request';
/** In the queue or past it, and not by a cancel. */
const wasSubmitted = (job: Job) => job.status !== 'created' && job.status !== 'loaded' && !wasCancelled(job);
const wasCancelled = (job: Job) => job.status === 'failed' && job.error_code === 'ECANCELED';

export interface GetJobOptions extends RequestOptions {
  /**
   * Extension: let the server hold the answer up to this many seconds (max 60)
   * until the job is finished or failed. A server without the extension
   * answers at once.
   */
  wait?: number;
}

export interface ListJobsParams {
  /** Only jobs in this state. */
  status?: JobState;
  /** 1..100, default 20 (server side). */
  limit?: number;
  /** Extension: the `next_cursor` of the previous page, to list past the first 100. */
  cursor?: string;
}

export class JobsApi {
  private readonly transport: Transport;
  constructor(readonly configuration: BaseConfiguration) {
    this.transport = new Transport(configuration);
  }

  /**
   * `POST /v1/jobs`: a new job in `created`, with its `upload_token`. Sent
   * with an `Idempotency-Key` (a new one per call unless given), so it is
   * retried like a GET: a try whose answer was lost is answered, on the
   * retry, with the job it created, never a second one.
   */
  createJob(request: CreateJobRequest, options?: CreateJobOptions): Promise<JobResponse> {
    const headers = { 'idempotency-key': options?.idempotencyKey ?? newIdempotencyKey() };
    return this.transport.json(
      { method: 'POST', path: '/v1/jobs', json: request, headers, retry: true },
      options,
      hasJob,
    );
  }

  /** `GET /v1/jobs/{jobId}`. */
  getJob(jobId: string, options?: GetJobOptions): Promise<JobResponse> {
    const wait = options?.wait;
    return this.transport.json(
      {
        method: 'GET',
        path: jobPath(jobId),
        query: { wait: wait || undefined },
        serverHoldMs: wait ? Math.min(wait, 60) * 1000 : 0,
      },
      options,
      hasJob,
    );
  }

  /** `GET /v1/jobs`: newest first, with the `total` that match before `limit`. */
  listJobs(params: ListJobsParams = {}, options?: RequestOptions): Promise<ListJobsResponse> {
    return this.transport.json(
      {
        method: 'GET',
        path: '/v1/jobs',
        query: { status: params.status, limit: params.limit, cursor: params.cursor },
      },
      options,
      (value) =>
        isObject(value) && value.success === true && isObject(value.data) && Array.isArray(value.data.jobs),
    );
  }

  /**
   * `POST /v1/upload/{jobId}?token=...`: streams `file` as multipart/form-data.
   * The upload token is the only credential sent, so a browser given just a
   * job id and token can upload without the API key. Never retried (the body
   * is a one-shot stream).
   */
  uploadJobData(
    jobId: string,
    token: string,
    file: UploadInput,
    options?: RequestOptions & UploadOptions,
  ): Promise<UploadResponse> {
    if (typeof jobId !== 'string' || jobId === '') throw new TypeError('jobId must be a non-empty string.');
    const platform = this.configuration.platform;
    let sent = 0;
    const tracked: UploadOptions = {
      ...options,
      onProgress: (bytes, total) => {
        sent = bytes;
        options?.onProgress?.(bytes, total);
      },
    };
    return this.transport
      .json<UploadResponse>(
        {
          method: 'POST',
          path: `/v1/upload/${encodeURIComponent(jobId)}`,
          query: { token },
          // The key goes along when there is one, as the official SDKs send
          // it: the job's owner then hears why an upload was refused (401
          // wrong token, 400 already uploaded); a caller with the token alone
          // gets one 404 for every refusal.
          body: (progress) => multipartBody(file, tracked, platform, progress),
        },
        options,
        (value) => hasMessage(value) && typeof (value as { data_size?: unknown }).data_size === 'number',
      )
      .then(
        (result) => {
          // Browsers cannot report bytes as they go; at least report the end.
          if (!platform.streamingUploads) options?.onProgress?.(result.data_size, result.data_size);
          return result;
        },
        (error: unknown) => {
          if (!(error instanceof BsubError) || error.kind !== 'network' || sent === 0) throw error;
          // A server that refuses an upload mid-stream (e.g. over its size limit)
          // and closes at once can break the connection before its answer is read.
          throw new BsubError(
            'network',
            `${error.message} The connection broke after ${sent} bytes of the upload; the server may have refused it (for example as larger than its upload limit).`,
            { method: error.method, url: error.url, cause: error.cause },
          );
        },
      );
  }

  /** `POST /v1/jobs/{jobId}/submit`: `loaded` → `pending`. */
  submitJob(jobId: string, options?: RequestOptions): Promise<MessageResponse> {
    return this.retriedAction(jobId, '/submit', wasSubmitted, SUBMITTED, options);
  }

  /** `POST /v1/jobs/{jobId}/cancel`: a non-terminal job becomes `failed` with `ECANCELED`. */
  cancelJob(jobId: string, options?: RequestOptions): Promise<MessageResponse> {
    return this.retriedAction(jobId, '/cancel', wasCancelled, CANCELLED, options);
  }

  /**
   * POST an action on a job, retried like a GET. The retry of an action whose
   * answer was lost is refused (the job moved on): when the job, fetched now,
   * shows the action done (`done`), the first try did it, and that is success.
   */
  private async retriedAction(
    jobId: string,
    action: '/submit' | '/cancel',
    done: (job: Job) => boolean,
    message: string,
    options: RequestOptions | undefined,
  ): Promise<MessageResponse> {
    let retried = false;
    const call = { method: 'POST', path: jobPath(jobId, action), retry: true } as const;
    try {
      return await this.transport.json<MessageResponse>(
        { ...call, onRetry: () => (retried = true) },
        options,
        hasMessage,
      );
    } catch (error) {
      if (retried && isRefusal(error) && (await this.stateIs(jobId, options, done))) {
        return { success: true, message };
      }
      throw error;
    }
  }

  /** Whether the job, fetched now, is as `test` wants it. */
  private async stateIs(jobId: string, options: RequestOptions | undefined, test: (job: Job) => boolean) {
    try {
      return test((await this.getJob(jobId, options)).data);
    } catch {
      return false;
    }
  }

  /** `DELETE /v1/jobs/{jobId}`: a finished or failed job and all its data. */
  deleteJob(jobId: string, options?: RequestOptions): Promise<void> {
    return this.transport.empty({ method: 'DELETE', path: jobPath(jobId) }, options);
  }
}

export class OutputApi {
  private readonly transport: Transport;
  constructor(readonly configuration: BaseConfiguration) {
    this.transport = new Transport(configuration);
  }

  /** `GET /v1/jobs/{jobId}/output`: the job's stdout, whole. For large outputs use `streamJobOutput`. */
  async getJobOutput(jobId: string, options?: RequestOptions): Promise<Uint8Array> {
    const streamed = await this.streamJobOutput(jobId, options);
    return collect(streamed.body);
  }

  /** `GET /v1/jobs/{jobId}/output` as a stream, with its content type, size and file name. */
  streamJobOutput(jobId: string, options?: RequestOptions): Promise<StreamedBody> {
    return this.transport.stream({ method: 'GET', path: jobPath(jobId, '/output'), accept: '*/*' }, options);
  }

  /** `GET /v1/jobs/{jobId}/logs`: the job's stderr so far (empty when there is none yet). */
  async getJobLogs(jobId: string, options?: RequestOptions): Promise<string> {
    const streamed = await this.transport.stream(
      { method: 'GET', path: jobPath(jobId, '/logs'), accept: 'text/plain' },
      options,
    );
    if (!/^text\/plain\b/i.test(streamed.contentType)) {
      await streamed.body.cancel();
      throw new BsubError(
        'invalid_response',
        `GET ${jobPath(jobId, '/logs')} answered ${streamed.contentType}, not text/plain — is the host a bsub.io API?`,
      );
    }
    const bytes = await collect(streamed.body);
    return new TextDecoder().decode(bytes);
  }
}

export class SystemApi {
  private readonly transport: Transport;
  constructor(readonly configuration: BaseConfiguration) {
    this.transport = new Transport(configuration);
  }

  /** `GET /v1/types`: the processing types this server offers (no key needed). */
  getTypes(options?: RequestOptions): Promise<TypesResponse> {
    return this.transport.json(
      { method: 'GET', path: '/v1/types', auth: false },
      options,
      (value) => isObject(value) && Array.isArray(value.types),
    );
  }

  /** `GET /v1/version` (no key needed). */
  getVersion(options?: RequestOptions): Promise<VersionResponse> {
    return this.transport.json(
      { method: 'GET', path: '/v1/version', auth: false },
      options,
      (value) => isObject(value) && typeof value.version === 'string',
    );
  }
}
