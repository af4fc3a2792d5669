/**
 * The OpenAPI 3.1 document, generated from the wire schemas so that the
 * served description can never drift from what the server validates.
 */
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
const notFound = error('No such job for this user');

export interface OpenApiOptions {
  version: string;
  serverUrl?: string;
}

export function buildOpenApiDocument(options: OpenApiOptions): JsonObject {
  const schemas: JsonObject = {};
  for (const schema of NAMED_SCHEMAS) schemas[schema.$id as string] = toComponent(schema, true);

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
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('CreateJobRequest') } },
          },
          responses: {
            '201': json('JobResponse', 'Job created, status created, with an upload_token'),
            '400': error('Missing or unknown type, or invalid params'),
            '401': unauthorized,
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
          ],
          responses: {
            '200': json('ListJobsResponse', 'Jobs and the total matching the filter before limit'),
            '400': error('Unknown status or limit outside 1..100'),
            '401': unauthorized,
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
            '413': error('Larger than the upload limit; nothing kept, job stays created'),
            '415': error('Body is neither multipart/form-data nor application/octet-stream'),
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
          parameters: [jobIdParam],
          responses: {
            '200': {
              description: 'Raw bytes with the type output MIME and a Content-Disposition filename',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '401': unauthorized,
            '404': notFound,
            '409': error('Job is not finished'),
          },
        },
      },
      '/v1/jobs/{jobId}/logs': {
        get: {
          operationId: 'getJobLogs',
          summary: "The tool's stderr, in any state (empty when nothing yet)",
          parameters: [jobIdParam],
          responses: {
            '200': {
              description: 'Logs',
              content: { 'text/plain; charset=utf-8': { schema: { type: 'string' } } },
            },
            '401': unauthorized,
            '404': notFound,
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
