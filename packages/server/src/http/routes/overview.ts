/**
 * The dashboard's overview and job-page extensions: GET /v1/overview, and
 * a job's queue position and timeline (see @bsubio/protocol overview.ts).
 * Their own routes, so the Job object stays as the official clients know it.
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';

type IdParams = { jobId: string };

export function registerOverviewRoutes(app: FastifyInstance, { jobs }: AppDeps): void {
  app.get('/v1/overview', async (request) => ({ success: true, data: await jobs.overview(request.userId) }));

  app.get<{ Params: IdParams }>('/v1/jobs/:jobId/position', async (request) => ({
    success: true,
    data: await jobs.position(request.userId, request.params.jobId),
  }));

  app.get<{ Params: IdParams }>('/v1/jobs/:jobId/timeline', async (request) => ({
    success: true,
    data: await jobs.timeline(request.userId, request.params.jobId),
  }));
}
