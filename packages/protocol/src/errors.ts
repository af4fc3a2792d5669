/**
 * The machine-readable `code` of an HTTP error body, with its status.
 * API.md: every non-2xx answer is `{"success": false, "error": "<sentence>"}`,
 * and an extra `code` is allowed; clients (our SDK) map these to error kinds.
 */
export const HTTP_ERRORS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  request_timeout: 408,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** Extension: a Range that starts past the end of the output or logs. */
  range_not_satisfiable: 416,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
  insufficient_storage: 507,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** The messages of successful answers that official clients may show verbatim. */
export const MESSAGES = {
  uploaded: 'File uploaded successfully',
  submitted: 'Job submitted for processing',
  cancelled: 'Job cancelled',
} as const;
