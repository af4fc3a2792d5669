/**
 * Following a job without polling (extensions): a server-sent event stream of
 * its state changes and log lines, resumable with `Last-Event-ID`, and
 * `logs?follow=1`, the raw stderr as it is written.
 */
import { PassThrough } from 'node:stream';
import {
  EVENTS_DESCRIPTION,
  JobEventsQuerySchema,
  JobIdParamsSchema,
  LastEventIdHeadersSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../services/api-error.js';
import { toWireJob } from '../../services/job-service.js';
import type { AppDeps } from '../app.js';
import { followJob } from '../job-follow.js';
import { emptyResponse, errors, rawResponse } from '../schemas.js';

const HEARTBEAT_MS = 15_000;

/** An event id: `<attempt>.<log offset>.<updated_at of the last state sent>`. */
export function parseEventId(
  value: string | undefined,
): { attempt: number; offset: number; updatedAt: number } | null {
  if (value === undefined || value === '') return null;
  const match = /^(\d{1,9})\.(\d{1,15})\.(\d{1,15})$/.exec(value.trim());
  if (!match) {
    throw new ApiError(
      'bad_request',
      'The Last-Event-ID is not one this server sent; reconnect without it to start from the beginning.',
    );
  }
  return { attempt: Number(match[1]), offset: Number(match[2]), updatedAt: Number(match[3]) };
}

/** SSE `data:` lines for a piece of text: one per line, since a field cannot hold a line break. */
function dataLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
}

export function registerLiveRoutes(app: FastifyInstance, { jobs }: AppDeps): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/v1/jobs/:jobId/events',
    {
      schema: {
        'x-bsubio-extension': true,
        tags: ['Events'],
        operationId: 'streamJobEvents',
        summary: 'Extension: follow a job: state changes and log lines as server-sent events',
        description: EVENTS_DESCRIPTION,
        params: JobIdParamsSchema,
        querystring: JobEventsQuerySchema,
        headers: LastEventIdHeadersSchema,
        response: {
          200: rawResponse('The event stream', 'text/event-stream'),
          204: emptyResponse('The job ended and the client has already seen everything'),
          ...errors({
            400: 'A Last-Event-ID this server did not send',
            401: 'Missing, malformed or unknown API key',
            404: 'No such job for this user',
          }),
        },
      },
    },
    async (request, reply) => {
      const row = await jobs.get(request.userId, request.params.jobId);
      const resume = parseEventId(request.headers['last-event-id'] ?? request.query.last_event_id);
      let offset = 0;
      let sendCurrent = true;
      if (resume && resume.attempt === Number(row.attempts)) {
        offset = resume.offset;
        sendCurrent = resume.updatedAt !== Number(row.updated_at);
      }
      // A client that already saw the end: 204 tells an EventSource to stop reconnecting.
      if (jobs.isTerminal(row) && !sendCurrent && (await jobs.readLogFrom(row, offset)).length === 0) {
        return reply.code(204).send();
      }

      const stream = new PassThrough();
      let attempt = Number(row.attempts);
      let updatedAt = Number(row.updated_at);
      const write = (text: string) => {
        if (!stream.writableEnded) stream.write(text);
      };
      const stop = followJob(
        jobs,
        row,
        { offset, sendCurrent, wholeLines: true },
        {
          status(changed, sentOffset) {
            attempt = Number(changed.attempts);
            updatedAt = Number(changed.updated_at);
            const id = `${attempt}.${sentOffset}.${updatedAt}`;
            write(`id: ${id}\nevent: status\ndata: ${JSON.stringify(toWireJob(changed))}\n\n`);
          },
          log(bytes, endOffset) {
            // One event per line, each with the offset right after it.
            let start = 0;
            let at = endOffset - bytes.length;
            let out = '';
            while (start < bytes.length) {
              const newline = bytes.indexOf(10, start);
              const end = newline < 0 ? bytes.length : newline + 1;
              at += end - start;
              const line = bytes.toString('utf8', start, newline < 0 ? end : newline);
              out += `id: ${attempt}.${at}.${updatedAt}\nevent: log\n${dataLines(line)}\n`;
              start = end;
            }
            write(out);
          },
          end() {
            clearInterval(heartbeat);
            if (!stream.writableEnded) stream.end();
          },
        },
      );
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      reply.raw.once('close', () => {
        clearInterval(heartbeat);
        stop();
      });
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );
}

/** `logs?follow=1`: stderr as it is written, until the job ends. Undefined when not following. */
export async function followLogs(
  jobs: AppDeps['jobs'],
  userId: string,
  jobId: string,
  onClose: (stop: () => void) => void,
): Promise<PassThrough | undefined> {
  const row = await jobs.get(userId, jobId);
  if (jobs.isTerminal(row)) return undefined;
  const stream = new PassThrough();
  const stop = followJob(
    jobs,
    row,
    { offset: 0, sendCurrent: false, wholeLines: false },
    {
      status() {},
      log(bytes) {
        if (!stream.writableEnded) stream.write(Buffer.from(bytes));
      },
      end() {
        if (!stream.writableEnded) stream.end();
      },
    },
  );
  onClose(stop);
  return stream;
}
