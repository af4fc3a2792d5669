/**
 * Failures of what the server stands on, not of the request: a full disk, a
 * store that is locked or unreachable, blob storage that does not answer.
 * Each gets an answer a client can act on (507: storage full; 503 with
 * Retry-After: try again shortly) instead of a bare 500.
 */
import { ApiError } from '../services/api-error.js';

/** errno codes and driver codes of a full disk or quota. */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
/** The store is locked by another writer. */
const BUSY_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT']);
/** A connection to the store or blob storage that could not be made or was lost. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // PostgreSQL: shutting down, cannot connect now, too many connections.
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const UNREACHABLE_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|socket hang up/i;

/** How long a client should wait before retrying a 503 (seconds). */
export const RETRY_AFTER_SECONDS = 2;

/** The error and its causes, outermost first (AggregateError's members too). */
function* chain(err: unknown, depth = 0): Generator<{ code?: unknown; message?: unknown; name?: unknown }> {
  if (!err || typeof err !== 'object' || depth > 5) return;
  yield err as { code?: unknown };
  const e = err as { cause?: unknown; errors?: unknown };
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* chain(inner, depth + 1);
  yield* chain(e.cause, depth + 1);
}

/** The ApiError to answer for an infrastructure failure, or undefined when `err` is not one. */
export function infraApiError(err: unknown): ApiError | undefined {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (FULL_CODES.has(code)) {
      return new ApiError(
        'insufficient_storage',
        `The server's storage is full (${code}: no space left on device); nothing was stored. Retry once an operator has freed space.`,
      );
    }
    if (BUSY_CODES.has(code)) {
      return new ApiError(
        'unavailable',
        `The server's database is busy (${code}: locked by another writer); retry in ${RETRY_AFTER_SECONDS} seconds.`,
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
    if (UNREACHABLE_CODES.has(code) || (message && UNREACHABLE_MESSAGES.test(message))) {
      const what = message ? ` (${message.slice(0, 200)})` : code ? ` (${code})` : '';
      return new ApiError(
        'unavailable',
        `The server cannot reach its storage right now${what}; retry in ${RETRY_AFTER_SECONDS} seconds.`,
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
  }
  return undefined;
}
