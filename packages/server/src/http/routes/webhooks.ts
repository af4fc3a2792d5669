/** Webhook extensions: the user's default URL and signing secret, and a job's deliveries. */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../services/api-error.js';
import { toWireDelivery } from '../../services/webhooks.js';
import type { AppDeps } from '../app.js';

export function registerWebhookRoutes(app: FastifyInstance, { jobs, webhooks }: AppDeps): void {
  app.get('/v1/webhook', async (request) => ({
    success: true,
    data: await webhooks.settings(request.userId),
  }));

  app.put('/v1/webhook', async (request) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || !('url' in body)) {
      throw new ApiError(
        'bad_request',
        'Send {"url": "https://..."} to set the default webhook, or {"url": null} to remove it.',
      );
    }
    return { success: true, data: await webhooks.setDefaultUrl(request.userId, body.url) };
  });

  app.get<{ Params: { jobId: string } }>('/v1/jobs/:jobId/deliveries', async (request) => {
    const job = await jobs.get(request.userId, request.params.jobId);
    const rows = await webhooks.deliveries(job.id);
    return { success: true, data: { deliveries: rows.map(toWireDelivery) } };
  });
}
