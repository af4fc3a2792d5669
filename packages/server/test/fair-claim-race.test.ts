/**
 * Fair claims that race (PostgreSQL): two worker slots free at the same
 * moment, one user with a queue of older jobs and nothing running, another
 * with one newer job. Served one after the other, the first claim takes the
 * first user's job (the tie goes to the longest waiting) and the second sees
 * her running one and takes the other user's. Claimed at once, each claim's
 * snapshot shows neither claim, and both used to take hers — so with
 * every slot freed together, the other user waited round after round (the
 * fairness test saw three of her claims come first). The store must give
 * the two slots to the two users however the claims interleave.
 *
 * The caps on running jobs (per user, per type) had the same hole: four
 * claims at once under a cap of one took up to four jobs. They must hold
 * however the claims interleave.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { type Db, openPostgres } from '../src/store/database.js';
import { type ClaimLimits, JobRepository } from '../src/store/job-repository.js';

const TYPE = 'test/race';
const ROUNDS = 40;

describe('fair claims racing on PostgreSQL', () => {
  let postgres: TestPostgres;
  let db: Db;

  beforeAll(async () => {
    postgres = await startPostgres();
    db = (await openPostgres(postgres.url(), 10)).db;
  }, 120_000);
  afterAll(async () => {
    await db?.destroy();
    await postgres?.stop();
  });

  async function addUser(name: string) {
    await sql`INSERT INTO users (id, email, created_at) VALUES (${name}, ${`${name}@test.invalid`}, ${Date.now()})`.execute(
      db,
    );
    return name;
  }

  async function addPending(userId: string, id: string) {
    const now = Date.now();
    await sql`
      INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, created_at, updated_at)
      VALUES (${id}, ${userId}, ${TYPE}, 'pending', '{}', 0, 0, ${now}, ${now})`.execute(db);
  }

  /** `slots` claims made at once by workers `<prefix>0`, `<prefix>1`, ...: what each took, if anything. */
  function claimAtOnce(repo: JobRepository, slots: number, prefix: string, limits?: ClaimLimits) {
    const now = Date.now();
    return Promise.all(
      Array.from({ length: slots }, (_, slot) =>
        repo.claimNext(`${prefix}${slot}`, [TYPE], 60_000, now, limits),
      ),
    );
  }

  /** Every job ends, so that the next round starts with no one running. */
  async function endEveryJob() {
    await sql`UPDATE jobs SET status = 'finished', lease_expires_at = NULL WHERE status <> 'finished'`.execute(
      db,
    );
  }

  it('gives two slots freed together to the two waiting users, round after round', async () => {
    const repo = new JobRepository(db);
    const unfair: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const r = String(round).padStart(3, '0');
      const alice = await addUser(`alice-${r}`);
      const bob = await addUser(`bob-${r}`);
      // Ids sort by age: all of Alice's are older than Bob's.
      for (let i = 0; i < 4; i++) await addPending(alice, `job-${r}-a${i}`);
      await addPending(bob, `job-${r}-b`);

      const claimed = await claimAtOnce(repo, 2, `${r}-w`);
      const users = claimed.map((job) => job?.user_id).sort();
      if (users.join() !== [alice, bob].join()) unfair.push(`round ${r}: ${users.join(' + ')}`);
      await endEveryJob();
    }
    expect(unfair).toEqual([]);
  }, 120_000);

  it('holds the caps on running jobs against claims made at once', async () => {
    const repo = new JobRepository(db);
    const unheld: string[] = [];
    for (let round = 0; round < 10; round++) {
      const r = `cap-${String(round).padStart(2, '0')}`;
      const dave = await addUser(`dave-${r}`);
      const erin = await addUser(`erin-${r}`);
      for (let i = 0; i < 4; i++) await addPending(dave, `job-${r}-d${i}`);
      for (let i = 0; i < 4; i++) await addPending(erin, `job-${r}-e${i}`);
      const perUser = await claimAtOnce(repo, 4, `${r}-u`, { maxRunningPerUser: 1, maxRunningPerType: {} });
      const users = perUser.flatMap((job) => (job ? [job.user_id] : [])).sort();
      if (users.join() !== [dave, erin].join()) unheld.push(`${r} one per user: ${users.join(' + ')}`);
      await endEveryJob();

      for (let i = 0; i < 4; i++) await addPending(dave, `job-${r}-t${i}`);
      const perType = await claimAtOnce(repo, 4, `${r}-t`, {
        maxRunningPerUser: 0,
        maxRunningPerType: { [TYPE]: 1 },
      });
      const taken = perType.filter((job) => job !== undefined).length;
      if (taken !== 1) unheld.push(`${r} one of the type: ${taken}`);
      await endEveryJob();
    }
    expect(unheld).toEqual([]);
  }, 120_000);

  it("lets every slot take a lone user's jobs at once, each a different one", async () => {
    const repo = new JobRepository(db);
    const carol = await addUser('carol');
    for (let i = 0; i < 12; i++) await addPending(carol, `job-carol-${String(i).padStart(2, '0')}`);
    const claimed = await claimAtOnce(repo, 6, 'carol-w');
    const ids = claimed.map((job) => job?.id);
    expect(ids.every((id) => id !== undefined)).toBe(true);
    expect(new Set(ids).size).toBe(6);
    // First come, first served within one user: the six oldest.
    expect(ids.sort()).toEqual(
      Array.from({ length: 6 }, (_, i) => `job-carol-${String(i).padStart(2, '0')}`),
    );
  }, 60_000);
});
