/**
 * The worker extension (`/v1/worker/...`, see @bsubio/protocol worker-api):
 * what a remote worker agent needs, over HTTP only, so that workers hold no
 * database or storage credentials. Authenticated by a worker token, never an
 * API key; every call about a job is guarded by the worker's lease.
 */
import {
  JobIdParamsSchema,
  WORKER_API_DESCRIPTION,
  WORKER_CLAIM_MAX_WAIT_MS,
  WORKER_LOG_CHUNK_MAX_BYTES,
  WORKER_TOKEN_PREFIX,
  WorkerAdvanceRequestSchema,
  WorkerBlobResponseSchema,
  WorkerClaimRequestSchema,
  type WorkerClaimResponse,
  WorkerClaimResponseSchema,
  WorkerCompleteRequestSchema,
  WorkerIdQuerySchema,
  WorkerLeaseRequestSchema,
  WorkerLogQuerySchema,
  type WorkerOkResponse,
  WorkerOkResponseSchema,
  WorkerReleaseRequestSchema,
  WorkerStepRequestSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import { reuseBuffersFor } from '../../blobs/file-read-stream.js';
import { ApiError } from '../../services/api-error.js';
import type { JobService } from '../../services/job-service.js';
import { stepsOf } from '../../services/pipeline.js';
import type { WorkerTokens } from '../../services/worker-tokens.js';
import type { JobRow } from '../../store/job-repository.js';
import { described, errors, rawResponse, STREAMED } from '../schemas.js';

export interface WorkerRouteDeps {
  jobs: JobService;
  workerTokens: WorkerTokens;
}

const unauthorized = 'No worker token, or not a valid one';
const notLeased = 'This job is not leased by this worker';

/** Route options of a worker call: public to API keys (the worker token is checked by the scope's hook). */
function workerRoute<const S extends { response: Record<number, TSchema> }>(
  operationId: string,
  summary: string,
  schema: S,
) {
  return {
    config: { auth: 'none' as const },
    schema: {
      ...schema,
      'x-bsubio-extension': true,
      tags: ['Worker'],
      operationId,
      summary: `Extension (workers): ${summary}`,
      description: WORKER_API_DESCRIPTION,
      response: {
        ...schema.response,
        ...errors({ 400: 'A field is missing or not valid; the sentence names it', 401: unauthorized }),
      },
    },
  };
}

const okResponse = (description: string) => ({ 200: described(WorkerOkResponseSchema, description) });

export function registerWorkerRoutes(app: FastifyInstance, { jobs, workerTokens }: WorkerRouteDeps): void {
  app.register(async (scope) => {
    // API keys do not open these routes (auth: none skips the user check);
    // the worker token is checked here instead.
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

    const api = scope.withTypeProvider<TypeBoxTypeProvider>();
    const claim = workerRoute('workerClaim', 'claim a pending job of these types (long poll)', {
      body: WorkerClaimRequestSchema,
      response: { 200: described(WorkerClaimResponseSchema, 'The claimed job, or null when none came') },
    });
    api.post('/v1/worker/claim', claim, async (request, reply): Promise<WorkerClaimResponse> => {
      const { worker_id: id, lease_ms: lease, types } = request.body;
      const waitMs = Math.min(Math.max(0, request.body.wait_ms ?? 0), WORKER_CLAIM_MAX_WAIT_MS);
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

    api.post(
      '/v1/worker/jobs/:jobId/lease',
      workerRoute('workerRenewLease', 'renew the lease of a job', {
        params: JobIdParamsSchema,
        body: WorkerLeaseRequestSchema,
        response: okResponse('Renewed, or not this worker’s'),
      }),
      async (request): Promise<WorkerOkResponse> => {
        const { worker_id, lease_ms } = request.body;
        return { ok: await jobs.renewLease(request.params.jobId, worker_id, lease_ms) };
      },
    );

    api.post(
      '/v1/worker/jobs/:jobId/advance',
      workerRoute('workerAdvance', 'move a claimed job to preparing, a preparing one to processing', {
        params: JobIdParamsSchema,
        body: WorkerAdvanceRequestSchema,
        response: okResponse('Moved, or not this worker’s (or not in the state before)'),
      }),
      async (request): Promise<WorkerOkResponse> => {
        const { worker_id, to } = request.body;
        return { ok: await jobs.advance(request.params.jobId, worker_id, to) };
      },
    );

    api.get(
      '/v1/worker/jobs/:jobId/input',
      workerRoute('workerInput', "the job's input bytes", {
        params: JobIdParamsSchema,
        querystring: WorkerIdQuerySchema,
        response: {
          200: rawResponse('The input', 'application/octet-stream'),
          ...errors({ 404: `${notLeased}, or it has no input` }),
        },
      }),
      async (request, reply) => {
        const blob = await jobs.openInput(request.params.jobId, request.query.worker_id);
        if (!blob) throw new ApiError('not_found', 'This job is not leased by this worker, or has no input.');
        reuseBuffersFor(blob.stream, reply.raw);
        return reply.type('application/octet-stream').header('content-length', blob.size).send(blob.stream);
      },
    );

    for (const kind of ['output', 'logs'] as const) {
      api.put(
        `/v1/worker/jobs/:jobId/${kind}`,
        workerRoute(
          kind === 'output' ? 'workerPutOutput' : 'workerPutLogs',
          `store the job's ${kind === 'output' ? 'stdout' : 'stderr'} (raw body)`,
          {
            params: JobIdParamsSchema,
            querystring: WorkerIdQuerySchema,
            body: RAW_BODY,
            response: {
              200: described(WorkerBlobResponseSchema, 'Stored; complete names it by key'),
              ...errors({ 404: notLeased }),
            },
          },
        ),
        async (request) => {
          const stored = await jobs.storeResultBlob(
            request.params.jobId,
            request.query.worker_id,
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
    api.post(
      '/v1/worker/jobs/:jobId/log',
      workerRoute('workerAppendLog', 'stderr written since the last post, while the tool runs (raw body)', {
        params: JobIdParamsSchema,
        querystring: WorkerLogQuerySchema,
        body: RAW_BODY,
        response: {
          ...okResponse('Passed on to those following the job, or not this worker’s'),
          ...errors({ 413: `A chunk is larger than ${WORKER_LOG_CHUNK_MAX_BYTES} bytes` }),
        },
      }),
      async (request): Promise<WorkerOkResponse> => {
        const { worker_id: id, offset } = request.query;
        const chunk = await readSmallBody(request.raw, WORKER_LOG_CHUNK_MAX_BYTES);
        return { ok: await jobs.appendWorkerLog(request.params.jobId, id, Number(offset), chunk) };
      },
    );

    api.post(
      '/v1/worker/jobs/:jobId/complete',
      workerRoute('workerComplete', 'the job ended: finished or failed, with its stored output and logs', {
        params: JobIdParamsSchema,
        body: WorkerCompleteRequestSchema,
        response: okResponse('Recorded, or not this worker’s'),
      }),
      async (request): Promise<WorkerOkResponse> => {
        const b = request.body;
        const keyPrefix = `jobs/${request.params.jobId}/`;
        if (!b.output_key.startsWith(`${keyPrefix}output-`) || !b.log_key.startsWith(`${keyPrefix}logs-`)) {
          throw new ApiError('bad_request', 'output_key, output_size and log_key come from the uploads.');
        }
        const ok = await jobs.completeStored(request.params.jobId, b.worker_id, {
          status: b.status,
          errorCode: b.error_code ?? null,
          errorMessage: b.error_message?.slice(0, 2000) ?? null,
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
    api.post(
      '/v1/worker/jobs/:jobId/step',
      workerRoute(
        'workerFinishStep',
        "a pipeline's step finished: keep its output and logs, go on to the next",
        {
          params: JobIdParamsSchema,
          body: WorkerStepRequestSchema,
          response: okResponse('Moved to the next step, or not this worker’s (or not on that step)'),
        },
      ),
      async (request): Promise<WorkerOkResponse> => {
        const b = request.body;
        const keyPrefix = `jobs/${request.params.jobId}/`;
        if (!b.output_key.startsWith(`${keyPrefix}output-`) || !b.log_key.startsWith(`${keyPrefix}logs-`)) {
          throw new ApiError(
            'bad_request',
            'step is the finished step; output_key and log_key come from the uploads.',
          );
        }
        const ok = await jobs.finishStepStored(request.params.jobId, b.worker_id, b.step, {
          output: b.output_key,
          logs: b.log_key,
        });
        return { ok };
      },
    );

    api.post(
      '/v1/worker/jobs/:jobId/release',
      workerRoute('workerRelease', 'give a job back to the queue (the worker stops)', {
        params: JobIdParamsSchema,
        body: WorkerReleaseRequestSchema,
        response: okResponse('Back to pending, or not this worker’s'),
      }),
      async (request): Promise<WorkerOkResponse> => {
        return { ok: (await jobs.release(request.params.jobId, request.body.worker_id)) !== undefined };
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

/** A measurement a worker sent: a number of at least 0, else none. */
function usage(value: number | null | undefined): number | null {
  return value != null && value >= 0 ? value : null;
}

/** Raw bodies (blob uploads, log chunks) are read as streams by their routes. */
const RAW_BODY = {
  content: {
    'application/octet-stream': { schema: { type: 'string', format: 'binary', [STREAMED]: true } },
  },
};
