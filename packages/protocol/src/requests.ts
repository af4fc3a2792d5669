/**
 * What each route takes besides its JSON body: path parameters, query
 * strings and headers, and the small bodies of the extensions. The server
 * validates requests with these (Fastify route schemas) and documents them in
 * its OpenAPI document, so what is checked and what is described are one.
 *
 * `errorMessage` is the sentence a client gets (400) when that value is
 * wrong; `{value}` in it stands for what was sent. Without one, the server
 * says which field is wrong and how. An empty query parameter (`?status=`)
 * counts as not given.
 */
import { type Static, Type } from 'typebox';
import { JobErrorCodeSchema } from './schemas.js';
import { JOB_STATES } from './states.js';

/** Longest `?wait=` a GET of a job holds the answer, in seconds; longer waits are cut to this. */
export const MAX_WAIT_SECONDS = 60;

/** `1`/`true` or `0`/`false`: a yes-or-no query parameter. */
function flag(name: string, description: string) {
  return Type.Optional(
    Type.Enum(['1', '0', 'true', 'false'], {
      description,
      errorMessage: `The ${name} parameter must be 1 or 0, not "{value}".`,
    }),
  );
}

/** True for a flag sent as `1` or `true`. */
export function flagIsSet(value: string | undefined): boolean {
  return value === '1' || value === 'true';
}

export const JobIdParamsSchema = Type.Object({
  jobId: Type.String({
    description: 'Job id (UUID); any other value is answered 404 like an unknown id',
  }),
});

export const KeyIdParamsSchema = Type.Object({
  keyId: Type.String({ description: 'The id of the API key, from GET /v1/auth/keys' }),
});

export const ListJobsQuerySchema = Type.Object({
  status: Type.Optional(
    Type.Enum(JOB_STATES, {
      description: 'Only jobs in this state',
      errorMessage: `Unknown status "{value}"; use one of ${JOB_STATES.join(', ')}.`,
    }),
  ),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 20,
      description: 'How many jobs at most',
      errorMessage: 'The limit must be an integer from 1 to 100, not "{value}".',
    }),
  ),
  cursor: Type.Optional(
    Type.String({
      description:
        'Extension: the next_cursor of the previous page, to list past the first 100; limit and total keep their meaning',
      errorMessage: 'Send one cursor: the next_cursor of the previous page.',
    }),
  ),
  type: Type.Optional(
    Type.String({
      description: 'Extension: only jobs of this processing type, as given at creation (not its aliases)',
      errorMessage: 'Send one type: a processing type from GET /v1/types.',
    }),
  ),
});
export type ListJobsQuery = Static<typeof ListJobsQuerySchema>;

export const GetJobQuerySchema = Type.Object({
  wait: Type.Optional(
    Type.Number({
      minimum: 0,
      description: `Extension: wait up to this many seconds (at most ${MAX_WAIT_SECONDS}; more is cut to ${MAX_WAIT_SECONDS}) for the job to become finished or failed before answering`,
      errorMessage: `The wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}.`,
    }),
  ),
});

export const CreateJobHeadersSchema = Type.Object({
  'Idempotency-Key': Type.Optional(
    Type.String({
      pattern: '^[\\x21-\\x7e]{1,255}$',
      description:
        'Extension: 1 to 255 visible ASCII characters. The same key with the same body within 24 hours returns the same job (header Idempotent-Replayed: true); with a different body, 409.',
      errorMessage:
        'The Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).',
    }),
  ),
});

export const RangeHeadersSchema = Type.Object({
  Range: Type.Optional(
    Type.String({
      description:
        'Extension: one byte range (`bytes=0-1048575`, `bytes=1024-`, `bytes=-4096`) for a 206 with only those bytes; several ranges, other units or bad syntax are ignored (200, everything). An empty body is always served whole.',
    }),
  ),
});

export const OutputQuerySchema = Type.Object({
  inline: flag(
    'inline',
    "Extension: 1 serves the output to be shown in the dashboard's preview frame: Content-Disposition inline, and its own Content-Security-Policy `sandbox; default-src 'none'; style-src 'unsafe-inline' data:; img-src data:; font-src data:; frame-ancestors 'self'` (no script runs, nothing is fetched, only this server's pages may frame it). The session cookie signs it in, so an iframe src works.",
  ),
});

export const LogsQuerySchema = Type.Object({
  follow: flag(
    'follow',
    'Extension: 1 streams stderr as the tool writes it and ends when the job is finished or failed (Range is then ignored)',
  ),
});

const LastEventIdQuery = Type.Optional(
  Type.String({ description: 'Same as the Last-Event-ID header, for clients that cannot set it' }),
);

export const LastEventIdHeadersSchema = Type.Object({
  'Last-Event-ID': Type.Optional(Type.String({ description: 'Resume after this event id' })),
});

export const JobEventsQuerySchema = Type.Object({ last_event_id: LastEventIdQuery });

export const UserEventsQuerySchema = Type.Object({
  logs: flag('logs', 'Also send `log` events with the stderr of running jobs'),
  job: Type.Optional(
    Type.String({
      format: 'uuid',
      pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
      description: 'Only the events of this job',
      errorMessage: 'The job parameter must be one job id (a UUID).',
    }),
  ),
  last_event_id: LastEventIdQuery,
});

export const UploadQuerySchema = Type.Object({
  token: Type.Optional(
    Type.String({
      description: "The job's upload_token; not needed when the request carries the owner's API key",
      errorMessage: 'Send one token: the upload_token of the job.',
    }),
  ),
});

export const UploadHeadersSchema = Type.Object({
  'Content-Disposition': Type.Optional(
    Type.String({
      description:
        'Extension: `attachment; filename="name.ext"` names the file of a raw (octet-stream) upload',
    }),
  ),
});

/** Bodies of the dashboard's account calls. */
export const CreateKeyRequestSchema = Type.Object({
  label: Type.Optional(
    Type.String({
      maxLength: 200,
      description: 'What the key is for, shown in the list',
      errorMessage: 'The label must be a string of at most 200 characters.',
    }),
  ),
});

export const DeviceDecisionRequestSchema = Type.Object(
  {
    user_code: Type.String({
      minLength: 1,
      description: 'The code shown by bsubio register',
      errorMessage: 'Send {"user_code": "ABCD-EFGH", "approve": true|false}.',
    }),
    approve: Type.Boolean({
      description: 'true approves the sign-in, false denies it',
      errorMessage: 'Send {"user_code": "ABCD-EFGH", "approve": true|false}.',
    }),
  },
  { errorMessage: 'Send {"user_code": "ABCD-EFGH", "approve": true|false}.' },
);

export const DescribeDeviceQuerySchema = Type.Object({
  code: Type.Optional(Type.String({ description: 'The user code shown by bsubio register' })),
});

export const SetWebhookRequestSchema = Type.Object(
  {
    url: Type.Union([Type.String(), Type.Null()], {
      description: 'An http(s) URL, or null to remove the default',
      errorMessage: 'The url must be an http or https URL of at most 2000 characters, or null.',
    }),
  },
  { errorMessage: 'Send {"url": "https://..."} to set the default webhook, or {"url": null} to remove it.' },
);

// ---- the worker extension (see worker-api.ts) ---------------------------------

const WorkerId = Type.String({
  pattern: '^[A-Za-z0-9_.:@-]{1,128}$',
  description: "The worker slot, `<name>-<slot>`; shows in the job's claimed_by",
  errorMessage: 'worker_id must be 1 to 128 letters, digits or "_.:@-".',
});

/** Longest lease a worker may ask for. */
export const WORKER_MAX_LEASE_MS = 3_600_000;

const LeaseMs = Type.Integer({
  minimum: 1000,
  maximum: WORKER_MAX_LEASE_MS,
  description: 'How long the lease holds without renewal, in milliseconds',
  errorMessage: `lease_ms must be an integer from 1000 to ${WORKER_MAX_LEASE_MS}.`,
});

export const WorkerIdQuerySchema = Type.Object({ worker_id: WorkerId });

export const WorkerLogQuerySchema = Type.Object({
  worker_id: WorkerId,
  offset: Type.String({
    pattern: '^\\d{1,15}$',
    description: "Byte offset of the chunk in this attempt's log",
    errorMessage: 'offset must be the byte offset of the chunk in the log.',
  }),
});

export const WorkerClaimRequestSchema = Type.Object({
  worker_id: WorkerId,
  types: Type.Array(Type.String(), {
    description: 'The types this worker runs',
    errorMessage: 'types must be an array of type names.',
  }),
  lease_ms: LeaseMs,
  wait_ms: Type.Optional(
    Type.Number({ description: 'Wait this long for a job when none is pending (at most 30 s)' }),
  ),
});

export const WorkerLeaseRequestSchema = Type.Object({ worker_id: WorkerId, lease_ms: LeaseMs });

export const WorkerAdvanceRequestSchema = Type.Object({
  worker_id: WorkerId,
  to: Type.Enum(['preparing', 'processing'], { errorMessage: 'to must be "preparing" or "processing".' }),
});

const BlobKey = Type.String({
  description: 'The key a blob upload answered',
  errorMessage: 'output_key, output_size and log_key come from the uploads.',
});

export const WorkerCompleteRequestSchema = Type.Object({
  worker_id: WorkerId,
  status: Type.Enum(['finished', 'failed'], { errorMessage: 'status must be "finished" or "failed".' }),
  error_code: Type.Union([JobErrorCodeSchema, Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()], {
    description: 'Cut to 2000 characters',
  }),
  output_key: BlobKey,
  output_size: Type.Integer({
    minimum: 0,
    errorMessage: 'output_key, output_size and log_key come from the uploads.',
  }),
  log_key: BlobKey,
  peak_memory_bytes: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  cpu_seconds: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  step: Type.Optional(Type.Integer({ minimum: 1, description: 'A pipeline: the step that ended the job' })),
});

export const WorkerReleaseRequestSchema = Type.Object({ worker_id: WorkerId });

/** A pipeline's step finished (see WorkerStepRequest). */
export const WorkerStepRequestSchema = Type.Object({
  worker_id: WorkerId,
  step: Type.Integer({
    minimum: 1,
    description: 'The step that finished, from 1',
    errorMessage: 'step is the finished step; output_key and log_key come from the uploads.',
  }),
  output_key: BlobKey,
  log_key: BlobKey,
});

export const WorkerClaimResponseSchema = Type.Object({
  job: Type.Union([
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      type: Type.String(),
      params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])),
      attempt: Type.Integer({ minimum: 1 }),
      input_name: Type.Union([Type.String(), Type.Null()]),
      steps: Type.Optional(
        Type.Array(
          Type.Object({
            type: Type.String(),
            params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])),
          }),
          { description: "A pipeline's steps, the first included (absent for an ordinary job)" },
        ),
      ),
      step: Type.Optional(Type.Integer({ minimum: 1, description: 'The step to run first, from 1' })),
      log_offset: Type.Optional(
        Type.Integer({
          minimum: 0,
          description: 'Live log bytes the server holds already (a resumed pipeline)',
        }),
      ),
    }),
    Type.Null(),
  ]),
});

export const WorkerOkResponseSchema = Type.Object({
  ok: Type.Boolean({ description: 'false: the job is no longer this worker’s (or not in the state asked)' }),
});

export const WorkerBlobResponseSchema = Type.Object({
  key: Type.String(),
  size: Type.Integer({ minimum: 0 }),
});
