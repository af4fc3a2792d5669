// 1. Queue core: noop jobs claimed and completed per second with 1, 2 and 4
// workers. Ours: the server's own JobService (claim, preparing, processing,
// finished: the four guarded updates an in-process worker makes per job,
// without running a tool), in this process, on embedded SQLite and on
// PostgreSQL. Peers: BullMQ (Worker with concurrency N, noop processor) on a
// local redis-server, and pg-boss (N work() loops) on the same PostgreSQL.
// Each run pre-enqueues the same number of jobs, then counts the jobs
// completed until the queue is empty or BENCH_QUEUE_SECONDS have passed,
// whichever comes first: the figure is a rate, and a slow case (PostgreSQL
// commits on this VM's disk) would otherwise hold the suite for minutes.
// 30,000 jobs by default, so that even the fastest case (BullMQ, ~8,000/s)
// counts for over 3 s: shorter cases measured start-up more than the queue.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import PgBoss from 'pg-boss';
import { openBlobStore } from '../packages/server/dist/blobs/open-blob-store.js';
import { JobEvents } from '../packages/server/dist/services/job-events.js';
import { JobService } from '../packages/server/dist/services/job-service.js';
import { openPostgres, openSqlite } from '../packages/server/dist/store/database.js';
import { JobRepository } from '../packages/server/dist/store/job-repository.js';
import { Catalog } from '../packages/worker/dist/index.js';
import { insertJobs, insertUser } from './store-fill.mjs';
import { report, startPostgres, startRedis } from './support.mjs';

const JOBS = Number(process.env.BENCH_QUEUE_JOBS ?? 30_000);
const SECONDS = Number(process.env.BENCH_QUEUE_SECONDS ?? 15);
const WORKERS = [1, 2, 4];
const LEASE_MS = 60_000;

/** Drain `JOBS` pending noop jobs with n worker loops over our JobService. */
async function drainOurs(db, dialect, dataDir, n, leaseDb) {
  const userId = await insertUser(db, `0190f000-0000-7000-8000-${String(n).padStart(12, '0')}`);
  const type = `noop${n}`;
  await insertJobs(db, dialect, { userId, count: JOBS, status: 'pending', type, base: Date.now() + n });
  const service = new JobService(
    new JobRepository(db, leaseDb),
    await openBlobStore(undefined, dataDir),
    Catalog.load(),
    new JobEvents(),
    { maxUploadBytes: 1 << 20, maxAttempts: 3 },
  );
  let done = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      const workerId = `bench-${n}-${w}`;
      while (performance.now() < deadline) {
        const job = await service.claim(workerId, [type], LEASE_MS);
        if (!job) return;
        if (!(await service.advance(job.id, workerId, 'preparing'))) throw new Error('lost a job');
        if (!(await service.advance(job.id, workerId, 'processing'))) throw new Error('lost a job');
        const ok = await service.completeStored(job.id, workerId, {
          status: 'finished',
          errorCode: null,
          errorMessage: null,
          outputKey: `bench/${job.id}/output`,
          outputSize: 0,
          logKey: `bench/${job.id}/logs`,
        });
        if (!ok) throw new Error('lost a job');
        done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (done === 0) throw new Error('ours completed no job');
  return done / seconds;
}

async function drainBullmq(redis, n) {
  const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
  const name = `noop${n}`;
  const queue = new Queue(name, { connection });
  for (let i = 0; i < JOBS; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({
        name: 'noop',
        data: { i: i + k },
        opts: { removeOnComplete: false },
      })),
    );
  }
  let done = 0;
  let resolveDone;
  const finished = new Promise((r) => {
    resolveDone = r;
  });
  const started = performance.now();
  const worker = new Worker(name, async () => {}, { connection, concurrency: n });
  worker.on('completed', () => {
    if (++done === JOBS) resolveDone();
  });
  const timer = setTimeout(resolveDone, SECONDS * 1000);
  await finished;
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  const completed = done;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return completed / seconds;
}

async function drainPgBoss(url, n) {
  const boss = new PgBoss({ connectionString: url, max: n + 2 });
  boss.on('error', (err) => console.error('pg-boss:', err.message));
  await boss.start();
  const name = `noop${n}`;
  await boss.createQueue(name);
  for (let i = 0; i < JOBS; i += 1000) {
    await boss.insert(
      Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ name, data: { i: i + k } })),
    );
  }
  let resolveDone;
  const finished = new Promise((r) => {
    resolveDone = r;
  });
  const started = performance.now();
  // pg-boss fetches in a loop that waits pollingIntervalSeconds (>= 0.5) after
  // each fetch, so one job per fetch would cap it at 2 jobs/s per loop; it is
  // meant to fetch batches. Each of the n loops takes up to 50 jobs at a time.
  for (let w = 0; w < n; w++) {
    await boss.work(name, { batchSize: 50, pollingIntervalSeconds: 0.5 }, async () => {});
  }
  // Completed is when pg-boss has recorded it, after the handler returned.
  const db = boss.getDb();
  const deadline = started + SECONDS * 1000;
  let completed = 0;
  for (;;) {
    const { rows } = await db.executeSql(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
      [name],
    );
    completed = rows[0].n;
    if (completed >= JOBS || performance.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  resolveDone();
  await finished;
  await boss.stop({ graceful: false, wait: true, close: true });
  if (completed === 0) throw new Error('pg-boss completed no job');
  return completed / seconds;
}

const dataDir = mkdtempSync(join(tmpdir(), 'bsubio-bench-queue-'));
const redis = await startRedis();
const postgres = await startPostgres();
try {
  const sqlite = await openSqlite(join(dataDir, 'bsubio.db'));
  const ourPg = await openPostgres(await postgres.createDatabase('bsubio'), 10);
  const bossUrl = await postgres.createDatabase('pgboss');
  for (const n of WORKERS) {
    const ours = await drainOurs(sqlite, 'sqlite', dataDir, n);
    const peer = await drainBullmq(redis, n);
    report({
      item: 1,
      what: `queue core, ${n} worker${n > 1 ? 's' : ''}: SQLite vs BullMQ/redis`,
      unit: 'jobs/s',
      better: 'higher',
      ours,
      peer,
      peerName: 'BullMQ on redis-server',
    });
  }
  for (const n of WORKERS) {
    const ours = await drainOurs(ourPg.db, 'postgres', dataDir, n, ourPg.leaseDb);
    const peer = await drainPgBoss(bossUrl, n);
    report({
      item: 1,
      what: `queue core, ${n} worker${n > 1 ? 's' : ''}: PostgreSQL vs pg-boss`,
      unit: 'jobs/s',
      better: 'higher',
      ours,
      peer,
      peerName: 'pg-boss on the same PostgreSQL',
    });
  }
  await sqlite.destroy();
  await ourPg.db.destroy();
} finally {
  await redis.stop();
  await postgres.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
