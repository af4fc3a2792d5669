/**
 * The wire schemas of the bsub.io API (see API.md). They are JSON Schema
 * objects (TypeBox) so that the same definitions give TypeScript types,
 * response validation in tests and the served OpenAPI document.
 */
import { type Static, Type } from 'typebox';
import { ERROR_CODES, JOB_STATES } from './states.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const Timestamp = (description: string) =>
  Type.String({ format: 'date-time', description: `${description} (RFC 3339 UTC, milliseconds)` });

export const JobStatusSchema = Type.Enum(JOB_STATES, {
  description: 'One of the eight job states; clients reject any other value.',
});

export const JobErrorCodeSchema = Type.Enum(ERROR_CODES, { description: 'Why a failed job failed.' });

/** Most steps one pipeline may have, the first included. */
export const MAX_PIPELINE_STEPS = 8;

export const PIPELINE_STEP_STATES = ['waiting', 'running', 'done', 'failed', 'skipped'] as const;
export type PipelineStepState = (typeof PIPELINE_STEP_STATES)[number];

export const PipelineStepRequestSchema = Type.Object(
  {
    type: Type.String({ description: 'A processing type from /v1/types' }),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Integer()]), {
        description: "Values for this type's declared parameters",
      }),
    ),
  },
  { $id: 'PipelineStepRequest', description: 'Extension: one more step of a pipeline' },
);
export type PipelineStepRequest = Static<typeof PipelineStepRequestSchema>;

export const JobStepSchema = Type.Object(
  {
    type: Type.String(),
    params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Integer()])),
    status: Type.Enum(PIPELINE_STEP_STATES, {
      description:
        'waiting: not reached yet; running: the job is on it now; done; failed: the job failed here; skipped: after a failed step',
    }),
  },
  { $id: 'JobStep', description: 'Extension: one step of a pipeline job' },
);
export type JobStep = Static<typeof JobStepSchema>;

export const JobSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'UUIDv7, lower-case canonical form' }),
    status: JobStatusSchema,
    type: Type.String({ description: 'Processing type as given at creation (aliases stay as given)' }),
    user_id: Type.String({ description: 'Owner; always a string' }),
    upload_token: Type.Optional(Type.String({ description: 'Present only while status is created' })),
    data_size: Type.Integer({ minimum: 0, description: 'Bytes uploaded; 0 before upload' }),
    claimed_by: Type.Union([Type.String(), Type.Null()], { description: 'Worker id that claimed the job' }),
    error_code: Type.Union([JobErrorCodeSchema, Type.Null()]),
    error_message: Type.Union([Type.String(), Type.Null()], {
      description: 'One sentence a person can act on',
    }),
    created_at: Timestamp('Creation time'),
    updated_at: Timestamp('Last change'),
    claimed_at: Nullable(Timestamp('When a worker claimed the job')),
    finished_at: Nullable(Timestamp('When the job became finished or failed')),
    // Extensions: unmodified clients ignore fields they do not know.
    name: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Extension: a label' })),
    input_name: Type.Optional(
      Type.Union([Type.String(), Type.Null()], { description: 'Extension: original file name' }),
    ),
    input_type: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'Extension: content type sent with the upload',
      }),
    ),
    output_size: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Extension: bytes of output' }),
    ),
    attempts: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Extension: times a worker claimed it' }),
    ),
    started_at: Type.Optional(
      Nullable(Timestamp('Extension: when the tool started running (entered processing)')),
    ),
    webhook_url: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'Extension: where the job JSON is POSTed when it becomes finished or failed',
      }),
    ),
    peak_memory_bytes: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
        description:
          "Extension: the most memory the job's sandbox held, from its cgroup (tmpfs and page cache included) or else the /proc watch; null until it ran",
      }),
    ),
    cpu_seconds: Type.Optional(
      Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
        description:
          "Extension: CPU time of all the job's processes, from its cgroup; null when not measured",
      }),
    ),
    cached: Type.Optional(
      Type.Boolean({
        description:
          'Extension: true when the job was answered from the result cache at submit (the output of an earlier job with the same input, type and params), without running',
      }),
    ),
    cached_from: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description:
          "Extension: the job whose result a cached job was given, when it is the same user's; null otherwise",
      }),
    ),
    // Pipelines (created with `then`); an ordinary job has none of these.
    steps: Type.Optional(
      Type.Array(JobStepSchema, {
        description: 'Extension: the steps of a pipeline, in order (the first is the job type)',
      }),
    ),
    step: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Extension: the step the pipeline is on, from 1' }),
    ),
    failed_step: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
        description: 'Extension: the step that failed, when a pipeline failed',
      }),
    ),
  },
  { $id: 'Job' },
);
export type Job = Static<typeof JobSchema>;

export const ErrorBodySchema = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.String({ description: 'A sentence that says what to fix' }),
    code: Type.Optional(Type.String({ description: 'Machine-readable error kind' })),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

export const ParamSpecSchema = Type.Object(
  {
    name: Type.String(),
    type: Type.Union([Type.Literal('integer'), Type.Literal('string'), Type.Literal('enum')]),
    description: Type.String(),
    minimum: Type.Optional(Type.Integer()),
    maximum: Type.Optional(Type.Integer()),
    values: Type.Optional(Type.Array(Type.String())),
    pattern: Type.Optional(Type.String()),
    default: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
  },
  { $id: 'ParamSpec' },
);
export type ParamSpec = Static<typeof ParamSpecSchema>;

export const ProcessingTypeSchema = Type.Object(
  {
    type: Type.String(),
    name: Type.String(),
    description: Type.String(),
    input: Type.Object({ mime_in: Type.Array(Type.String()) }),
    output: Type.Object({
      mime_out: Type.Array(Type.String()),
      ext: Type.String({ description: 'File extension of the output, with the dot' }),
      display: Type.String({ description: 'How a client should show the output: text, json, image, ...' }),
    }),
    example: Type.Object({ cmd: Type.String(), desc: Type.String() }),
    // Extensions.
    available: Type.Optional(Type.Boolean({ description: 'Extension: whether the tool is installed here' })),
    install_hint: Type.Optional(Type.String({ description: 'Extension: what to install when unavailable' })),
    aliases: Type.Optional(Type.Array(Type.String(), { description: 'Extension: older names' })),
    params: Type.Optional(Type.Array(ParamSpecSchema, { description: 'Extension: accepted params' })),
    cacheable: Type.Optional(
      Type.Boolean({
        description:
          "Extension: true when a repeated job (same input, params) may be answered from the server's result cache",
      }),
    ),
  },
  { $id: 'ProcessingType' },
);
export type ProcessingType = Static<typeof ProcessingTypeSchema>;

export const CreateJobRequestSchema = Type.Object(
  {
    type: Type.String({
      minLength: 1,
      description: 'A processing type from /v1/types',
      errorMessage: 'The "type" field is required and must be a string; see GET /v1/types.',
    }),
    name: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'Extension: a label',
        errorMessage: 'The "name" field must be a string of at most 200 characters.',
      }),
    ),
    params: Type.Optional(
      Type.Union(
        [
          Type.Record(
            Type.String(),
            Type.Union([Type.String(), Type.Number()], {
              errorMessage:
                'Each parameter is a string or a number; GET /v1/types lists what each type takes.',
            }),
          ),
          Type.Null(),
        ],
        {
          description: "Extension: values for the type's declared parameters (GET /v1/types)",
          errorMessage: '"params" must be an object of parameter names to values.',
        },
      ),
    ),
    // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
    then: Type.Optional(
      Type.Array(PipelineStepRequestSchema, {
        description: `Extension: further steps (at most ${MAX_PIPELINE_STEPS - 1}), each run on the previous step's output; the job's output is the last step's. Each step's output must be a kind the next step accepts, or create answers 400 naming the step.`,
      }),
    ),
    cache: Type.Optional(
      Type.Boolean({
        description:
          'Extension: false runs the job even when the result cache holds a result for the same input, type and params (default true)',
        errorMessage:
          'The "cache" field must be true or false (false: run the job even when a cached result exists).',
      }),
    ),
    webhook_url: Type.Optional(
      Type.Union([Type.String({ maxLength: 2000 }), Type.Null()], {
        description:
          "Extension: an http(s) URL to POST the job JSON to, signed, when it becomes finished or failed (default: the user's webhook from PUT /v1/webhook; null: that default). Private, loopback and link-local hosts are refused unless the operator allows them.",
        errorMessage: 'The webhook_url must be an http or https URL of at most 2000 characters.',
      }),
    ),
  },
  {
    $id: 'CreateJobRequest',
    errorMessage: 'The body must be a JSON object like {"type": "passthru"}.',
  },
);
export type CreateJobRequest = Static<typeof CreateJobRequestSchema>;

export const JobResponseSchema = Type.Object(
  { success: Type.Literal(true), data: JobSchema },
  { $id: 'JobResponse' },
);
export type JobResponse = Static<typeof JobResponseSchema>;

export const ListJobsResponseSchema = Type.Object(
  {
    success: Type.Literal(true),
    data: Type.Object({
      jobs: Type.Array(JobSchema),
      total: Type.Integer({ minimum: 0, description: 'Matching jobs before limit' }),
      next_cursor: Type.Optional(
        Type.Union([Type.String(), Type.Null()], {
          description:
            'Extension: pass as `cursor` to get the next (older) page; null on the last page. `total` still counts every match.',
        }),
      ),
    }),
  },
  { $id: 'ListJobsResponse' },
);
export type ListJobsResponse = Static<typeof ListJobsResponseSchema>;

export const MessageResponseSchema = Type.Object(
  { success: Type.Literal(true), message: Type.String() },
  { $id: 'MessageResponse' },
);
export type MessageResponse = Static<typeof MessageResponseSchema>;

export const UploadResponseSchema = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.String(),
    data_size: Type.Integer({ minimum: 0 }),
  },
  { $id: 'UploadResponse' },
);
export type UploadResponse = Static<typeof UploadResponseSchema>;

export const TypesResponseSchema = Type.Object(
  { types: Type.Array(ProcessingTypeSchema) },
  { $id: 'TypesResponse' },
);
export type TypesResponse = Static<typeof TypesResponseSchema>;

export const VersionResponseSchema = Type.Object(
  {
    version: Type.String(),
    server: Type.String(),
    build: Type.String(),
  },
  { $id: 'VersionResponse' },
);
export type VersionResponse = Static<typeof VersionResponseSchema>;

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    job_id: Type.String({ format: 'uuid' }),
    event: Type.Union([Type.Literal('job.finished'), Type.Literal('job.failed')]),
    url: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')], {
      description:
        'pending: will be tried (again) at next_attempt_at; delivered: answered 2xx; failed: given up',
    }),
    attempts: Type.Integer({ minimum: 0 }),
    last_status_code: Type.Union([Type.Integer(), Type.Null()], {
      description: 'HTTP status of the last attempt; null when it got no answer',
    }),
    last_error: Type.Union([Type.String(), Type.Null()]),
    next_attempt_at: Nullable(Timestamp('When it is tried next, while pending')),
    created_at: Timestamp('When the job ended and the delivery was queued'),
    delivered_at: Nullable(Timestamp('When the receiver answered 2xx')),
  },
  { $id: 'WebhookDelivery', description: 'Extension: one webhook POST of a job, with its retries' },
);
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>;

export const DeliveriesResponseSchema = Type.Object(
  { success: Type.Literal(true), data: Type.Object({ deliveries: Type.Array(WebhookDeliverySchema) }) },
  { $id: 'DeliveriesResponse' },
);
export type DeliveriesResponse = Static<typeof DeliveriesResponseSchema>;

export const WebhookSettingsSchema = Type.Object(
  {
    url: Type.Union([Type.String(), Type.Null()], {
      description: 'Default webhook of jobs created without webhook_url; null for none',
    }),
    secret: Type.String({ description: 'HMAC-SHA256 key of the Bsubio-Signature header' }),
  },
  { $id: 'WebhookSettings', description: "Extension: the user's webhook default and signing secret" },
);
export type WebhookSettings = Static<typeof WebhookSettingsSchema>;

export const WebhookSettingsResponseSchema = Type.Object(
  { success: Type.Literal(true), data: WebhookSettingsSchema },
  { $id: 'WebhookSettingsResponse' },
);

/** Every schema with an `$id`, in the order the OpenAPI document lists them. */
export const NAMED_SCHEMAS = [
  JobStepSchema,
  JobSchema,
  ErrorBodySchema,
  ParamSpecSchema,
  ProcessingTypeSchema,
  PipelineStepRequestSchema,
  CreateJobRequestSchema,
  JobResponseSchema,
  ListJobsResponseSchema,
  MessageResponseSchema,
  UploadResponseSchema,
  TypesResponseSchema,
  VersionResponseSchema,
  WebhookDeliverySchema,
  DeliveriesResponseSchema,
  WebhookSettingsSchema,
  WebhookSettingsResponseSchema,
] as const;
