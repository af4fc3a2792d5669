/**
 * Every error kind, produced for real: by the bsubio server itself where it
 * can (auth, not found, conflict, too large, bad request, a failed job), and
 * by a real HTTP proxy in front of it for what a healthy server does not do
 * on demand (503, 429, hanging, HTML answers), plus a closed port.
 */
import { BsubClient, BsubError, Configuration, JobsApi, SystemApi } from 'bsubio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { closedPort, type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { STARTUP_MS } from './helpers/startup.js';

const UPLOAD_LIMIT = 64 * 1024;
let server: TestServer;
let proxy: FaultProxy;
let client: BsubClient;

beforeAll(async () => {
  server = await startServer({
    startTimeoutMs: STARTUP_MS,
    env: { BSUBIO_MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT) },
  });
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
}, STARTUP_MS + 30_000);
afterAll(() => server?.cleanup());
afterEach(() => proxy?.close());

/** The BsubError a promise rejects with (fails the test if it resolves or throws something else). */
async function failure(promise: Promise<unknown>): Promise<BsubError> {
  const error = await promise.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BsubError);
  return error as BsubError;
}

function viaProxy(options: { maxRetries?: number; timeoutMs?: number } = {}) {
  const configuration = new Configuration({ host: proxy.url, accessToken: server.apiKey, ...options });
  return { jobs: new JobsApi(configuration), system: new SystemApi(configuration) };
}

/** A slow stream of `chunks` 16 KiB chunks, as from a slow disk or network. */
async function* slowBytes(chunks: number, delayMs: number) {
  for (let i = 0; i < chunks; i++) {
    await new Promise((r) => setTimeout(r, delayMs));
    yield new Uint8Array(16 * 1024).fill(65);
  }
}

describe('errors the server answers', () => {
  it('auth: an unknown API key, with the server’s sentence', async () => {
    const stranger = new BsubClient({ baseUrl: server.url, apiKey: 'bsub_not_a_real_key' });
    const error = await failure(stranger.jobs.listJobs());
    expect(error).toMatchObject({ kind: 'auth', status: 401, code: 'unauthorized' });
    expect(error.serverMessage).toMatch(/API key/);
    expect(error.message).toBe(error.serverMessage);
    expect(error.requestId).toBeTruthy();
  });

  it("auth: a wrong upload token (the SDK sends the owner's key along, so the server says so)", async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const error = await failure(client.jobs.uploadJobData(job.id, 'wrong-token', new Uint8Array([1])));
    expect(error).toMatchObject({ kind: 'auth', status: 401 });
  });

  it('not_found: an unknown job, and another user’s job looks the same', async () => {
    const missing = await failure(client.jobs.getJob('01900000-0000-7000-8000-000000000000'));
    expect(missing).toMatchObject({ kind: 'not_found', status: 404 });

    const { data: mine } = await client.jobs.createJob({ type: 'passthru' });
    const other = new BsubClient({ baseUrl: server.url, apiKey: await server.addUser('other@example.com') });
    const foreign = await failure(other.jobs.getJob(mine.id));
    expect(foreign).toMatchObject({ kind: 'not_found', status: 404 });
  }, 120_000);

  it('conflict: output of an unfinished job, deleting a job still waiting', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    expect(await failure(client.output.getJobOutput(job.id))).toMatchObject({
      kind: 'conflict',
      status: 409,
    });
    expect(await failure(client.jobs.deleteJob(job.id))).toMatchObject({ kind: 'conflict', status: 409 });
  });

  it('too_large: an upload past the server’s limit, and the job stays created', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const error = await failure(
      client.jobs.uploadJobData(job.id, job.upload_token!, new Uint8Array(UPLOAD_LIMIT + 1)),
    );
    expect(error).toMatchObject({ kind: 'too_large', status: 413, code: 'payload_too_large' });
    expect((await client.jobs.getJob(job.id)).data.status).toBe('created');
  });

  it('too_large: a streamed upload far past the limit is refused with 413, not a reset connection', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    async function* fourMiB() {
      for (let i = 0; i < 64; i++) yield new Uint8Array(64 * 1024);
    }
    const error = await failure(client.jobs.uploadJobData(job.id, job.upload_token!, fourMiB()));
    // The server reads and discards the rest of the body before it would close,
    // so the client reads the 413 instead of failing on a reset connection.
    expect(error).toMatchObject({ kind: 'too_large', status: 413, code: 'payload_too_large' });
    expect((await client.jobs.getJob(job.id)).data.status).toBe('created');
  });

  it('bad_request: a limit out of range, an unknown type, submitting twice', async () => {
    expect(await failure(client.jobs.listJobs({ limit: 500 }))).toMatchObject({
      kind: 'bad_request',
      status: 400,
    });
    const unknownType = await failure(client.jobs.createJob({ type: 'no/such-type' }));
    expect(unknownType.kind).toBe('bad_request');
    expect(unknownType.serverMessage).toMatch(/no\/such-type/);
    const job = await client.createAndSubmit('passthru', new Uint8Array([1, 2, 3]));
    expect(await failure(client.jobs.submitJob(job.id))).toMatchObject({ kind: 'bad_request', status: 400 });
  });

  it('job_failed: processFile on input the tool rejects carries the job and its logs', async () => {
    const error = await failure(client.processFile('json_format', new TextEncoder().encode('{nope')));
    expect(error.kind).toBe('job_failed');
    expect(error.job?.status).toBe('failed');
    expect(error.job?.error_code).toBe('EEXIT');
    expect(error.logs).toMatch(/invalid JSON/);
  });
});

describe('errors of the connection, and retries', () => {
  it('server: a 503 once is retried on a GET and the call succeeds', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail({ status: 503 });
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const { jobs } = viaProxy();
    expect((await jobs.getJob(job.id)).data.id).toBe(job.id);
    expect(proxy.seen).toEqual([`GET /v1/jobs/${job.id}`, `GET /v1/jobs/${job.id}`]);
  });

  it('server: a 503 on an upload is not retried (its body is a stream, sent once)', async () => {
    proxy = await startFaultProxy(server.url);
    const { data: job } = await viaProxy().jobs.createJob({ type: 'passthru' });
    proxy.fail({ status: 503 });
    const upload = viaProxy().jobs.uploadJobData(job.id, job.upload_token!, new TextEncoder().encode('x'));
    const error = await failure(upload);
    expect(error).toMatchObject({ kind: 'server', status: 503 });
    expect(proxy.seen.filter((r) => r.startsWith('POST /v1/upload/'))).toHaveLength(1);
  });

  it('server: 5xx past the retries gives up with kind server', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail({ status: 502 }, { times: 10 });
    const error = await failure(viaProxy({ maxRetries: 1 }).system.getVersion());
    expect(error).toMatchObject({ kind: 'server', status: 502 });
    expect(proxy.seen).toHaveLength(2);
  });

  it('rate_limited: a 429 is retried after its Retry-After', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail({ status: 429, headers: { 'retry-after': '1' } });
    const started = Date.now();
    await viaProxy().system.getVersion();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(proxy.seen).toHaveLength(2);
  });

  it('rate_limited: without retries the error says when to come back', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail({
      status: 429,
      headers: { 'retry-after': '7' },
      body: JSON.stringify({ success: false, error: 'Slow down.', code: 'rate_limited' }),
    });
    const error = await failure(viaProxy({ maxRetries: 0 }).system.getTypes());
    expect(error).toMatchObject({
      kind: 'rate_limited',
      status: 429,
      retryAfterMs: 7000,
      serverMessage: 'Slow down.',
    });
  });

  it('network: nothing listening', async () => {
    const nowhere = new SystemApi(
      new Configuration({ host: `http://127.0.0.1:${await closedPort()}`, maxRetries: 0 }),
    );
    const error = await failure(nowhere.getVersion());
    expect(error.kind).toBe('network');
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('timeout: a server that never answers, and a hang once is retried', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail('hang');
    const started = Date.now();
    const error = await failure(viaProxy({ timeoutMs: 300, maxRetries: 0 }).system.getVersion());
    expect(error.kind).toBe('timeout');
    // Ended by the 300 ms timeout, not by the hang (a loaded machine may take seconds to notice).
    expect(Date.now() - started).toBeLessThan(30_000);

    // A fresh proxy: on a slow machine the 300 ms timeout can fire before the
    // request reached the proxy, leaving the first 'hang' unused for the retry below.
    await proxy.close();
    proxy = await startFaultProxy(server.url);
    // Generous enough for a loaded machine's real answer on the retry (it has taken over 3 s on CI's VMs).
    proxy.fail('hang');
    const version = await viaProxy({ timeoutMs: 15_000, maxRetries: 1 }).system.getVersion();
    expect(version.server).toBe('bsubio');
  });

  it('invalid_response: a host that answers HTML instead of the API', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.fail({
      status: 200,
      headers: { 'content-type': 'text/html' },
      body: '<html>Sign in to Wi-Fi</html>',
    });
    const error = await failure(viaProxy().system.getVersion());
    expect(error.kind).toBe('invalid_response');
  });

  it('aborted: a signal already aborted sends nothing', async () => {
    proxy = await startFaultProxy(server.url);
    const error = await failure(viaProxy().system.getVersion({ signal: AbortSignal.abort() }));
    expect(error.kind).toBe('aborted');
    expect(proxy.seen).toEqual([]);
  });

  it('aborted: an upload aborted half way keeps nothing, and the job can still be uploaded', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const controller = new AbortController();
    let sent = 0;
    const error = await failure(
      client.jobs.uploadJobData(job.id, job.upload_token!, slowBytes(100, 20), {
        signal: controller.signal,
        onProgress: (bytes) => {
          sent = bytes;
          if (bytes >= 64 * 1024) controller.abort();
        },
      }),
    );
    expect(error.kind).toBe('aborted');
    expect(sent).toBeLessThan(100 * 16 * 1024);
    const after = (await client.jobs.getJob(job.id)).data;
    expect(after.status).toBe('created');
    expect(after.data_size).toBe(0);

    const retry = await client.jobs.uploadJobData(job.id, job.upload_token!, new Uint8Array([1, 2, 3]));
    expect(retry.data_size).toBe(3);
  });

  it('aborted: aborting processFile mid-upload deletes the job it created', async () => {
    const controller = new AbortController();
    const created: string[] = [];
    const error = await failure(
      client.processFile('passthru', slowBytes(100, 20), {
        signal: controller.signal,
        onProgress: (event) => {
          created.push(event.job.id);
          if (event.stage === 'uploading' && event.sent > 32 * 1024) controller.abort();
        },
      }),
    );
    expect(error.kind).toBe('aborted');
    expect((await failure(client.jobs.getJob(created[0]!))).kind).toBe('not_found');
    expect(await listedIds()).not.toContain(created[0]);
  });

  it('too_large: processFile and createAndSubmit leave no job behind when the upload is refused', async () => {
    const before = await listedIds();
    const ids: string[] = [];
    const track = { onProgress: (event: { job: { id: string } }) => ids.push(event.job.id) };
    const big = new Uint8Array(UPLOAD_LIMIT + 1);
    expect((await failure(client.processFile('passthru', big, track))).kind).toBe('too_large');
    expect((await failure(client.createAndSubmit('passthru', big, track))).kind).toBe('too_large');
    expect(new Set(ids).size).toBe(2);
    const after = await listedIds();
    for (const id of ids) expect(after).not.toContain(id);
    expect(after).toEqual(before);
  });

  it('bad_request: a path that is not a file creates no job at all', async () => {
    const before = await listedIds();
    const error = await failure(client.createAndSubmit('passthru', '/nonexistent/input.pdf'));
    expect(error.kind).toBe('bad_request');
    expect(error.message).toContain('/nonexistent/input.pdf');
    expect(await listedIds()).toEqual(before);
  });
});

/** The ids of this key's newest jobs. */
async function listedIds(): Promise<string[]> {
  return (await client.jobs.listJobs({ limit: 100 })).data.jobs.map((job) => job.id);
}

describe('unsupported', () => {
  it('listAllJobs refuses to stop short silently against a server that cannot page', async () => {
    const lister = new BsubClient({ baseUrl: server.url, apiKey: await server.addUser('pager@example.com') });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await lister.jobs.createJob({ type: 'passthru' })).data.id);
    const newestFirst = [...ids].reverse();

    // This server pages (next_cursor): all three, each once, newest first.
    const all: string[] = [];
    for await (const job of lister.listAllJobs({ pageSize: 2 })) all.push(job.id);
    expect(all).toEqual(newestFirst);

    // An older server answers the same pages without next_cursor.
    proxy = await startFaultProxy(server.url);
    proxy.rewriteJson((body) => {
      const data = body.data as Record<string, unknown> | undefined;
      if (data && 'next_cursor' in data) delete data.next_cursor;
    });
    const old = new BsubClient({ baseUrl: proxy.url, apiKey: lister.configuration.accessToken });
    const yielded: string[] = [];
    const error = await failure(
      (async () => {
        for await (const job of old.listAllJobs({ pageSize: 2 })) yielded.push(job.id);
      })(),
    );
    expect(error.kind).toBe('unsupported');
    expect(yielded).toEqual(newestFirst.slice(0, 2));
  }, 120_000);
});
