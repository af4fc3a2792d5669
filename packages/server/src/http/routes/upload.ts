/** `POST /v1/upload/{jobId}`: the input, streamed to storage (multipart, or a raw body as an extension). */
import type { IncomingMessage } from 'node:http';
import {
  JobIdParamsSchema,
  MESSAGES,
  UploadHeadersSchema,
  UploadQuerySchema,
  UploadResponseSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from '../../services/api-error.js';
import type { AppDeps } from '../app.js';
import { consumeFilePart } from '../multipart.js';
import { described, errors, STREAMED } from '../schemas.js';

/** The two upload bodies, documented here and read as streams by the route (never buffered). */
const UPLOAD_BODY = {
  content: {
    'multipart/form-data': {
      schema: { ...Type.Object({ file: Type.String({ format: 'binary' }) }), [STREAMED]: true },
    },
    'application/octet-stream': {
      schema: {
        ...Type.String({ format: 'binary', description: 'Extension: the raw file as the body' }),
        [STREAMED]: true,
      },
    },
  },
};

export function registerUploadRoutes(app: FastifyInstance, { jobs, maxUploadBytes }: AppDeps): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/v1/upload/:jobId',
    {
      config: { auth: 'optional' },
      schema: {
        operationId: 'uploadJobData',
        summary: 'Upload the input file of a created job',
        tags: ['Jobs'],
        security: [{}, { BearerAuth: [] }],
        params: JobIdParamsSchema,
        querystring: UploadQuerySchema,
        headers: UploadHeadersSchema,
        body: UPLOAD_BODY,
        response: {
          200: described(UploadResponseSchema, 'Stored; the job is loaded'),
          ...errors({
            400: 'Missing token, no file part, or job not in created',
            401: 'Wrong upload token',
            404: 'No such job for this user',
            413: "Larger than the upload limit, or (extension) past the user's storage limit BSUBIO_MAX_STORED_BYTES; nothing kept, job stays created",
            415: 'Body is neither multipart/form-data nor application/octet-stream',
            503: 'The database is busy (locked by another writer) or unreachable, or blob storage is unreachable; nothing was changed. Retry after Retry-After',
            507: "The server's storage is full (no space left on device); nothing kept, job stays created. Retry once space is freed",
          }),
        },
      },
    },
    async (request, reply) => {
      const callerUserId = request.userId || undefined;
      const job = await jobs.authorizeUpload(request.params.jobId, request.query.token, callerUserId);
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // Whatever goes wrong past this point, the client may still be sending.
      const closing = (err: unknown) => {
        discardRestOfBody(request.raw);
        throw err;
      };

      let loaded: Awaited<ReturnType<typeof jobs.upload>> | undefined;
      if (contentType === 'application/octet-stream') {
        const declared = Number(request.headers['content-length']);
        if (declared > maxUploadBytes) {
          closing(
            new ApiError(
              'payload_too_large',
              `The file is larger than the upload limit of ${maxUploadBytes} bytes.`,
            ),
          );
        }
        loaded = await jobs
          .upload(job, {
            stream: request.raw,
            fileName: headerFileName(request.headers['content-disposition']),
            contentType: null,
            // The body is read by this route alone.
            releaseWritten: true,
          })
          .catch(closing);
      } else if (contentType === 'multipart/form-data') {
        loaded = await consumeFilePart(request.raw, (part) =>
          // The parser hands each piece on and keeps none (it copies what it holds back).
          jobs.upload(job, { ...part, releaseWritten: true }),
        ).catch(closing);
        if (!loaded) {
          throw new ApiError(
            'bad_request',
            'The form has no part named "file"; send the input as the "file" field.',
          );
        }
      } else {
        throw new ApiError(
          'unsupported_media_type',
          'Send the file as multipart/form-data (a part named "file") or as application/octet-stream.',
        );
      }
      return reply.send({
        success: true as const,
        message: MESSAGES.uploaded,
        data_size: Number(loaded.data_size),
      });
    },
  );
}

/** How long a refused upload's client may go on sending before it is cut off. */
const DRAIN_MS = 5_000;

/**
 * After a refusal (too large, over quota) the client is usually mid-body.
 * Closing the connection at once makes its next write fail with a reset,
 * often before it has read our answer, so the user sees "connection reset"
 * instead of "too large". So read and throw away the rest for a while (the
 * connection stays usable), and cut off only a client still sending after that.
 */
function discardRestOfBody(req: IncomingMessage): void {
  if (req.complete) return;
  req.unpipe();
  const cutOff = setTimeout(() => req.socket.destroy(), DRAIN_MS);
  cutOff.unref();
  const stop = () => clearTimeout(cutOff);
  req.once('end', stop).once('close', stop);
  req.resume();
}

/** A raw upload may name its file with `Content-Disposition: attachment; filename="..."`. */
function headerFileName(disposition: string | undefined): string | null {
  if (disposition === undefined) return null;
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match?.[1] ?? null;
}
