/**
 * Fair scheduling between users (security round 2, finding 5): with one
 * user's queue of long jobs ahead, another user's short job does not wait
 * for the whole queue — it starts when the first worker slot frees — on
 * SQLite and on PostgreSQL. And the configurable caps on running jobs, per
 * user and per type, hold even when workers are idle.
 */
import type { Job } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

const SLOW_SECONDS = 2;
const types = writeTypesFile([
  shellType('test/slow', 'test/slow', `Runs: sleep ${SLOW_SECONDS}; cat`, `sleep ${SLOW_SECONDS}; cat "$0"`),
  shellType('test/quick', 'test/quick', 'Runs: cat', 'cat "$0"'),
]);

async function submit(api: Api, type: string): Promise<Job> {
  const job = await api.create(type);
  expect((await api.upload(job, 'x')).status).toBe(200);
  expect((await api.submit(job.id)).status).toBe(200);
  return job;
}

const at = (iso: string | null | undefined) => Date.parse(iso ?? '');

/** How many of these jobs ran at once at most, from their started/finished times. */
function mostAtOnce(jobs: Job[]): number {
  const edges = jobs.flatMap((j) => [
    { t: at(j.started_at), d: 1 },
    { t: at(j.finished_at), d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.d;
    most = Math.max(most, now);
  }
  return most;
}

for (const store of ['SQLite', 'PostgreSQL'] as const) {
  describe(`fair claims on ${store}`, () => {
    let postgres: TestPostgres | undefined;
    let server: TestServer;

    beforeAll(async () => {
      if (store === 'PostgreSQL') postgres = await startPostgres();
      server = await startServer({
        env: {
          BSUBIO_WORKERS: '2',
          BSUBIO_TYPES_FILE: types,
          ...(postgres ? { BSUBIO_DATABASE_URL: postgres.url() } : {}),
        },
      });
    });

    afterAll(async () => {
      await server?.cleanup();
      await postgres?.stop();
    });

    it("starts another user's short job at the first free slot, not after the first user's whole queue", async () => {
      const alice = new Api(server.url, server.apiKey);
      const bob = new Api(server.url, await server.addUser(`bob-${store}@example.com`));
      const queue: Job[] = [];
      for (let i = 0; i < 8; i++) queue.push(await submit(alice, 'test/slow'));
      const short = await submit(bob, 'test/quick');
      const pendingAt = Date.now();
      const done = await bob.waitTerminal(short.id, 60);
      expect(done.status).toBe('finished');
      const alices = await Promise.all(queue.map((j) => alice.waitTerminal(j.id, 120)));
      // Once Bob's job was pending, the next free slot was his: at most one
      // claim of Alice's, already under way at that moment, may come between.
      // (Counted from his submit, not from the start: on a loaded machine
      // Alice's eight submits alone may outlast her first jobs.)
      const between = alices.filter(
        (j) => at(j.claimed_at) >= pendingAt && at(j.claimed_at) < at(done.claimed_at),
      ).length;
      expect(between).toBeLessThanOrEqual(1);
      // First-come-first-served would have made him wait for all eight: 4 rounds of 2 s.
      expect(at(done.claimed_at) - at(done.created_at)).toBeLessThan(2 * SLOW_SECONDS * 1000 + 1500);
    });
  });
}

describe('caps on running jobs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({
      env: {
        BSUBIO_WORKERS: '3',
        BSUBIO_TYPES_FILE: types,
        BSUBIO_MAX_RUNNING_PER_USER: '1',
        BSUBIO_MAX_RUNNING_PER_TYPE: 'test/slow=1',
      },
    });
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it('runs one job at a time per user, and one test/slow at a time across users, with workers to spare', async () => {
    const alice = new Api(server.url, server.apiKey);
    const bob = new Api(server.url, await server.addUser('bob-caps@example.com'));
    const carol = new Api(server.url, await server.addUser('carol-caps@example.com'));
    const alices = [
      await submit(alice, 'test/quick'),
      await submit(alice, 'test/quick'),
      await submit(alice, 'test/slow'),
    ];
    const slows = [await submit(bob, 'test/slow'), await submit(carol, 'test/slow')];
    const finishedAlices = await Promise.all(alices.map((j) => alice.waitTerminal(j.id, 120)));
    const finishedSlows = [
      await bob.waitTerminal(slows[0]!.id, 120),
      await carol.waitTerminal(slows[1]!.id, 120),
    ];
    for (const job of [...finishedAlices, ...finishedSlows]) expect(job.status).toBe('finished');
    expect(mostAtOnce(finishedAlices)).toBe(1);
    const allSlow = [...finishedSlows, finishedAlices[2]!];
    expect(mostAtOnce(allSlow)).toBe(1);
  });

  it('refuses a malformed per-type cap at start, naming the setting', async () => {
    await expect(
      startServer({ env: { BSUBIO_MAX_RUNNING_PER_TYPE: 'test/slow:1' }, startTimeoutMs: 60_000 }),
    ).rejects.toThrow(/BSUBIO_MAX_RUNNING_PER_TYPE takes type=n pairs/);
  });
});
