/**
 * Cross-origin access for browser clients (the SDK in a page served from
 * another origin). Every API call authenticates with a bearer key, never with
 * a cookie, so any origin may call: a page without the key gets nothing a
 * plain HTTP client would not. Credentials (cookies) are never allowed
 * cross-origin.
 */
import type { FastifyInstance } from 'fastify';

const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'content-disposition',
  'idempotency-key',
  'last-event-id',
];
const EXPOSED_HEADERS = ['retry-after', 'content-disposition', 'x-request-id'];
const ALLOWED_METHODS = ['GET', 'POST', 'DELETE'];
const EXPOSED = EXPOSED_HEADERS.join(', ');

export function registerCors(app: FastifyInstance): void {
  // First hook of all, so that errors (401, 429…) are readable by the page too.
  // A callback, not an async function: Fastify goes on to the next hook at
  // once instead of after a promise settles, on every request.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.headers.origin !== undefined) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-expose-headers', EXPOSED);
    }
    done();
  });
  // Preflight: answered for any path, before authentication (browsers send no key with it).
  app.options('*', { config: { auth: 'none' } }, async (_request, reply) => {
    return reply
      .code(204)
      .header('access-control-allow-methods', ALLOWED_METHODS.join(', '))
      .header('access-control-allow-headers', ALLOWED_HEADERS.join(', '))
      .header('access-control-max-age', '600')
      .send();
  });
}
