/**
 * The worker extension (`/v1/worker/...`, see @bsubio/protocol worker-api):
 * what a remote worker agent needs, over HTTP only, so that workers hold no
 * database or storage credentials. Authenticated by a worker token, never an
 * API key; every call about a job is guarded by the worker's lease.
 */
import {
  WORKER_CLAIM_MAX_WAIT_MS,
  WORKER_LOG_CHUNK_MAX_BYTES,
  WORKER_TOKEN_PREFIX,
  type WorkerAdvanceRequest,
  type WorkerClaimRequest,
  type WorkerClaimResponse,
  type WorkerCompleteRequest,
  type WorkerLeaseRequest,
  type WorkerOkResponse,
  type WorkerReleaseRequest,
  type WorkerStepRequest,
} from '@bsubio/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../services/api-error.js';
import type { JobService } from '../../services/job-service.js';
import { stepsOf } from '../../services/pipeline.js';
import type { WorkerTokens } from '../../services/worker-tokens.js';
import type { JobRow } from '../../store/job-repository.js';

export interface WorkerRouteDeps {
  jobs: JobService;
  workerTokens: WorkerTokens;
}

const WORKER_ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;
const MAX_LEASE_MS = 3_600_000;

function workerId(value: unknown): string {
  if (typeof value !== 'string' || !WORKER_ID_RE.test(value)) {
    throw new ApiError('bad_request', 'worker_id must be 1 to 128 letters, digits or "_.:@-".');
  }
  return value;
}

function leaseMs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1000 || value > MAX_LEASE_MS) {
    throw new ApiError('bad_request', `lease_ms must be an integer from 1000 to ${MAX_LEASE_MS}.`);
  }
  return value;
}

function body<T>(request: FastifyRequest): Partial<T> {
  const b = request.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw new ApiError('bad_request', 'The body must be a JSON object.');
  }
  return b as Partial<T>;
}

export function registerWorkerRoutes(app: FastifyInstance, { jobs, workerTokens }: WorkerRouteDeps): void {
  app.register(async (scope) => {
    // API keys do not open these routes (auth: none skips the user check);
    // the worker token is checked here instead.
    const opts = { config: { auth: 'none' as const } };
    scope.addHook('onRequest', async (request) => {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization?.trim() ?? '');
      const token = match?.[1];
      if (!token?.startsWith(WORKER_TOKEN_PREFIX) || !(await workerTokens.authenticate(token))) {
        throw new ApiError(
          'unauthorized',
          'The worker endpoints need a valid worker token ("bsubio-server worker-token add <name>").',
        );
      }
    });

    scope.post('/v1/worker/claim', opts, async (request, reply): Promise<WorkerClaimResponse> => {
      const b = body<WorkerClaimRequest>(request);
      const id = workerId(b.worker_id);
      const lease = leaseMs(b.lease_ms);
      if (!Array.isArray(b.types) || !b.types.every((t) => typeof t === 'string')) {
        throw new ApiError('bad_request', 'types must be an array of type names.');
      }
      const types = b.types;
      const waitMs = Math.min(Math.max(0, Number(b.wait_ms) || 0), WORKER_CLAIM_MAX_WAIT_MS);
      const deadline = Date.now() + waitMs;
      let gone = false;
      // The response's close: the worker went away (the request's own close
      // fires as soon as its body is read).
      reply.raw.once('close', () => {
        gone = true;
      });
      for (;;) {
        const row = await jobs.claim(id, types, lease);
        if (row) {
          if (gone) {
            // Nobody will receive it: give it straight back.
            await jobs.release(row.id, id);
            return { job: null };
          }
          return { job: claimedJob(row, jobs.live.size(row.id)) };
        }
        const left = deadline - Date.now();
        if (left <= 0 || gone) return { job: null };
        const stop = await waitForPending(jobs, left, reply.raw);
        if (stop) return { job: null };
      }
    });

    scope.post<{ Params: { jobId: string } }>(
      '/v1/worker/jobs/:jobId/lease',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const b = body<WorkerLeaseRequest>(request);
        return {
          ok: await jobs.renewLease(request.params.jobId, workerId(b.worker_id), leaseMs(b.lease_ms)),
        };
      },
    );

    scope.post<{ Params: { jobId: string } }>(
      '/v1/worker/jobs/:jobId/advance',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const b = body<WorkerAdvanceRequest>(request);
        if (b.to !== 'preparing' && b.to !== 'processing') {
          throw new ApiError('bad_request', 'to must be "preparing" or "processing".');
        }
        return { ok: await jobs.advance(request.params.jobId, workerId(b.worker_id), b.to) };
      },
    );

    scope.get<{ Params: { jobId: string }; Querystring: { worker_id?: string } }>(
      '/v1/worker/jobs/:jobId/input',
      opts,
      async (request, reply) => {
        const blob = await jobs.openInput(request.params.jobId, workerId(request.query.worker_id));
        if (!blob) throw new ApiError('not_found', 'This job is not leased by this worker, or has no input.');
        return reply.type('application/octet-stream').header('content-length', blob.size).send(blob.stream);
      },
    );

    for (const kind of ['output', 'logs'] as const) {
      scope.put<{ Params: { jobId: string }; Querystring: { worker_id?: string } }>(
        `/v1/worker/jobs/:jobId/${kind}`,
        opts,
        async (request) => {
          const stored = await jobs.storeResultBlob(
            request.params.jobId,
            workerId(request.query.worker_id),
            kind,
            request.raw,
          );
          if (!stored) {
            request.raw.resume();
            throw new ApiError('not_found', 'This job is not leased by this worker.');
          }
          return stored;
        },
      );
    }

    // Live logs: the stderr the tool wrote since the last post, from byte `offset` of the attempt's log.
    scope.post<{ Params: { jobId: string }; Querystring: { worker_id?: string; offset?: string } }>(
      '/v1/worker/jobs/:jobId/log',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const id = workerId(request.query.worker_id);
        const offset = request.query.offset;
        if (typeof offset !== 'string' || !/^\d{1,15}$/.test(offset)) {
          request.raw.resume();
          throw new ApiError('bad_request', 'offset must be the byte offset of the chunk in the log.');
        }
        const chunk = await readSmallBody(request.raw, WORKER_LOG_CHUNK_MAX_BYTES);
        return { ok: await jobs.appendWorkerLog(request.params.jobId, id, Number(offset), chunk) };
      },
    );

    scope.post<{ Params: { jobId: string } }>(
      '/v1/worker/jobs/:jobId/complete',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const b = body<WorkerCompleteRequest>(request);
        if (b.status !== 'finished' && b.status !== 'failed') {
          throw new ApiError('bad_request', 'status must be "finished" or "failed".');
        }
        const keyPrefix = `jobs/${request.params.jobId}/`;
        if (
          typeof b.output_key !== 'string' ||
          typeof b.log_key !== 'string' ||
          !b.output_key.startsWith(`${keyPrefix}output-`) ||
          !b.log_key.startsWith(`${keyPrefix}logs-`) ||
          typeof b.output_size !== 'number'
        ) {
          throw new ApiError('bad_request', 'output_key, output_size and log_key come from the uploads.');
        }
        const ok = await jobs.completeStored(request.params.jobId, workerId(b.worker_id), {
          status: b.status,
          errorCode: b.error_code ?? null,
          errorMessage: typeof b.error_message === 'string' ? b.error_message.slice(0, 2000) : null,
          outputKey: b.output_key,
          outputSize: b.output_size,
          logKey: b.log_key,
          peakMemoryBytes: usage(b.peak_memory_bytes),
          cpuSeconds: usage(b.cpu_seconds),
          ...(Number.isInteger(b.step) ? { step: b.step } : {}),
        });
        return { ok };
      },
    );

    // A pipeline's step finished (its output and logs uploaded first): the job moves to the next.
    scope.post<{ Params: { jobId: string } }>(
      '/v1/worker/jobs/:jobId/step',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const b = body<WorkerStepRequest>(request);
        const keyPrefix = `jobs/${request.params.jobId}/`;
        if (
          typeof b.step !== 'number' ||
          !Number.isInteger(b.step) ||
          b.step < 1 ||
          typeof b.output_key !== 'string' ||
          typeof b.log_key !== 'string' ||
          !b.output_key.startsWith(`${keyPrefix}output-`) ||
          !b.log_key.startsWith(`${keyPrefix}logs-`)
        ) {
          throw new ApiError(
            'bad_request',
            'step is the finished step; output_key and log_key come from the uploads.',
          );
        }
        const ok = await jobs.finishStepStored(request.params.jobId, workerId(b.worker_id), b.step, {
          output: b.output_key,
          logs: b.log_key,
        });
        return { ok };
      },
    );

    scope.post<{ Params: { jobId: string } }>(
      '/v1/worker/jobs/:jobId/release',
      opts,
      async (request): Promise<WorkerOkResponse> => {
        const b = body<WorkerReleaseRequest>(request);
        return { ok: (await jobs.release(request.params.jobId, workerId(b.worker_id))) !== undefined };
      },
    );
  });
}

/** `liveLogBytes`: what the job's live log holds already (a resumed pipeline's finished steps). */
function claimedJob(row: JobRow, liveLogBytes: number): NonNullable<WorkerClaimResponse['job']> {
  return {
    id: row.id,
    type: row.type,
    params: JSON.parse(row.params) as Record<string, string | number>,
    attempt: Number(row.attempts),
    input_name: row.input_name,
    ...(row.steps
      ? { steps: stepsOf(row), step: Number(row.step ?? 1), log_offset: row.step_outputs ? liveLogBytes : 0 }
      : {}),
  };
}

/** Wait for a job to become pending; true when the wait should end (shutdown, client gone). */
function waitForPending(
  jobs: JobService,
  timeoutMs: number,
  response: NodeJS.EventEmitter,
): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (stop: boolean) => () => {
      clearTimeout(timer);
      jobs.events.off('pending', onPending);
      jobs.events.off('shutdown', onShutdown);
      response.off('close', onClose);
      resolve(stop);
    };
    const onPending = done(false);
    const onShutdown = done(true);
    const onClose = done(true);
    const timer = setTimeout(done(false), timeoutMs);
    jobs.events.on('pending', onPending);
    jobs.events.once('shutdown', onShutdown);
    response.once('close', onClose);
  });
}

/** A raw body of at most `max` bytes, whole; past that 413 (the rest is read and dropped). */
async function readSmallBody(stream: NodeJS.ReadableStream, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size <= max) chunks.push(chunk as Buffer);
  }
  if (size > max) throw new ApiError('payload_too_large', `A log chunk is at most ${max} bytes.`);
  return Buffer.concat(chunks);
}

/** A measurement a worker sent: a finite number of at least 0, else none. */
function usage(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}
