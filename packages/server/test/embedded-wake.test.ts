/**
 * The embedded pool's idle slots sleep until a job becomes pending. One job
 * must wake one slot, not all of them (each woken slot makes a claim, and
 * all but one find nothing); several jobs pending at once must still all be
 * taken without waiting for the slots' poll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Catalog } from '@bsubio/worker';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openBlobStore } from '../src/blobs/open-blob-store.js';
import { EmbeddedBackend } from '../src/services/embedded-backend.js';
import { JobEvents } from '../src/services/job-events.js';
import { JobService } from '../src/services/job-service.js';
import { BlobRefRepository } from '../src/store/blob-ref-repository.js';
import { openSqlite } from '../src/store/database.js';
import { JobRepository } from '../src/store/job-repository.js';

const dir = mkdtempSync(join(tmpdir(), 'bsubio-wake-test-'));
const userId = '0190f000-0000-7000-8000-000000000001';
let service: JobService;
let db: Awaited<ReturnType<typeof openSqlite>>;

beforeAll(async () => {
  db = await openSqlite(join(dir, 'bsubio.db'));
  await sql`INSERT INTO users (id, email, created_at) VALUES (${userId}, 'wake@test.invalid', ${Date.now()})`.execute(
    db,
  );
  service = new JobService(
    new JobRepository(db),
    await openBlobStore(undefined, join(dir, 'blobs')),
    Catalog.load(),
    new JobEvents(),
    {
      maxUploadBytes: 1 << 20,
      maxAttempts: 3,
      blobRefs: new BlobRefRepository(db),
      uploadToken: (jobId) => `test-token-${jobId}`,
    },
  );
});
afterAll(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A submitted passthru job's id. */
async function submitOne(): Promise<string> {
  const job = await service.create(userId, { type: 'passthru' });
  await service.upload(job, { stream: Readable.from([Buffer.from('x')]), fileName: null, contentType: null });
  return (await service.submit(userId, job.id)).id;
}

/**
 * Idle slots as the pool runs them: claim, and when nothing comes, sleep
 * until woken (a long poll, so only wake-ups count). Returns the claims made
 * and the jobs each slot got.
 */
function idleSlots(backend: EmbeddedBackend, count: number, stop: AbortSignal) {
  const claimed: string[] = [];
  let claims = 0;
  const loops = Array.from({ length: count }, async (_, slot) => {
    while (!stop.aborted) {
      claims++;
      const job = await backend.claim(`wake-${slot}`, ['passthru'], 60_000);
      if (job) claimed.push(job.id);
      else await backend.waitForWork(60_000, stop);
    }
  });
  return { claimed, claims: () => claims, done: Promise.all(loops) };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('wakes one idle slot per job, and every pending job is taken once', async () => {
  const backend = new EmbeddedBackend(service);
  const stop = new AbortController();
  const slots = idleSlots(backend, 8, stop.signal);
  await until('the slots to fall asleep', () => slots.claims() === 8);

  const submitted: string[] = [];
  for (let i = 0; i < 10; i++) {
    const before = slots.claimed.length;
    submitted.push(await submitOne());
    await until('the job to be claimed', () => slots.claimed.length === before + 1);
  }
  // Ten jobs one after another: per job the woken slot's claim, the one
  // slot it passes the word to (which finds nothing), and the first slot's
  // next claim once its job is done. Waking every idle slot made 8 + 1.
  expect(slots.claims() - 8).toBeLessThanOrEqual(10 * 3);
  expect(slots.claimed.toSorted()).toEqual(submitted.toSorted());

  // Five pending at once behind one wake-up (as when leases lapse together):
  // all taken without the slots' poll, none twice.
  const burst = Array.from({ length: 5 }, (_, i) => `0190f000-0000-7000-8000-00000000010${i}`);
  const now = Date.now();
  for (const id of burst) {
    await sql`INSERT INTO jobs (id, user_id, type, status, params, data_size, attempts, created_at, updated_at)
              VALUES (${id}, ${userId}, 'passthru', 'pending', '{}', 1, 0, ${now}, ${now})`.execute(db);
  }
  service.events.emit('pending');
  await until('the burst to be claimed', () => slots.claimed.length === 15);
  expect(new Set(slots.claimed).size).toBe(15);
  expect(slots.claimed.slice(10).toSorted()).toEqual(burst.toSorted());

  stop.abort();
  await slots.done;
});
