/**
 * Idempotent create (`Idempotency-Key`) and listing past 100 with
 * `cursor` / `next_cursor`, over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_WORKERS: '0' }, startTimeoutMs: 120_000 });
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(() => server?.cleanup());

function create(body: unknown, key?: string, who = api) {
  return who.json<{ data: { id: string; status: string } }>('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
}

describe('Idempotency-Key on POST /v1/jobs', () => {
  it('returns the same job for the same key and body', async () => {
    const first = await create({ type: 'passthru', name: 'once' }, 'key-same-1');
    expect(first.status).toBe(201);
    expect(first.res.headers.get('idempotent-replayed')).toBeNull();
    // Same body with its keys in another order is the same body.
    const again = await create({ name: 'once', type: 'passthru' }, 'key-same-1');
    expect(again.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data.id).toBe(first.body.data.id);
    const { total } = await api.list('?limit=100');
    const fresh = await create({ type: 'passthru', name: 'once' }, 'key-same-2');
    expect(fresh.body.data.id).not.toBe(first.body.data.id);
    expect((await api.list('?limit=100')).total).toBe(total + 1);
  });

  it('answers the same key with a different body with 409', async () => {
    await create({ type: 'passthru' }, 'key-diff');
    const body = await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'key-diff' },
        body: JSON.stringify({ type: 'json_format' }),
      }),
      409,
      /Idempotency-Key "key-diff" was used .* different body/,
    );
    expect(body.code).toBe('conflict');
  });

  it('gives each concurrent request with one key the one job', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => create({ type: 'passthru' }, 'key-race')),
    );
    expect(answers.every((a) => a.status === 201)).toBe(true);
    expect(new Set(answers.map((a) => a.body.data.id)).size).toBe(1);
  });

  it('keeps keys per user', async () => {
    const other = api.withKey(await server.addUser('idem-other@example.com'));
    const mine = await create({ type: 'passthru' }, 'key-shared');
    const theirs = await create({ type: 'passthru' }, 'key-shared', other);
    expect(theirs.status).toBe(201);
    expect(theirs.body.data.id).not.toBe(mine.body.data.id);
  });

  it('does not record a key for a rejected body', async () => {
    await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'key-bad' },
        body: JSON.stringify({ type: 'no-such-type' }),
      }),
      400,
    );
    expect((await create({ type: 'passthru' }, 'key-bad')).status).toBe(201);
  });

  it('rejects a key that is not visible ASCII or too long', async () => {
    await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'x'.repeat(300) },
        body: JSON.stringify({ type: 'passthru' }),
      }),
      400,
      /Idempotency-Key must be/,
    );
  });

  it('survives a restart', async () => {
    const first = await create({ type: 'passthru' }, 'key-restart');
    server = await server.restart();
    api = new Api(server.url, server.apiKey);
    const again = await create({ type: 'passthru' }, 'key-restart');
    expect(again.body.data.id).toBe(first.body.data.id);
  });
});

describe('listing with cursor / next_cursor', () => {
  it('walks every job past 100, newest first, with total and limit unchanged', async () => {
    const lister = api.withKey(await server.addUser('cursor@example.com'));
    const ids: string[] = [];
    for (let batch = 0; batch < 23; batch++) {
      const made = await Promise.all(Array.from({ length: 10 }, () => lister.create('passthru')));
      ids.push(...made.map((j) => j.id));
    }
    // Newest first is id order (UUIDv7), lower-case hex compares as text.
    ids.sort().reverse();

    const seen: string[] = [];
    let cursor: string | null | undefined;
    let pages = 0;
    do {
      const { status, body } = await lister.json<{
        data: { jobs: { id: string }[]; total: number; next_cursor: string | null };
      }>(`/v1/jobs?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      expect(body.data.total).toBe(230);
      expect(body.data.jobs.length).toBeLessThanOrEqual(100);
      seen.push(...body.data.jobs.map((j) => j.id));
      cursor = body.data.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);

    // Without a cursor: exactly what an unmodified client sees.
    const plain = await lister.list('?limit=5');
    expect(plain.jobs.map((j) => j.id)).toEqual(ids.slice(0, 5));
    expect(plain.total).toBe(230);
  }, 240_000);

  it('gives no next_cursor on the last page and works with a status filter', async () => {
    const lister = api.withKey(await server.addUser('cursor2@example.com'));
    for (let i = 0; i < 3; i++) await lister.create('passthru');
    const { body } = await lister.json<{ data: { next_cursor: string | null; total: number } }>(
      '/v1/jobs?status=created&limit=3',
    );
    expect(body.data.next_cursor).toBeNull();
    const first = await lister.json<{ data: { jobs: unknown[]; next_cursor: string } }>(
      '/v1/jobs?status=created&limit=2',
    );
    const second = await lister.json<{ data: { jobs: unknown[]; next_cursor: string | null } }>(
      `/v1/jobs?status=created&limit=2&cursor=${first.body.data.next_cursor}`,
    );
    expect(second.body.data.jobs).toHaveLength(1);
    expect(second.body.data.next_cursor).toBeNull();
  });

  it('rejects a cursor it did not give out', async () => {
    await expectError(api.request('/v1/jobs?cursor=bogus'), 400, /cursor/);
  });
});
