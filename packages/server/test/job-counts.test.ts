/**
 * The list's `total` comes from counters the database keeps itself
 * (job_counts, kept by triggers on jobs; migration 0006). These tests drive
 * real jobs through every kind of change and compare each total with a
 * count(*) of the same filter on the store, and the whole counter table with
 * a GROUP BY of the jobs: on SQLite over HTTP, on PostgreSQL directly and
 * under many concurrent transitions of one user's jobs (exact, no deadlock).
 * The migration's backfill of existing jobs is checked on both.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { type Db, openPostgres, openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';
import { migrationProvider } from '../src/store/migrations.js';
import { Api } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

const STATUSES = ['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing', 'finished', 'failed'];

type CountRow = { user_id: string; type: string; status: string; n: number };

/** The counter table, zero rows left out, in a fixed order. */
async function counters(db: Kysely<unknown>): Promise<CountRow[]> {
  const { rows } = await sql<CountRow>`
    SELECT user_id, type, status, n FROM job_counts WHERE n <> 0 ORDER BY user_id, type, status`.execute(db);
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** What the counter table must say: the live jobs, counted. */
async function recount(db: Kysely<unknown>): Promise<CountRow[]> {
  const { rows } = await sql<CountRow>`
    SELECT user_id, type, status, count(*) AS n FROM jobs WHERE deleted_at IS NULL
    GROUP BY user_id, type, status ORDER BY user_id, type, status`.execute(db);
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

describe('job totals on SQLite, over HTTP', () => {
  let server: TestServer;
  let api: Api;
  let store: Kysely<unknown>;
  let userId: string;
  const TYPES = ['passthru', 'test/fail', 'test/slow'];

  beforeAll(async () => {
    const types = writeTypesFile([
      shellType('test/fail', 'test/fail', 'Runs: exit 3', 'exit 3'),
      shellType('test/slow', 'test/slow', 'Runs: sleep 100; cat "$0"', 'sleep 100; cat "$0"'),
    ]);
    server = await startServer({
      env: { BSUBIO_WORKERS: '2', BSUBIO_TYPES_FILE: types },
      startTimeoutMs: 120_000,
    });
    api = new Api(server.url, server.apiKey);
  }, 150_000);
  afterAll(async () => {
    await store?.destroy();
    await server?.cleanup();
  });

  function openStore() {
    const sqlite = new SQLite(join(server.dataDir, 'bsubio.db'), { readonly: true });
    sqlite.pragma('busy_timeout = 5000');
    store = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
  }

  /**
   * Every total the list can be asked for (no filter, each status, each
   * type, each type in each status) against count(*), and the counters
   * against a recount. Called only while no job can move.
   */
  async function expectExactTotals() {
    const filters: { status?: string; type?: string }[] = [{}];
    for (const status of STATUSES) filters.push({ status });
    for (const type of TYPES) {
      filters.push({ type });
      for (const status of STATUSES) filters.push({ type, status });
    }
    for (const { status, type } of filters) {
      const query = new URLSearchParams({ limit: '1' });
      if (status) query.set('status', status);
      if (type) query.set('type', type);
      const { total } = await api.list(`?${query}`);
      const { rows } = await sql<{ n: number }>`
        SELECT count(*) AS n FROM jobs WHERE user_id = ${userId} AND deleted_at IS NULL
        ${status ? sql`AND status = ${status}` : sql``} ${type ? sql`AND type = ${type}` : sql``}`.execute(
        store,
      );
      expect(total, `total of ${query}`).toBe(Number(rows[0]!.n));
    }
    expect(await counters(store)).toEqual(await recount(store));
  }

  async function waitStatus(id: string, status: string) {
    const deadline = Date.now() + 120_000;
    while ((await api.get(id)).status !== status) {
      if (Date.now() > deadline) throw new Error(`job ${id} never became ${status}`);
      await sleep(200);
    }
  }

  it('keeps every total exact through create, upload, submit, run, fail, cancel, delete and retention', async () => {
    const created = [
      await api.create('passthru'),
      await api.create('passthru'),
      await api.create('test/fail'),
    ];
    openStore();
    const { rows } = await sql<{
      user_id: string;
    }>`SELECT user_id FROM jobs WHERE id = ${created[0]!.id}`.execute(store);
    userId = rows[0]!.user_id;
    await expectExactTotals();
    expect((await api.list()).total).toBe(3);

    // Uploads: created → loaded.
    expect((await api.upload(created[0]!, 'one')).status).toBe(200);
    expect((await api.upload(created[2]!, 'two')).status).toBe(200);
    await expectExactTotals();
    expect((await api.list('?status=loaded')).total).toBe(2);

    // Submit and run to the end: pending → claimed → preparing → processing → finished / failed.
    expect((await api.submit(created[0]!.id)).status).toBe(200);
    expect((await api.waitTerminal(created[0]!.id, 120)).status).toBe('finished');
    expect((await api.submit(created[2]!.id)).status).toBe(200);
    expect((await api.waitTerminal(created[2]!.id, 120)).status).toBe('failed');
    const more = [await api.run('passthru', 'three'), await api.run('test/fail', 'four')];
    expect(more.map((j) => j.status)).toEqual(['finished', 'failed']);
    await expectExactTotals();
    expect((await api.list('?status=finished&type=passthru')).total).toBe(2);

    // A job held while it runs, then cancelled: processing → failed.
    const slow = await api.create('test/slow');
    expect((await api.upload(slow, 'five')).status).toBe(200);
    expect((await api.submit(slow.id)).status).toBe(200);
    await waitStatus(slow.id, 'processing');
    await expectExactTotals();
    expect((await api.list('?status=processing')).total).toBe(1);
    expect((await api.cancel(slow.id)).status).toBe(200);
    await api.waitTerminal(slow.id, 120);
    // And one cancelled before it had its input: created → failed.
    expect((await api.cancel(created[1]!.id)).status).toBe(200);
    await expectExactTotals();

    // Deletes: the job stops counting at once (deleted_at), then its row goes.
    expect((await api.delete(created[0]!.id)).status).toBe(204);
    expect((await api.delete(more[1]!.id)).status).toBe(204);
    await expectExactTotals();
    expect((await api.list()).total).toBe(4);

    // Retention: every job is past it (a created one too, by the unsubmitted
    // retention); the sweeper marks and purges them all.
    await api.create('passthru');
    await expectExactTotals();
    await store.destroy();
    server = await server.restart({
      BSUBIO_RETENTION: '1s',
      BSUBIO_UNSUBMITTED_RETENTION: '1s',
      BSUBIO_SWEEP_INTERVAL: '1s',
    });
    api = new Api(server.url, server.apiKey);
    openStore();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { rows: left } = await sql<{ n: number }>`SELECT count(*) AS n FROM jobs`.execute(store);
      if (Number(left[0]!.n) === 0) break;
      if (Date.now() > deadline) throw new Error(`${left[0]!.n} jobs outlived retention`);
      await sleep(500);
    }
    expect((await api.list()).total).toBe(0);
    await expectExactTotals();
  }, 240_000);
});

/** A user and `count` jobs in the given statuses (round robin), with direct SQL. */
async function insertJobs(
  db: Kysely<unknown>,
  userId: string,
  count: number,
  statuses: string[],
  types: string[],
) {
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    ids.push(id);
    await sql`
      INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, created_at, updated_at)
      VALUES (${id}, ${userId}, ${types[i % types.length]}, ${statuses[i % statuses.length]}, '{}', 0, 0, ${now}, ${now})`.execute(
      db,
    );
  }
  return ids;
}

async function insertUser(db: Kysely<unknown>) {
  const id = randomUUID();
  await sql`INSERT INTO users (id, email, created_at) VALUES (${id}, ${`${id}@test.invalid`}, ${Date.now()})`.execute(
    db,
  );
  return id;
}

/** Jobs stored before the counters existed: the migration counts them. */
async function fillBeforeCounters(db: Kysely<unknown>) {
  const migrated = await new Migrator({ db, provider: migrationProvider }).migrateTo('0005_live_job_indexes');
  expect(migrated.error).toBeUndefined();
  const users = [await insertUser(db), await insertUser(db)];
  await insertJobs(db, users[0]!, 40, STATUSES, ['a', 'b', 'c']);
  await insertJobs(db, users[1]!, 13, ['finished', 'pending'], ['a']);
  await sql`UPDATE jobs SET deleted_at = 1 WHERE status = 'failed'`.execute(db);
  return users;
}

describe('the migration on SQLite', () => {
  it('counts the jobs already stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bsubio-counts-'));
    try {
      const path = join(dir, 'bsubio.db');
      const before = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(path) }) });
      const users = await fillBeforeCounters(before);
      await before.destroy();
      const db = await openSqlite(path);
      try {
        const expected = await recount(db as Kysely<unknown>);
        expect(expected.length).toBeGreaterThan(10);
        expect(await counters(db as Kysely<unknown>)).toEqual(expected);
        const repo = new JobRepository(db);
        expect(await repo.count(users[0]!)).toBe(35);
        expect(await repo.count(users[1]!, ['pending'], 'a')).toBe(6);
        // The older listing indexes are gone; the live ones stay.
        const { rows } = await sql<{ name: string }>`
          SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' ORDER BY name`.execute(
          db,
        );
        const names = rows.map((r) => r.name);
        expect(names).not.toContain('jobs_user_id');
        expect(names).not.toContain('jobs_user_status_id');
        expect(names).toContain('jobs_user_live_id');
      } finally {
        await db.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('job totals on PostgreSQL', () => {
  let postgres: TestPostgres;
  const replicas: Db[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    for (const db of replicas) await db.destroy();
    await postgres?.stop();
  });

  it('counts the jobs already stored, then stays exact under concurrent transitions of one user', async () => {
    const before = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: postgres.url(), max: 2 }) }),
    });
    await fillBeforeCounters(before);
    await before.destroy();
    // Two replicas on one database, as in cluster mode.
    for (let i = 0; i < 2; i++) replicas.push((await openPostgres(postgres.url(), 10)).db);
    const db = replicas[0]! as Kysely<unknown>;
    expect(await counters(db)).toEqual(await recount(db));

    // One user's jobs, half pending and half claimed, then every job flips
    // back and forth at once: pending → claimed beside claimed → pending, so
    // concurrent statements update the same two counter rows in opposite
    // directions (the order that would deadlock), through both replicas.
    const userId = await insertUser(db);
    const ids = await insertJobs(db, userId, 200, ['pending', 'claimed'], ['a', 'b']);
    const repos = replicas.map((r) => new JobRepository(r));
    const FLIPS = 6;
    await Promise.all(
      ids.map(async (id, i) => {
        const repo = repos[i % repos.length]!;
        let status = i % 2 === 0 ? 'pending' : 'claimed';
        for (let flip = 0; flip < FLIPS; flip++) {
          const to = status === 'pending' ? 'claimed' : 'pending';
          const moved = await repo.transition({ id, from: [status as 'pending'] }, to, {}, Date.now());
          expect(moved?.status).toBe(to);
          status = to;
        }
      }),
    );
    // And a burst of the other changes: ends, deletes, purges, new jobs.
    await Promise.all(
      ids.slice(0, 60).map(async (id, i) => {
        const repo = repos[i % repos.length]!;
        const from = i % 2 === 0 ? 'pending' : 'claimed';
        expect(
          await repo.transition({ id, from: [from as 'pending'] }, 'finished', {}, Date.now()),
        ).toBeTruthy();
        if (i % 3 === 0) expect(await repo.markDeleted(userId, id, Date.now())).toBeTruthy();
        if (i % 6 === 0) await repo.purge(id);
      }),
    );
    await insertJobs(db, userId, 10, ['created'], ['b']);

    expect(await counters(db)).toEqual(await recount(db));
    expect(await repos[1]!.count(userId)).toBe(190);
    expect(await repos[0]!.count(userId, ['finished'])).toBe(40);
    expect(await repos[0]!.count(userId, ['pending', 'claimed'], 'a')).toBe(70);
    const { total } = await repos[1]!.list(userId, 'created', 5, undefined, 'b');
    expect(total).toBe(10);
  }, 120_000);
});
