/**
 * What a request log line may say about the request: its URL without the
 * secrets a query can carry (the upload token, a device code). Fastify's
 * default logs the whole URL, which would put every upload token in the logs.
 */
import type { FastifyRequest } from 'fastify';

/** Query parameters whose values are credentials. */
const SECRET_PARAMS = /([?&](?:token|code|api_key|key|device_code)=)[^&#]*/gi;

export function redactUrl(url: string): string {
  // Every secret is a `name=value`; most URLs have none to run the expression over.
  if (!url.includes('=')) return url;
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/** The `req` of request log lines (replaces Fastify's, which logs the raw URL). */
export function requestLogFields(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
