/**
 * The dashboard's overview and job-page extensions: GET /v1/overview, and
 * a job's queue position and timeline (see @bsubio/protocol overview.ts).
 * Their own routes, so the Job object stays as the official clients know it.
 */
import {
  JobIdParamsSchema,
  OverviewResponseSchema,
  PositionResponseSchema,
  TimelineResponseSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';
import { described, errors } from '../schemas.js';

const extension = { 'x-bsubio-extension': true, tags: ['Dashboard'] };
const unauthorized = 'Missing, malformed or unknown API key';

export function registerOverviewRoutes(app: FastifyInstance, { jobs }: AppDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.get(
    '/v1/overview',
    {
      schema: {
        ...extension,
        operationId: 'getOverview',
        summary: "Extension: the caller's queue at a glance, for the dashboard's overview page",
        description:
          "Jobs per state now (and how many of the failed were cancelled), per type, jobs finished and failed per 5 minutes over the last hour and per hour over the last day, the queue wait (submitted → claimed) p50/p95 over the last hour and day, and the workers heard from in the last hour with how many of the caller's jobs each holds.",
        response: {
          200: described(OverviewResponseSchema, 'The overview'),
          ...errors({
            401: unauthorized,
            429: 'Extension: past the per-user request rate (BSUBIO_RATE_LIMIT)',
          }),
        },
      },
    },
    async (request) => ({ success: true as const, data: await jobs.overview(request.userId) }),
  );

  api.get(
    '/v1/jobs/:jobId/position',
    {
      schema: {
        ...extension,
        operationId: 'getJobPosition',
        summary: 'Extension: where a pending job stands in the queue',
        description:
          'Workers take the oldest pending job of the types they run first; position 1 is the next of its type to be claimed (all users counted). Null when the job is not pending.',
        params: JobIdParamsSchema,
        response: {
          200: described(PositionResponseSchema, 'The position'),
          ...errors({ 401: unauthorized, 404: 'No such job for this user' }),
        },
      },
    },
    async (request) => ({
      success: true as const,
      data: await jobs.position(request.userId, request.params.jobId),
    }),
  );

  api.get(
    '/v1/jobs/:jobId/timeline',
    {
      schema: {
        ...extension,
        operationId: 'getJobTimeline',
        summary: 'Extension: when each step of a job happened, with durations, attempts and worker',
        params: JobIdParamsSchema,
        response: {
          200: described(TimelineResponseSchema, 'The timeline'),
          ...errors({ 401: unauthorized, 404: 'No such job for this user' }),
        },
      },
    },
    async (request) => ({
      success: true as const,
      data: await jobs.timeline(request.userId, request.params.jobId),
    }),
  );
}
