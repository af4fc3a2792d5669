/** Webhook extensions: the user's default URL and signing secret, and a job's deliveries. */
import {
  DeliveriesResponseSchema,
  JobIdParamsSchema,
  SetWebhookRequestSchema,
  SIGNATURE_DESCRIPTION,
  WebhookSettingsResponseSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { toWireDelivery } from '../../services/webhooks.js';
import type { AppDeps } from '../app.js';
import { described, errors } from '../schemas.js';

const extension = { 'x-bsubio-extension': true, tags: ['Webhooks'] };
const unauthorized = 'Missing, malformed or unknown API key';

export function registerWebhookRoutes(app: FastifyInstance, { jobs, webhooks }: AppDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.get(
    '/v1/webhook',
    {
      schema: {
        ...extension,
        operationId: 'getWebhookSettings',
        summary: "Extension: the user's default webhook URL and signing secret",
        description: SIGNATURE_DESCRIPTION,
        response: {
          200: described(WebhookSettingsResponseSchema, 'Settings'),
          ...errors({ 401: unauthorized }),
        },
      },
    },
    async (request) => ({ success: true as const, data: await webhooks.settings(request.userId) }),
  );

  api.put(
    '/v1/webhook',
    {
      schema: {
        ...extension,
        operationId: 'setWebhookSettings',
        summary: 'Extension: set (or with null, remove) the default webhook URL of new jobs',
        body: SetWebhookRequestSchema,
        response: {
          200: described(WebhookSettingsResponseSchema, 'Settings'),
          ...errors({
            400: 'Not an http(s) URL, or a private, loopback or link-local host',
            401: unauthorized,
          }),
        },
      },
    },
    async (request) => ({
      success: true as const,
      data: await webhooks.setDefaultUrl(request.userId, request.body.url),
    }),
  );

  api.get(
    '/v1/jobs/:jobId/deliveries',
    {
      schema: {
        ...extension,
        operationId: 'listJobDeliveries',
        summary: "Extension: the job's webhook deliveries and their attempts",
        description: SIGNATURE_DESCRIPTION,
        params: JobIdParamsSchema,
        response: {
          200: described(
            DeliveriesResponseSchema,
            'Deliveries, oldest first (empty when the job has no webhook)',
          ),
          ...errors({ 401: unauthorized, 404: 'No such job for this user' }),
        },
      },
    },
    async (request) => {
      const job = await jobs.get(request.userId, request.params.jobId);
      const rows = await webhooks.deliveries(job.id);
      return { success: true as const, data: { deliveries: rows.map(toWireDelivery) } };
    },
  );
}
