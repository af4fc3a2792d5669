/**
 * The dashboard (packages/web): a handful of static files, built at install
 * time and read once here. Every page path answers the same index.html; the
 * page's script shows the right view. Any other path a browser navigates to
 * gets the same page with a 404, so that the dashboard shows its own "not
 * found" rather than raw JSON; API calls still get the JSON error.
 * A strict Content-Security-Policy keeps job outputs shown in the page
 * (HTML, images…) from running scripts there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AppDeps } from '../app.js';

const PAGES = ['/', '/login', '/upload', '/overview', '/keys', '/device', '/jobs/:jobId'];
/** Paths that are never pages, even when a browser asks for HTML. */
const NOT_PAGES = /^\/(v1|static|assets|docs|metrics|healthz|readyz)(\/|$)/;
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "object-src 'self' blob:",
  "frame-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export function registerWebRoutes(app: FastifyInstance, { webDir }: AppDeps): void {
  if (!webDir) return;
  const read = (path: string) => {
    try {
      return readFileSync(join(webDir, path));
    } catch {
      return undefined;
    }
  };
  const index = read('public/index.html');
  const assets: Record<string, { body: Buffer | undefined; type: string }> = {
    'app.js': { body: read('dist/app.js'), type: 'text/javascript; charset=utf-8' },
    'style.css': { body: read('public/style.css'), type: 'text/css; charset=utf-8' },
    'favicon.svg': { body: read('public/favicon.svg'), type: 'image/svg+xml' },
  };
  // Pages and files of the dashboard, not API: kept out of the OpenAPI document.
  const publicRoute = { config: { auth: 'none' as const }, schema: { hide: true } };

  const sendIndex = (reply: FastifyReply, status: number) => {
    if (!index || !assets['app.js']!.body) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built; run "npm run build" in the bsubio checkout.\n');
    }
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .send(index);
  };

  for (const page of PAGES) {
    app.get(page, publicRoute, async (_request, reply) => sendIndex(reply, 200));
  }
  // The jobs list is at /, a job's page at /jobs/<id>: a person who cuts the
  // id off the address (or types /jobs) means the list, with any filter.
  for (const path of ['/jobs', '/jobs/']) {
    app.get(path, publicRoute, async (request, reply) => {
      const query = request.url.indexOf('?');
      return reply.redirect(query === -1 ? '/' : `/${request.url.slice(query)}`, 302);
    });
  }
  app.get('/favicon.ico', publicRoute, async (_request, reply) => reply.redirect('/assets/favicon.svg', 301));
  app.get('/*', publicRoute, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    const wantsHtml = (request.headers.accept ?? '').includes('text/html');
    if (!wantsHtml || NOT_PAGES.test(path)) return reply.callNotFound();
    return sendIndex(reply, 404);
  });
  app.get<{ Params: { name: string } }>('/assets/:name', publicRoute, async (request, reply) => {
    const asset = assets[request.params.name];
    if (!asset?.body) return reply.callNotFound();
    return reply
      .type(asset.type)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(asset.body);
  });
}
