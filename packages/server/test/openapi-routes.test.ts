/**
 * The served OpenAPI document is generated from the routes' schemas, and
 * here it is held to that: it is valid OpenAPI 3.1; every route the server
 * serves is documented (with an operation id, a summary and its answers)
 * and every documented one is served; the only routes kept out are the
 * dashboard's pages and files; every extension is marked as one; and the
 * official operations keep the parameters and status codes the official
 * clients (bsubio-go's client.gen.go, bsubio-python's generated client)
 * know. docs/openapi-vs-official.md lists where ours differs from theirs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/server.js';

type Json = Record<string, unknown>;
type Operation = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, Json>;
  'x-bsubio-extension'?: boolean;
};

let server: RunningServer;
let dir: string;
let document: { openapi: string; paths: Record<string, Record<string, Operation>>; components: Json };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bsubio-routes-'));
  const config = loadConfig(
    { port: '0', 'data-dir': dir, 'log-level': 'silent' },
    { PATH: process.env.PATH, HOME: dir, BSUBIO_WORKERS: '0' },
  );
  server = await startServer(config, () => {});
  const address = server.app.server.address() as { port: number };
  const res = await fetch(`http://127.0.0.1:${address.port}/static/openapi.yaml`);
  expect(res.status).toBe(200);
  document = parse(await res.text());
}, 120_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const operations = () =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, op })),
  );

/**
 * The official bsub.io operations, as the official clients generate them:
 * query parameters and the status codes they decode (bsubio-go
 * client.gen.go, bsubio-python bsubio/api/*.py).
 */
const OFFICIAL: Record<string, { op: string; tag: string; query?: string[]; statuses: number[] }> = {
  'GET /v1/jobs': { op: 'listJobs', tag: 'Jobs', query: ['status', 'limit'], statuses: [200, 401] },
  'POST /v1/jobs': { op: 'createJob', tag: 'Jobs', statuses: [201, 400, 401] },
  'GET /v1/jobs/{jobId}': { op: 'getJob', tag: 'Jobs', statuses: [200, 401, 404] },
  'DELETE /v1/jobs/{jobId}': { op: 'deleteJob', tag: 'Jobs', statuses: [204, 401, 404, 409] },
  'POST /v1/jobs/{jobId}/submit': { op: 'submitJob', tag: 'Jobs', statuses: [200, 400, 401, 404] },
  'POST /v1/jobs/{jobId}/cancel': { op: 'cancelJob', tag: 'Jobs', statuses: [200, 400, 401, 404] },
  'GET /v1/jobs/{jobId}/output': { op: 'getJobOutput', tag: 'Output', statuses: [200, 401, 404, 409] },
  'GET /v1/jobs/{jobId}/logs': { op: 'getJobLogs', tag: 'Output', statuses: [200, 401, 404] },
  'POST /v1/upload/{jobId}': {
    op: 'uploadJobData',
    tag: 'Jobs',
    query: ['token'],
    statuses: [200, 400, 401, 404, 413],
  },
  'GET /v1/types': { op: 'getTypes', tag: 'System', statuses: [200] },
  'GET /v1/version': { op: 'getVersion', tag: 'System', statuses: [200] },
};
/** bsub.io serves its document here too; no client calls it. */
const NOT_EXTENSIONS = new Set([...Object.keys(OFFICIAL), 'GET /static/openapi.yaml']);

it('is valid OpenAPI 3.1', async () => {
  expect(document.openapi).toBe('3.1.0');
  const result = await new Validator().validate(document as never);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
});

it('documents every route it serves, and serves every route it documents', () => {
  const served = server.app.servedRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
  const shown = served
    .filter((r) => !r.hidden)
    .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
    .sort();
  // The hook saw the routes at all, the worker extension included.
  expect(shown).toContain('GET /v1/jobs/{jobId}/output');
  expect(shown).toContain('POST /v1/worker/claim');
  expect(shown).toEqual(
    operations()
      .map((o) => o.key)
      .sort(),
  );
  // Only the dashboard's pages and files are left out: nothing of the API.
  const hidden = served.filter((r) => r.hidden).map((r) => r.url);
  expect(hidden.length).toBeGreaterThan(0);
  for (const url of hidden) expect(url).not.toMatch(/^\/(v1|static|docs|metrics|healthz|readyz)(\/|$)/);
});

it('gives every operation an id, a summary, a tag, a success answer and its path parameters', () => {
  const ids = new Set<string>();
  for (const { key, path, op } of operations()) {
    expect(op.operationId, key).toMatch(/^\w+$/);
    expect(ids.has(op.operationId!), `${key}: operationId used twice`).toBe(false);
    ids.add(op.operationId!);
    expect(op.summary, key).toBeTruthy();
    expect(op.tags?.length, key).toBeGreaterThan(0);
    expect(
      Object.keys(op.responses).some((s) => /^2/.test(s)),
      `${key}: no 2xx answer`,
    ).toBe(true);
    for (const [status, answer] of Object.entries(op.responses)) {
      expect(answer.description, `${key} ${status}`).not.toBe('Default Response');
    }
    const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
    expect(declared.sort(), key).toEqual(pathParams.sort());
  }
});

it('marks a body required only when the server needs one', () => {
  const body = (path: string) => (document.paths[path]!.post as unknown as { requestBody: Json }).requestBody;
  expect(body('/v1/jobs').required).toBe(true);
  expect(body('/v1/auth/session').required).toBe(true);
  expect(body('/v1/auth/keys').required).toBe(false);
  expect(body('/v1/auth/device/code').required).toBe(false);
});

it('marks every extension operation as one, and no official operation', () => {
  for (const { key, op } of operations()) {
    if (NOT_EXTENSIONS.has(key)) expect(op['x-bsubio-extension'], key).toBeUndefined();
    else expect(op['x-bsubio-extension'], key).toBe(true);
  }
});

describe('the official operations', () => {
  it('keep the operation ids, query parameters and status codes of the official clients', () => {
    for (const [key, official] of Object.entries(OFFICIAL)) {
      const [method, path] = key.split(' ') as [string, string];
      const op = document.paths[path]?.[method.toLowerCase()];
      expect(op, key).toBeDefined();
      expect(op!.operationId, key).toBe(official.op);
      expect(op!.tags, key).toEqual([official.tag]);
      const query = (op!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      for (const name of official.query ?? []) expect(query, key).toContain(name);
      for (const status of official.statuses)
        expect(Object.keys(op!.responses), key).toContain(String(status));
    }
  });

  it('document the extensions of the official operations (the type filter of GET /v1/jobs, among others)', () => {
    const query = (key: string, name: string) => {
      const [method, path] = key.split(' ') as [string, string];
      return document.paths[path]![method.toLowerCase()]!.parameters?.find((p) => p.name === name);
    };
    expect(query('GET /v1/jobs', 'type')).toBeDefined();
    expect(query('GET /v1/jobs', 'cursor')).toBeDefined();
    expect(query('GET /v1/jobs/{jobId}', 'wait')).toBeDefined();
    expect(query('POST /v1/jobs', 'Idempotency-Key')).toBeDefined();
    expect(query('GET /v1/jobs/{jobId}/output', 'Range')).toBeDefined();
    expect(query('GET /v1/jobs/{jobId}/output', 'inline')).toBeDefined();
    expect(query('GET /v1/jobs/{jobId}/logs', 'follow')).toBeDefined();
  });

  it('describe the Job with the fields and states the official clients decode', () => {
    const job = (document.components.schemas as Record<string, Json>).Job!;
    const properties = Object.keys(job.properties as Json);
    for (const field of [
      'id',
      'status',
      'type',
      'user_id',
      'upload_token',
      'data_size',
      'claimed_by',
      'error_code',
      'error_message',
      'created_at',
      'updated_at',
      'claimed_at',
      'finished_at',
    ]) {
      expect(properties).toContain(field);
    }
    const status = (job.properties as Record<string, Json>).status!;
    expect(status.enum).toEqual([
      'created',
      'loaded',
      'pending',
      'claimed',
      'preparing',
      'processing',
      'finished',
      'failed',
    ]);
  });
});
