/** Public endpoints: types, version, the OpenAPI document and its page, health checks and metrics. */
import { buildOpenApiDocument } from '@bsubio/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stringify } from 'yaml';
import { ApiError } from '../../services/api-error.js';
import { secretsEqual } from '../../services/user-service.js';
import type { AppDeps } from '../app.js';
import { renderDocs } from '../docs.js';

function isLoopback(address: string | undefined): boolean {
  return !!address && (/^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address));
}

function isForwarded(request: FastifyRequest): boolean {
  return request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined;
}

export function registerSystemRoutes(app: FastifyInstance, deps: AppDeps): void {
  const publicRoute = { config: { auth: 'none' as const } };
  const document = buildOpenApiDocument({ version: deps.version.version });
  const openApiYaml = stringify(document, { aliasDuplicateObjects: false });
  const docsHtml = renderDocs(document);

  app.get('/v1/types', publicRoute, async () => ({ types: deps.catalog.describe() }));

  app.get('/v1/version', publicRoute, async () => ({
    version: deps.version.version,
    server: 'bsubio',
    build: deps.version.build,
  }));

  app.get('/static/openapi.yaml', publicRoute, async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(openApiYaml),
  );

  app.get('/docs', publicRoute, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(docsHtml),
  );

  app.get('/healthz', publicRoute, async () => ({ status: 'ok' }));
  app.get('/readyz', publicRoute, async () => {
    try {
      await deps.ready();
    } catch (err) {
      throw new ApiError('unavailable', `Not ready: ${(err as Error).message}`);
    }
    return { status: 'ready' };
  });

  // The counts span every user: an operator's, not the public's. With a
  // token, scrapers send it; without one, only this machine may look, and
  // not through a proxy in front (which would make a remote client local).
  app.get('/metrics', publicRoute, async (request, reply) => {
    if (deps.metricsToken) {
      const sent = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (!sent || !secretsEqual(sent, deps.metricsToken)) {
        throw new ApiError('unauthorized', '/metrics needs "Authorization: Bearer <BSUBIO_METRICS_TOKEN>".');
      }
    } else if (!isLoopback(request.socket.remoteAddress) || isForwarded(request)) {
      throw new ApiError(
        'forbidden',
        '/metrics answers only this machine; set BSUBIO_METRICS_TOKEN on the server to scrape it from elsewhere.',
      );
    }
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.renderMetrics());
  });
}
