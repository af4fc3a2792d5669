// 6. Scale: list and claim latency (p50, p99) with 1 thousand, 100 thousand
// and 1 million jobs in the store (embedded SQLite). The store is filled with
// direct SQL between the measurements while the server runs (no workers).
// List: `GET /v1/jobs?limit=20` over HTTP. Claim: the server's claim of the
// oldest pending job (JobRepository.claimNext), on the same database file.
// The "peer" of each line is our own figure at 1 thousand jobs: the ratio is
// the growth.
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqlite } from '../packages/server/dist/store/database.js';
import { JobRepository } from '../packages/server/dist/store/job-repository.js';
import { insertJobs } from './store-fill.mjs';
import { percentile, report, startBenchServer } from './support.mjs';

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,100000,1000000').split(',').map(Number);
const SAMPLES = Number(process.env.BENCH_SCALE_SAMPLES ?? 100);
const PENDING = SAMPLES + 20;

const server = await startBenchServer({ BSUBIO_WORKERS: '0', BSUBIO_RATE_LIMIT: '0' });
const db = await openSqlite(join(server.dataDir, 'bsubio.db'));
try {
  const auth = { authorization: `Bearer ${server.key}` };
  const { rows } = await sql`SELECT id FROM users WHERE email = 'local@localhost'`.execute(db);
  const userId = rows[0].id;
  const repo = new JobRepository(db);
  const results = [];
  let stored = 0;
  let base = Date.now() - 1_000_000;
  for (const size of SIZES) {
    // Older finished jobs, then the pending ones to claim (newest).
    const fill = size - stored - PENDING;
    const t = performance.now();
    await insertJobs(db, 'sqlite', {
      userId,
      count: fill,
      first: 0,
      status: 'finished',
      type: 'noop',
      base: base++,
    });
    await insertJobs(db, 'sqlite', {
      userId,
      count: PENDING,
      first: 0,
      status: 'pending',
      type: 'noop',
      base: base++,
    });
    await sql`ANALYZE`.execute(db);
    stored = size;
    console.log(`  ${size} jobs stored (filled in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
    const list = [];
    for (let i = 0; i < SAMPLES + 5; i++) {
      const started = performance.now();
      // After a long fill the kept-alive connection may have been closed by
      // the server (EPIPE on reuse): one retry, on a new connection.
      const get = () => fetch(`${server.url}/v1/jobs?limit=20`, { headers: auth });
      const res = await get().catch(get);
      const body = await res.json();
      if (res.status !== 200 || body.data.jobs.length !== 20) throw new Error(`list: ${res.status}`);
      if (i >= 5) list.push(performance.now() - started);
    }
    const claim = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      const job = await repo.claimNext('bench-scale', ['noop'], 60_000, Date.now());
      claim.push(performance.now() - started);
      if (!job) throw new Error('nothing to claim');
    }
    // The rest of the pending ones: finished, so the next size starts alike.
    await sql`UPDATE jobs SET status = 'finished' WHERE status IN ('pending', 'claimed')`.execute(db);
    stored = size;
    results.push({ size, list, claim });
  }
  const [first, ...rest] = results;
  const label = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
  for (const r of rest) {
    for (const [kind, name] of [
      ['list', 'GET /v1/jobs?limit=20'],
      ['claim', 'claim'],
    ]) {
      for (const p of [50, 99]) {
        report({
          item: 6,
          what: `scale: ${name} p${p} at ${label(r.size)} jobs (peer: at ${label(first.size)})`,
          unit: 'ms',
          better: 'lower',
          ours: percentile(r[kind], p),
          peer: percentile(first[kind], p),
          peerName: `ours with ${label(first.size)} jobs stored`,
        });
      }
    }
  }
} finally {
  await db.destroy();
  await server.stop();
}
