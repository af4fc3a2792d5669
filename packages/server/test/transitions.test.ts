/**
 * The protocol's table of moves (MOVES in @bsubio/protocol states.ts) and
 * the store's guarded updates agree: every move, tried from every one of the
 * eight states, succeeds exactly from the states the table lists, lands in
 * the state it names, and leaves the job alone from any other. On SQLite and
 * on PostgreSQL, through the same repository calls the service makes.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canMove, JOB_STATES, type JobState, MOVES, type MoveName } from '@bsubio/protocol';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { type Db, openPostgres, openSqlite } from '../src/store/database.js';
import { JobRepository, type JobRow } from '../src/store/job-repository.js';

const WORKER = 'transitions-worker-1';
type Job = { id: string; userId: string; type: string };

/** Each move as the service makes it: the same repository call, the same guard. */
const MAKE: Record<MoveName, (repo: JobRepository, job: Job, now: number) => Promise<JobRow | undefined>> = {
  upload: (repo, job, now) =>
    repo.transition({ id: job.id, from: MOVES.upload.from }, MOVES.upload.to, {}, now),
  submit: (repo, job, now) => repo.submitWithin(job.userId, job.id, 0, now),
  submitCached: (repo, job, now) =>
    repo.transition(
      { id: job.id, from: MOVES.submitCached.from, userId: job.userId },
      MOVES.submitCached.to,
      {},
      now,
    ),
  cancel: (repo, job, now) =>
    repo.transition({ id: job.id, from: MOVES.cancel.from, userId: job.userId }, MOVES.cancel.to, {}, now),
  // Each job has a type of its own: the claim can only take this one.
  claim: (repo, job, now) => repo.claimNext(WORKER, [job.type], 60_000, now),
  prepare: (repo, job, now) => byWorker(repo, job, 'prepare', now),
  process: (repo, job, now) => byWorker(repo, job, 'process', now),
  finish: (repo, job, now) => byWorker(repo, job, 'finish', now),
  fail: (repo, job, now) => byWorker(repo, job, 'fail', now),
  release: (repo, job, now) => byWorker(repo, job, 'release', now),
  requeue: (repo, job, now) => bySweeper(repo, job, 'requeue', now),
  lose: (repo, job, now) => bySweeper(repo, job, 'lose', now),
};

function byWorker(repo: JobRepository, job: Job, name: MoveName, now: number) {
  const move = MOVES[name];
  return repo.transition({ id: job.id, from: move.from, claimedBy: WORKER }, move.to, {}, now);
}

/** The sweeper moves what findLapsed reports, guarded by the state it found. */
async function bySweeper(repo: JobRepository, job: Job, name: MoveName, now: number) {
  const lapsed = (await repo.findLapsed(now + 3_600_000, WORKER)).find((j) => j.id === job.id);
  if (!lapsed) return undefined;
  const guard = { id: job.id, from: [lapsed.status as JobState], claimedBy: WORKER };
  return repo.transition(guard, MOVES[name].to, {}, now);
}

/** A job in `status`, held by WORKER under a lease that ran out, of a type no other job has. */
async function jobIn(db: Kysely<unknown>, userId: string, status: JobState): Promise<Job> {
  const id = randomUUID();
  const type = `t-${id.slice(0, 8)}`;
  const now = Date.now();
  await sql`
    INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, claimed_by, lease_expires_at, created_at, updated_at)
    VALUES (${id}, ${userId}, ${type}, ${status}, '{}', 0, 1, ${WORKER}, ${now - 1000}, ${now}, ${now})`.execute(
    db,
  );
  return { id, userId, type };
}

async function statusOf(db: Kysely<unknown>, id: string): Promise<string> {
  const { rows } = await sql<{ status: string }>`SELECT status FROM jobs WHERE id = ${id}`.execute(db);
  return rows[0]!.status;
}

function agreesWithTheTable(open: () => Promise<Db>) {
  let db: Db;
  let repo: JobRepository;
  let userId: string;
  beforeAll(async () => {
    db = await open();
    repo = new JobRepository(db);
    userId = randomUUID();
    await sql`INSERT INTO users (id, email, created_at) VALUES (${userId}, ${`${userId}@test.invalid`}, ${Date.now()})`.execute(
      db,
    );
  }, 120_000);
  afterAll(async () => {
    await db?.destroy();
  });

  for (const name of Object.keys(MOVES) as MoveName[]) {
    it(`${name}: ${MOVES[name].from.join('|')} → ${MOVES[name].to}, by the ${MOVES[name].by}; refused from anywhere else`, async () => {
      const store = db as Kysely<unknown>;
      for (const from of JOB_STATES) {
        const job = await jobIn(store, userId, from);
        const moved = await MAKE[name](repo, job, Date.now());
        const allowed = (MOVES[name].from as readonly JobState[]).includes(from);
        expect(moved !== undefined, `${name} from ${from}`).toBe(allowed);
        expect(await statusOf(store, job.id), `${name} from ${from}`).toBe(allowed ? MOVES[name].to : from);
      }
    });
  }

  it('knows no move the table does not list: canMove says no for every other pair', () => {
    const listed = new Set(Object.values(MOVES).flatMap((m) => m.from.map((f) => `${f}>${m.to}`)));
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES)
        expect(canMove(from, to), `${from} → ${to}`).toBe(listed.has(`${from}>${to}`));
    }
    // Terminal states are the end: nothing leaves them.
    for (const to of JOB_STATES) {
      expect(canMove('finished', to)).toBe(false);
      expect(canMove('failed', to)).toBe(false);
    }
  });
}

describe('the table of moves and the SQLite store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-moves-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  agreesWithTheTable(() => openSqlite(join(dir, 'bsubio.db')));
});

describe('the table of moves and the PostgreSQL store', () => {
  let postgres: TestPostgres;
  afterAll(async () => {
    await postgres?.stop();
  });
  agreesWithTheTable(async () => {
    postgres = await startPostgres();
    return (await openPostgres(postgres.url(), 4)).db;
  });
});
