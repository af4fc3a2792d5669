/**
 * The served OpenAPI document and the served routes agree: every API route
 * the server answers is documented, and every documented one is served. A
 * route added without its documentation (or documentation left behind by a
 * removed route) fails here. Not in the document, on purpose: the
 * dashboard's pages and files, and the worker extension (/v1/worker/...,
 * spoken only between servers and worker agents, described in
 * @bsubio/protocol worker-api.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenApiDocument } from '@bsubio/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/server.js';

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bsubio-routes-'));
  const config = loadConfig(
    { port: '0', 'data-dir': dir, 'log-level': 'silent' },
    { PATH: process.env.PATH, HOME: dir, BSUBIO_WORKERS: '0' },
  );
  server = await startServer(config, () => {});
}, 120_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `METHOD /path/{param}` for every route Fastify serves, from its route tree. */
function servedRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)(?:[├└]── )?(\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4 + (line.includes('── ') ? 1 : 0);
    stack.length = depth;
    stack[depth] = match[2]!;
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of match[3]!.split(', ')) routes.push(`${method} ${path}`);
  }
  return routes;
}

const API_PATH = /^\/(v1\/|healthz|readyz|metrics|docs|static\/openapi\.yaml)/;

it('documents every API route it serves, and serves every route it documents', () => {
  const served = servedRoutes(server.app.printRoutes({ commonPrefix: false }))
    .filter((r) => !/^(HEAD|OPTIONS) /.test(r))
    .filter((r) => API_PATH.test(r.split(' ')[1]!) && !r.includes(' /v1/worker/'))
    .sort();
  const paths = buildOpenApiDocument({ version: '0' }).paths as Record<string, Record<string, unknown>>;
  const documented = Object.entries(paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  // The parse found the routes at all (a change of Fastify's tree format would make this pass empty).
  expect(served).toContain('GET /v1/jobs/{jobId}/output');
  expect(served).toContain('POST /v1/auth/device/approve');
  expect(served).toEqual(documented);
});
