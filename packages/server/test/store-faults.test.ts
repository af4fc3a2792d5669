/**
 * The store and blob storage failing under a running server: SQLite locked
 * by another writer, PostgreSQL stopped, the S3 endpoint gone. Requests are
 * answered 503 with Retry-After (not 500), /readyz says not ready while the
 * database is away, nothing is half-written, and once the back end is back
 * the same requests work and no job is lost.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, startS3, type TestPostgres, type TestS3 } from '../../../test/support/cluster.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';

const servers: TestServer[] = [];
let postgres: TestPostgres | undefined;
let s3: TestS3 | undefined;

afterAll(async () => {
  await Promise.all(servers.map((s) => s.cleanup().catch(() => {})));
  await Promise.all([postgres?.stop(), s3?.stop()]);
}, 120_000);

async function until(check: () => Promise<boolean>, what: string, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A TCP link to 127.0.0.1:`port` that can be cut (connections reset, new ones refused) and restored. */
async function startLink(port: number) {
  const sockets = new Set<Socket>();
  const listen = async (server: Server, at: number) => {
    await new Promise<void>((resolve) => server.listen(at, '127.0.0.1', resolve));
    return server;
  };
  const make = () =>
    createServer((client) => {
      const upstream = connect(port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
  let server = await listen(make(), 0);
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    async cut() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.resetAndDestroy();
      });
    },
    async restore() {
      server = await listen(make(), address.port);
    },
  };
}

const createBody = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"type":"passthru"}',
};

it('answers 503 with Retry-After while another process holds the SQLite write lock, and resumes after', async () => {
  const server = await startServer({ env: { BSUBIO_WORKERS: '1' } });
  servers.push(server);
  const api = new Api(server.url, server.apiKey);
  const before = await api.create('passthru');
  expect((await api.upload(before, 'queued before the lock')).status).toBe(200);

  const db = new Database(join(server.dataDir, 'bsubio.db'));
  db.exec('BEGIN IMMEDIATE');
  try {
    // Writes wait out the server's busy timeout, then are refused for now.
    const res = await api.request('/v1/jobs', createBody);
    const body = await expectError(res, 503, /database is busy/);
    expect(body.code).toBe('unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectError(api.request(`/v1/jobs/${before.id}/submit`, { method: 'POST' }), 503, /busy/);
  } finally {
    db.exec('COMMIT');
    db.close();
  }
  // The refused submit changed nothing.
  expect((await api.get(before.id)).status).toBe('loaded');

  // The lock is gone: the refused requests go through, and the work gets done.
  expect((await api.submit(before.id)).status).toBe(200);
  expect((await api.waitTerminal(before.id, 120)).status).toBe('finished');
  expect((await api.run('passthru', 'after the lock')).status).toBe('finished');
  expect(server.stderr()).not.toMatch(/uncaught|unhandled/i);
});

// Opt-in (BSUBIO_CLUSTER_FAULTS=1): it needs a PostgreSQL and moto started for
// it alone, two more minutes of CI. Its first runs once saw the server exit
// as PostgreSQL stopped: an in-use pg connection raised an unhandled 'error'
// (57P01), fixed in store/database.ts.
describe.runIf(process.env.BSUBIO_CLUSTER_FAULTS === '1')('cluster back ends', () => {
  it('answers 503 while PostgreSQL is down and S3 is unreachable, and loses no job', async () => {
    [postgres, s3] = await Promise.all([startPostgres(), startS3()]);
    const BUCKET = 'bsubio-faults';
    await new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }).send(new CreateBucketCommand({ Bucket: BUCKET }));
    // The server reaches S3 through a link this test can cut, as a network outage would.
    const link = await startLink(Number(new URL(s3.endpoint).port));
    const server = await startServer({
      env: {
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        BSUBIO_DATABASE_URL: postgres.url(),
        BSUBIO_BLOB_URL: `s3://${BUCKET}?endpoint=${encodeURIComponent(link.url)}&region=us-east-1`,
        BSUBIO_WORKERS: '1',
        // A job whose input cannot be fetched (S3 away) is retried once its lease lapses.
        BSUBIO_LEASE_SECONDS: '4',
        BSUBIO_MAX_ATTEMPTS: '10',
      },
    });
    servers.push(server);
    const api = new Api(server.url, server.apiKey);

    // --- PostgreSQL stopped under the running server.
    const survivor = await api.create('passthru');
    expect((await api.upload(survivor, 'kept across the outage')).status).toBe(200);
    await postgres.pause();
    const res = await api.request('/v1/jobs', createBody).catch((err: Error) => {
      throw new Error(`${err.message}; the server said:\n${server.stderr().slice(-8000)}`);
    });
    const body = await expectError(res, 503, /cannot reach its storage/);
    expect(body.code).toBe('unavailable');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    await expectError(fetch(`${server.url}/readyz`), 503, /Not ready/);

    await postgres.resume();
    await until(
      async () => (await fetch(`${server.url}/readyz`)).status === 200,
      'readyz after PostgreSQL is back',
    );
    expect((await api.get(survivor.id)).status).toBe('loaded');
    expect((await api.submit(survivor.id)).status).toBe(200);
    const done = await api.waitTerminal(survivor.id, 120);
    expect(done.status).toBe('finished');
    expect(await (await api.request(`/v1/jobs/${survivor.id}/output`)).text()).toBe('kept across the outage');

    // --- The S3 endpoint gone.
    const queued = await api.create('passthru');
    expect((await api.upload(queued, 'stored before the outage')).status).toBe(200);
    const waiting = await api.create('passthru');
    await link.cut();
    const refused = await api.upload(waiting, 'while S3 is away');
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(JSON.stringify(refused.body)).toMatch(/cannot reach its storage/);
    expect(refused.res.headers.get('retry-after')).toMatch(/^\d+$/);
    const untouched = await api.get(waiting.id);
    expect(untouched.status).toBe('created');
    expect(untouched.data_size).toBe(0);

    // While S3 is away a job needing its input cannot run: it must not be lost either.
    expect((await api.submit(queued.id)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000));
    expect(['pending', 'claimed', 'preparing', 'processing']).toContain((await api.get(queued.id)).status);

    await link.restore();
    const recovered = await api.waitTerminal(queued.id, 120);
    expect(recovered.status, JSON.stringify(recovered)).toBe('finished');
    expect(await (await api.request(`/v1/jobs/${queued.id}/output`)).text()).toBe('stored before the outage');
    expect((await api.upload(waiting, 'after S3 is back')).status).toBe(200);
    expect((await api.submit(waiting.id)).status).toBe(200);
    expect((await api.waitTerminal(waiting.id, 120)).status).toBe('finished');
    expect(await (await api.request(`/v1/jobs/${waiting.id}/output`)).text()).toBe('after S3 is back');
  });
});
