/**
 * Cluster mode end to end, on loopback: PostgreSQL for jobs and the queue,
 * an S3 endpoint (moto) for files, two API replicas and three remote worker
 * agents. Passthru jobs (BSUBIO_CLUSTER_JOBS, see below) go in through both replicas; one worker is
 * SIGKILLed while it holds a job and one replica is stopped mid-run. Every job
 * must end finished exactly once with its own bytes as output, and deleting
 * the jobs must leave the bucket empty.
 *
 * Also: the store's claim and transition races, on SQLite and on PostgreSQL.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { JobTimeline, Overview } from '@bsubio/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startPostgres,
  startS3,
  type TestPostgres,
  type TestS3,
} from '../../../test/support/cluster.js';
import { SERVER_BIN, startServer, type TestServer } from '../../../test/support/server.js';
import { startRemoteWorker } from '../../../test/support/worker.js';
import { type Db, openPostgres, openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';
import { Api, expectError } from './client.js';
import { openEvents, type SseEvent } from './sse.js';
import { shellType, writeTypesFile } from './test-types.js';

const run = promisify(execFile);
// On the 2-core CI VM the whole path (3 API calls, 7 worker calls, 4 S3
// operations and a sandbox per job) runs at about 0.7 jobs/s end to end, so
// 1,000 jobs take ~25 min there; the default keeps this file within ~6 min.
// BSUBIO_CLUSTER_JOBS=1000 runs the full size (on a faster machine).
const JOBS = Number(process.env.BSUBIO_CLUSTER_JOBS ?? 60);
const BUCKET = 'bsubio-test';
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
};

let postgres: TestPostgres | undefined;
let s3: TestS3 | undefined;
const servers: TestServer[] = [];
const workers: ChildProcess[] = [];
const scratch: string[] = [];

beforeAll(async () => {
  [postgres, s3] = await Promise.all([startPostgres(), startS3()]);
}, 120_000);

afterAll(async () => {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null || w.signalCode !== null) return resolve();
          w.once('exit', () => resolve());
          w.kill('SIGKILL');
        }),
    ),
  );
  await Promise.all(servers.map((s) => s.cleanup().catch(() => {})));
  await Promise.all([postgres?.stop(), s3?.stop()]);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** Starts `bsubio-server worker`; resolves once it says it is ready. */
function startWorker(name: string, serverUrls: string[], token: string): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-worker-'));
  scratch.push(dir);
  const { child, ready } = startRemoteWorker({
    name,
    server: serverUrls.join(','),
    token,
    dir,
    // Long enough that renewals survive this slow, loaded machine; a killed
    // worker's jobs come back when it runs out.
    args: ['--types', 'passthru', '--concurrency', '4', '--lease-seconds', '20'],
  });
  workers.push(child);
  return ready;
}

/** Run `task` over `items` with at most `limit` at once. */
async function eachLimit<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

async function call(base: string, key: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...(init.headers as object) },
  });
  const text = await res.text();
  return { status: res.status, text };
}

it(
  `runs ${JOBS} jobs through two replicas and three remote workers, surviving a killed worker and a stopped replica`,
  async () => {
    const started = Date.now();
    const lap = (what: string) =>
      console.log(`[cluster] ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const databaseUrl = postgres!.url();
    const blobUrl = `s3://${BUCKET}?endpoint=${encodeURIComponent(s3!.endpoint)}&region=us-east-1`;
    const bucket = new S3Client({
      endpoint: s3!.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await bucket.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const env = {
      ...AWS_ENV,
      BSUBIO_DATABASE_URL: databaseUrl,
      BSUBIO_BLOB_URL: blobUrl,
      BSUBIO_WORKERS: '0',
      // The reaper runs at half of this; the leases themselves are the workers' (--lease-seconds).
      BSUBIO_LEASE_SECONDS: '10',
      BSUBIO_MAX_ATTEMPTS: '5',
      BSUBIO_SHUTDOWN_GRACE_SECONDS: '5',
    };

    const a = await startServer({ env });
    servers.push(a);
    lap('replica A up');
    // Every time a job becomes finished is recorded, to check "exactly once".
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      await db.query(`
      CREATE TABLE finish_log (job_id text NOT NULL, claimed_by text);
      CREATE FUNCTION log_finish() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status = 'finished' AND OLD.status <> 'finished' THEN
          INSERT INTO finish_log VALUES (NEW.id, NEW.claimed_by);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER jobs_finish_log AFTER UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION log_finish();
    `);
      const { stdout: token } = await run(
        process.execPath,
        [SERVER_BIN, 'worker-token', 'add', 'test-fleet', '--database-url', databaseUrl],
        { env: { ...process.env, HOME: a.home } },
      );
      // B's port is chosen now, so that workers can be told about it while it starts.
      const bPort = await freePort();
      const bUrl = `http://127.0.0.1:${bPort}`;
      const [b] = await Promise.all([
        startServer({ env, port: bPort }),
        startWorker('w1', [a.url, bUrl], token.trim()),
        // w2 and w3 talk to B first, and must move to A when B stops.
        startWorker('w2', [bUrl, a.url], token.trim()),
        startWorker('w3', [bUrl, a.url], token.trim()),
      ]);
      servers.push(b);
      lap('replica B and workers up');

      const key = a.apiKey;
      const inputs = new Map<string, string>();
      let bStopped = false;
      let submittedCount = 0;
      const submit = async (i: number) => {
        const base = i % 2 === 1 && !bStopped ? b.url : a.url;
        const created = await call(base, key, '/v1/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'passthru', name: `job-${i}` }),
        });
        expect(created.status, created.text).toBe(201);
        const job = JSON.parse(created.text).data as { id: string; upload_token: string };
        const content = `job ${i} ${job.id}\n`;
        inputs.set(job.id, content);
        const uploaded = await fetch(`${base}/v1/upload/${job.id}?token=${job.upload_token}`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: content,
        });
        expect(uploaded.status, await uploaded.text()).toBe(200);
        const submitted = await call(base, key, `/v1/jobs/${job.id}/submit`, { method: 'POST' });
        expect(submitted.status, submitted.text).toBe(200);
        if (++submittedCount % 100 === 0) lap(`${submittedCount} submitted`);
      };
      const indexes = Array.from({ length: JOBS }, (_, i) => i);
      // Kill one worker while it holds a job, whenever that happens first.
      const killW2 = (async () => {
        const deadline = Date.now() + 240_000;
        for (;;) {
          const held = await db.query(
            `SELECT count(*)::int AS n FROM jobs WHERE claimed_by LIKE 'w2-%' AND status IN ('claimed','preparing','processing')`,
          );
          if (held.rows[0].n > 0) break;
          if (Date.now() > deadline) throw new Error('worker w2 never held a job');
          await new Promise((r) => setTimeout(r, 100));
        }
        workers[1]!.kill('SIGKILL');
        lap('w2 killed while holding a job');
      })();
      await eachLimit(indexes.slice(0, JOBS / 2), 12, submit);
      lap(`${JOBS / 2} submitted`);

      // Stop replica B mid-run, while the second half goes in through A.
      bStopped = true;
      const [, bExit] = await Promise.all([eachLimit(indexes.slice(JOBS / 2), 12, submit), b.stop()]);
      expect(bExit).toBe(0);
      lap(`all ${JOBS} submitted, B stopped`);
      await killW2;

      // Wait for the end.
      const waitUntil = Date.now() + Math.max(240_000, JOBS * 600);
      let counts: Record<string, number> = {};
      for (;;) {
        const rows = await db.query(`SELECT status, count(*)::int AS n FROM jobs GROUP BY status`);
        counts = Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
        if ((counts.finished ?? 0) + (counts.failed ?? 0) >= JOBS) break;
        if (Date.now() > waitUntil) throw new Error(`jobs did not end in time: ${JSON.stringify(counts)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      lap(`all ended: ${JSON.stringify(counts)}`);
      const failed = await db.query(
        `SELECT error_code, error_message, attempts, claimed_by FROM jobs WHERE status = 'failed' LIMIT 5`,
      );
      expect(counts, JSON.stringify(failed.rows)).toEqual({ finished: JOBS });

      // Exactly once: one move to finished per job.
      const log = await db.query(`SELECT job_id, count(*)::int AS n FROM finish_log GROUP BY job_id`);
      expect(log.rows.length).toBe(JOBS);
      expect(log.rows.filter((r) => r.n !== 1)).toEqual([]);
      const claimers = await db.query(`SELECT DISTINCT split_part(claimed_by, '-', 1) AS w FROM finish_log`);
      expect(claimers.rows.map((r) => r.w).sort()).toEqual(expect.arrayContaining(['w1', 'w3']));
      const retried = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE attempts > 1`);
      lap(`${retried.rows[0].n} jobs ran more than once (lost with w2)`);
      expect(retried.rows[0].n).toBeGreaterThan(0);

      // The right output, read through the API; then delete.
      await eachLimit([...inputs.keys()], 12, async (id) => {
        const output = await call(a.url, key, `/v1/jobs/${id}/output`);
        expect(output.status).toBe(200);
        expect(output.text).toBe(inputs.get(id));
        const deleted = await fetch(`${a.url}/v1/jobs/${id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${key}` },
        });
        expect(deleted.status).toBe(204);
      });
      lap('outputs checked and jobs deleted');
      const left = await bucket.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      expect(left.Contents ?? []).toEqual([]);
      const rows = await db.query(`SELECT count(*)::int AS n FROM jobs`);
      expect(rows.rows[0].n).toBe(0);
    } finally {
      await db.end();
    }
  },
  // About 2-3 jobs a second end to end on this 2-core VM: the bound grows with the run's size.
  Math.max(600_000, JOBS * 1_500),
);

it('shows a client on replica A the events and live log lines of a job that replica B handed to a remote worker, and serves ranges from S3 and the overview', async () => {
  // Its own database and bucket, so the run above counts only its own jobs.
  const admin = new pg.Client({ connectionString: postgres!.url() });
  await admin.connect();
  await admin.query('CREATE DATABASE live_events');
  await admin.end();
  const bucketName = 'bsubio-live';
  const bucket = new S3Client({
    endpoint: s3!.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await bucket.send(new CreateBucketCommand({ Bucket: bucketName }));
  const databaseUrl = postgres!.url('live_events');
  const typesFile = writeTypesFile([
    shellType(
      'test/chatty',
      'Chatty copy',
      'Writes three log lines a second apart, then copies the input.',
      'for i in 1 2 3; do echo "line $i" >&2; sleep 1; done; cat "$0"',
    ),
  ]);
  const env = {
    ...AWS_ENV,
    BSUBIO_DATABASE_URL: databaseUrl,
    BSUBIO_BLOB_URL: `s3://${bucketName}?endpoint=${encodeURIComponent(s3!.endpoint)}&region=us-east-1`,
    BSUBIO_WORKERS: '0',
    BSUBIO_TYPES_FILE: typesFile,
  };
  const a = await startServer({ env });
  servers.push(a);
  const b = await startServer({ env });
  servers.push(b);
  const { stdout: token } = await run(
    process.execPath,
    [SERVER_BIN, 'worker-token', 'add', 'live-fleet', '--database-url', databaseUrl],
    { env: { ...process.env, HOME: a.home } },
  );
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-worker-'));
  scratch.push(dir);
  // The worker knows only replica B.
  const { child, ready } = startRemoteWorker({
    name: 'live',
    server: b.url,
    token: token.trim(),
    dir,
    args: ['--types', 'test/chatty', '--types-file', typesFile, '--concurrency', '1'],
  });
  workers.push(child);
  await ready;

  const onA = new Api(a.url, a.apiKey);
  const onB = new Api(b.url, a.apiKey);
  const stream = await openEvents(`${a.url}/v1/events?logs=1`, { authorization: `Bearer ${a.apiKey}` });
  expect((await stream.next())?.event).toBe('ready');

  // Everything about the job happens on B.
  const job = await onB.create('test/chatty');
  expect((await onB.upload(job, 'the input')).status).toBe(200);
  const follow = (async () => {
    // Following from before the submit: the whole log, as it is written.
    const res = await onA.request(`/v1/jobs/${job.id}/logs?follow=1`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let stateAtFirstBytes: string | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      stateAtFirstBytes ??= (await onA.get(job.id)).status;
    }
    return { text, stateAtFirstBytes };
  })();
  expect((await onB.submit(job.id)).status).toBe(200);

  const seen: SseEvent[] = [];
  let stateAtFirstLine: string | undefined;
  for (;;) {
    const e = await stream.next();
    if (!e) throw new Error(`the stream on A ended; saw ${JSON.stringify(seen)}`);
    seen.push(e);
    if (e.event === 'log' && stateAtFirstLine === undefined)
      stateAtFirstLine = (await onA.get(job.id)).status;
    if (e.event === 'job' && JSON.parse(e.data).status === 'finished') break;
  }
  stream.close();
  const states = seen.filter((e) => e.event === 'job').map((e) => JSON.parse(e.data).status);
  expect(states).toEqual(['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing', 'finished']);
  const finished = JSON.parse(seen.at(-1)!.data);
  expect(finished).toEqual(await onA.get(job.id));
  expect(finished.claimed_by).toMatch(/^live-/);
  const lines = seen.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data).text);
  expect(lines.join('')).toBe('line 1\nline 2\nline 3\n');
  // Live: the first line reached A while the tool still ran on the worker.
  expect(stateAtFirstLine).toBe('processing');

  const followed = await follow;
  expect(followed.text).toBe('line 1\nline 2\nline 3\n');
  expect(followed.stateAtFirstBytes).toBe('processing');

  // Previews from S3 storage: only the bytes asked for, 416 past the end.
  const ranged = (path: string, range: string) => onA.request(path, { headers: { range } });
  const tail = await ranged(`/v1/jobs/${job.id}/output`, 'bytes=4-');
  expect(tail.status).toBe(206);
  expect(tail.headers.get('content-range')).toBe('bytes 4-8/9');
  expect(await tail.text()).toBe('input');
  const suffix = await ranged(`/v1/jobs/${job.id}/output`, 'bytes=-5');
  expect(suffix.headers.get('content-range')).toBe('bytes 4-8/9');
  expect(await suffix.text()).toBe('input');
  const firstLine = await ranged(`/v1/jobs/${job.id}/logs`, 'bytes=0-5');
  expect(firstLine.status).toBe(206);
  expect(firstLine.headers.get('content-range')).toBe('bytes 0-5/21');
  expect(await firstLine.text()).toBe('line 1');
  const past = await ranged(`/v1/jobs/${job.id}/output`, 'bytes=9-');
  expect(past.headers.get('content-range')).toBe('bytes */9');
  await expectError(past, 416);

  // The overview on PostgreSQL, asked of A: the job B ran, and the worker that only B heard from.
  let overview: Overview | undefined;
  const deadline = Date.now() + 20_000;
  for (;;) {
    overview = (await onA.json<{ data: Overview }>('/v1/overview')).body.data;
    if (overview.workers.some((w) => w.id === finished.claimed_by && w.last_seen) || Date.now() > deadline)
      break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(overview.jobs.finished).toBe(1);
  expect(overview.throughput.last_hour.reduce((n, b) => n + b.finished, 0)).toBe(1);
  expect(overview.throughput.last_day.reduce((n, b) => n + b.finished, 0)).toBe(1);
  expect(overview.queue_wait.last_hour.jobs).toBe(1);
  const worker = overview.workers.find((w) => w.id === finished.claimed_by);
  expect(worker, JSON.stringify(overview.workers)).toBeDefined();
  expect(worker!.last_seen).not.toBeNull();
  expect(Date.now() - Date.parse(worker!.last_seen!)).toBeLessThan(60_000);
  const timeline = (await onA.json<{ data: JobTimeline }>(`/v1/jobs/${job.id}/timeline`)).body.data;
  expect(timeline.submitted_at).not.toBeNull();
  expect(timeline.durations_ms.running).not.toBeNull();
}, 300_000);

describe.each(['sqlite', 'postgres'] as const)('the store on %s', (dialect) => {
  let db: Db;
  let repo: JobRepository;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bsubio-store-'));
    if (dialect === 'sqlite') {
      db = await openSqlite(join(dir, 'bsubio.db'));
    } else {
      const admin = new pg.Client({ connectionString: postgres!.url() });
      await admin.connect();
      await admin.query('CREATE DATABASE store_races');
      await admin.end();
      db = (await openPostgres(postgres!.url('store_races'))).db;
    }
    repo = new JobRepository(db);
    await db
      .insertInto('users')
      .values({ id: 'u1', email: 'u1@example.com', created_at: 0, webhook_url: null, webhook_secret: null })
      .execute();
  });
  afterAll(async () => {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const insertPending = async (n: number, prefix: string) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${prefix}-${String(i).padStart(4, '0')}`;
      ids.push(id);
      await repo.insert({
        id,
        user_id: 'u1',
        type: 'passthru',
        status: 'pending',
        name: null,
        params: '{}',
        upload_token: null,
        data_size: 1,
        input_name: null,
        input_type: null,
        input_key: null,
        output_key: null,
        log_key: null,
        output_size: null,
        claimed_by: null,
        lease_expires_at: null,
        error_code: null,
        error_message: null,
        created_at: 1,
        updated_at: 1,
        claimed_at: null,
        started_at: null,
        finished_at: null,
        deleted_at: null,
        webhook_url: null,
      });
    }
    return ids;
  };

  it('gives each pending job to exactly one of many racing claimers', async () => {
    const ids = await insertPending(60, 'claim');
    const claimed: string[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, w) => {
        for (;;) {
          const row = await repo.claimNext(`w${w}`, ['passthru'], 10_000, Date.now());
          if (!row) return;
          expect(row.status).toBe('claimed');
          expect(typeof row.lease_expires_at).toBe('number');
          claimed.push(row.id);
        }
      }),
    );
    expect(claimed.sort()).toEqual(ids);
  });

  it('lets exactly one of racing transitions win', async () => {
    const [id] = await insertPending(1, 'transition');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        repo.transition(
          { id: id!, from: ['pending'] },
          i % 2 ? 'failed' : 'claimed',
          { claimed_by: `w${i}` },
          Date.now(),
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
