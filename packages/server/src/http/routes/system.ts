/** Public endpoints: types, version, the OpenAPI document and its page, health checks and metrics. */
import { TypesResponseSchema, VersionResponseSchema } from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { stringify } from 'yaml';
import { ApiError } from '../../services/api-error.js';
import { secretsEqual } from '../../services/user-service.js';
import type { AppDeps } from '../app.js';
import { renderDocs } from '../docs.js';
import { described, errors, rawResponse } from '../schemas.js';

function isLoopback(address: string | undefined): boolean {
  return !!address && (/^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address));
}

function isForwarded(request: FastifyRequest): boolean {
  return request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined;
}

/** The document and its page, made once on first request (every route is registered by then). */
function documents(app: FastifyInstance): () => { yaml: string; html: string } {
  let made: { yaml: string; html: string } | undefined;
  return () => {
    if (!made) {
      const document = app.swagger() as Record<string, unknown>;
      made = { yaml: stringify(document, { aliasDuplicateObjects: false }), html: renderDocs(document) };
    }
    return made;
  };
}

const publicRoute = { auth: 'none' as const };
const extension = { 'x-bsubio-extension': true, tags: ['System'] };

export function registerSystemRoutes(app: FastifyInstance, deps: AppDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const served = documents(app);

  api.get(
    '/v1/types',
    {
      config: publicRoute,
      schema: {
        operationId: 'getTypes',
        summary: 'Processing types',
        tags: ['System'],
        security: [],
        response: { 200: described(TypesResponseSchema, 'All processing types') },
      },
    },
    async () => ({ types: deps.catalog.describe() }),
  );

  api.get(
    '/v1/version',
    {
      config: publicRoute,
      schema: {
        operationId: 'getVersion',
        summary: 'Server version',
        tags: ['System'],
        security: [],
        response: { 200: described(VersionResponseSchema, 'Version') },
      },
    },
    async () => ({ version: deps.version.version, server: 'bsubio', build: deps.version.build }),
  );

  api.get(
    '/static/openapi.yaml',
    {
      config: publicRoute,
      schema: {
        operationId: 'openapi',
        summary: 'This OpenAPI document',
        tags: ['System'],
        security: [],
        response: { 200: rawResponse('OpenAPI 3.1, YAML', 'application/yaml') },
      },
    },
    async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(served().yaml),
  );

  api.get(
    '/docs',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'docs',
        summary: 'Extension: this document as a page for people',
        security: [],
        response: { 200: rawResponse('HTML', 'text/html') },
      },
    },
    async (_request, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(served().html),
  );

  api.get(
    '/healthz',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'healthz',
        summary: 'Extension: liveness: the process answers',
        security: [],
        response: { 200: described(Type.Object({ status: Type.Literal('ok') }), 'The process answers') },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  api.get(
    '/readyz',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'readyz',
        summary: 'Extension: readiness: the store answers and the server is not shutting down',
        security: [],
        response: {
          200: described(Type.Object({ status: Type.Literal('ready') }), 'Ready'),
          ...errors({ 503: 'Not ready, and why' }),
        },
      },
    },
    async () => {
      try {
        await deps.ready();
      } catch (err) {
        throw new ApiError('unavailable', `Not ready: ${(err as Error).message}`);
      }
      return { status: 'ready' as const };
    },
  );

  // The counts span every user: an operator's, not the public's. With a
  // token, scrapers send it; without one, only this machine may look, and
  // not through a proxy in front (which would make a remote client local).
  api.get(
    '/metrics',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'metrics',
        summary: 'Extension: Prometheus metrics',
        description:
          'bsubio_jobs{state,type}, bsubio_queue_depth, bsubio_webhook_deliveries{status}, histograms bsubio_job_wait_seconds{type}, bsubio_job_run_seconds{type,status} and bsubio_http_request_duration_seconds{method,route,status}, process_resident_memory_bytes, process_uptime_seconds. With BSUBIO_METRICS_TOKEN set, send it as a Bearer token; without, only this machine may ask.',
        security: [],
        response: {
          200: rawResponse('Prometheus text exposition format 0.0.4', 'text/plain'),
          ...errors({
            401: 'The metrics token is missing or wrong',
            403: 'No metrics token is set and the request is not from this machine',
          }),
        },
      },
    },
    async (request, reply) => {
      if (deps.metricsToken) {
        const sent = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
        if (!sent || !secretsEqual(sent, deps.metricsToken)) {
          throw new ApiError(
            'unauthorized',
            '/metrics needs "Authorization: Bearer <BSUBIO_METRICS_TOKEN>".',
          );
        }
      } else if (!isLoopback(request.socket.remoteAddress) || isForwarded(request)) {
        throw new ApiError(
          'forbidden',
          '/metrics answers only this machine; set BSUBIO_METRICS_TOKEN on the server to scrape it from elsewhere.',
        );
      }
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.renderMetrics());
    },
  );
}
