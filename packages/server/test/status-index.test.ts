/**
 * jobs_user_live_status_id leaves the running states out (migration 0014),
 * so that a job's moves between them write none of its pages. SQLite uses a
 * partial index only when a query states its predicate, and running jobs
 * are found through jobs_lease instead. These tests check both halves on a
 * real store: every query of a user's jobs by state answers as a plain scan
 * of the jobs would, and its plan searches an index instead of scanning
 * the user's jobs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEASED_STATES } from '@bsubio/protocol';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';
import type { Database } from '../src/store/schema.js';

const USER = '0190f000-0000-7000-8000-000000000001';
const OTHER = '0190f000-0000-7000-8000-000000000002';
const STATES = ['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing', 'finished', 'failed'];

describe("a user's jobs by state, on SQLite", () => {
  let dir: string;
  let store: Db;
  let sqlite: SQLite.Database;
  let db: Kysely<Database>;
  let jobs: JobRepository;
  /** The SQL of every query the repository sent, with its parameters. */
  const sent: { sql: string; parameters: readonly unknown[] }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bsubio-status-index-'));
    store = await openSqlite(join(dir, 'bsubio.db'));
    const now = Date.now();
    for (const user of [USER, OTHER])
      await store
        .insertInto('users')
        .values({ id: user, email: `${user}@test.invalid`, created_at: now })
        .execute();
    // Each user: jobs in every state, ids in creation order; running ones hold a lease.
    let n = 0;
    for (const user of [USER, OTHER])
      for (let round = 0; round < 3; round++)
        for (const status of STATES) {
          n++;
          const running = (LEASED_STATES as readonly string[]).includes(status);
          const ended = status === 'finished' || status === 'failed';
          await store
            .insertInto('jobs')
            .values({
              id: `0190f000-0000-7000-8000-${String(n).padStart(12, '0')}`,
              user_id: user,
              type: 'noop',
              status,
              params: '{}',
              data_size: 0,
              attempts: running ? 1 : 0,
              created_at: now,
              updated_at: now,
              claimed_by: running ? `worker-${round}` : null,
              lease_expires_at: running ? now + 60_000 : null,
              finished_at: ended ? now : null,
              error_code: status === 'failed' && round > 0 ? 'ECANCELED' : null,
            })
            .execute();
        }
    // The repository on a connection of its own that records what it sends.
    sqlite = new SQLite(join(dir, 'bsubio.db'));
    db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: sqlite }),
      log: (event) => {
        if (event.level === 'query') sent.push(event.query);
      },
    });
    jobs = new JobRepository(db);
  });

  afterAll(async () => {
    await db.destroy();
    await store.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The plan of the last query sent, one line per step. */
  function lastPlan(): string[] {
    const query = sent.at(-1)!;
    const rows = sqlite.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...query.parameters) as {
      detail: string;
    }[];
    return rows.map((r) => r.detail);
  }

  /** No step reads every job of the user (or of the table) to find a few. */
  function expectIndexed(plan: string[], index: RegExp) {
    expect(plan.some((step) => index.test(step))).toBe(true);
    expect(
      plan.filter(
        (step) =>
          /^SCAN jobs\b/.test(step) || /jobs_user_live_id \(user_id=\? AND deleted_at=\?\)$/.test(step),
      ),
    ).toEqual([]);
  }

  it.each(STATES)('lists the %s jobs of the user, newest first, from an index', async (status) => {
    const { rows, total } = await jobs.list(USER, status as never, 50);
    const expected = await store
      .selectFrom('jobs')
      .select('id')
      .where('user_id', '=', USER)
      .where('status', '=', status)
      .orderBy('id', 'desc')
      .execute();
    expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    expect(total).toBe(3);
    // The page (the total comes from job_counts).
    const page = sent.findLast((q) => q.sql.startsWith('select * from "jobs"'))!;
    sent.push(page);
    const running = (LEASED_STATES as readonly string[]).includes(status);
    expectIndexed(lastPlan(), running ? /USING INDEX jobs_lease/ : /USING INDEX jobs_user_live_status_id/);
  });

  it('counts the workers holding the user’s jobs from the leases', async () => {
    const held = await jobs.heldByWorker(USER);
    expect(held.sort((a, b) => a.worker.localeCompare(b.worker))).toEqual([
      { worker: 'worker-0', n: 3 },
      { worker: 'worker-1', n: 3 },
      { worker: 'worker-2', n: 3 },
    ]);
    expectIndexed(lastPlan(), /USING INDEX jobs_lease/);
  });

  it('counts cancelled and ended jobs from the state index', async () => {
    expect(await jobs.countCancelled(USER)).toBe(2);
    expectIndexed(lastPlan(), /USING INDEX jobs_user_live_status_id/);
    const ended = await jobs.endedPerBucket(USER, 0, 60_000);
    expect(ended.reduce((sum, b) => sum + b.n, 0)).toBe(6);
    expectIndexed(lastPlan(), /USING INDEX jobs_user_live_status_id/);
  });

  it('claims the oldest pending job of the user to serve from the state index', async () => {
    const oldest = await store
      .selectFrom('jobs')
      .select('id')
      .where('status', '=', 'pending')
      .orderBy('id')
      .executeTakeFirstOrThrow();
    const claimed = await jobs.claimNext('worker-x', ['noop'], 60_000, Date.now());
    expect(claimed?.id).toBe(oldest.id);
    const claim = sent.findLast((q) => q.sql.startsWith('update "jobs"'))!;
    const plan = sqlite.prepare(`EXPLAIN QUERY PLAN ${claim.sql}`).all(...claim.parameters) as {
      detail: string;
    }[];
    const steps = plan.map((r) => r.detail);
    expect(steps.filter((s) => /^SEARCH jobs USING INDEX jobs_user_live_status_id/.test(s)).length).toBe(1);
    expect(steps.some((s) => /^SEARCH p USING INDEX jobs_user_live_status_id/.test(s))).toBe(true);
    expect(steps.filter((s) => /^SCAN (jobs|p)\b/.test(s))).toEqual([]);
  });
});
