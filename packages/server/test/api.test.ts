/**
 * Every endpoint of API.md over real HTTP against a started server: each
 * status code the contract names, the exact shapes, and the full lifecycle
 * of passthru and json_format.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  JOB_STATES,
  MessageResponseSchema,
  TypesResponseSchema,
  UploadResponseSchema,
  VersionResponseSchema,
} from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError, expectShape } from './client.js';

let server: TestServer;
let api: Api;
const UNKNOWN_ID = '01a22254-727e-72a9-8fb5-478d59fc708b';

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_MAX_UPLOAD_BYTES: String(64 * 1024) } });
  api = new Api(server.url, server.apiKey);
});
afterAll(() => server?.cleanup());

describe('public endpoints', () => {
  it('GET /v1/types lists types without a key, in the documented shape', async () => {
    const { status, body } = await api.withKey('').json<{ types: { type: string }[] }>('/v1/types');
    expect(status).toBe(200);
    expectShape(TypesResponseSchema, body);
    expect(body).not.toHaveProperty('success');
    const names = body.types.map((t) => t.type);
    expect(names).toEqual(expect.arrayContaining(['passthru', 'json_format']));
  });

  it('GET /v1/version answers without a key', async () => {
    const { status, body } = await api.withKey('').json<{ server: string; version: string }>('/v1/version');
    expect(status).toBe(200);
    expectShape(VersionResponseSchema, body);
    expect(body.server).toBe('bsubio');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('serves the OpenAPI document generated from the wire schemas', async () => {
    const res = await fetch(`${server.url}/static/openapi.yaml`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^openapi: 3\.1\.0/m);
    for (const path of ['/v1/jobs:', '/v1/upload/{jobId}:', '/v1/jobs/{jobId}/output:', '/v1/types:']) {
      expect(text).toContain(path);
    }
    for (const state of JOB_STATES) expect(text).toContain(`- ${state}`);
  });

  it('answers unknown endpoints with a JSON 404', async () => {
    await expectError(api.request('/v1/nothing-here'), 404, /No such endpoint/);
  });

  it('lets a page from another origin call with its key (CORS), without cookies', async () => {
    const origin = 'http://app.example';
    const preflight = await fetch(`${server.url}/v1/jobs/some-id/submit`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    // Errors are readable cross-origin too, with their Retry-After and the like.
    const denied = await fetch(`${server.url}/v1/jobs`, { headers: { origin } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
    expect(denied.headers.get('access-control-expose-headers')).toContain('retry-after');
    const listed = await api.request('/v1/jobs', { headers: { origin } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('*');
    // Same-origin and non-browser calls carry no CORS headers.
    expect((await api.request('/v1/jobs')).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('authentication', () => {
  it('rejects a missing key with 401', async () => {
    await expectError(api.withKey('').request('/v1/jobs'), 401, /Missing API key/);
  });
  it('rejects a malformed Authorization header with 401', async () => {
    await expectError(api.request('/v1/jobs', { headers: { authorization: 'Basic abc' } }), 401, /Malformed/);
  });
  it('rejects an unknown key with 401', async () => {
    await expectError(
      api.withKey(`bsub_000000000000_${'x'.repeat(43)}`).request('/v1/jobs'),
      401,
      /not valid/,
    );
  });
  it('rejects a key with a right prefix but a wrong secret', async () => {
    const forged = `${server.apiKey.slice(0, 18)}${'A'.repeat(server.apiKey.length - 18)}`;
    await expectError(api.withKey(forged).request('/v1/jobs'), 401);
  });
  it('needs a key on every job endpoint', async () => {
    const anon = api.withKey('');
    for (const [method, path] of [
      ['POST', '/v1/jobs'],
      ['GET', `/v1/jobs/${UNKNOWN_ID}`],
      ['DELETE', `/v1/jobs/${UNKNOWN_ID}`],
      ['POST', `/v1/jobs/${UNKNOWN_ID}/submit`],
      ['POST', `/v1/jobs/${UNKNOWN_ID}/cancel`],
      ['GET', `/v1/jobs/${UNKNOWN_ID}/output`],
      ['GET', `/v1/jobs/${UNKNOWN_ID}/logs`],
    ] as const) {
      await expectError(anon.request(path, { method }), 401);
    }
  });
});

describe('POST /v1/jobs', () => {
  it('creates a job in created with an upload token and exact field types', async () => {
    const job = await api.create('passthru');
    expect(job.status).toBe('created');
    expect(job.data_size).toBe(0);
    expect(typeof job.user_id).toBe('string');
    expect(job.upload_token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(job.claimed_by).toBeNull();
    expect(job.error_code).toBeNull();
    expect(job.finished_at).toBeNull();
  });

  it('keeps an alias as given', async () => {
    const job = await api.create('passthrough');
    expect(job.type).toBe('passthrough');
  });

  it('ignores unknown fields and keeps a name', async () => {
    const job = await api.create('passthru', { colour: 'blue', name: 'my label' });
    expect(job.name).toBe('my label');
  });

  it.each([
    ['missing type', {}, /"type" field is required/],
    ['non-string type', { type: 42 }, /"type" field is required/],
    ['unknown type', { type: 'no/such/type' }, /Unknown processing type "no\/such\/type".*\/v1\/types/],
    ['bad params', { type: 'passthru', params: { width: 3 } }, /no parameter "width"/],
  ])('answers 400 for %s', async (_label, body, message) => {
    await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
      400,
      message,
    );
  });

  it('answers 400 for a body that is not JSON, and 415 for another content type', async () => {
    await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"type":',
      }),
      400,
      /not valid JSON/,
    );
    await expectError(
      api.request('/v1/jobs', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b' }),
      415,
    );
  });
});

describe('GET /v1/jobs', () => {
  it('lists newest first, counts total before limit, filters by status', async () => {
    const lister = api.withKey(await server.addUser('lister@example.com'));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await lister.create('passthru')).id);
    const all = await lister.list();
    expect(all.total).toBe(5);
    expect(all.jobs.map((j) => j.id)).toEqual([...ids].reverse());
    const two = await lister.list('?limit=2');
    expect(two.jobs).toHaveLength(2);
    expect(two.total).toBe(5);
    await lister.cancel(ids[0]!);
    const failed = await lister.list('?status=failed');
    expect(failed.total).toBe(1);
    expect(failed.jobs[0]!.id).toBe(ids[0]);
    expect((await lister.list('?status=created')).total).toBe(4);
  });

  it.each(['?status=cancelled', '?status=FINISHED', '?limit=0', '?limit=101', '?limit=abc', '?limit=1.5'])(
    'answers 400 for %s',
    async (query) => {
      await expectError(api.request(`/v1/jobs${query}`), 400);
    },
  );
});

describe('GET /v1/jobs/{id}', () => {
  it('answers 404 for an unknown or malformed id', async () => {
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID}`), 404, /No job/);
    await expectError(api.request('/v1/jobs/not-a-uuid'), 404);
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID.toUpperCase()}`), 404);
  });

  it('?wait returns at once for a job that is not running, after the time at most', async () => {
    const job = await api.create('passthru');
    const started = Date.now();
    const got = await api.get(job.id, 1);
    expect(got.status).toBe('created');
    // Well short of the longest wait (60 s), with room for a slow CI machine.
    expect(Date.now() - started).toBeLessThan(20_000);
    await expectError(api.request(`/v1/jobs/${job.id}?wait=-1`), 400);
  });
});

describe('upload', () => {
  it('stores a multipart upload, moves the job to loaded and drops the token', async () => {
    const job = await api.create('passthru');
    const { status, body } = await api.upload(job, 'hello', 'greeting.txt');
    expect(status).toBe(200);
    expectShape(UploadResponseSchema, body);
    expect(body).toEqual({ success: true, message: 'File uploaded successfully', data_size: 5 });
    const loaded = await api.get(job.id);
    expect(loaded.status).toBe('loaded');
    expect(loaded.data_size).toBe(5);
    expect(loaded).not.toHaveProperty('upload_token');
    expect(loaded.input_name).toBe('greeting.txt');
  });

  it('accepts a raw application/octet-stream body', async () => {
    const job = await api.create('passthru');
    const res = await fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'raw bytes',
    });
    expect(res.status).toBe(200);
    expect((await api.get(job.id)).data_size).toBe(9);
  });

  it('answers 400 without a token, 401 for a wrong token, 404 for an unknown job', async () => {
    const job = await api.create('passthru');
    const form = () => {
      const f = new FormData();
      f.append('file', new Blob(['x']), 'x');
      return f;
    };
    await expectError(
      fetch(`${server.url}/v1/upload/${job.id}`, { method: 'POST', body: form() }),
      400,
      /token/,
    );
    // A wrong token and an unknown job get the same answer: no key, no oracle.
    await expectError(
      fetch(`${server.url}/v1/upload/${job.id}?token=wrong`, { method: 'POST', body: form() }),
      404,
      /No job .* is waiting for an upload with this token/,
    );
    await expectError(
      fetch(`${server.url}/v1/upload/${UNKNOWN_ID}?token=${job.upload_token}`, {
        method: 'POST',
        body: form(),
      }),
      404,
    );
    expect((await api.get(job.id)).status).toBe('created');
  });

  it('answers 400 when the form has no file part', async () => {
    const job = await api.create('passthru');
    const form = new FormData();
    form.append('document', new Blob(['x']), 'x');
    await expectError(
      fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, { method: 'POST', body: form }),
      400,
      /no part named "file"/,
    );
    expect((await api.get(job.id)).status).toBe('created');
  });

  it('answers 415 for a body that is neither multipart nor octet-stream', async () => {
    const job = await api.create('passthru');
    await expectError(
      fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      }),
      415,
    );
  });

  it("gives the job's owner, key sent along, API.md's answers: 401 for a wrong token, 400 once uploaded", async () => {
    const job = await api.create('passthru');
    const upload = (token: string) => {
      const form = new FormData();
      form.append('file', new Blob(['x']), 'x');
      return api.request(`/v1/upload/${job.id}?token=${token}`, { method: 'POST', body: form });
    };
    await expectError(upload('wrong'), 401, /upload token is not valid/);
    expect((await upload(job.upload_token!)).status).toBe(200);
    await expectError(upload(job.upload_token!), 400, /already has its input/);
  });

  it('answers 404 to a second upload: the token is spent', async () => {
    const job = await api.create('passthru');
    expect((await api.upload(job, 'first')).status).toBe(200);
    const again = await api.upload(job, 'second');
    expect(again.status).toBe(404);
    expect(String((again.body as unknown as { error: string }).error)).toMatch(/input is already uploaded/);
  });

  it('answers 413 past the limit, keeps nothing and leaves the job created', async () => {
    const job = await api.create('passthru');
    const big = randomBytes(200 * 1024);
    const res = await api.upload(job, big);
    expect(res.status).toBe(413);
    expect(res.res.headers.get('content-type')).toMatch(/application\/json/);
    const after = await api.get(job.id);
    expect(after.status).toBe('created');
    expect(after.data_size).toBe(0);
    // The same job still takes a file within the limit.
    expect((await api.upload(after, 'small')).status).toBe(200);
  });

  it('answers 413 for a raw body past the limit', async () => {
    const job = await api.create('passthru');
    const res = await fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(100 * 1024),
    });
    expect(res.status).toBe(413);
    expect((await api.get(job.id)).status).toBe('created');
  });

  it('keeps nothing of an upload whose client goes away mid-body, and goes on serving', async () => {
    const job = await api.create('passthru');
    const target = new URL(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`);
    await new Promise<void>((resolve) => {
      const req = request(target, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(1024 * 1024) },
      });
      req.on('error', () => {}).on('close', () => resolve());
      req.write(randomBytes(16 * 1024), () => setTimeout(() => req.destroy(), 200));
    });
    // The server notices the cut in its own time.
    for (let i = 0; i < 50 && readdirSync(join(server.dataDir, 'tmp')).length > 0; i++) await sleep(100);
    expect(readdirSync(join(server.dataDir, 'tmp'))).toEqual([]);
    const after = await api.get(job.id);
    expect(after.status).toBe('created');
    expect((await api.upload(after, 'complete this time')).status).toBe(200);
  });

  it('lets the client read its 413 even while it is still streaming a body far past the limit', async () => {
    // 4 MiB in 64 KiB chunks against a 64 KiB limit: the refusal comes while
    // most of the body is still unsent. Five times, raw and multipart, so a
    // race between our answer and a reset connection would show.
    for (let attempt = 0; attempt < 5; attempt++) {
      const job = await api.create('passthru');
      const multipart = attempt % 2 === 1;
      const boundary = 'xyz-boundary';
      const chunks = function* () {
        if (multipart) {
          yield Buffer.from(
            `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`,
          );
        }
        for (let i = 0; i < 64; i++) yield randomBytes(64 * 1024);
        if (multipart) yield Buffer.from(`\r\n--${boundary}--\r\n`);
      };
      const res = await fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
        method: 'POST',
        headers: {
          'content-type': multipart
            ? `multipart/form-data; boundary=${boundary}`
            : 'application/octet-stream',
        },
        body: Readable.toWeb(Readable.from(chunks())),
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: string }).error).toMatch(/upload limit of 65536 bytes/);
      expect((await api.get(job.id)).status).toBe('created');
    }
  });
});

describe('submit, cancel, delete, output, logs', () => {
  it('submit answers 400 naming the state when not loaded, 404 when unknown', async () => {
    const job = await api.create('passthru');
    const body = await expectError(api.request(`/v1/jobs/${job.id}/submit`, { method: 'POST' }), 400);
    expect(body.error).toMatch(/created/);
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID}/submit`, { method: 'POST' }), 404);
  });

  it('cancel fails the job with ECANCELED; a second cancel is 400; unknown is 404', async () => {
    const job = await api.create('passthru');
    const { status, body } = await api.cancel(job.id);
    expect(status).toBe(200);
    expectShape(MessageResponseSchema, body);
    expect(body).toEqual({ success: true, message: 'Job cancelled' });
    const failed = await api.get(job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error_code).toBe('ECANCELED');
    expect(failed.finished_at).not.toBeNull();
    expect(failed).not.toHaveProperty('upload_token');
    await expectError(api.request(`/v1/jobs/${job.id}/cancel`, { method: 'POST' }), 400, /already failed/);
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID}/cancel`, { method: 'POST' }), 404);
  });

  it('delete answers 409 before the end, 204 after, then 404; unknown is 404', async () => {
    const job = await api.create('passthru');
    await expectError(api.delete(job.id), 409, /only finished or failed/);
    await api.cancel(job.id);
    const res = await api.delete(job.id);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    await expectError(api.request(`/v1/jobs/${job.id}`), 404);
    await expectError(api.delete(job.id), 404);
  });

  it('output is 409 until finished (also when failed), 404 when unknown', async () => {
    const job = await api.create('passthru');
    await expectError(api.request(`/v1/jobs/${job.id}/output`), 409, /created/);
    await api.cancel(job.id);
    await expectError(api.request(`/v1/jobs/${job.id}/output`), 409, /failed/);
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID}/output`), 404);
  });

  it('logs are text/plain in any state, empty before there are any; unknown is 404', async () => {
    const job = await api.create('passthru');
    const res = await api.request(`/v1/jobs/${job.id}/logs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('');
    await expectError(api.request(`/v1/jobs/${UNKNOWN_ID}/logs`), 404);
  });
});

describe('lifecycle', () => {
  it('passthru returns the exact bytes, with headers from the type', async () => {
    const content = randomBytes(50_000);
    const job = await api.run('passthru', content, 'blob.dat');
    expect(job.status).toBe('finished');
    expect(job.claimed_by).toMatch(/^embedded-/);
    expect(job.claimed_at).not.toBeNull();
    expect(job.finished_at).not.toBeNull();
    expect(job.output_size).toBe(content.length);
    expect(job.attempts).toBe(1);
    const res = await api.request(`/v1/jobs/${job.id}/output`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-length')).toBe(String(content.length));
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="blob.bin"');
    expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
    // Every state change shows in the list filters as it should.
    expect((await api.list('?status=finished')).jobs.map((j) => j.id)).toContain(job.id);
  });

  it('json_format pretty-prints valid JSON', async () => {
    const job = await api.run('json_format', '{"b":[1,2],"a":{"c":null}}', 'data.json');
    expect(job.status).toBe('finished');
    const res = await api.request(`/v1/jobs/${job.id}/output`);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="data.json"');
    expect(await res.text()).toBe('{\n  "b": [\n    1,\n    2\n  ],\n  "a": {\n    "c": null\n  }\n}\n');
  });

  it('json_format fails invalid JSON with EEXIT and a log line saying where', async () => {
    const job = await api.run('json_format', '{\n  "a": 1,\n  "b": tru\n}\n', 'bad.json');
    expect(job.status).toBe('failed');
    expect(job.error_code).toBe('EEXIT');
    expect(job.error_message).toMatch(/exited with code 1: invalid JSON at line 3, column/);
    const logs = await (await api.request(`/v1/jobs/${job.id}/logs`)).text();
    expect(logs).toMatch(/invalid JSON at line 3, column \d+/);
    await expectError(api.request(`/v1/jobs/${job.id}/output`), 409);
  });

  it('delete of a finished job removes every byte of it', async () => {
    const job = await api.run('passthru', 'to be deleted');
    const { readdirSync } = await import('node:fs');
    const blobDir = `${server.dataDir}/blobs/jobs`;
    expect(readdirSync(blobDir)).toContain(job.id);
    expect((await api.delete(job.id)).status).toBe(204);
    expect(readdirSync(blobDir)).not.toContain(job.id);
  });
});
