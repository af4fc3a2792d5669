/**
 * Operations over real HTTP: the retention sweeper, per-user limits,
 * /metrics, /readyz, /docs and the OpenAPI extensions, and SIGTERM during a
 * long job (finish within the grace period, or hand it back to pending).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';
import { openEvents } from './sse.js';
import { writeLiveTypesFile } from './test-types.js';

const START = { startTimeoutMs: 120_000 };

async function until(check: () => Promise<boolean>, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('retention sweeper', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      ...START,
      env: {
        BSUBIO_RETENTION: '2s',
        // Long enough for a loaded machine to upload and submit in between.
        BSUBIO_UNSUBMITTED_RETENTION: '15s',
        BSUBIO_SWEEP_INTERVAL: '200ms',
        BSUBIO_TYPES_FILE: writeLiveTypesFile(0.1, 25),
      },
    });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('removes finished and never-submitted jobs, rows and files, and leaves running ones', async () => {
    const api = new Api(server.url, server.apiKey);
    // A job that runs far longer than the retention: it must not be touched while it runs.
    const running = await api.create('test/long');
    expect((await api.upload(running, 'x')).status).toBe(200);
    expect((await api.submit(running.id)).status).toBe(200);
    await until(async () => (await api.get(running.id)).status === 'processing', 'processing');

    const finished = await api.run('passthru', 'keep me briefly');
    expect(finished.status).toBe('finished');
    const blobDir = join(server.dataDir, 'blobs', 'jobs', finished.id);
    const abandoned = await api.create('passthru');

    await until(async () => (await api.request(`/v1/jobs/${finished.id}`)).status === 404, 'the sweep');
    // The row goes first (the job is gone for its owner at once), then its files.
    await until(async () => !existsSync(blobDir), 'the files to go');
    expect((await api.get(running.id)).status).toBe('processing');
    await until(async () => (await api.request(`/v1/jobs/${abandoned.id}`)).status === 404, 'abandoned job');

    // Once it has been over for the retention, it goes too.
    expect((await api.waitTerminal(running.id, 60)).status).toBe('finished');
    await until(async () => (await api.request(`/v1/jobs/${running.id}`)).status === 404, 'the long job');
    await until(async () => !existsSync(join(server.dataDir, 'blobs', 'jobs', running.id)), 'its files');
  }, 180_000);
});

describe('per-user limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      ...START,
      env: {
        BSUBIO_WORKERS: '0',
        BSUBIO_RATE_LIMIT: '5',
        BSUBIO_MAX_ACTIVE_JOBS: '1',
        BSUBIO_MAX_STORED_BYTES: '1000',
      },
    });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('answers requests past the rate with 429, Retry-After and the limit', async () => {
    const api = new Api(server.url, await server.addUser('rate@example.com'));
    const answers = await Promise.all(Array.from({ length: 30 }, () => api.request('/v1/jobs')));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(limited[0]!, 429, /limit is 5 requests per second per user \(BSUBIO_RATE_LIMIT\)/);
    // Another user is not slowed by the first.
    const other = new Api(server.url, await server.addUser('rate-other@example.com'));
    expect((await other.request('/v1/jobs')).status).toBe(200);
  });

  it('refuses a submit past the jobs-at-once limit with 429 and the limit', async () => {
    const api = new Api(server.url, await server.addUser('active@example.com'));
    const first = await api.create('passthru');
    const second = await api.create('passthru');
    await api.upload(first, 'a');
    await api.upload(second, 'b');
    expect((await api.submit(first.id)).status).toBe(200);
    const body = await expectError(
      api.request(`/v1/jobs/${second.id}/submit`, { method: 'POST' }),
      429,
      /limit of jobs at once is 1 \(BSUBIO_MAX_ACTIVE_JOBS\)/,
    );
    expect(body.code).toBe('rate_limited');
    expect((await api.get(second.id)).status).toBe('loaded');
    // Once the first ends, the second may go.
    expect((await api.cancel(first.id)).status).toBe(200);
    expect((await api.submit(second.id)).status).toBe(200);
  });

  it('refuses an upload past the storage limit with 413 and the limit, keeping nothing', async () => {
    const api = new Api(server.url, await server.addUser('storage@example.com'));
    const first = await api.create('passthru');
    expect((await api.upload(first, 'x'.repeat(800))).status).toBe(200);
    const second = await api.create('passthru');
    const res = await api.upload(second, 'y'.repeat(800));
    expect(res.status).toBe(413);
    expect((res.body as unknown as { error: string }).error).toMatch(
      /storage limit of 1000 bytes \(BSUBIO_MAX_STORED_BYTES\)/,
    );
    const after = await api.get(second.id);
    expect(after.status).toBe('created');
    expect(after.data_size).toBe(0);
    // A small one still fits.
    expect((await api.upload(second, 'z'.repeat(100))).status).toBe(200);
  });
});

describe('operations endpoints', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ ...START, env: { BSUBIO_WORKERS: '1' } });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('/metrics has jobs by state and type, queue depth, wait and run histograms and HTTP latency', async () => {
    const api = new Api(server.url, server.apiKey);
    await api.run('passthru', 'metrics');
    await api.create('json_format');
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^bsubio_jobs\{state="finished",type="passthru"\} 1$/m);
    expect(text).toMatch(/^bsubio_jobs\{state="created",type="json_format"\} 1$/m);
    expect(text).toMatch(/^bsubio_queue_depth 0$/m);
    expect(text).toMatch(/^bsubio_job_wait_seconds_count\{type="passthru"\} 1$/m);
    expect(text).toMatch(/^bsubio_job_run_seconds_count\{type="passthru",status="finished"\} 1$/m);
    expect(text).toMatch(
      /^bsubio_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/jobs",status="201",le="\+Inf"\} \d+$/m,
    );
    expect(text).toMatch(/# TYPE bsubio_http_request_duration_seconds histogram/);
  });

  it('/readyz checks the store and /healthz answers', async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('describes every extension in the OpenAPI document and renders it at /docs without outside resources', async () => {
    const yaml = await (await fetch(`${server.url}/static/openapi.yaml`)).text();
    for (const needle of [
      '/v1/jobs/{jobId}/events:',
      '/v1/jobs/{jobId}/deliveries:',
      '/v1/webhook:',
      'Idempotency-Key',
      'cursor',
      'next_cursor',
      'webhook_url',
      'follow',
      'Last-Event-ID',
      'Bsubio-Signature',
      '/metrics:',
      '/readyz:',
    ]) {
      expect(yaml, needle).toContain(needle);
    }
    expect(yaml).toMatch(/['"]429['"]:/);
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('/v1/jobs/{jobId}/events');
    expect(html).toContain('Idempotency-Key');
    expect(html).toContain('id="schema-WebhookDelivery"');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:|src="https?:/);
  });
});

describe('graceful shutdown on SIGTERM', () => {
  /** A server whose one job (test/long, `jobSeconds` long) is processing now. */
  async function serverWithRunningJob(jobSeconds: number, graceSeconds: number) {
    const server = await startServer({
      ...START,
      env: {
        BSUBIO_TYPES_FILE: writeLiveTypesFile(0.1, jobSeconds),
        BSUBIO_SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
      },
    });
    const api = new Api(server.url, server.apiKey);
    const job = await api.create('test/long');
    expect((await api.upload(job, 'long input')).status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);
    await until(async () => (await api.get(job.id)).status === 'processing', 'processing');
    return { server, job };
  }

  it('lets a running job finish within the grace period, ending open streams', async () => {
    let { server, job } = await serverWithRunningJob(3, 60);
    try {
      const stream = await openEvents(`${server.url}/v1/jobs/${job.id}/events`, {
        authorization: `Bearer ${server.apiKey}`,
      });
      const rest = stream.rest();
      expect(await server.stop()).toBe(0);
      await rest; // the stream ended instead of holding the shutdown up
      server = await server.restart({ BSUBIO_WORKERS: '0' });
      const after = await new Api(server.url, server.apiKey).get(job.id);
      expect(after.status).toBe('finished');
    } finally {
      await server.cleanup();
    }
  }, 240_000);

  it('hands a job that outlasts the grace period back to pending', async () => {
    let { server, job } = await serverWithRunningJob(30, 1);
    try {
      const started = Date.now();
      expect(await server.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(25_000);
      server = await server.restart({ BSUBIO_WORKERS: '0' });
      const after = await new Api(server.url, server.apiKey).get(job.id);
      expect(after.status).toBe('pending');
      expect(after.claimed_by).toBeNull();
    } finally {
      await server.cleanup();
    }
  }, 240_000);
});
