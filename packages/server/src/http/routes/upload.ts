/** `POST /v1/upload/{jobId}`: the input, streamed to storage (multipart, or a raw body as an extension). */
import type { IncomingMessage } from 'node:http';
import { MESSAGES } from '@bsubio/protocol';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../services/api-error.js';
import type { AppDeps } from '../app.js';
import { consumeFilePart } from '../multipart.js';

export function registerUploadRoutes(app: FastifyInstance, { jobs, maxUploadBytes }: AppDeps): void {
  app.post<{ Params: { jobId: string }; Querystring: { token?: string } }>(
    '/v1/upload/:jobId',
    { config: { auth: 'optional' } },
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
          .upload(job, { stream: request.raw, fileName: headerFileName(request.headers), contentType: null })
          .catch(closing);
      } else if (contentType === 'multipart/form-data') {
        loaded = await consumeFilePart(request.raw, (part) => jobs.upload(job, part)).catch(closing);
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
      return reply.send({ success: true, message: MESSAGES.uploaded, data_size: Number(loaded.data_size) });
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
function headerFileName(headers: Record<string, string | string[] | undefined>): string | null {
  const disposition = headers['content-disposition'];
  if (typeof disposition !== 'string') return null;
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match?.[1] ?? null;
}
