/**
 * The dashboard's session cookie and the CSRF rule for requests it
 * authenticates. The cookie is HttpOnly (page scripts never see it),
 * SameSite=Strict (other sites' pages never send it) and Secure behind TLS.
 * On top of that, a request that changes anything with only the cookie must
 * carry the `x-bsubio-csrf` header, which a cross-site form cannot send and
 * a cross-site script cannot send without a CORS preflight that this server
 * refuses for it; and its Origin, when sent, must be this server.
 */
import { CSRF_HEADER } from '@bsubio/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../services/api-error.js';

export const SESSION_COOKIE = 'bsubio_session';

export function readSessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * TLS either here or at a trusted proxy in front that says so (Fastify reads
 * X-Forwarded-Proto into request.protocol only for --trust-proxy's proxies).
 */
function isSecure(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  maxAgeSeconds: number,
): void {
  const secure = isSecure(request) ? '; Secure' : '';
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`,
  );
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  const secure = isSecure(request) ? '; Secure' : '';
  reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure}`);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Throws 403 when a cookie-authenticated request that changes state could come from another site. */
export function checkCsrf(request: FastifyRequest): void {
  if (SAFE_METHODS.has(request.method)) return;
  if (request.headers[CSRF_HEADER] === undefined) {
    throw new ApiError(
      'forbidden',
      `A request signed in by the session cookie must send the ${CSRF_HEADER} header to change anything; API clients send "Authorization: Bearer <api-key>" instead.`,
    );
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {}
    if (host !== request.headers.host) {
      throw new ApiError('forbidden', `Requests from ${origin} may not use this server's session cookie.`);
    }
  } else if (origin === 'null') {
    throw new ApiError('forbidden', 'Requests from an opaque origin may not use the session cookie.');
  }
}
