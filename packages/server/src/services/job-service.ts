/**
 * The job state machine, in one place. Each public method is one transition
 * (or a read), done as one guarded update; when the guard fails the current
 * row is read again only to explain why, in a sentence the client can act on.
 *
 *   created ─upload→ loaded ─submit→ pending ─claim→ claimed ─→ preparing ─→ processing ─→ finished
 *                       loaded ─submit, a result-cache hit→ finished (nothing runs)
 *   any non-terminal ─cancel→ failed (ECANCELED)         leased ─lease lapsed→ pending | failed (ELOST)
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  isCanonicalUuid,
  type Job,
  type JobErrorCode,
  type JobState,
  type JobTimeline,
  LEASED_STATES,
  MOVES,
  type Overview,
  type QueuePosition,
  TERMINAL_STATES,
  toWireTime,
  uuidv7,
} from '@bsubio/protocol';
import { type Catalog, checkParams, type JobOutcome } from '@bsubio/worker';
import { type BlobStore, BlobTooLargeError, blobKey, type OpenedBlob } from '../blobs/blob-store.js';
import { type RangeSpec, resolveRange } from '../blobs/byte-range.js';
import type { BlobRefRepository } from '../store/blob-ref-repository.js';
import type { ClaimLimits, JobRepository, JobRow } from '../store/job-repository.js';
import { ApiError, jobNotFound } from './api-error.js';
import type { JobEvents } from './job-events.js';
import { LiveLogs } from './live-logs.js';
import { buildOverview, queuePosition, timeline } from './overview.js';
import { checkPipeline, type KeptStep, keptSteps, stepsOf, wirePipeline } from './pipeline.js';
import type { ResultCache } from './result-cache.js';
import { DERIVED_FROM_SERVER_KEY } from './server-key.js';
import { StoredBlobs } from './stored-blobs.js';
import { secretsEqual } from './user-service.js';
import { WorkerRegistry } from './worker-registry.js';

/** How long an Idempotency-Key binds its body to its job. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** JSON with object keys sorted, so that equal bodies hash alike whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function storageLimitError(used: number, limit: number): ApiError {
  return new ApiError(
    'payload_too_large',
    `This upload would pass your storage limit of ${limit} bytes (BSUBIO_MAX_STORED_BYTES); your jobs keep ${used} bytes now. Delete finished jobs to make room; nothing was stored.`,
  );
}

export interface JobServiceOptions {
  maxUploadBytes: number;
  /** Claims per job before a lost job fails with ELOST. */
  maxAttempts: number;
  /** Per user: jobs pending or running at once (0: no limit). */
  maxActiveJobs?: number;
  /** Per user: bytes of inputs and outputs kept (0: no limit). */
  maxStoredBytes?: number;
  /** A job's upload token from the server key (ServerKey.uploadToken): none is stored. */
  uploadToken: (jobId: string) => string;
  /** Caps on running jobs per user and per type, which claims respect (absent: none). */
  claimLimits?: ClaimLimits;
  /** Which jobs refer to which shared blob (content-addressed inputs, cached outputs). */
  blobRefs: BlobRefRepository;
  /** The result cache (BSUBIO_CACHE); absent: off. */
  cache?: ResultCache;
}

/** A worker's outcome whose output and logs are already in blob storage. */
export interface StoredOutcome {
  status: 'finished' | 'failed';
  errorCode: JobErrorCode | null;
  errorMessage: string | null;
  outputKey: string;
  outputSize: number;
  /** Null when the tool wrote nothing to stderr: no blob is kept for an empty log. */
  logKey: string | null;
  /** The sandbox's peak memory in bytes and CPU seconds, when the worker measured them. */
  peakMemoryBytes?: number | null;
  cpuSeconds?: number | null;
  /** A pipeline's last step run (from 1): the logs of the steps before it are put in front. */
  step?: number;
}

export interface UploadInput {
  stream: Readable;
  fileName: string | null;
  contentType: string | null;
  /** No one else reads the stream's chunks, so each may be freed once stored (StageOptions). */
  releaseWritten?: boolean;
}

/** The wire form of a job (API.md "The job object"). */
/**
 * The wire form of a job. `uploadToken` is given only where its owner asks
 * (create, GET): event streams and webhooks never carry it.
 */
export function toWireJob(row: JobRow, uploadToken?: string): Job {
  const job: Job = {
    id: row.id,
    status: row.status as JobState,
    type: row.type,
    user_id: String(row.user_id),
    data_size: Number(row.data_size),
    claimed_by: row.claimed_by,
    error_code: row.error_code as JobErrorCode | null,
    error_message: row.error_message,
    created_at: toWireTime(Number(row.created_at)),
    updated_at: toWireTime(Number(row.updated_at)),
    claimed_at: row.claimed_at === null ? null : toWireTime(Number(row.claimed_at)),
    finished_at: row.finished_at === null ? null : toWireTime(Number(row.finished_at)),
    name: row.name,
    input_name: row.input_name,
    input_type: row.input_type,
    output_size: row.output_size === null ? null : Number(row.output_size),
    attempts: Number(row.attempts),
    started_at: row.started_at === null ? null : toWireTime(Number(row.started_at)),
    webhook_url: row.webhook_url,
    peak_memory_bytes: row.peak_memory_bytes === null ? null : Number(row.peak_memory_bytes),
    cpu_seconds: row.cpu_ms === null ? null : Number(row.cpu_ms) / 1000,
    cached: Number(row.cached) === 1,
    cached_from: row.cached_from,
  };
  if (row.steps) Object.assign(job, wirePipeline(row));
  if (row.status === 'created' && uploadToken) job.upload_token = uploadToken;
  return job;
}

/** A job served from the result cache has this one line for logs (naming the job only to its own user). */
function cacheNote(row: JobRow): Buffer | undefined {
  if (Number(row.cached) !== 1) return undefined;
  return Buffer.from(row.cached_from ? `served from cache: job ${row.cached_from}\n` : 'served from cache\n');
}

/** The blob a job's worker starts from: the input, or for a pipeline past step 1 the output of the step before. */
function stepInputKey(job: JobRow): string | null {
  const step = Number(job.step ?? 1);
  if (step <= 1) return job.input_key;
  return keptSteps(job)[step - 2]?.output ?? null;
}

export class JobService {
  /** Stderr of running jobs, for live logs. */
  readonly live = new LiveLogs();
  /** Workers heard from lately (the overview). */
  readonly workers = new WorkerRegistry();
  /** Inputs by their SHA-256 and outputs shared by cache hits, with who refers to them. */
  private readonly stored: StoredBlobs;

  constructor(
    private readonly jobs: JobRepository,
    private readonly blobs: BlobStore,
    private readonly catalog: Catalog,
    readonly events: JobEvents,
    private readonly options: JobServiceOptions,
  ) {
    this.stored = new StoredBlobs(blobs, options.blobRefs);
    // Cluster mode: jobs run by other replicas' workers have a live log here
    // too, fed by the cluster notifier, so followers on this replica see it.
    // Registered first, so the copy is ready before anyone hears of the change.
    events.on('remoteChange', (row) => this.trackLive(row));
    events.on('log', (id, offset, chunk, origin) => {
      if (origin === 'remote') this.live.appendAt(id, offset, chunk);
    });
  }

  // ---- reads ---------------------------------------------------------------

  async get(userId: string, id: string): Promise<JobRow> {
    const row = isCanonicalUuid(id) ? await this.jobs.findForUser(userId, id) : undefined;
    if (!row) throw jobNotFound(id);
    return row;
  }

  /** A page of the user's jobs; `cursor` is the `next_cursor` of the page before. */
  async list(userId: string, status: JobState | undefined, limit: number, cursor?: string, type?: string) {
    let before: string | undefined;
    if (cursor !== undefined && cursor !== '') {
      before = Buffer.from(cursor, 'base64url').toString('latin1');
      if (!isCanonicalUuid(before)) {
        throw new ApiError(
          'bad_request',
          'The cursor is not one this server gave out; use the next_cursor of the previous page, or leave it out to start from the newest job.',
        );
      }
    }
    const { rows, total, more } = await this.jobs.list(userId, status, limit, before, type);
    const last = rows.at(-1);
    const nextCursor = more && last ? Buffer.from(last.id, 'latin1').toString('base64url') : null;
    return { rows, total, nextCursor };
  }

  /** The user's queue at a glance (the dashboard's overview page). */
  overview(userId: string): Promise<Overview> {
    return buildOverview(this.jobs, this.workers, userId, Date.now());
  }

  /** Where the job stands in the queue (position null when it is not pending). */
  async position(userId: string, id: string): Promise<QueuePosition> {
    return queuePosition(this.jobs, await this.get(userId, id));
  }

  /** When each step of the job happened. */
  async timeline(userId: string, id: string): Promise<JobTimeline> {
    return timeline(await this.get(userId, id));
  }

  /** The job's stdout (or the bytes `range` asks for), only once finished. */
  async output(userId: string, id: string, range?: RangeSpec): Promise<{ job: JobRow } & OpenedBlob> {
    const job = await this.get(userId, id);
    if (job.status !== 'finished') {
      throw new ApiError(
        'conflict',
        job.status === 'failed'
          ? `Job ${id} failed (${job.error_code}), so it has no output; read its logs instead.`
          : `Job ${id} is ${job.status}; output exists once it is finished.`,
      );
    }
    const blob = job.output_key ? await this.blobs.open(job.output_key, range) : undefined;
    if (!blob) throw new ApiError('internal', `The output of job ${id} is missing from storage.`);
    return { job, ...blob };
  }

  /**
   * The input the user uploaded (or the bytes `range` asks for), kept as long
   * as the job: for downloading it again and running it again.
   */
  async input(userId: string, id: string, range?: RangeSpec): Promise<{ job: JobRow } & OpenedBlob> {
    const job = await this.get(userId, id);
    if (!job.input_key) {
      throw new ApiError('conflict', `Job ${id} is ${job.status} and has no input yet; upload it first.`);
    }
    const blob = await this.blobs.open(job.input_key, range);
    if (!blob) throw new ApiError('internal', `The input of job ${id} is missing from storage.`);
    return { job, ...blob };
  }

  /** The job's stderr (or the bytes `range` asks for); undefined while there is none yet. */
  async logs(userId: string, id: string, range?: RangeSpec): Promise<OpenedBlob | undefined> {
    const job = await this.get(userId, id);
    if (job.log_key) return this.blobs.open(job.log_key, range);
    // Served from the cache: the line that says so; while it runs: what the tool wrote so far.
    const live = cacheNote(job) ?? this.live.read(job.id, 0);
    if (live.length === 0) return undefined;
    const part = resolveRange(range, live.length);
    const bytes = part ? live.subarray(part.start, part.end + 1) : live;
    return { stream: Readable.from([bytes]), size: live.length, ...(part ? { range: part } : {}) };
  }

  // ---- client transitions --------------------------------------------------

  /** `webhookUrl`: where the job's end is POSTed, already checked (see WebhookService.urlForCreate). */
  async create(userId: string, body: unknown, webhookUrl: string | null = null): Promise<JobRow> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError('bad_request', 'The body must be a JSON object like {"type": "passthru"}.');
    }
    const { type, name, params, then } = body as Record<string, unknown>;
    const { cache } = body as Record<string, unknown>;
    if (typeof type !== 'string' || type === '') {
      throw new ApiError(
        'bad_request',
        'The "type" field is required and must be a string; see GET /v1/types.',
      );
    }
    const entry = this.catalog.resolve(type);
    if (!entry) {
      throw new ApiError('bad_request', `Unknown processing type "${type}"; GET /v1/types lists the types.`);
    }
    if (!entry.available) {
      const pkg = entry.definition.package ? ` (Debian package ${entry.definition.package})` : '';
      throw new ApiError(
        'bad_request',
        `The type "${type}" is not available on this server: ${entry.missing.join(', ')} is not installed${pkg}.`,
      );
    }
    if (name !== undefined && (typeof name !== 'string' || name.length > 200)) {
      throw new ApiError('bad_request', 'The "name" field must be a string of at most 200 characters.');
    }
    if (cache !== undefined && typeof cache !== 'boolean') {
      throw new ApiError(
        'bad_request',
        'The "cache" field must be true or false (false: run the job even when a cached result exists).',
      );
    }
    const checked = checkParams(entry.definition, params);
    if (!checked.ok) throw new ApiError('bad_request', checked.error);
    const steps = checkPipeline(this.catalog, { type, entry, params: checked.values }, then);

    const now = Date.now();
    const row = await this.jobs.insert({
      id: uuidv7(now),
      user_id: userId,
      type,
      status: 'created',
      name: (name as string | undefined) ?? null,
      params: JSON.stringify(checked.values),
      upload_token: DERIVED_FROM_SERVER_KEY,
      data_size: 0,
      input_name: null,
      input_type: null,
      input_key: null,
      output_key: null,
      log_key: null,
      output_size: null,
      claimed_by: null,
      lease_expires_at: null,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
      claimed_at: null,
      started_at: null,
      finished_at: null,
      deleted_at: null,
      webhook_url: webhookUrl,
      steps: steps ? JSON.stringify(steps) : null,
      step: steps ? 1 : null,
      step_outputs: null,
      input_sha256: null,
      cache_key: null,
      cache_opt_out: cache === false ? 1 : 0,
      cached: 0,
      cached_from: null,
    });
    this.changed(row);
    return row;
  }

  /**
   * Create with an `Idempotency-Key`: the same key with the same body within
   * the window returns the job it created (replayed); with another body, 409.
   */
  async createIdempotent(
    userId: string,
    body: unknown,
    key: string,
    webhookUrl: string | null = null,
  ): Promise<{ row: JobRow; replayed: boolean }> {
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new ApiError(
        'bad_request',
        'The Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).',
      );
    }
    const bodyHash = createHash('sha256').update(canonicalJson(body)).digest('hex');
    for (let round = 0; ; round++) {
      const now = Date.now();
      const windowStart = now - IDEMPOTENCY_WINDOW_MS;
      const existing = await this.jobs.findIdempotencyKey(userId, key);
      if (existing && Number(existing.created_at) >= windowStart) {
        if (existing.body_hash !== bodyHash) {
          throw new ApiError(
            'conflict',
            `The Idempotency-Key "${key}" was used in the last 24 hours with a different body; send the same body to get that job back, or use a new key for a new job.`,
          );
        }
        const row = await this.jobs.findForUser(userId, existing.job_id);
        if (row) return { row, replayed: true };
      }
      if (existing) await this.jobs.deleteIdempotencyKeys(userId, key, Number.MAX_SAFE_INTEGER);
      const row = await this.create(userId, body, webhookUrl);
      const recorded = await this.jobs.insertIdempotencyKey({
        user_id: userId,
        key,
        body_hash: bodyHash,
        job_id: row.id,
        created_at: now,
      });
      if (recorded) return { row, replayed: false };
      // A racing request with the same key won: ours goes, theirs is the answer.
      await this.jobs.purge(row.id);
      this.events.emit('deleted', { id: row.id, user_id: row.user_id });
      if (round >= 2) throw new ApiError('conflict', `The Idempotency-Key "${key}" is in use; retry.`);
    }
  }

  /**
   * The token that uploads the input of a job still waiting for it. Rows
   * from before the server key hold their token itself.
   */
  uploadTokenOf(row: JobRow): string | undefined {
    const stored = row.upload_token;
    if (row.status !== 'created' || !stored) return undefined;
    return stored === DERIVED_FROM_SERVER_KEY ? this.options.uploadToken(row.id) : stored;
  }

  /**
   * Check that an upload may start, before a byte of the body is read.
   * `callerUserId` is the Bearer key's user when one was sent.
   */
  async authorizeUpload(
    id: string,
    token: string | undefined,
    callerUserId: string | undefined,
  ): Promise<JobRow> {
    if (!token) {
      throw new ApiError(
        'bad_request',
        'The "token" query parameter is required: use the upload_token from create.',
      );
    }
    const job = isCanonicalUuid(id) ? await this.jobs.findById(id) : undefined;
    // The job's owner (their key sent along, as the official SDKs do) gets
    // API.md's distinctions: 400 once uploaded, 401 for a wrong token.
    if (job && callerUserId !== undefined && job.user_id === callerUserId) {
      if (job.status !== 'created') {
        throw new ApiError(
          'bad_request',
          `Job ${id} is ${job.status} and already has its input; create a new job to upload another file.`,
        );
      }
      const expected = this.uploadTokenOf(job);
      if (expected === undefined || !secretsEqual(expected, token)) {
        throw new ApiError(
          'unauthorized',
          `The upload token is not valid for job ${id}; use the upload_token from create.`,
        );
      }
      return job;
    }
    // Anyone else learns nothing of a job without its token: an unknown job,
    // someone else's, a wrong token and a spent one get the same answer.
    const expected = job && callerUserId === undefined ? this.uploadTokenOf(job) : undefined;
    if (!job || expected === undefined || !secretsEqual(expected, token)) {
      throw new ApiError(
        'not_found',
        `No job ${id} is waiting for an upload with this token (unknown job, wrong token, or its input is already uploaded); use the id and upload_token from create.`,
      );
    }
    return job;
  }

  /** Stream the input to storage; on success the job is `loaded`. */
  async upload(job: JobRow, input: UploadInput): Promise<JobRow> {
    const { maxUploadBytes, maxStoredBytes = 0 } = this.options;
    let room = Number.POSITIVE_INFINITY;
    if (maxStoredBytes > 0) {
      const used = await this.jobs.storedBytes(job.user_id);
      room = maxStoredBytes - used;
      if (room <= 0) throw storageLimitError(used, maxStoredBytes);
    }
    let stored: { key: string; size: number; sha256: string };
    try {
      stored = await this.stored.storeInput(job.id, input.stream, Math.min(maxUploadBytes, room), {
        releaseWritten: input.releaseWritten,
      });
    } catch (err) {
      if (err instanceof BlobTooLargeError) {
        if (room < maxUploadBytes) throw storageLimitError(maxStoredBytes - room, maxStoredBytes);
        throw new ApiError(
          'payload_too_large',
          `The file is larger than this server's upload limit of ${this.options.maxUploadBytes} bytes; nothing was stored.`,
        );
      }
      throw err;
    }
    const now = Date.now();
    const loaded = await this.jobs.transition(
      { id: job.id, from: MOVES.upload.from },
      MOVES.upload.to,
      {
        input_key: stored.key,
        data_size: stored.size,
        input_sha256: stored.sha256,
        // Taken now, with the catalog as it is when the input arrives.
        cache_key: job.cache_opt_out
          ? null
          : (this.options.cache?.keyOf(stored.sha256, stepsOf(job)) ?? null),
        input_name: input.fileName?.slice(0, 255) ?? null,
        input_type: input.contentType?.slice(0, 255) ?? null,
        upload_token: null,
        uploaded_at: now,
      },
      now,
    );
    if (!loaded) {
      // Another upload won, or the job was cancelled meanwhile: keep nothing
      // of ours (unless the winner stored the same bytes: the reference is its).
      const current = await this.jobs.findById(job.id);
      if (current?.input_key !== stored.key) await this.stored.release(stored.key, job.id);
      if (!current) throw jobNotFound(job.id);
      throw new ApiError('bad_request', `Job ${job.id} is ${current.status} and already has its input.`);
    }
    this.changed(loaded);
    return loaded;
  }

  async submit(userId: string, id: string): Promise<JobRow> {
    const cached = await this.answerFromCache(userId, id);
    if (cached) return cached;
    const maxActive = this.options.maxActiveJobs ?? 0;
    const row = isCanonicalUuid(id)
      ? await this.jobs.submitWithin(userId, id, maxActive, Date.now())
      : undefined;
    if (!row) {
      const current = await this.get(userId, id);
      if (current.status === 'loaded' && maxActive > 0) {
        const active = await this.jobs.countActive(userId);
        throw new ApiError(
          'rate_limited',
          `You already have ${active} jobs pending or running, and the limit of jobs at once is ${maxActive} (BSUBIO_MAX_ACTIVE_JOBS); submit this one when one of them ends.`,
          { 'retry-after': '1' },
        );
      }
      throw new ApiError(
        'bad_request',
        current.status === 'created'
          ? `Job ${id} is created and has no input yet; upload its file first, then submit.`
          : `Job ${id} is ${current.status}; only a loaded job can be submitted.`,
      );
    }
    this.changed(row);
    this.events.emit('pending');
    return row;
  }

  /**
   * Finish a loaded job at once with the output of a finished job that had
   * the same cache key (result-cache.ts), when there is one: the output blob
   * is shared, not copied, and nothing runs. Undefined when there is none
   * (a miss), and the job is submitted to run.
   */
  private async answerFromCache(userId: string, id: string): Promise<JobRow | undefined> {
    const cache = this.options.cache;
    if (!cache || cache.mode === 'off' || !isCanonicalUuid(id)) return undefined;
    const job = await this.jobs.findForUser(userId, id);
    if (!job?.cache_key || job.status !== 'loaded') return undefined;
    const source = await this.options.blobRefs.findCached(job.cache_key, cache.sourceUser(userId));
    // The source may be deleted meanwhile; then its output may be gone, and this is a miss.
    if (!source?.output_key || !(await this.stored.share(source.output_key, job.id))) {
      cache.countMiss(job.type);
      return undefined;
    }
    const now = Date.now();
    const row = await this.jobs.transition(
      { id, from: MOVES.submitCached.from, userId },
      MOVES.submitCached.to,
      {
        output_key: source.output_key,
        output_size: source.output_size,
        log_key: null,
        cached: 1,
        // Another user's job is never named (BSUBIO_CACHE=shared).
        cached_from: source.user_id === job.user_id ? source.id : null,
        submitted_at: now,
        finished_at: now,
      },
      now,
    );
    if (!row) {
      // Cancelled or submitted meanwhile: no hit after all.
      await this.stored.release(source.output_key, job.id);
      return undefined;
    }
    cache.countHit(job.type, source);
    this.changed(row);
    return row;
  }

  /**
   * Remove jobs past retention, with every byte of their data, and
   * Idempotency-Keys past their window. Returns how many jobs went.
   * `createdTtlMs` is for jobs never uploaded; by default the same as
   * `unsubmittedRetentionMs`.
   */
  async sweepExpired(
    retentionMs: number,
    unsubmittedRetentionMs: number,
    createdTtlMs = unsubmittedRetentionMs,
  ): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (;;) {
      const expired = await this.jobs.findExpired(
        now - retentionMs,
        now - unsubmittedRetentionMs,
        200,
        now - createdTtlMs,
      );
      for (const job of expired) {
        // Guarded by the state it was found in: a job that moved on meanwhile stays.
        const marked = await this.jobs.markExpired(job.id, job.status, Date.now());
        if (!marked) continue;
        await this.purge(job.id);
        this.events.emit('deleted', { id: marked.id, user_id: marked.user_id });
        removed++;
      }
      if (expired.length < 200) break;
    }
    await this.jobs.deleteIdempotencyKeys(undefined, undefined, now - IDEMPOTENCY_WINDOW_MS);
    return removed;
  }

  async cancel(userId: string, id: string): Promise<JobRow> {
    const now = Date.now();
    const row = await this.guarded(
      userId,
      id,
      MOVES.cancel.from,
      MOVES.cancel.to,
      {
        error_code: 'ECANCELED',
        error_message: 'The job was cancelled.',
        finished_at: now,
        lease_expires_at: null,
        upload_token: null,
      },
      (current) => `Job ${id} is already ${current.status} and cannot be cancelled.`,
    );
    this.events.emit('cancel', id);
    if (row.step_outputs) await this.dropKeptSteps(row);
    return row;
  }

  /** Remove the job and every byte of its data. */
  async delete(userId: string, id: string): Promise<void> {
    const marked = isCanonicalUuid(id) ? await this.jobs.markDeleted(userId, id, Date.now()) : undefined;
    if (!marked) {
      const current = await this.get(userId, id);
      throw new ApiError(
        'conflict',
        `Job ${id} is ${current.status}; only finished or failed jobs can be deleted (cancel it first).`,
      );
    }
    await this.purge(marked.id);
    this.events.emit('deleted', { id: marked.id, user_id: marked.user_id });
  }

  private async purge(id: string): Promise<void> {
    await this.stored.releaseJob(id);
    await this.jobs.purge(id);
  }

  private async guarded(
    userId: string,
    id: string,
    from: readonly JobState[],
    to: JobState,
    patch: Parameters<JobRepository['transition']>[2],
    explain: (current: JobRow) => string,
  ): Promise<JobRow> {
    const row = isCanonicalUuid(id)
      ? await this.jobs.transition({ id, from, userId }, to, patch, Date.now())
      : undefined;
    if (row) {
      this.changed(row);
      return row;
    }
    const current = await this.get(userId, id);
    throw new ApiError('bad_request', explain(current));
  }

  // ---- worker transitions --------------------------------------------------

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<JobRow | undefined> {
    this.workers.mark(workerId);
    const row = await this.jobs.claimNext(
      workerId,
      types,
      leaseMs,
      Date.now(),
      this.options.claimLimits,
      !this.takesEveryType(types),
    );
    if (row) this.changed(row);
    // A pipeline resumed after a lost worker: its live log starts with the
    // finished steps' logs, as its logs will once it ends.
    if (row?.step_outputs) await this.replayKeptLogs(row);
    return row;
  }

  /**
   * Whether a worker of these types can run any job here, so needs no check
   * that a pipeline's later steps are of its types. The pool asks with the
   * same list each time: the answer is kept for it.
   */
  private takesEveryType(types: readonly string[]): boolean {
    if (this.lastTypes?.list === types) return this.lastTypes.all;
    const given = new Set(types);
    const all = this.catalog.names().every((name) => given.has(name));
    this.lastTypes = { list: types, all };
    return all;
  }
  private lastTypes: { list: readonly string[]; all: boolean } | undefined;

  private async replayKeptLogs(row: JobRow): Promise<void> {
    for (const { logs } of keptSteps(row)) {
      const blob = await this.blobs.open(logs);
      if (!blob) continue;
      for await (const chunk of blob.stream) this.appendLog(row.id, chunk as Buffer);
    }
  }

  async renewLease(id: string, workerId: string, leaseMs: number): Promise<boolean> {
    this.workers.mark(workerId);
    return this.jobs.renewLease(id, workerId, Date.now() + leaseMs);
  }

  async advance(id: string, workerId: string, to: 'preparing' | 'processing'): Promise<boolean> {
    this.workers.mark(workerId);
    const move = to === 'preparing' ? MOVES.prepare : MOVES.process;
    const now = Date.now();
    const row = await this.jobs.transition(
      { id, from: move.from, claimedBy: workerId },
      move.to,
      to === 'processing' ? { started_at: now } : {},
      now,
    );
    if (row) this.changed(row);
    return row !== undefined;
  }

  /** Place the job's input at a local path for the worker (a pipeline's: its current step's). */
  async copyInputTo(id: string, dest: string): Promise<void> {
    const job = await this.jobs.findById(id);
    const key = job && stepInputKey(job);
    if (!key) throw new Error(`input of job ${id} is missing`);
    await this.blobs.copyTo(key, dest);
  }

  /**
   * A pipeline's step `step` (not its last) finished on this process's
   * worker: keep its output and logs, and move the job to the next step.
   */
  async finishStep(id: string, workerId: string, step: number, outputPath: string, logPath: string) {
    const kept: KeptStep = { output: blobKey(id, 'output'), logs: blobKey(id, 'logs') };
    await Promise.all([this.blobs.adopt(kept.output, outputPath), this.blobs.adopt(kept.logs, logPath)]);
    return this.finishStepStored(id, workerId, step, kept);
  }

  /**
   * Step `step` finished with its output and logs stored: the job moves on
   * to the next step, unless it is no longer this worker's (or on another
   * step), and then the blobs go. A crash after this resumes at the next step.
   */
  async finishStepStored(id: string, workerId: string, step: number, kept: KeptStep): Promise<boolean> {
    this.workers.mark(workerId);
    const job = await this.leasedBy(id, workerId);
    const row =
      job?.steps && Number(job.step) === step && step < stepsOf(job).length
        ? await this.jobs.advanceStep(
            id,
            workerId,
            step,
            JSON.stringify([...keptSteps(job), kept]),
            Date.now(),
          )
        : undefined;
    if (!row) {
      await Promise.all([this.blobs.delete(kept.output), this.blobs.delete(kept.logs)]);
      return false;
    }
    this.changed(row);
    return true;
  }

  /**
   * A pipeline's logs: each finished step's (each under its header line)
   * and then the last step's, as one blob that replaces the last step's.
   */
  private async mergeStepLogs(job: JobRow, lastLogKey: string | null): Promise<string> {
    const keys = [...keptSteps(job).map((k) => k.logs), ...(lastLogKey ? [lastLogKey] : [])];
    const blobs = this.blobs;
    async function* concatenated() {
      for (const key of keys) {
        const blob = await blobs.open(key);
        if (blob) yield* blob.stream;
      }
    }
    const merged = blobKey(job.id, 'logs');
    await this.blobs.put(merged, Readable.from(concatenated()));
    if (lastLogKey) await this.blobs.delete(lastLogKey);
    return merged;
  }

  /** A pipeline that ended no longer needs its finished steps' results. */
  private async dropKeptSteps(row: JobRow): Promise<void> {
    const kept = keptSteps(row);
    await this.jobs.clearStepOutputs(row.id);
    await Promise.all(kept.flatMap((k) => [this.blobs.delete(k.output), this.blobs.delete(k.logs)]));
  }

  /**
   * Store output and logs, then make the job terminal, unless it stopped
   * being this worker's. Only what can be read later is stored: the output of
   * a finished job, and the log when it is not empty (most tools write
   * nothing to stderr); each stored file costs two fsyncs and a rename.
   */
  async complete(id: string, workerId: string, outcome: JobOutcome): Promise<boolean> {
    const keepOutput = outcome.status === 'finished';
    // A sandbox that could not even create its files (a full disk) leaves no log.
    const keepLog = (statSync(outcome.logPath, { throwIfNoEntry: false })?.size ?? 0) > 0;
    const outputKey = blobKey(id, 'output');
    const logKey = keepLog ? blobKey(id, 'logs') : null;
    const [output] = await Promise.all([
      keepOutput ? this.blobs.adopt(outputKey, outcome.outputPath) : { size: 0 },
      logKey ? this.blobs.adopt(logKey, outcome.logPath) : undefined,
    ]);
    return this.completeStored(id, workerId, { ...outcome, outputKey, outputSize: output.size, logKey });
  }

  /**
   * Make the job terminal with output and logs already stored (a remote
   * worker uploaded them); the blobs go when the job is no longer this worker's.
   */
  async completeStored(id: string, workerId: string, outcome: StoredOutcome): Promise<boolean> {
    this.workers.mark(workerId);
    const { outputKey, outputSize } = outcome;
    let { logKey } = outcome;
    // A pipeline past its first step: the finished steps' logs go in front.
    if (outcome.step !== undefined && outcome.step > 1) {
      const job = await this.leasedBy(id, workerId);
      if (job?.step_outputs) logKey = await this.mergeStepLogs(job, logKey);
    }
    const now = Date.now();
    const move = outcome.status === 'finished' ? MOVES.finish : MOVES.fail;
    const row = await this.jobs.transition(
      { id, from: move.from, claimedBy: workerId },
      move.to,
      {
        output_key: outcome.status === 'finished' ? outputKey : null,
        output_size: outcome.status === 'finished' ? outputSize : null,
        log_key: logKey,
        error_code: outcome.errorCode,
        error_message: outcome.errorMessage,
        finished_at: now,
        lease_expires_at: null,
        peak_memory_bytes: outcome.peakMemoryBytes == null ? null : Math.round(outcome.peakMemoryBytes),
        cpu_ms: outcome.cpuSeconds == null ? null : Math.round(outcome.cpuSeconds * 1000),
      },
      now,
    );
    if (!row || outcome.status !== 'finished') await this.blobs.delete(outputKey);
    if (!row) {
      if (logKey) await this.blobs.delete(logKey);
      return false;
    }
    this.changed(row);
    if (row.step_outputs) await this.dropKeptSteps(row);
    return true;
  }

  /** The job, when `workerId` holds its lease now. */
  async leasedBy(id: string, workerId: string): Promise<JobRow | undefined> {
    const job = isCanonicalUuid(id) ? await this.jobs.findById(id) : undefined;
    if (!job || job.claimed_by !== workerId || !LEASED_STATES.includes(job.status as JobState))
      return undefined;
    return job;
  }

  /** A stream of the job's input, for the worker holding it. */
  async openInput(id: string, workerId: string): Promise<{ stream: Readable; size: number } | undefined> {
    const job = await this.leasedBy(id, workerId);
    const key = job && stepInputKey(job);
    return key ? this.blobs.open(key) : undefined;
  }

  /** Store a piece of a leased job's result (stdout or stderr) that a remote worker streams in. */
  async storeResultBlob(
    id: string,
    workerId: string,
    kind: 'output' | 'logs',
    stream: Readable,
  ): Promise<{ key: string; size: number } | undefined> {
    if (!(await this.leasedBy(id, workerId))) return undefined;
    const key = blobKey(id, kind);
    const { size } = await this.blobs.put(key, stream);
    return { key, size };
  }

  /** Give a job back to the queue (shutdown, or its worker was lost). */
  async release(id: string, workerId?: string): Promise<JobRow | undefined> {
    const row = await this.jobs.transition(
      { id, from: MOVES.release.from, ...(workerId ? { claimedBy: workerId } : {}) },
      MOVES.release.to,
      { claimed_by: null, lease_expires_at: null, claimed_at: null, started_at: null },
      Date.now(),
    );
    if (row) {
      this.changed(row);
      this.events.emit('pending');
    }
    return row;
  }

  /**
   * Jobs whose worker is gone go back to `pending`, or fail with ELOST once
   * they used up their attempts. `orphanPrefix` names workers known dead
   * (this process's embedded workers, at start-up).
   */
  async reapLostJobs(orphanPrefix?: string): Promise<number> {
    const now = Date.now();
    const lapsed = await this.jobs.findLapsed(now, orphanPrefix);
    for (const job of lapsed) {
      const guard = { id: job.id, from: [job.status as JobState], claimedBy: job.claimed_by ?? '' };
      if (Number(job.attempts) >= this.options.maxAttempts) {
        const row = await this.jobs.transition(
          guard,
          MOVES.lose.to,
          {
            error_code: 'ELOST',
            error_message: `The worker running this job was lost ${job.attempts} times; the job was given up.`,
            finished_at: now,
            lease_expires_at: null,
          },
          now,
        );
        if (row) this.changed(row);
        if (row?.step_outputs) await this.dropKeptSteps(row);
      } else {
        const row = await this.jobs.transition(
          guard,
          MOVES.requeue.to,
          { claimed_by: null, lease_expires_at: null, claimed_at: null, started_at: null },
          now,
        );
        if (row) this.changed(row);
      }
    }
    if (lapsed.length > 0) this.events.emit('pending');
    return lapsed.length;
  }

  /** Finish deletes, and removals of shared blobs, that a crash interrupted. */
  async finishInterruptedDeletes(startedBefore?: number): Promise<void> {
    await this.stored.recoverRemovals(startedBefore);
    for (const job of await this.jobs.findDeleted(startedBefore)) await this.purge(job.id);
  }

  /** Tell waiters and streams. */
  private changed(row: JobRow): void {
    this.trackLive(row);
    this.events.emit('change', row);
  }

  /**
   * A claim starts a new live log; a terminal job's live log gives way to
   * its logs blob. Done before the change is told, so that followers who
   * hear of it read the right copy: a terminal job's log from the blob.
   */
  private trackLive(row: JobRow): void {
    if (row.status === 'claimed') this.live.reset(row.id, row.user_id);
    else if (this.isTerminal(row)) this.live.drop(row.id);
  }

  /** A piece of a running job's stderr, as the worker writes it. */
  appendLog(id: string, chunk: Buffer): void {
    const offset = this.live.size(id);
    this.live.append(id, chunk);
    // What the live copy took (it stops at its cap) goes to the other replicas.
    const taken = this.live.size(id) - offset;
    if (taken > 0) this.events.emit('log', id, offset, chunk.subarray(0, taken));
  }

  /**
   * A remote worker's stderr, from byte `offset` of the attempt's log; false
   * when the job is not this worker's (any more). A replica that did not see
   * the claim (it started later) starts the live copy at the first bytes.
   */
  async appendWorkerLog(id: string, workerId: string, offset: number, chunk: Buffer): Promise<boolean> {
    const job = await this.leasedBy(id, workerId);
    if (!job) return false;
    if (!this.live.has(id) && offset === 0) this.live.reset(id, job.user_id);
    const size = this.live.size(id);
    if (offset <= size && offset + chunk.length > size) this.appendLog(id, chunk.subarray(size - offset));
    return true;
  }

  /** The job's logs from byte `offset` on: the live copy while it runs, then the blob. */
  async readLogFrom(row: JobRow, offset: number): Promise<Buffer> {
    if (!this.isTerminal(row)) return this.live.read(row.id, offset);
    const note = cacheNote(row);
    if (note) return note.subarray(offset);
    return row.log_key ? this.blobs.readFrom(row.log_key, offset) : Buffer.alloc(0);
  }

  isTerminal(row: JobRow): boolean {
    return TERMINAL_STATES.includes(row.status as JobState);
  }
}
