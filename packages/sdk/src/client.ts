/**
 * `BsubClient`: the high-level helpers most programs need — process a file in
 * one call, wait for a job, walk all jobs, save output — on top of the
 * low-level `JobsApi`, `OutputApi` and `SystemApi`, which it also exposes.
 */
import type { CreateJobRequest, Job, JobState } from '@bsubio/protocol';
import { JobsApi, OutputApi, SystemApi } from './apis.js';
import { BaseConfiguration, type ConfigurationParameters, DEFAULT_HOST } from './configuration.js';
import { BsubError } from './errors.js';
import type { Pipeline } from './pipeline.js';
import type { NodeWritableLike, Platform } from './platform.js';
import { chunksOf, type RequestOptions, sleep } from './transport.js';
import type { UploadInput, UploadOptions } from './upload.js';

export interface BsubClientOptions extends Omit<ConfigurationParameters, 'host' | 'accessToken'> {
  /** The API key. Default: `BSUBIO_API_KEY`, else `api_key` of `~/.config/bsubio/config.json`. */
  apiKey?: string;
  /** Default: `BSUBIO_BASE_URL`, else `base_url` of the config file, else `https://app.bsub.io`. */
  baseUrl?: string;
}

/** Where output goes: a file path (Node), a web WritableStream, or a Node Writable (`process.stdout`, a file stream). */
export type OutputDestination = string | WritableStream<Uint8Array> | NodeWritableLike;

export type ProgressEvent =
  | { stage: 'uploading'; job: Job; sent: number; total: number | null }
  | { stage: 'waiting'; job: Job; status: JobState }
  | { stage: 'downloading'; job: Job; received: number; total: number | null };

export interface CreateAndSubmitOptions extends Pick<UploadOptions, 'fileName' | 'contentType'> {
  /** Extension: a label for the job. */
  name?: string;
  /** Extension: values for the type's declared parameters (a pipeline's: its first step's). */
  params?: CreateJobRequest['params'];
  /** Extension: false runs the job even when the server's result cache holds its result. */
  cache?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

export interface WaitOptions {
  /** Give up after this long (kind `timeout`, with the job's last state). Default: wait for ever. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called whenever the job is seen in a new state. */
  onStatus?: (job: Job) => void;
}

export interface ProcessFileOptions extends CreateAndSubmitOptions {
  /** Give up waiting for the job after this long (kind `timeout`). Default: wait for ever. */
  timeoutMs?: number;
  /** Stream the output here instead of returning it as bytes. */
  outputTo?: OutputDestination;
}

export interface ProcessResult {
  /** The finished job. */
  job: Job;
  /** The job's stdout. */
  output: Uint8Array;
  /** The job's stderr. */
  logs: string;
}

export interface SavedProcessResult {
  job: Job;
  /** Bytes of output written to `outputTo`. */
  outputBytes: number;
  logs: string;
}

export interface DownloadResult {
  bytes: number;
  contentType: string;
  fileName: string | null;
}

const TERMINAL: readonly JobState[] = ['finished', 'failed'] satisfies JobState[];
const isTerminal = (job: Job) => TERMINAL.includes(job.status);
const MAX_SERVER_WAIT_S = 60;

export class BaseBsubClient {
  readonly configuration: BaseConfiguration;
  readonly jobs: JobsApi;
  readonly output: OutputApi;
  readonly system: SystemApi;
  private readonly platform: Platform;
  /** Whether the server honours `?wait=`; learnt on first use. */
  private serverWaits: boolean | undefined;

  /** @internal Use `BsubClient`, which binds the platform of the entry you imported. */
  constructor(options: BsubClientOptions, platform: Platform) {
    const file = platform.readConfigFile();
    const { apiKey, baseUrl, ...rest } = options;
    this.platform = platform;
    this.configuration = new BaseConfiguration(
      {
        ...rest,
        accessToken: apiKey ?? platform.env('BSUBIO_API_KEY') ?? file?.api_key,
        host: baseUrl ?? platform.env('BSUBIO_BASE_URL') ?? file?.base_url ?? DEFAULT_HOST,
      },
      platform,
    );
    this.jobs = new JobsApi(this.configuration);
    this.output = new OutputApi(this.configuration);
    this.system = new SystemApi(this.configuration);
  }

  /**
   * Create a job, upload `input`, submit it, wait for it and fetch its output
   * and logs. A failed job throws kind `job_failed` (with `job` and `logs`).
   * An upload that fails or is aborted leaves no job behind (see
   * `createAndSubmit`); aborting `signal` later cancels the job on the server.
   */
  processFile(
    type: string | Pipeline,
    input: UploadInput,
    options?: ProcessFileOptions & { outputTo?: undefined },
  ): Promise<ProcessResult>;
  processFile(
    type: string | Pipeline,
    input: UploadInput,
    options: ProcessFileOptions & { outputTo: OutputDestination },
  ): Promise<SavedProcessResult>;
  processFile(
    type: string | Pipeline,
    input: UploadInput,
    options?: ProcessFileOptions,
  ): Promise<ProcessResult | SavedProcessResult>;
  async processFile(
    type: string | Pipeline,
    input: UploadInput,
    options: ProcessFileOptions = {},
  ): Promise<ProcessResult | SavedProcessResult> {
    const { signal, onProgress } = options;
    let created: Job | undefined;
    try {
      // The job as submitted is not fetched: the wait's first answer is it.
      const submitted = await this.submitNew(type, input, {
        ...options,
        onProgress: (event) => {
          created = event.job;
          onProgress?.(event);
        },
      });
      created = submitted;
      const job = await this.waitForJob(submitted.id, {
        timeoutMs: options.timeoutMs,
        signal,
        onStatus: (seen) => onProgress?.({ stage: 'waiting', job: seen, status: seen.status }),
      });
      if (job.status === 'failed') {
        const logs = await this.output.getJobLogs(job.id, { signal }).catch(() => '');
        throw new BsubError(
          'job_failed',
          `Job ${job.id} (${job.type}) failed with ${job.error_code ?? 'no code'}: ${job.error_message ?? 'no message'}`,
          { job, logs },
        );
      }
      const download = (received: number, total: number | null) =>
        onProgress?.({ stage: 'downloading', job, received, total });
      if (options.outputTo !== undefined) {
        const saved = await this.downloadOutput(job.id, options.outputTo, { signal, onProgress: download });
        const logs = await this.output.getJobLogs(job.id, { signal });
        return { job, outputBytes: saved.bytes, logs };
      }
      const chunks: Uint8Array[] = [];
      await this.downloadOutput(job.id, chunkCollector(chunks), { signal, onProgress: download });
      const logs = await this.output.getJobLogs(job.id, { signal });
      return { job, output: concat(chunks), logs };
    } catch (error) {
      if (signal?.aborted && created) {
        // Best effort: do not leave a tool running for a caller who gave up.
        await this.jobs.cancelJob(created.id, { timeoutMs: 5_000 }).catch(() => {});
      }
      throw error;
    }
  }

  /**
   * Create a job, upload `input` and submit it; returns the job as it is after
   * submission. A local file is opened before the job is created, so an
   * unreadable path creates nothing. If the upload or the submit fails or is
   * aborted, the job is cancelled and deleted before the error is thrown: a
   * job left in `created` would otherwise sit in the user's list until the
   * server's TTL removes it. `type` may be a pipeline (`pipeline()`): one
   * job whose steps each run on the previous step's output.
   */
  async createAndSubmit(
    type: string | Pipeline,
    input: UploadInput,
    options: CreateAndSubmitOptions = {},
  ): Promise<Job> {
    const job = await this.submitNew(type, input, options);
    return (await this.jobs.getJob(job.id, { signal: options.signal })).data;
  }

  /** createAndSubmit without fetching the job again: returns it as created. */
  private async submitNew(
    type: string | Pipeline,
    input: UploadInput,
    options: CreateAndSubmitOptions,
  ): Promise<Job> {
    const { signal, onProgress } = options;
    if (typeof input === 'string') await this.platform.openFile(input);
    const request: CreateJobRequest = typeof type === 'string' ? { type } : type.toRequest();
    if (options.name !== undefined) request.name = options.name;
    if (options.params !== undefined) request.params = options.params;
    if (options.cache !== undefined) request.cache = options.cache;
    const { data: job } = await this.jobs.createJob(request, { signal });
    try {
      if (!job.upload_token) {
        throw new BsubError('invalid_response', `The new job ${job.id} came without an upload_token.`, {
          job,
        });
      }
      await this.jobs.uploadJobData(job.id, job.upload_token, input, {
        signal,
        fileName: options.fileName,
        contentType: options.contentType,
        onProgress: (sent, total) => onProgress?.({ stage: 'uploading', job, sent, total }),
      });
      await this.jobs.submitJob(job.id, { signal });
    } catch (error) {
      await this.discard(job.id);
      throw error;
    }
    return job;
  }

  /**
   * Best effort, and without the caller's signal (which may be the reason we
   * are here): cancel the job, then delete it with its data.
   */
  private async discard(jobId: string): Promise<void> {
    const quick = { timeoutMs: 5_000, maxRetries: 1 };
    await this.jobs.cancelJob(jobId, quick).catch(() => {});
    await this.jobs.deleteJob(jobId, quick).catch(() => {});
  }

  /**
   * Resolve with the job once it is `finished` or `failed` (a failed job is
   * returned, not thrown). Uses the server's `?wait=` extension when it is
   * offered, otherwise polls with backoff.
   */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const { signal, onStatus } = options;
    const deadline =
      options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    let lastStatus: JobState | undefined;
    let pollDelay = 200;
    for (;;) {
      const remainingMs = deadline - Date.now();
      const waitS = Math.max(1, Math.min(MAX_SERVER_WAIT_S, Math.ceil(remainingMs / 1000)));
      const useWait = this.serverWaits !== false && remainingMs >= 1000;
      const asked = Date.now();
      const { data: job } = await this.jobs.getJob(jobId, { signal, wait: useWait ? waitS : undefined });
      if (job.status !== lastStatus) {
        lastStatus = job.status;
        onStatus?.(job);
      }
      if (isTerminal(job)) return job;
      if (Date.now() >= deadline) {
        throw new BsubError('timeout', `Job ${jobId} is still ${job.status} after ${options.timeoutMs} ms.`, {
          job,
        });
      }
      if (useWait) {
        // A server with the extension holds a non-terminal answer for the whole
        // wait; one that answers much sooner ignored the parameter.
        const held = Date.now() - asked;
        if (held >= waitS * 500) {
          this.serverWaits = true;
          continue;
        }
        this.serverWaits = false;
      }
      await sleep(Math.min(pollDelay, Math.max(0, deadline - Date.now())), signal);
      pollDelay = Math.min(pollDelay * 1.5 * (0.8 + Math.random() * 0.4), 5_000);
    }
  }

  /**
   * Every job of this key, newest first, fetched a page at a time through
   * the server's `cursor` / `next_cursor` extension. Against a server without
   * it (which lists at most 100) the iterator throws kind `unsupported` after
   * the first page rather than silently stopping short.
   */
  async *listAllJobs(
    params: { status?: JobState; pageSize?: number } = {},
    options?: RequestOptions,
  ): AsyncGenerator<Job, void, undefined> {
    const pageSize = params.pageSize ?? 100;
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const { data } = await this.jobs.listJobs({ status: params.status, limit: pageSize, cursor }, options);
      for (const job of data.jobs) {
        // A job that moved between pages while we listed is not yielded twice.
        if (seen.has(job.id)) continue;
        seen.add(job.id);
        yield job;
      }
      const next = data.next_cursor;
      if (typeof next === 'string' && next !== '') {
        cursor = next;
        continue;
      }
      if (next === null || data.jobs.length < pageSize || seen.size >= data.total) return;
      throw new BsubError(
        'unsupported',
        `This server listed ${seen.size} of ${data.total} jobs and cannot page (no next_cursor). Filter by status to see the rest.`,
      );
    }
  }

  /** Stream a finished job's output to a file path, a WritableStream or a Node Writable. */
  async downloadOutput(
    jobId: string,
    to: OutputDestination,
    options: RequestOptions & { onProgress?: (received: number, total: number | null) => void } = {},
  ): Promise<DownloadResult> {
    const streamed = await this.output.streamJobOutput(jobId, options);
    let bytes = 0;
    const onProgress = options.onProgress;
    onProgress?.(0, streamed.size);
    async function* counted() {
      for await (const chunk of chunksOf(streamed.body)) {
        bytes += chunk.byteLength;
        yield chunk;
        onProgress?.(bytes, streamed.size);
      }
    }
    if (typeof WritableStream !== 'undefined' && to instanceof WritableStream) {
      const writer = to.getWriter();
      try {
        for await (const chunk of counted()) {
          await writer.ready;
          await writer.write(chunk);
        }
        await writer.close();
      } catch (error) {
        await writer.abort(error).catch(() => {});
        throw error;
      }
    } else {
      await this.platform.writeTo(to as string | NodeWritableLike, counted());
    }
    return { bytes, contentType: streamed.contentType, fileName: streamed.fileName };
  }
}

/** A WritableStream that keeps the chunks, for output returned as bytes. */
function chunkCollector(chunks: Uint8Array[]): WritableStream<Uint8Array> {
  return new WritableStream({
    write(chunk) {
      chunks.push(chunk);
    },
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}
