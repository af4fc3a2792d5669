/** The job endpoints of API.md. */
import { basename, extname } from 'node:path';
import {
  CreateJobHeadersSchema,
  CreateJobRequestSchema,
  flagIsSet,
  GetJobQuerySchema,
  JobIdParamsSchema,
  JobResponseSchema,
  ListJobsQuerySchema,
  ListJobsResponseSchema,
  LogsQuerySchema,
  MAX_WAIT_SECONDS,
  MESSAGES,
  MessageResponseSchema,
  OutputQuerySchema,
  RangeHeadersSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { OpenedBlob } from '../../blobs/blob-store.js';
import { parseRangeHeader, RangeNotSatisfiableError } from '../../blobs/byte-range.js';
import { reuseBuffersFor } from '../../blobs/file-read-stream.js';
import { ApiError } from '../../services/api-error.js';
import { toWireJob } from '../../services/job-service.js';
import { outputKindOf } from '../../services/pipeline.js';
import type { JobRow } from '../../store/job-repository.js';
import type { AppDeps } from '../app.js';
import { described, emptyResponse, errors, rawResponse } from '../schemas.js';
import { followLogs } from './live.js';

/**
 * What an inline output (`?inline=1`, for the dashboard's preview frame) may
 * do: nothing but show itself with its own styles and embedded images. No
 * script runs (sandbox without allow-scripts), nothing is fetched, and only
 * this server's own pages may frame it. This is the output's own policy:
 * the dashboard's stays as strict as it is.
 */
export const INLINE_OUTPUT_CSP =
  "sandbox; default-src 'none'; style-src 'unsafe-inline' data:; img-src data:; font-src data:; frame-ancestors 'self'";

/** Open a blob for the request's Range header; a range past the end is 416 with the size. */
async function openRanged<T extends OpenedBlob | undefined>(
  rangeHeader: string | undefined,
  open: (range: ReturnType<typeof parseRangeHeader>) => Promise<T>,
): Promise<T> {
  try {
    return await open(parseRangeHeader(rangeHeader));
  } catch (err) {
    if (!(err instanceof RangeNotSatisfiableError)) throw err;
    throw new ApiError(
      'range_not_satisfiable',
      `The range starts past the end: this is ${err.size} bytes long; ask for bytes from 0 to ${err.size - 1}.`,
      { 'content-range': `bytes */${err.size}` },
    );
  }
}

/** 200 with the whole blob, or 206 with the part a Range asked for. */
function sendBlob(reply: FastifyReply, blob: OpenedBlob) {
  reuseBuffersFor(blob.stream, reply.raw);
  reply.header('accept-ranges', 'bytes');
  if (!blob.range) return reply.header('content-length', blob.size).send(blob.stream);
  const { start, end } = blob.range;
  return reply
    .code(206)
    .header('content-range', `bytes ${start}-${end}/${blob.size}`)
    .header('content-length', end - start + 1)
    .send(blob.stream);
}

/** A file name for the output: the input's name with the type's extension. */
function outputFileName(job: JobRow, ext: string): string {
  const stem = job.input_name ? basename(job.input_name, extname(job.input_name)) : job.id;
  const safe = stem.replace(/[^A-Za-z0-9._ -]/g, '_').slice(0, 100) || job.id;
  return `${safe}${ext}`;
}

const jobId = { params: JobIdParamsSchema };
const unauthorized = 'Missing, malformed or unknown API key';
const notFound = 'No such job for this user';
const rateLimited =
  'Extension: past the per-user request rate (BSUBIO_RATE_LIMIT); the sentence names the limit and its value';
const storeUnavailable =
  'The database is busy (locked by another writer) or unreachable, or blob storage is unreachable; nothing was changed. Retry after Retry-After';
const contentRange = (description: string) => ({
  'Content-Range': Type.String({ description }),
});
const partial = (what: string, mime: string) =>
  rawResponse(`Extension: ${what}`, mime, contentRange('`bytes <first>-<last>/<size>`'));
const rangeNotSatisfiable = {
  ...errors({ 416: 'Extension: the Range starts past the end' })[416],
  headers: contentRange('`bytes */<size>`'),
};

export function registerJobRoutes(app: FastifyInstance, { jobs, catalog, webhooks }: AppDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.post(
    '/v1/jobs',
    {
      schema: {
        operationId: 'createJob',
        summary: 'Create a new job',
        tags: ['Jobs'],
        headers: CreateJobHeadersSchema,
        body: CreateJobRequestSchema,
        response: {
          201: described(JobResponseSchema, 'Job created, status created, with an upload_token'),
          ...errors({
            400: 'Missing or unknown type, invalid params, or a webhook_url that is refused',
            401: unauthorized,
            409: 'Extension: the Idempotency-Key was used with a different body in the last 24 hours',
            429: rateLimited,
            503: storeUnavailable,
          }),
        },
      },
    },
    async (request, reply) => {
      const webhookUrl = await webhooks.urlForCreate(request.userId, request.body);
      const key = request.headers['idempotency-key'];
      if (key !== undefined) {
        const { row, replayed } = await jobs.createIdempotent(request.userId, request.body, key, webhookUrl);
        if (replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(201).send({ success: true, data: toWireJob(row, jobs.uploadTokenOf(row)) });
      }
      const row = await jobs.create(request.userId, request.body, webhookUrl);
      return reply.code(201).send({ success: true, data: toWireJob(row, jobs.uploadTokenOf(row)) });
    },
  );

  api.get(
    '/v1/jobs',
    {
      schema: {
        operationId: 'listJobs',
        summary: "List the caller's jobs, newest first",
        tags: ['Jobs'],
        querystring: ListJobsQuerySchema,
        response: {
          200: described(ListJobsResponseSchema, 'Jobs and the total matching the filter before limit'),
          ...errors({
            400: 'Unknown status, limit outside 1..100, or a cursor this server did not give',
            401: unauthorized,
            429: rateLimited,
          }),
        },
      },
    },
    async (request) => {
      const { status, limit = 20, cursor, type } = request.query;
      const { rows, total, nextCursor } = await jobs.list(request.userId, status, limit, cursor, type);
      const wire = rows.map((row) => toWireJob(row, jobs.uploadTokenOf(row)));
      return { success: true as const, data: { jobs: wire, total, next_cursor: nextCursor } };
    },
  );

  api.get(
    '/v1/jobs/:jobId',
    {
      schema: {
        operationId: 'getJob',
        summary: 'Get job details',
        tags: ['Jobs'],
        ...jobId,
        querystring: GetJobQuerySchema,
        response: {
          200: described(JobResponseSchema, 'The job'),
          ...errors({ 400: 'Extension: wait is not a number of seconds', 401: unauthorized, 404: notFound }),
        },
      },
    },
    async (request) => {
      const waitSeconds = Math.min(request.query.wait ?? 0, MAX_WAIT_SECONDS);
      let row = await jobs.get(request.userId, request.params.jobId);
      if (waitSeconds > 0 && !jobs.isTerminal(row)) {
        row = await waitForTerminal(jobs, row, waitSeconds * 1000, request.raw);
      }
      return { success: true as const, data: toWireJob(row, jobs.uploadTokenOf(row)) };
    },
  );

  api.delete(
    '/v1/jobs/:jobId',
    {
      schema: {
        operationId: 'deleteJob',
        summary: 'Delete a finished or failed job and all its data',
        tags: ['Jobs'],
        ...jobId,
        response: {
          204: emptyResponse('Deleted'),
          ...errors({ 401: unauthorized, 404: notFound, 409: 'Job is not finished or failed' }),
        },
      },
    },
    async (request, reply) => {
      await jobs.delete(request.userId, request.params.jobId);
      return reply.code(204).send();
    },
  );

  api.post(
    '/v1/jobs/:jobId/submit',
    {
      schema: {
        operationId: 'submitJob',
        summary: 'Submit a loaded job for processing',
        tags: ['Jobs'],
        ...jobId,
        response: {
          200: described(MessageResponseSchema, 'Job is pending'),
          ...errors({
            400: 'Job is not loaded',
            401: unauthorized,
            404: notFound,
            429: 'Extension: the user already has as many jobs pending or running as allowed (BSUBIO_MAX_ACTIVE_JOBS), or past the request rate',
          }),
        },
      },
    },
    async (request) => {
      const row = await jobs.submit(request.userId, request.params.jobId);
      // A type may ask the answer to wait for its (short) job to end: the
      // official SDKs' tests read the result of test/linecount right after submit.
      const settleSeconds = catalog.resolve(row.type)?.definition.submit_waits_seconds ?? 0;
      if (settleSeconds > 0) await waitForTerminal(jobs, row, settleSeconds * 1000, request.raw);
      return { success: true as const, message: MESSAGES.submitted };
    },
  );

  api.post(
    '/v1/jobs/:jobId/cancel',
    {
      schema: {
        operationId: 'cancelJob',
        summary: 'Cancel a job that is not terminal; it becomes failed with ECANCELED',
        tags: ['Jobs'],
        ...jobId,
        response: {
          200: described(MessageResponseSchema, 'Cancelled'),
          ...errors({ 400: 'Job is already finished or failed', 401: unauthorized, 404: notFound }),
        },
      },
    },
    async (request) => {
      await jobs.cancel(request.userId, request.params.jobId);
      return { success: true as const, message: MESSAGES.cancelled };
    },
  );

  api.get(
    '/v1/jobs/:jobId/output',
    {
      schema: {
        operationId: 'getJobOutput',
        summary: "The tool's stdout of a finished job",
        tags: ['Output'],
        ...jobId,
        querystring: OutputQuerySchema,
        headers: RangeHeadersSchema,
        response: {
          200: rawResponse(
            'Raw bytes with the type output MIME and a Content-Disposition filename; Accept-Ranges: bytes',
            'application/octet-stream',
          ),
          206: partial('the bytes the Range asked for', 'application/octet-stream'),
          ...errors({
            400: 'Extension: inline is not 1 or 0',
            401: unauthorized,
            404: notFound,
            409: 'Job is not finished',
          }),
          416: rangeNotSatisfiable,
        },
      },
    },
    async (request, reply) => {
      const inline = flagIsSet(request.query.inline);
      const blob = await openRanged(request.headers.range, (range) =>
        jobs.output(request.userId, request.params.jobId, range),
      );
      const { job } = blob;
      const { mime, ext } = outputKindOf(catalog, job);
      const fileName = outputFileName(job, ext);
      reply.header('content-type', mime).header('x-content-type-options', 'nosniff');
      if (inline) {
        reply
          .header('content-disposition', `inline; filename="${fileName}"`)
          .header('content-security-policy', INLINE_OUTPUT_CSP)
          // The output never changes, but it is private: the browser may keep it, no one else.
          .header('cache-control', 'private, max-age=3600');
      } else {
        reply.header('content-disposition', `attachment; filename="${fileName}"`);
      }
      return sendBlob(reply, blob);
    },
  );

  // Extension: the input as uploaded, to download it or run it again.
  api.get(
    '/v1/jobs/:jobId/input',
    {
      schema: {
        operationId: 'getJobInput',
        summary: 'Extension: the input as it was uploaded, to download it or run it again',
        tags: ['Output'],
        'x-bsubio-extension': true,
        ...jobId,
        headers: RangeHeadersSchema,
        response: {
          200: rawResponse(
            'The input, with its content type and file name as uploaded',
            'application/octet-stream',
          ),
          206: partial('the bytes of the input the Range asked for', 'application/octet-stream'),
          ...errors({ 401: unauthorized, 404: notFound, 409: 'The job has no input yet' }),
          416: rangeNotSatisfiable,
        },
      },
    },
    async (request, reply) => {
      const blob = await openRanged(request.headers.range, (range) =>
        jobs.input(request.userId, request.params.jobId, range),
      );
      const { job } = blob;
      const name = (job.input_name ?? `${job.id}.bin`).replace(/[^A-Za-z0-9._ -]/g, '_');
      reply
        .header('content-type', job.input_type ?? 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}"`);
      return sendBlob(reply, blob);
    },
  );

  api.get(
    '/v1/jobs/:jobId/logs',
    {
      schema: {
        operationId: 'getJobLogs',
        summary: "The tool's stderr, in any state (empty when nothing yet)",
        tags: ['Output'],
        ...jobId,
        querystring: LogsQuerySchema,
        headers: RangeHeadersSchema,
        response: {
          200: rawResponse(
            'Logs (while the job runs: what the tool wrote so far)',
            'text/plain; charset=utf-8',
          ),
          206: partial('the bytes of the log the Range asked for', 'text/plain; charset=utf-8'),
          ...errors({ 400: 'Extension: follow is not 1 or 0', 401: unauthorized, 404: notFound }),
          416: rangeNotSatisfiable,
        },
      },
    },
    async (request, reply) => {
      reply.header('content-type', 'text/plain; charset=utf-8');
      if (flagIsSet(request.query.follow)) {
        const stream = await followLogs(jobs, request.userId, request.params.jobId, (stop) =>
          reply.raw.once('close', stop),
        );
        if (stream)
          return reply.header('cache-control', 'no-store').header('x-accel-buffering', 'no').send(stream);
      }
      const blob = await openRanged(request.headers.range, (range) =>
        jobs.logs(request.userId, request.params.jobId, range),
      );
      if (!blob) return reply.header('content-length', 0).send('');
      return sendBlob(reply, blob);
    },
  );
}

/** Resolve with the job once it is terminal, when time is up, or when the client goes away. */
function waitForTerminal(
  jobs: AppDeps['jobs'],
  row: JobRow,
  timeoutMs: number,
  req: NodeJS.EventEmitter,
): Promise<JobRow> {
  return new Promise((resolve) => {
    let latest = row;
    const finish = () => {
      clearTimeout(timer);
      jobs.events.off('change', onChange);
      jobs.events.off('remoteChange', onChange);
      jobs.events.off('shutdown', finish);
      req.off('close', finish);
      resolve(latest);
    };
    const onChange = (changed: JobRow) => {
      if (changed.id !== row.id) return;
      latest = changed;
      if (jobs.isTerminal(changed)) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    jobs.events.on('change', onChange);
    // Cluster mode: the job may end on another replica.
    jobs.events.on('remoteChange', onChange);
    jobs.events.once('shutdown', finish);
    req.once('close', finish);
    // The job may have changed between the read and the subscription.
    jobs.get(row.user_id, row.id).then(
      (fresh) => {
        latest = fresh;
        if (jobs.isTerminal(fresh)) finish();
      },
      () => finish(),
    );
  });
}
