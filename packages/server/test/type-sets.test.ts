/**
 * A claim's list of types on SQLite (store/type-sets.ts): kept as an
 * indexed temp table per list, so that SQLite answers `type IN` from that
 * index instead of building a b-tree of the values on every claim. The
 * claims still take exactly the types asked for, with several lists in use
 * at once and after the store is opened again (temp tables do not outlive
 * their connection).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { type Db, openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';

const dir = mkdtempSync(join(tmpdir(), 'bsubio-type-sets-'));
const path = join(dir, 'bsubio.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TYPES = Array.from({ length: 12 }, (_, i) => `kind/${String(i).padStart(2, '0')}`);

async function addPending(db: Db, id: string, type: string) {
  await sql`
    INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, created_at, updated_at)
    VALUES (${id}, 'u1', ${type}, 'pending', '{}', 0, 0, 1, 1)`.execute(db);
}

/** Claim until nothing is left for these types; the types of what was claimed. */
async function drain(repo: JobRepository, types: readonly string[]): Promise<string[]> {
  const taken: string[] = [];
  for (;;) {
    const job = await repo.claimNext('w', types, 60_000, Date.now());
    if (!job) return taken;
    taken.push(job.type);
  }
}

describe('claims by a list of types on SQLite', () => {
  it('take only the listed types, with several lists in use and again after reopening', async () => {
    let db = await openSqlite(path);
    await sql`INSERT INTO users (id, email, created_at) VALUES ('u1', 'u1@test.invalid', 1)`.execute(db);
    for (let i = 0; i < 48; i++) await addPending(db, `job-${String(i).padStart(3, '0')}`, TYPES[i % 12]!);

    let repo = new JobRepository(db);
    const evens = TYPES.filter((_, i) => i % 2 === 0);
    const firstThree = TYPES.slice(1, 4);
    // Three lists of more than two types, and one of one; the first by
    // another repository on the same connection, whose tables must not
    // disturb this one's.
    const other = new JobRepository(db);
    expect((await drain(other, firstThree)).sort()).toEqual(firstThree.flatMap((t) => [t, t, t, t]).sort());
    expect(await drain(repo, [TYPES[5]!])).toEqual([TYPES[5], TYPES[5], TYPES[5], TYPES[5]]);
    // kind/02 is even and was in the first list: its jobs are gone already.
    expect(new Set(await drain(repo, evens))).toEqual(new Set(evens.filter((t) => t !== 'kind/02')));
    // The same list again finds its table, in whatever order it comes.
    expect(await drain(repo, [...evens].reverse())).toEqual([]);

    // Each list of more than two is one temp table of this connection.
    const tables = await db.executeQuery<{ name: string }>(
      CompiledQuery.raw("SELECT name FROM temp.sqlite_master WHERE type = 'table' ORDER BY name"),
    );
    expect(tables.rows.map((r) => r.name)).toEqual([
      expect.stringMatching(/^type_set_[0-9a-f]{16}$/),
      expect.stringMatching(/^type_set_[0-9a-f]{16}$/),
    ]);
    // The other repository finds its list's table as it made it.
    await addPending(db, 'job-late-a', 'kind/00');
    await addPending(db, 'job-late-b', 'kind/01');
    expect(await drain(other, [...firstThree].reverse())).toEqual(['kind/01']);
    expect(await drain(repo, evens)).toEqual(['kind/00']);

    // A new connection has no temp tables: a new repository makes them again.
    await db.destroy();
    db = await openSqlite(path);
    repo = new JobRepository(db);
    const rest = TYPES.filter((_, i) => i % 2 === 1 && i !== 1 && i !== 3 && i !== 5);
    expect((await drain(repo, TYPES)).sort()).toEqual(rest.flatMap((t) => [t, t, t, t]).sort());
    await db.destroy();
  });

  it('answers the claim from the table index, not a b-tree built per run', async () => {
    const db = await openSqlite(join(dir, 'plan.db'));
    const repo = new JobRepository(db);
    const sent: CompiledQuery[] = [];
    const groupCommit = (
      repo as unknown as { groupCommit: { run: (q: CompiledQuery, d: boolean) => unknown } }
    ).groupCommit;
    const run = groupCommit.run.bind(groupCommit);
    groupCommit.run = (query, durable) => {
      sent.push(query);
      return run(query, durable);
    };
    await repo.claimNext('w', TYPES, 60_000, Date.now());
    const claim = sent.find((q) => q.sql.startsWith('update "jobs"'))!;
    expect(claim.sql).toMatch(/in \(select type from temp\."type_set_[0-9a-f]{16}"\)/);
    const plan = await db.executeQuery<{ detail: string }>(
      CompiledQuery.raw(`EXPLAIN QUERY PLAN ${claim.sql}`, [...claim.parameters]),
    );
    const details = plan.rows.map((r) => r.detail);
    expect(details.filter((d) => d.includes('type_set_') && d.includes('FOR IN-OPERATOR')).length).toBe(3);
    expect(details.some((d) => /LIST SUBQUERY|TEMP B-TREE FOR IN/.test(d))).toBe(false);
    await db.destroy();
  });
});
