/**
 * A job created through the API and never uploaded (a client that died, or
 * gave up) expires after BSUBIO_CREATED_TTL: the retention sweep removes it
 * and it answers 404 like any deleted job. A job that got its input is not
 * touched by that TTL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { loadConfig } from '../src/config.js';
import { Api } from './client.js';

describe('BSUBIO_CREATED_TTL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      env: { BSUBIO_CREATED_TTL: '2s', BSUBIO_SWEEP_INTERVAL: '200ms', BSUBIO_WORKERS: '0' },
    });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('removes a never-uploaded job after the TTL (then 404), and keeps an uploaded one', async () => {
    const api = new Api(server.url, server.apiKey);
    const abandoned = await api.create('passthru');
    const uploaded = await api.create('passthru');
    expect((await api.upload(uploaded, 'input')).status).toBe(200);
    // Still there right after creation.
    expect((await api.request(`/v1/jobs/${abandoned.id}`)).status).toBe(200);

    const deadline = Date.now() + 30_000;
    while ((await api.request(`/v1/jobs/${abandoned.id}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('the created job never expired');
      await new Promise((r) => setTimeout(r, 200));
    }
    const listed = await api.json<{ data: { jobs: { id: string }[] } }>('/v1/jobs?limit=100');
    expect(listed.body.data.jobs.map((j) => j.id)).not.toContain(abandoned.id);
    // Past the TTL too, but loaded: BSUBIO_UNSUBMITTED_RETENTION (24 h) applies to it.
    const kept = await api.json<{ data: { status: string } }>(`/v1/jobs/${uploaded.id}`);
    expect(kept.body.data.status).toBe('loaded');
  }, 60_000);
});

describe('the created-ttl setting', () => {
  it('defaults to 24 h, takes a duration, and refuses anything else with its name', () => {
    expect(loadConfig({}, {}).createdTtlMs).toBe(24 * 3600 * 1000);
    expect(loadConfig({}, { BSUBIO_CREATED_TTL: '90s' }).createdTtlMs).toBe(90_000);
    expect(loadConfig({ 'created-ttl': '2h' }, { BSUBIO_CREATED_TTL: '90s' }).createdTtlMs).toBe(7_200_000);
    expect(() => loadConfig({}, { BSUBIO_CREATED_TTL: 'soon' })).toThrow(
      '--created-ttl / BSUBIO_CREATED_TTL must be a duration like 90s, 15m, 12h or 7d (at least 1000 ms), not "soon".',
    );
  });
});
