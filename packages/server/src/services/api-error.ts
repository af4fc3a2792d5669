/** A client-facing error, thrown by services and routes alike: its HTTP status comes from its code (protocol HTTP_ERRORS). */
import { type ErrorBody, HTTP_ERRORS, type HttpErrorCode } from '@bsubio/protocol';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.statusCode = HTTP_ERRORS[code];
  }

  toBody(): ErrorBody {
    return { success: false, error: this.message, code: this.code };
  }
}

export const jobNotFound = (id: string) =>
  new ApiError('not_found', `No job ${id} was found for this API key; list your jobs with GET /v1/jobs.`);
