/**
 * 200 concurrent clients mix submit, cancel, delete and reads on the same
 * jobs. Every job must end in exactly one terminal state, a job whose cancel
 * succeeded must never finish, and nothing may answer 5xx.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';
import { writeSlowTypesFile } from './test-types.js';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_TYPES_FILE: writeSlowTypesFile(0.2), BSUBIO_WORKERS: '4' } });
  api = new Api(server.url, server.apiKey);
});
afterAll(() => server?.cleanup());

type Action = 'submit' | 'cancel' | 'delete' | 'get';
const ACTIONS: Action[] = ['submit', 'submit', 'cancel', 'delete', 'get'];
const ALLOWED = new Set([200, 204, 400, 404, 409]);

it('keeps every job in exactly one terminal state under 200 racing clients', async () => {
  const JOBS = 40;
  const jobs = await Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      const job = await api.create(i % 2 ? 'test/slow' : 'passthru');
      expect((await api.upload(job, `payload ${i}`)).status).toBe(200);
      return job;
    }),
  );

  const statuses = new Map<number, number>();
  const cancelled = new Set<string>();
  const deleted = new Set<string>();
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };

  const client = async () => {
    // Four steps each: 800 requests racing over 40 jobs is plenty of collisions,
    // and stays well inside the test's time on CI's slow VMs.
    for (let step = 0; step < 4; step++) {
      const job = jobs[random(JOBS)]!;
      const action = ACTIONS[random(ACTIONS.length)]!;
      const res =
        action === 'get'
          ? await api.request(`/v1/jobs/${job.id}`)
          : action === 'delete'
            ? await api.delete(job.id)
            : await api.request(`/v1/jobs/${job.id}/${action}`, { method: 'POST' });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      await res.arrayBuffer();
      if (action === 'cancel' && res.status === 200) cancelled.add(job.id);
      if (action === 'delete' && res.status === 204) deleted.add(job.id);
    }
  };
  await Promise.all(Array.from({ length: 200 }, client));

  for (const status of statuses.keys()) expect(ALLOWED, `unexpected status ${status}`).toContain(status);
  expect(statuses.get(200)).toBeGreaterThan(0);

  // Let the queue drain: cancel what never got submitted so that everything ends.
  for (const job of jobs) {
    if (deleted.has(job.id)) continue;
    const current = await api.get(job.id);
    if (current.status === 'loaded') {
      expect((await api.cancel(job.id)).status).toBe(200);
      cancelled.add(job.id);
    }
  }
  for (const job of jobs) {
    if (deleted.has(job.id)) {
      expect((await api.request(`/v1/jobs/${job.id}`)).status).toBe(404);
      continue;
    }
    const final = await api.waitTerminal(job.id, 60);
    if (cancelled.has(job.id)) {
      expect(final.status, `job ${job.id} was cancelled`).toBe('failed');
      expect(final.error_code).toBe('ECANCELED');
    }
    if (final.status === 'finished') {
      const output = await (await api.request(`/v1/jobs/${job.id}/output`)).text();
      expect(output).toBe(`payload ${jobs.indexOf(job)}`);
      expect(final.error_code).toBeNull();
    } else {
      expect(final.status).toBe('failed');
      expect(final.error_code).toBe('ECANCELED');
    }
    // Terminal is final: the state does not move again.
    await new Promise((r) => setTimeout(r, 10));
    expect((await api.get(job.id)).status).toBe(final.status);
  }

  // Deleted jobs left nothing on disk.
  const { readdirSync } = await import('node:fs');
  const onDisk = new Set(readdirSync(`${server.dataDir}/blobs/jobs`));
  for (const id of deleted) expect(onDisk.has(id), `blobs of deleted job ${id}`).toBe(false);
  expect(server.stderr()).not.toMatch(/"level":50/);
}, 400_000);
