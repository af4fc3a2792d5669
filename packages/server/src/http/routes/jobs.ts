/** The job endpoints of API.md. */
import { basename, extname } from 'node:path';
import { isJobState, type JobState, MESSAGES } from '@bsubio/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { OpenedBlob } from '../../blobs/blob-store.js';
import { parseRangeHeader, RangeNotSatisfiableError } from '../../blobs/byte-range.js';
import { ApiError } from '../../services/api-error.js';
import { toWireJob } from '../../services/job-service.js';
import { outputKindOf } from '../../services/pipeline.js';
import type { JobRow } from '../../store/job-repository.js';
import type { AppDeps } from '../app.js';
import { followLogs } from './live.js';

type IdParams = { jobId: string };
const MAX_WAIT_SECONDS = 60;

function parseListQuery(query: Record<string, unknown>): { status: JobState | undefined; limit: number } {
  const { status, limit } = query;
  if (status !== undefined && status !== '' && !isJobState(status)) {
    throw new ApiError(
      'bad_request',
      `Unknown status "${String(status)}"; use one of created, loaded, pending, claimed, preparing, processing, finished, failed.`,
    );
  }
  let parsedLimit = 20;
  if (limit !== undefined && limit !== '') {
    if (typeof limit !== 'string' || !/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 100) {
      throw new ApiError(
        'bad_request',
        `The limit must be an integer from 1 to 100, not "${String(limit)}".`,
      );
    }
    parsedLimit = Number(limit);
  }
  return { status: status === '' ? undefined : (status as JobState | undefined), limit: parsedLimit };
}

function parseWait(value: unknown): number {
  if (value === undefined || value === '') return 0;
  const seconds = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(seconds) || seconds < 0) {
    throw new ApiError('bad_request', `The wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}.`);
  }
  return Math.min(seconds, MAX_WAIT_SECONDS);
}

/**
 * What an inline output (`?inline=1`, for the dashboard's preview frame) may
 * do: nothing but show itself with its own styles and embedded images. No
 * script runs (sandbox without allow-scripts), nothing is fetched, and only
 * this server's own pages may frame it. This is the output's own policy:
 * the dashboard's stays as strict as it is.
 */
export const INLINE_OUTPUT_CSP =
  "sandbox; default-src 'none'; style-src 'unsafe-inline' data:; img-src data:; font-src data:; frame-ancestors 'self'";

function parseFlag(name: string, value: unknown): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new ApiError('bad_request', `The ${name} parameter must be 1 or 0, not "${String(value)}".`);
}

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

export function registerJobRoutes(app: FastifyInstance, { jobs, catalog, webhooks }: AppDeps): void {
  app.post('/v1/jobs', async (request, reply) => {
    const webhookUrl = await webhooks.urlForCreate(request.userId, request.body);
    const key = request.headers['idempotency-key'];
    if (typeof key === 'string') {
      const { row, replayed } = await jobs.createIdempotent(request.userId, request.body, key, webhookUrl);
      if (replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(201).send({ success: true, data: toWireJob(row, jobs.uploadTokenOf(row)) });
    }
    const row = await jobs.create(request.userId, request.body, webhookUrl);
    return reply.code(201).send({ success: true, data: toWireJob(row, jobs.uploadTokenOf(row)) });
  });

  app.get('/v1/jobs', async (request) => {
    const query = request.query as Record<string, unknown>;
    const { status, limit } = parseListQuery(query);
    const cursor = query.cursor;
    if (cursor !== undefined && typeof cursor !== 'string') {
      throw new ApiError('bad_request', 'Send one cursor: the next_cursor of the previous page.');
    }
    // Extension: only jobs of one processing type (as given at creation), for the dashboard's filter.
    const type = typeof query.type === 'string' && query.type !== '' ? query.type : undefined;
    const { rows, total, nextCursor } = await jobs.list(request.userId, status, limit, cursor, type);
    const wire = rows.map((row) => toWireJob(row, jobs.uploadTokenOf(row)));
    return { success: true, data: { jobs: wire, total, next_cursor: nextCursor } };
  });

  app.get<{ Params: IdParams; Querystring: { wait?: string } }>('/v1/jobs/:jobId', async (request) => {
    const waitSeconds = parseWait(request.query.wait);
    let row = await jobs.get(request.userId, request.params.jobId);
    if (waitSeconds > 0 && !jobs.isTerminal(row)) {
      row = await waitForTerminal(jobs, row, waitSeconds * 1000, request.raw);
    }
    return { success: true, data: toWireJob(row, jobs.uploadTokenOf(row)) };
  });

  app.delete<{ Params: IdParams }>('/v1/jobs/:jobId', async (request, reply) => {
    await jobs.delete(request.userId, request.params.jobId);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/v1/jobs/:jobId/submit', async (request) => {
    const row = await jobs.submit(request.userId, request.params.jobId);
    // A type may ask the answer to wait for its (short) job to end: the
    // official SDKs' tests read the result of test/linecount right after submit.
    const settleSeconds = catalog.resolve(row.type)?.definition.submit_waits_seconds ?? 0;
    if (settleSeconds > 0) await waitForTerminal(jobs, row, settleSeconds * 1000, request.raw);
    return { success: true, message: MESSAGES.submitted };
  });

  app.post<{ Params: IdParams }>('/v1/jobs/:jobId/cancel', async (request) => {
    await jobs.cancel(request.userId, request.params.jobId);
    return { success: true, message: MESSAGES.cancelled };
  });

  app.get<{ Params: IdParams; Querystring: { inline?: string } }>(
    '/v1/jobs/:jobId/output',
    async (request, reply) => {
      const inline = parseFlag('inline', request.query.inline);
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
  app.get<{ Params: IdParams }>('/v1/jobs/:jobId/input', async (request, reply) => {
    const blob = await openRanged(request.headers.range, (range) =>
      jobs.input(request.userId, request.params.jobId, range),
    );
    const { job } = blob;
    const name = (job.input_name ?? `${job.id}.bin`).replace(/[^A-Za-z0-9._ -]/g, '_');
    reply
      .header('content-type', job.input_type ?? 'application/octet-stream')
      .header('content-disposition', `attachment; filename="${name}"`);
    return sendBlob(reply, blob);
  });

  app.get<{ Params: IdParams; Querystring: { follow?: string } }>(
    '/v1/jobs/:jobId/logs',
    async (request, reply) => {
      reply.header('content-type', 'text/plain; charset=utf-8');
      const follow = request.query.follow;
      if (follow !== undefined && !['', '0', '1', 'true', 'false'].includes(follow)) {
        throw new ApiError('bad_request', `The follow parameter must be 1 or 0, not "${follow}".`);
      }
      if (follow === '1' || follow === 'true') {
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
