/**
 * Every failure ends as one line on stderr that says what happened and what
 * to do, and exit status 1 (on a terminal main.ts breaks it to the width).
 * Commands throw `CliError`; SDK errors are translated here, once, so every
 * command words the same failure alike.
 */
import { BsubError } from 'bsubio';

export class CliError extends Error {
  override name = 'CliError';
  /** What the user should do next: appended to the message. */
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** What a command was doing, so that a 404 can name the job. */
export interface ErrorContext {
  jobId?: string;
  baseUrl?: string;
}

export function errorLine(error: unknown, context: ErrorContext = {}): string {
  const { message, hint } = explain(error, context);
  const sentence = /[.!?]$/.test(message) ? message : `${message}.`;
  return hint ? `${sentence} ${hint}` : sentence;
}

function explain(error: unknown, context: ErrorContext): { message: string; hint?: string } {
  if (error instanceof CliError) return { message: error.message, hint: error.hint };
  if (!(error instanceof BsubError)) {
    const message = error instanceof Error ? error.message : String(error);
    return { message, hint: 'Run again with -debug for details.' };
  }
  const server = context.baseUrl ?? hostOf(error.url);
  const said = error.serverMessage ?? error.message;
  switch (error.kind) {
    case 'auth':
      return {
        message: `the server at ${server} rejected the API key (${said.replace(/\.$/, '')})`,
        hint: "Run 'bsubio config' to set a valid key, or set BSUBIO_API_KEY.",
      };
    case 'not_found':
      if (context.jobId) {
        return {
          message: `no job ${context.jobId} for this API key`,
          hint: "Run 'bsubio jobs' to list your jobs.",
        };
      }
      return { message: said };
    case 'network':
      return {
        message: `cannot reach ${server} (${causeOf(error)})`,
        hint: "Is the server running? Check the URL with 'bsubio config' or BSUBIO_BASE_URL.",
      };
    case 'timeout':
      return { message: error.message, hint: 'Check the network and try again.' };
    case 'rate_limited':
      return {
        message: said,
        hint: error.retryAfterMs
          ? `Try again in ${Math.ceil(error.retryAfterMs / 1000)} s.`
          : 'Wait a moment and try again.',
      };
    case 'server':
      return {
        message: `the server failed (${error.status}${error.requestId ? `, request id ${error.requestId}` : ''}): ${said}`,
        hint: 'Try again; if it keeps failing, report the request id to the operator.',
      };
    case 'invalid_response':
      return {
        message: error.message,
        hint: "The base URL must point at a bsub.io API: check it with 'bsubio config'.",
      };
    case 'job_failed': {
      const id = error.job?.id;
      return { message: error.message, hint: id ? `Run 'bsubio logs ${id}' to see its stderr.` : undefined };
    }
    default:
      return { message: said };
  }
}

function hostOf(url: string | undefined): string {
  if (!url) return 'the configured URL';
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function causeOf(error: BsubError): string {
  let cause: unknown = error.cause;
  let innermost = 'network error';
  // fetch wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  for (let depth = 0; depth < 4 && cause; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const message = (cause as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') innermost = message;
    cause = (cause as { cause?: unknown }).cause;
  }
  return innermost;
}
