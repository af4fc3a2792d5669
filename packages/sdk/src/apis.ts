/**
 * The low-level API, one class per area as in the official SDKs: each method
 * is one HTTP call and returns the wire answer, typed by `@bsubio/protocol`.
 */
import type {
  CreateJobRequest,
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

  /** `POST /v1/jobs`: a new job in `created`, with its `upload_token`. */
  createJob(request: CreateJobRequest, options?: RequestOptions): Promise<JobResponse> {
    return this.transport.json({ method: 'POST', path: '/v1/jobs', json: request }, options, hasJob);
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
    return this.transport.json({ method: 'POST', path: jobPath(jobId, '/submit') }, options, hasMessage);
  }

  /** `POST /v1/jobs/{jobId}/cancel`: a non-terminal job becomes `failed` with `ECANCELED`. */
  cancelJob(jobId: string, options?: RequestOptions): Promise<MessageResponse> {
    return this.transport.json({ method: 'POST', path: jobPath(jobId, '/cancel') }, options, hasMessage);
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
