/**
 * A job's lookup on SQLite (JobRepository.findForUser) runs on better-sqlite3
 * directly, and the reads of one turn of the event loop share one read
 * transaction (SqliteGroupCommit.readFirst). What that must not change: a
 * commit made by another process shows from the next turn on; a write after
 * a read in the same turn commits at once, on its own; reads see this
 * connection's own writes, also those still waiting for a group commit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('job reads on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-reads-'));
  const path = join(dir, 'bsubio.db');
  let db: Db;
  let repo: JobRepository;
  /** Another connection to the same file: what another process (the CLI) would do. */
  let other: SQLite.Database;
  let userId: string;

  beforeAll(async () => {
    db = await openSqlite(path);
    repo = new JobRepository(db);
    other = new SQLite(path);
    other.pragma('busy_timeout = 5000');
    userId = randomUUID();
    await sql`INSERT INTO users (id, email, created_at) VALUES (${userId}, ${`${userId}@test.invalid`}, ${Date.now()})`.execute(
      db,
    );
  });
  afterAll(async () => {
    other?.close();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function createdJob(type = 'passthru'): Promise<string> {
    const id = randomUUID();
    const now = Date.now();
    await sql`
      INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, created_at, updated_at)
      VALUES (${id}, ${userId}, ${type}, 'created', '{}', 0, 0, ${now}, ${now})`.execute(
      db as Kysely<unknown>,
    );
    return id;
  }
  const statusSeenByOther = (id: string) =>
    (other.prepare('SELECT status FROM jobs WHERE id = ?').get(id) as { status: string }).status;

  it("finds the user's job, and not another user's or a deleted one", async () => {
    const id = await createdJob();
    expect((await repo.findForUser(userId, id))?.status).toBe('created');
    expect(await repo.findForUser(randomUUID(), id)).toBeUndefined();
    other.prepare('UPDATE jobs SET deleted_at = ? WHERE id = ?').run(Date.now(), id);
    await nextTurn();
    expect(await repo.findForUser(userId, id)).toBeUndefined();
  });

  it("sees another process's commit from the next turn on", async () => {
    const id = await createdJob();
    expect((await repo.findForUser(userId, id))?.status).toBe('created');
    // The other connection can write while this turn's read transaction is open.
    other.prepare("UPDATE jobs SET status = 'loaded' WHERE id = ?").run(id);
    await nextTurn();
    expect((await repo.findForUser(userId, id))?.status).toBe('loaded');
  });

  it('commits a write made after a read in the same turn at once, not with the read', async () => {
    const id = await createdJob();
    expect((await repo.findForUser(userId, id))?.status).toBe('created');
    // A Kysely write (the wrapper commits what is open first)...
    await sql`UPDATE jobs SET name = 'renamed' WHERE id = ${id}`.execute(db as Kysely<unknown>);
    expect((other.prepare('SELECT name FROM jobs WHERE id = ?').get(id) as { name: string }).name).toBe(
      'renamed',
    );
    // ...and a queue write through the group commit, durable: committed when it resolves.
    expect((await repo.findForUser(userId, id))?.status).toBe('created');
    const moved = await repo.transition({ id, from: ['created'] }, 'loaded', {}, Date.now());
    expect(moved?.status).toBe('loaded');
    expect(statusSeenByOther(id)).toBe('loaded');
  });

  it("sees this connection's own writes at once, also those waiting for their commit", async () => {
    const id = await createdJob('reads-own-writes');
    await repo.transition({ id, from: ['created'] }, 'loaded', {}, Date.now());
    await repo.submitWithin(userId, id, 0, Date.now());
    // A claim is lease bookkeeping: it resolves before its commit.
    const claimed = await repo.claimNext('reads-worker', ['reads-own-writes'], 60_000, Date.now());
    expect(claimed?.id).toBe(id);
    expect((await repo.findForUser(userId, id))?.status).toBe('claimed');
    await nextTurn();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(statusSeenByOther(id)).toBe('claimed');
  });

  it('reads in many turns, with writes between, leave no transaction open', async () => {
    const id = await createdJob();
    for (let i = 0; i < 50; i++) {
      await repo.findForUser(userId, id);
      if (i % 10 === 0)
        await sql`UPDATE jobs SET name = ${`n${i}`} WHERE id = ${id}`.execute(db as Kysely<unknown>);
      await nextTurn();
    }
    // With no reader holding a snapshot, a checkpoint can empty the WAL.
    type Checkpoint = { busy: number; log: number; checkpointed: number };
    let result: Checkpoint | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      result = (other.pragma('wal_checkpoint(TRUNCATE)') as Checkpoint[])[0];
      if (result?.busy === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(result?.busy).toBe(0);
    expect(result?.log).toBe(0);
  });
});
