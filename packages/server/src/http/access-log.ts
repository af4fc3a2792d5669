/**
 * The access log: one line per request, at its end, with the request's
 * fields (redacted, see log-redact.ts) beside the status and the time taken.
 * Fastify's own controller writes two lines, "incoming request" and
 * "request completed"; under load the second line cost as much as all the
 * rest of a small request's logging, and the first says nothing the last
 * cannot.
 */
import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

export class OneLineAccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    if (error) {
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        'request errored',
      );
    } else {
      reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}
