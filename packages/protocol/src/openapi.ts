/**
 * The OpenAPI 3.1 document, generated from the wire schemas so that the
 * served description can never drift from what the server validates.
 */

import { Type } from 'typebox';
import {
  AccountSchema,
  ApiKeyInfoSchema,
  DeviceAuthorizedResponseSchema,
  DeviceCodeRequestSchema,
  DeviceCodeResponseSchema,
  DevicePendingResponseSchema,
  DeviceSlowDownResponseSchema,
  DeviceTokenRequestSchema,
  SessionRequestSchema,
} from './auth.js';
import { EVENT_SCHEMAS } from './events.js';
import { OVERVIEW_SCHEMAS } from './overview.js';
import { NAMED_SCHEMAS } from './schemas.js';
import { JOB_STATES } from './states.js';

type JsonObject = { [key: string]: unknown };

/** Replace nested named schemas by `$ref`s and drop TypeBox's private keys. */
function toComponent(schema: unknown, isRoot: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => toComponent(s, false));
  if (schema === null || typeof schema !== 'object') return schema;
  const obj = schema as JsonObject;
  if (!isRoot && typeof obj.$id === 'string') return { $ref: `#/components/schemas/${obj.$id}` };
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === '$id') continue;
    out[key] = toComponent(value, false);
  }
  return out;
}

/** A schema written in place (the device flow's shapes have no component name). */
const inline = (schema: unknown) => toComponent(schema, true);
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(name) } },
});
const error = (description: string) => json('Error', description);
const jobIdParam = {
  name: 'jobId',
  in: 'path',
  required: true,
  description: 'Job id (UUID)',
  schema: { type: 'string', format: 'uuid' },
};
const unauthorized = error('Missing, malformed or unknown API key');
/** `{"success": true, "data": <schema>}` with the data's shape written in place. */
const success = (data: unknown, description: string) => ({
  description,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['success', 'data'],
        properties: { success: { const: true }, data: inline(data) },
      },
    },
  },
});
const csrfHeader = {
  name: 'x-bsubio-csrf',
  in: 'header',
  description:
    'Required (any value) when the session cookie authenticates a request that changes something: a cross-site form cannot send it',
  schema: { type: 'string' },
};
const notFound = error('No such job for this user');
const rateLimited = {
  ...error(
    'Extension: past the per-user request rate (BSUBIO_RATE_LIMIT); the sentence names the limit and its value',
  ),
  headers: {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  },
};
/** Any endpoint may answer this while a back end fails; documented where clients most need it. */
const storeUnavailable = {
  ...error(
    'The database is busy (locked by another writer) or unreachable, or blob storage is unreachable; nothing was changed. Retry after Retry-After',
  ),
  headers: {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
  },
};
const text = (description: string) => ({
  description,
  content: { 'text/plain': { schema: { type: 'string' } } },
});

const EVENTS_DESCRIPTION = [
  'Extension: a server-sent event stream (text/event-stream) of the job as it changes, answering as soon as',
  'anything happens. Events: `status` (data: the job JSON, sent first with the current state and on every change)',
  'and `log` (data: one line of stderr, without its line end, sent as the tool writes it). After the job is',
  'finished or failed the stream sends the remaining log lines, then the final `status`, then ends. Comments',
  '(`: keep-alive`) come every 15 s. Each event has an id; reconnecting with `Last-Event-ID` (header, or the',
  '`last_event_id` query parameter) resumes after it without repeating or losing lines; when the client has',
  'already seen the end, the answer is 204 so an EventSource stops reconnecting.',
].join(' ');

const USER_EVENTS_DESCRIPTION = [
  "Extension: one server-sent event stream (text/event-stream) with every change of any of the caller's jobs,",
  'so a client holds one connection whatever the number of jobs. Every event has `id` (an opaque cursor),',
  '`event` and `data` (one line of JSON). Events: `ready` (data `{}`: sent first on every connection, after any',
  'replay; the stream is live, fetch lists now), `job` (data: the job as GET /v1/jobs/{jobId} returns it, without',
  'its upload_token; on creation, every state change and other visible changes), `deleted` (data: DeletedEvent; deleted by its',
  'owner or by retention), `log` (data: LogEvent; new stderr of a running job, only with `logs=1`) and `reset`',
  '(data `{}`: events were lost, refetch lists; the stream goes on). Comments (`: ping`) come every 15 s.',
  'Reconnecting with `Last-Event-ID` (header, or `last_event_id`) replays the events after it from a bounded',
  'window the server keeps per user while a stream is open and five minutes after; an unknown or too old cursor',
  '(another replica, a restart) gets `reset`. A client that reads too slowly (1 MiB of events waiting) gets',
  '`reset` and the end of the stream. The session cookie authenticates too, so an EventSource works.',
].join(' ');

const rangeParam = {
  name: 'Range',
  in: 'header',
  description:
    'Extension: one byte range (`bytes=0-1048575`, `bytes=1024-`, `bytes=-4096`) for a 206 with only those bytes; several ranges, other units or bad syntax are ignored (200, everything). An empty body is always served whole.',
  schema: { type: 'string' },
};
const partial = (description: string, mime: string) => ({
  description: `Extension: ${description}`,
  headers: {
    'Content-Range': { description: '`bytes <first>-<last>/<size>`', schema: { type: 'string' } },
  },
  content: { [mime]: { schema: { type: 'string', format: 'binary' } } },
});
const rangeNotSatisfiable = {
  ...error('Extension: the Range starts past the end'),
  headers: { 'Content-Range': { description: '`bytes */<size>`', schema: { type: 'string' } } },
};

const SIGNATURE_DESCRIPTION = [
  'Extension: when a job that has a webhook_url becomes finished or failed, bsubio POSTs the job JSON',
  '(the `data` of GET /v1/jobs/{jobId}) to it with the headers `Bsubio-Event` (job.finished | job.failed),',
  '`Bsubio-Delivery` (delivery id) and `Bsubio-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"',
  "keyed with the user's secret>`. Any 2xx answer is success; otherwise it is retried with exponential backoff",
  '(BSUBIO_WEBHOOK_RETRY_BASE doubling, at most an hour apart) for BSUBIO_WEBHOOK_RETRY_WINDOW (24 h).',
].join(' ');

export interface OpenApiOptions {
  version: string;
  serverUrl?: string;
}

export function buildOpenApiDocument(options: OpenApiOptions): JsonObject {
  const schemas: JsonObject = {};
  for (const schema of [...NAMED_SCHEMAS, ...EVENT_SCHEMAS, ...OVERVIEW_SCHEMAS]) {
    schemas[(schema as { $id?: string }).$id as string] = toComponent(schema, true);
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'bsubio API',
      version: options.version,
      description:
        'Batch processing for command-line tools: create a job, upload its input, submit it, ' +
        'then fetch stdout as output and stderr as logs. Compatible with the bsub.io API; ' +
        'fields and parameters marked "Extension" are bsubio additions that unmodified clients ignore.',
    },
    servers: [{ url: options.serverUrl ?? 'http://127.0.0.1:9986' }],
    components: {
      securitySchemes: { BearerAuth: { type: 'http', scheme: 'bearer', description: 'API key' } },
      schemas,
    },
    security: [{ BearerAuth: [] }],
    paths: {
      '/v1/jobs': {
        post: {
          operationId: 'createJob',
          summary: 'Create a new job',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              description:
                'Extension: 1 to 255 visible ASCII characters. The same key with the same body within 24 hours returns the same job (header Idempotent-Replayed: true); with a different body, 409.',
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('CreateJobRequest') } },
          },
          responses: {
            '201': json('JobResponse', 'Job created, status created, with an upload_token'),
            '400': error('Missing or unknown type, invalid params, or a webhook_url that is refused'),
            '401': unauthorized,
            '409': error(
              'Extension: the Idempotency-Key was used with a different body in the last 24 hours',
            ),
            '429': rateLimited,
            '503': storeUnavailable,
          },
        },
        get: {
          operationId: 'listJobs',
          summary: "List the caller's jobs, newest first",
          parameters: [
            { name: 'status', in: 'query', schema: { type: 'string', enum: [...JOB_STATES] } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            },
            {
              name: 'cursor',
              in: 'query',
              description:
                'Extension: the next_cursor of the previous page, to list past the first 100; limit and total keep their meaning',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': json('ListJobsResponse', 'Jobs and the total matching the filter before limit'),
            '400': error('Unknown status, limit outside 1..100, or a cursor this server did not give'),
            '401': unauthorized,
            '429': rateLimited,
          },
        },
      },
      '/v1/jobs/{jobId}': {
        get: {
          operationId: 'getJob',
          summary: 'Get job details',
          parameters: [
            jobIdParam,
            {
              name: 'wait',
              in: 'query',
              description:
                'Extension: wait up to this many seconds (max 60) for the job to become terminal before answering',
              schema: { type: 'number', minimum: 0, maximum: 60 },
            },
          ],
          responses: { '200': json('JobResponse', 'The job'), '401': unauthorized, '404': notFound },
        },
        delete: {
          operationId: 'deleteJob',
          summary: 'Delete a finished or failed job and all its data',
          parameters: [jobIdParam],
          responses: {
            '204': { description: 'Deleted' },
            '401': unauthorized,
            '404': notFound,
            '409': error('Job is not finished or failed'),
          },
        },
      },
      '/v1/upload/{jobId}': {
        post: {
          operationId: 'uploadJobData',
          summary: 'Upload the input file of a created job',
          security: [{}, { BearerAuth: [] }],
          parameters: [
            jobIdParam,
            {
              name: 'token',
              in: 'query',
              required: true,
              schema: { type: 'string' },
              description: 'upload_token',
            },
          ],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file'],
                  properties: { file: { type: 'string', format: 'binary' } },
                },
              },
              'application/octet-stream': {
                schema: { type: 'string', format: 'binary' },
                description: 'Extension: the raw file as the body',
              },
            },
          },
          responses: {
            '200': json('UploadResponse', 'Stored; the job is loaded'),
            '400': error('Missing token, no file part, or job not in created'),
            '401': error('Wrong upload token'),
            '404': notFound,
            '413': error(
              "Larger than the upload limit, or (extension) past the user's storage limit BSUBIO_MAX_STORED_BYTES; nothing kept, job stays created",
            ),
            '415': error('Body is neither multipart/form-data nor application/octet-stream'),
            '503': storeUnavailable,
            '507': error(
              "The server's storage is full (no space left on device); nothing kept, job stays created. Retry once space is freed",
            ),
          },
        },
      },
      '/v1/jobs/{jobId}/submit': {
        post: {
          operationId: 'submitJob',
          summary: 'Submit a loaded job for processing',
          parameters: [jobIdParam],
          responses: {
            '200': json('MessageResponse', 'Job is pending'),
            '400': error('Job is not loaded'),
            '401': unauthorized,
            '404': notFound,
            '429': {
              ...rateLimited,
              description:
                'Extension: the user already has as many jobs pending or running as allowed (BSUBIO_MAX_ACTIVE_JOBS), or past the request rate',
            },
          },
        },
      },
      '/v1/jobs/{jobId}/cancel': {
        post: {
          operationId: 'cancelJob',
          summary: 'Cancel a job that is not terminal; it becomes failed with ECANCELED',
          parameters: [jobIdParam],
          responses: {
            '200': json('MessageResponse', 'Cancelled'),
            '400': error('Job is already finished or failed'),
            '401': unauthorized,
            '404': notFound,
          },
        },
      },
      '/v1/jobs/{jobId}/output': {
        get: {
          operationId: 'getJobOutput',
          summary: "The tool's stdout of a finished job",
          parameters: [
            jobIdParam,
            rangeParam,
            {
              name: 'inline',
              in: 'query',
              description:
                "Extension: 1 serves the output to be shown in the dashboard's preview frame: Content-Disposition inline, and its own Content-Security-Policy `sandbox; default-src 'none'; style-src 'unsafe-inline' data:; img-src data:; font-src data:; frame-ancestors 'self'` (no script runs, nothing is fetched, only this server's pages may frame it). The session cookie signs it in, so an iframe src works.",
              schema: { type: 'string', enum: ['1', '0'] },
            },
          ],
          responses: {
            '200': {
              description:
                'Raw bytes with the type output MIME and a Content-Disposition filename; Accept-Ranges: bytes',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '206': partial('the bytes the Range asked for', 'application/octet-stream'),
            '400': error('Extension: inline is not 1 or 0'),
            '401': unauthorized,
            '404': notFound,
            '409': error('Job is not finished'),
            '416': rangeNotSatisfiable,
          },
        },
      },
      '/v1/jobs/{jobId}/logs': {
        get: {
          operationId: 'getJobLogs',
          summary: "The tool's stderr, in any state (empty when nothing yet)",
          parameters: [
            jobIdParam,
            {
              name: 'follow',
              in: 'query',
              description:
                'Extension: 1 streams stderr as the tool writes it and ends when the job is finished or failed (Range is then ignored)',
              schema: { type: 'string', enum: ['1', '0'] },
            },
            rangeParam,
          ],
          responses: {
            '200': {
              description: 'Logs (while the job runs: what the tool wrote so far)',
              content: { 'text/plain; charset=utf-8': { schema: { type: 'string' } } },
            },
            '206': partial('the bytes of the log the Range asked for', 'text/plain; charset=utf-8'),
            '401': unauthorized,
            '404': notFound,
            '416': rangeNotSatisfiable,
          },
        },
      },
      '/v1/jobs/{jobId}/input': {
        get: {
          operationId: 'getJobInput',
          summary: 'Extension: the input as it was uploaded, to download it or run it again',
          parameters: [jobIdParam, rangeParam],
          responses: {
            '200': {
              description: 'The input, with its content type and file name as uploaded',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '206': partial('the bytes of the input the Range asked for', 'application/octet-stream'),
            '401': unauthorized,
            '404': notFound,
            '409': error('The job has no input yet'),
            '416': rangeNotSatisfiable,
          },
        },
      },
      '/v1/jobs/{jobId}/events': {
        get: {
          operationId: 'streamJobEvents',
          summary: 'Extension: follow a job: state changes and log lines as server-sent events',
          description: EVENTS_DESCRIPTION,
          parameters: [
            jobIdParam,
            {
              name: 'Last-Event-ID',
              in: 'header',
              description: 'Resume after this event id',
              schema: { type: 'string' },
            },
            {
              name: 'last_event_id',
              in: 'query',
              description: 'Same as the Last-Event-ID header, for clients that cannot set it',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': {
              description: 'The event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '204': { description: 'The job ended and the client has already seen everything' },
            '400': error('A Last-Event-ID this server did not send'),
            '401': unauthorized,
            '404': notFound,
          },
        },
      },
      '/v1/events': {
        get: {
          operationId: 'streamUserEvents',
          summary: "Extension: every change of the caller's jobs, as one server-sent event stream",
          description: USER_EVENTS_DESCRIPTION,
          parameters: [
            {
              name: 'logs',
              in: 'query',
              description: 'Also send `log` events with the stderr of running jobs',
              schema: { type: 'string', enum: ['1', '0'] },
            },
            {
              name: 'job',
              in: 'query',
              description: 'Only the events of this job',
              schema: { type: 'string', format: 'uuid' },
            },
            {
              name: 'Last-Event-ID',
              in: 'header',
              description: 'Resume after this event id',
              schema: { type: 'string' },
            },
            {
              name: 'last_event_id',
              in: 'query',
              description: 'Same as the Last-Event-ID header, for clients that cannot set it',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': {
              description:
                'The event stream; data of `job` is a Job, of `deleted` a DeletedEvent, of `log` a LogEvent',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '400': error('logs is not 1 or 0, or job is not a job id'),
            '401': unauthorized,
            '404': error('The job given in `job` does not exist for this user'),
          },
        },
      },
      '/v1/overview': {
        get: {
          operationId: 'getOverview',
          summary: "Extension: the caller's queue at a glance, for the dashboard's overview page",
          description:
            "Jobs per state now (and how many of the failed were cancelled), per type, jobs finished and failed per 5 minutes over the last hour and per hour over the last day, the queue wait (submitted → claimed) p50/p95 over the last hour and day, and the workers heard from in the last hour with how many of the caller's jobs each holds.",
          responses: {
            '200': json('OverviewResponse', 'The overview'),
            '401': unauthorized,
            '429': rateLimited,
          },
        },
      },
      '/v1/jobs/{jobId}/position': {
        get: {
          operationId: 'getJobPosition',
          summary: 'Extension: where a pending job stands in the queue',
          description:
            'Workers take the oldest pending job of the types they run first; position 1 is the next of its type to be claimed (all users counted). Null when the job is not pending.',
          parameters: [jobIdParam],
          responses: {
            '200': json('PositionResponse', 'The position'),
            '401': unauthorized,
            '404': notFound,
          },
        },
      },
      '/v1/jobs/{jobId}/timeline': {
        get: {
          operationId: 'getJobTimeline',
          summary: 'Extension: when each step of a job happened, with durations, attempts and worker',
          parameters: [jobIdParam],
          responses: {
            '200': json('TimelineResponse', 'The timeline'),
            '401': unauthorized,
            '404': notFound,
          },
        },
      },
      '/v1/jobs/{jobId}/deliveries': {
        get: {
          operationId: 'listJobDeliveries',
          summary: "Extension: the job's webhook deliveries and their attempts",
          description: SIGNATURE_DESCRIPTION,
          parameters: [jobIdParam],
          responses: {
            '200': json('DeliveriesResponse', 'Deliveries, oldest first (empty when the job has no webhook)'),
            '401': unauthorized,
            '404': notFound,
          },
        },
      },
      '/v1/webhook': {
        get: {
          operationId: 'getWebhookSettings',
          summary: "Extension: the user's default webhook URL and signing secret",
          description: SIGNATURE_DESCRIPTION,
          responses: { '200': json('WebhookSettingsResponse', 'Settings'), '401': unauthorized },
        },
        put: {
          operationId: 'setWebhookSettings',
          summary: 'Extension: set (or with null, remove) the default webhook URL of new jobs',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['url'],
                  properties: { url: { anyOf: [{ type: 'string', format: 'uri' }, { type: 'null' }] } },
                },
              },
            },
          },
          responses: {
            '200': json('WebhookSettingsResponse', 'Settings'),
            '400': error('Not an http(s) URL, or a private, loopback or link-local host'),
            '401': unauthorized,
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Extension: liveness: the process answers',
          security: [],
          responses: { '200': { description: '{"status": "ok"}' } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Extension: readiness: the store answers and the server is not shutting down',
          security: [],
          responses: {
            '200': { description: '{"status": "ready"}' },
            '503': error('Not ready, and why'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Extension: Prometheus metrics',
          description:
            'bsubio_jobs{state,type}, bsubio_queue_depth, bsubio_webhook_deliveries{status}, histograms bsubio_job_wait_seconds{type}, bsubio_job_run_seconds{type,status} and bsubio_http_request_duration_seconds{method,route,status}, process_resident_memory_bytes, process_uptime_seconds.',
          security: [],
          responses: { '200': text('Prometheus text exposition format 0.0.4') },
        },
      },
      '/docs': {
        get: {
          operationId: 'docs',
          summary: 'Extension: this document as a page for people',
          security: [],
          responses: {
            '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } },
          },
        },
      },
      '/static/openapi.yaml': {
        get: {
          operationId: 'openapi',
          summary: 'This OpenAPI document',
          security: [],
          responses: {
            '200': {
              description: 'OpenAPI 3.1, YAML',
              content: { 'application/yaml': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/v1/auth/session': {
        post: {
          operationId: 'signIn',
          summary: 'Extension: sign in to the dashboard (sets the session cookie)',
          description:
            'With an email and password, or with an API key. Sends the HttpOnly, SameSite=Strict cookie that then authenticates /v1 requests without an Authorization header; a cookie-authenticated request that changes anything must send the x-bsubio-csrf header. Failed sign-ins are throttled per email and per address.',
          security: [],
          parameters: [csrfHeader],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: inline(SessionRequestSchema) } },
          },
          responses: {
            '200': success(AccountSchema, 'Signed in'),
            '400': error('Neither email and password nor api_key'),
            '401': error('Wrong email or password, or an unknown key'),
            '403': error('No x-bsubio-csrf header, or another origin'),
            '429': rateLimited,
          },
        },
        get: {
          operationId: 'getSession',
          summary: 'Extension: who is signed in, and how (key, session or key_session)',
          responses: {
            '200': success(
              Type.Object({ id: Type.String(), email: Type.String(), via: Type.String() }),
              'The account',
            ),
            '401': unauthorized,
          },
        },
        delete: {
          operationId: 'signOut',
          summary: 'Extension: sign out (ends the session and clears the cookie)',
          security: [],
          parameters: [csrfHeader],
          responses: { '204': { description: 'Signed out' }, '403': error('No x-bsubio-csrf header') },
        },
      },
      '/v1/auth/keys': {
        get: {
          operationId: 'listApiKeys',
          summary: "Extension: the signed-in user's API keys (prefixes, never the keys)",
          description: 'Only for a session signed in with a password (not with an API key).',
          responses: {
            '200': success(Type.Object({ keys: Type.Array(ApiKeyInfoSchema) }), 'Keys'),
            '401': unauthorized,
            '403': error('Not a password session'),
          },
        },
        post: {
          operationId: 'createApiKey',
          summary: 'Extension: a new API key, shown once',
          description: 'Only for a session signed in with a password (not with an API key).',
          parameters: [csrfHeader],
          requestBody: {
            content: {
              'application/json': { schema: inline(Type.Object({ label: Type.Optional(Type.String()) })) },
            },
          },
          responses: {
            '201': success(Type.Object({ api_key: Type.String(), key: ApiKeyInfoSchema }), 'The key'),
            '401': unauthorized,
            '403': error('Not a password session, or no x-bsubio-csrf header'),
          },
        },
      },
      '/v1/auth/keys/{keyId}': {
        delete: {
          operationId: 'revokeApiKey',
          summary: 'Extension: revoke an API key (its next request is refused)',
          parameters: [{ name: 'keyId', in: 'path', required: true, schema: { type: 'string' } }, csrfHeader],
          responses: {
            '204': { description: 'Revoked' },
            '401': unauthorized,
            '403': error('Not a password session, or no x-bsubio-csrf header'),
            '404': error('No such key for this user'),
          },
        },
      },
      '/v1/auth/device': {
        get: {
          operationId: 'describeDeviceSignIn',
          summary: 'Extension: the device sign-in a user code names, before approving it',
          parameters: [{ name: 'code', in: 'query', required: true, schema: { type: 'string' } }],
          responses: {
            '200': success(
              Type.Object({
                user_code: Type.String(),
                hostname: Type.String(),
                created_at: Type.String({ format: 'date-time' }),
                expires_at: Type.String({ format: 'date-time' }),
              }),
              'The device sign-in',
            ),
            '401': unauthorized,
            '403': error('Not a password session'),
            '404': error('No pending sign-in with this code'),
          },
        },
      },
      '/v1/auth/device/approve': {
        post: {
          operationId: 'decideDeviceSignIn',
          summary: 'Extension: approve or deny a device sign-in (bsubio register)',
          parameters: [csrfHeader],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: inline(Type.Object({ user_code: Type.String(), approve: Type.Boolean() })),
              },
            },
          },
          responses: {
            '200': json('MessageResponse', 'Approved or denied'),
            '400': error('No user_code or approve'),
            '401': unauthorized,
            '403': error('Not a password session, or no x-bsubio-csrf header'),
            '404': error('No pending sign-in with this code'),
          },
        },
      },
      '/v1/auth/device/code': {
        post: {
          operationId: 'startDeviceSignIn',
          summary: 'Extension: start the device sign-in of bsubio register',
          description:
            "Returns a secret device_code for polling and a user_code that a signed-in user approves on verification_uri (the dashboard's /device page).",
          security: [],
          requestBody: { content: { 'application/json': { schema: inline(DeviceCodeRequestSchema) } } },
          responses: {
            '200': {
              description: 'Codes',
              content: { 'application/json': { schema: inline(DeviceCodeResponseSchema) } },
            },
          },
        },
      },
      '/v1/auth/device/token': {
        post: {
          operationId: 'pollDeviceSignIn',
          summary: 'Extension: poll a device sign-in until it is approved',
          description:
            'Poll no faster than `interval` seconds. Once approved, the API key is handed out once.',
          security: [],
          requestBody: { content: { 'application/json': { schema: inline(DeviceTokenRequestSchema) } } },
          responses: {
            '200': {
              description: 'Approved: a new API key for this machine',
              content: { 'application/json': { schema: inline(DeviceAuthorizedResponseSchema) } },
            },
            '202': {
              description: 'Not approved yet',
              content: { 'application/json': { schema: inline(DevicePendingResponseSchema) } },
            },
            '400': error('Unknown device_code or user_code'),
            '403': error('Denied by the user'),
            '410': error('Expired or already used'),
            '429': {
              description: 'Polled too fast; use the new interval',
              content: { 'application/json': { schema: inline(DeviceSlowDownResponseSchema) } },
            },
          },
        },
      },
      '/v1/types': {
        get: {
          operationId: 'getTypes',
          summary: 'Processing types',
          security: [],
          responses: { '200': json('TypesResponse', 'All processing types') },
        },
      },
      '/v1/version': {
        get: {
          operationId: 'getVersion',
          summary: 'Server version',
          security: [],
          responses: { '200': json('VersionResponse', 'Version') },
        },
      },
    },
  };
}
