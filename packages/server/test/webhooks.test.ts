/**
 * Webhooks over real HTTP: a local receiver that fails twice then succeeds,
 * the signature, the per-user default, the deliveries listing, and the
 * refusal of private addresses when the operator has not allowed them.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliveriesResponseSchema, type Job, type WebhookDelivery } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError, expectShape } from './client.js';

interface Hit {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers 500 to the first `failures` requests of each path, then 200. */
async function receiver(failures: number) {
  const hits = new Map<string, Hit[]>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const list = hits.get(req.url!) ?? [];
      list.push({ headers: req.headers, body });
      hits.set(req.url!, list);
      res.statusCode = list.length <= failures ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: (path: string) => `http://127.0.0.1:${port}${path}`, hits, close: () => server.close() };
}

async function until<T>(check: () => Promise<T | undefined> | T | undefined, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let server: TestServer;
let strict: TestServer;
let api: Api;
let hook: Awaited<ReturnType<typeof receiver>>;

beforeAll(async () => {
  hook = await receiver(2);
  [server, strict] = await Promise.all([
    startServer({
      env: {
        BSUBIO_WEBHOOK_ALLOW_PRIVATE: '1',
        BSUBIO_WEBHOOK_RETRY_BASE: '200ms',
        BSUBIO_WORKERS: '1',
      },
      startTimeoutMs: 120_000,
    }),
    startServer({ env: { BSUBIO_WORKERS: '0' }, startTimeoutMs: 120_000 }),
  ]);
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(async () => {
  hook?.close();
  await Promise.all([server?.cleanup(), strict?.cleanup()]);
});

async function run(job: Job) {
  expect((await api.upload(job, '{"a": 1}')).status).toBe(200);
  expect((await api.submit(job.id)).status).toBe(200);
  return api.waitTerminal(job.id);
}

async function deliveries(id: string): Promise<WebhookDelivery[]> {
  const { status, body } = await api.json<{ data: { deliveries: WebhookDelivery[] } }>(
    `/v1/jobs/${id}/deliveries`,
  );
  expect(status).toBe(200);
  expectShape(DeliveriesResponseSchema, body);
  return body.data.deliveries;
}

describe('webhooks', () => {
  it('POSTs the signed job JSON on finish, retrying with backoff until the receiver says 2xx', async () => {
    const job = await api.create('passthru', { webhook_url: hook.url('/retry') });
    expect(job.webhook_url).toBe(hook.url('/retry'));
    const done = await run(job);
    expect(done.status).toBe('finished');

    const hits = await until(() => {
      const list = hook.hits.get('/retry');
      return list && list.length >= 3 ? list : undefined;
    }, 'three webhook attempts');
    // The same body every attempt: the job as GET /v1/jobs/{id} shows it.
    expect(new Set(hits.map((h) => h.body)).size).toBe(1);
    const sent = JSON.parse(hits[2]!.body);
    expect(sent).toMatchObject({ id: job.id, status: 'finished', type: 'passthru' });
    expect(hits[2]!.headers['bsubio-event']).toBe('job.finished');
    expect(hits[2]!.headers['content-type']).toBe('application/json');

    // Verify the signature the way the README tells receivers to.
    const { body: settings } = await api.json<{ data: { secret: string } }>('/v1/webhook');
    for (const hit of hits) {
      const header = String(hit.headers['bsubio-signature']);
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
      expect(match, header).not.toBeNull();
      const expected = createHmac('sha256', settings.data.secret)
        .update(`${match![1]}.${hit.body}`)
        .digest('hex');
      expect(match![2]).toBe(expected);
      expect(Math.abs(Date.now() / 1000 - Number(match![1]))).toBeLessThan(300);
    }

    const [delivery] = await until(async () => {
      const list = await deliveries(job.id);
      return list[0]?.status === 'delivered' ? list : undefined;
    }, 'the delivery to be recorded');
    expect(delivery).toMatchObject({
      job_id: job.id,
      event: 'job.finished',
      url: hook.url('/retry'),
      status: 'delivered',
      attempts: 3,
      last_status_code: 200,
    });
    expect(hits[2]!.headers['bsubio-delivery']).toBe(delivery!.id);
  });

  it("uses the user's default webhook for jobs created without one, and reports failures too", async () => {
    const { status, body } = await api.json<{ data: { url: string; secret: string } }>('/v1/webhook', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: hook.url('/default') }),
    });
    expect(status).toBe(200);
    expect(body.data.url).toBe(hook.url('/default'));
    const job = await api.create('json_format');
    expect(job.webhook_url).toBe(hook.url('/default'));
    expect((await api.upload(job, 'not json')).status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);
    expect((await api.waitTerminal(job.id)).status).toBe('failed');
    const hits = await until(() => {
      const list = hook.hits.get('/default');
      return list && list.length >= 3 ? list : undefined;
    }, 'the default webhook');
    expect(hits[0]!.headers['bsubio-event']).toBe('job.failed');
    expect(JSON.parse(hits[0]!.body)).toMatchObject({ id: job.id, status: 'failed', error_code: 'EEXIT' });

    // Removing the default: new jobs have no webhook.
    await api.json('/v1/webhook', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: null }),
    });
    expect((await api.create('passthru')).webhook_url).toBeNull();
  });

  it('lists no deliveries for a job without a webhook', async () => {
    const job = await api.create('passthru');
    expect(await deliveries(job.id)).toEqual([]);
  });

  it('refuses private, loopback and link-local webhook URLs unless the operator allows them', async () => {
    const strictApi = new Api(strict.url, strict.apiKey);
    for (const url of [
      'http://127.0.0.1:9/hook',
      'http://localhost:9/hook',
      'http://[::1]:9/hook',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/hook',
      'http://192.168.0.10/hook',
      // IPv6 forms that carry a private IPv4 address (security round 2, finding 8).
      'http://[::127.0.0.1]:9/hook',
      'http://[::ffff:0:127.0.0.1]:9/hook',
      'http://[64:ff9b::127.0.0.1]:9/hook',
      'http://[::ffff:169.254.169.254]/latest',
      'http://[2002:a01:203::1]/hook',
      'http://[64:ff9b:1::a01:203]/hook',
    ]) {
      await expectError(
        strictApi.request('/v1/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'passthru', webhook_url: url }),
        }),
        400,
        /private, loopback or link-local .*BSUBIO_WEBHOOK_ALLOW_PRIVATE=1/,
      );
    }
    await expectError(
      strictApi.request('/v1/webhook', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:9/hook' }),
      }),
      400,
      /BSUBIO_WEBHOOK_ALLOW_PRIVATE/,
    );
    await expectError(
      strictApi.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'passthru', webhook_url: 'ftp://example.com/x' }),
      }),
      400,
      /http or https/,
    );
    await expectError(
      strictApi.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'passthru', webhook_url: 42 }),
      }),
      400,
      /webhook_url must be/,
    );
  });
});
