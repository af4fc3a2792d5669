/** Public endpoints: types, version, the OpenAPI document and health checks. */
import { buildOpenApiDocument } from '@bsubio/protocol';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import type { AppDeps } from '../app.js';

export function registerSystemRoutes(app: FastifyInstance, deps: AppDeps): void {
  const publicRoute = { config: { auth: 'none' as const } };
  const openApiYaml = stringify(buildOpenApiDocument({ version: deps.version.version }), {
    aliasDuplicateObjects: false,
  });

  app.get('/v1/types', publicRoute, async () => ({ types: deps.catalog.describe() }));

  app.get('/v1/version', publicRoute, async () => ({
    version: deps.version.version,
    server: 'bsubio',
    build: deps.version.build,
  }));

  app.get('/static/openapi.yaml', publicRoute, async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(openApiYaml),
  );

  app.get('/healthz', publicRoute, async () => ({ status: 'ok' }));
  app.get('/readyz', publicRoute, async () => ({ status: 'ready' }));
}
