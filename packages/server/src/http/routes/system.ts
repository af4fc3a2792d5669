/** Public endpoints: types, version, the OpenAPI document and its page, health checks and metrics. */
import { buildOpenApiDocument } from '@bsubio/protocol';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { ApiError } from '../api-error.js';
import type { AppDeps } from '../app.js';
import { renderDocs } from '../docs.js';

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

  app.get('/metrics', publicRoute, async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.renderMetrics()),
  );
}
