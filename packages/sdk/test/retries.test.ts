/**
 * Retries of the calls that change something, through a real proxy that
 * loses answers: createJob goes with an Idempotency-Key, so a create whose
 * answer was lost is retried and answered with the job it made, never a
 * second one; submit and cancel are retried, and a retry that finds the
 * first try's work done is success.
 */
import { Configuration, JobsApi } from 'bsubio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { STARTUP_MS } from './helpers/startup.js';

let server: TestServer;
let proxy: FaultProxy;
/** Straight to the server: what is really there. */
let direct: JobsApi;
/** Through the proxy, with retries quick enough for a test. */
let viaProxy: JobsApi;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  direct = new JobsApi(new Configuration({ host: server.url, accessToken: server.apiKey }));
}, STARTUP_MS + 30_000);
afterAll(() => server?.cleanup());

beforeAll(async () => {
  proxy = await startFaultProxy(server.url);
  viaProxy = new JobsApi(new Configuration({ host: proxy.url, accessToken: server.apiKey }));
});
afterEach(() => {
  proxy.seen.length = 0;
});
afterAll(() => proxy?.close());

const isCreate = (req: { method?: string; url?: string }) => req.method === 'POST' && req.url === '/v1/jobs';
const total = async () => (await direct.listJobs({ limit: 1 })).data.total;

describe('createJob', () => {
  it('survives a dropped answer without creating a second job', async () => {
    const before = await total();
    proxy.fail('drop-answer', { match: isCreate });
    const { data: job } = await viaProxy.createJob({ type: 'passthru', name: 'once' });
    // Two tries reached the server: the first made the job, the retry got it back.
    expect(proxy.seen.filter((r) => r === 'POST /v1/jobs')).toHaveLength(2);
    expect(await total()).toBe(before + 1);
    const { data: listed } = await direct.listJobs({ limit: 1 });
    expect(listed.jobs[0]?.id).toBe(job.id);
    expect(job.upload_token).toBeTruthy();
  });

  it('is retried after 408, 429 (waiting as long as Retry-After says) and 503', async () => {
    const before = await total();
    proxy.fail({ status: 408 }, { match: isCreate });
    proxy.fail({ status: 429, headers: { 'retry-after': '1' } }, { match: isCreate });
    const started = Date.now();
    await viaProxy.createJob({ type: 'passthru' }, { maxRetries: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    proxy.fail({ status: 503 }, { match: isCreate });
    await viaProxy.createJob({ type: 'passthru' });
    expect(proxy.seen.filter((r) => r === 'POST /v1/jobs')).toHaveLength(5);
    expect(await total()).toBe(before + 2);
  });

  it('is not retried after a 400: the request itself is wrong', async () => {
    await expect(viaProxy.createJob({ type: 'no/such-type' })).rejects.toMatchObject({ kind: 'bad_request' });
    expect(proxy.seen).toEqual(['POST /v1/jobs']);
  });

  it('sends the caller’s own key, which makes two calls one job', async () => {
    const before = await total();
    const first = await viaProxy.createJob({ type: 'passthru' }, { idempotencyKey: 'retries-test-1' });
    const second = await viaProxy.createJob({ type: 'passthru' }, { idempotencyKey: 'retries-test-1' });
    expect(second.data.id).toBe(first.data.id);
    expect(await total()).toBe(before + 1);
  });
});

describe('submitJob and cancelJob', () => {
  async function loadedJob(): Promise<string> {
    const { data } = await direct.createJob({ type: 'passthru' });
    await direct.uploadJobData(data.id, data.upload_token!, new TextEncoder().encode('hello'));
    return data.id;
  }

  it('submit whose answer was lost: the retry finds the job submitted and says so', async () => {
    const id = await loadedJob();
    proxy.fail('drop-answer', { match: (req) => req.url === `/v1/jobs/${id}/submit` });
    const answer = await viaProxy.submitJob(id);
    expect(answer).toEqual({ success: true, message: 'Job submitted for processing' });
    expect(proxy.seen.filter((r) => r.endsWith('/submit'))).toHaveLength(2);
    expect((await direct.getJob(id)).data.status).not.toMatch(/^(created|loaded)$/);
  });

  it('a submit refused on its first try is still an error', async () => {
    const { data } = await direct.createJob({ type: 'passthru' });
    await expect(viaProxy.submitJob(data.id)).rejects.toMatchObject({ kind: 'bad_request' });
  });

  it('cancel whose answer was lost: the retry finds the job cancelled and says so', async () => {
    const { data } = await direct.createJob({ type: 'passthru' });
    proxy.fail('drop-answer', { match: (req) => req.url === `/v1/jobs/${data.id}/cancel` });
    expect(await viaProxy.cancelJob(data.id)).toEqual({ success: true, message: 'Job cancelled' });
    const job = (await direct.getJob(data.id)).data;
    expect(job).toMatchObject({ status: 'failed', error_code: 'ECANCELED' });
  });
});
