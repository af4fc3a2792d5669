/**
 * kill -9 the server while jobs run and while an upload streams. After a
 * restart no job is left claimed or running, no partial file remains, and
 * all the work completes.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';
import { writeSlowTypesFile } from './test-types.js';

let server: TestServer;
const env = { BSUBIO_TYPES_FILE: writeSlowTypesFile(2), BSUBIO_WORKERS: '2' };

beforeAll(async () => {
  server = await startServer({ env });
});
afterAll(() => server?.cleanup());

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

async function until(check: () => Promise<boolean>, what: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('recovers every job after kill -9 during processing and during an upload', async () => {
  const api = new Api(server.url, server.apiKey);
  const jobs = [];
  for (let i = 0; i < 5; i++) {
    const job = await api.create('test/slow');
    expect((await api.upload(job, `work item ${i}`)).status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);
    jobs.push(job);
  }
  await until(async () => (await api.list('?status=processing')).total === 2, 'two jobs processing');
  const runningAtKill = new Set((await api.list('?status=processing')).jobs.map((job) => job.id));

  // An upload that streams slowly: the kill lands half-way through it.
  const upload = await api.create('passthru');
  const chunk = new Uint8Array(256 * 1024).fill(120);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= 40) return controller.close();
      sent++;
      await new Promise((r) => setTimeout(r, 50));
      controller.enqueue(chunk);
    },
  });
  const streaming = fetch(`${server.url}/v1/upload/${upload.id}?token=${upload.upload_token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
    duplex: 'half',
  } as RequestInit).catch((err: Error) => err);
  const tmpDir = join(server.dataDir, 'tmp');
  await until(
    async () => filesUnder(tmpDir).some((f) => !f.includes('/work/') && statSync(f).size > 0),
    'the upload to reach the disk',
  );

  await server.kill();
  expect(await streaming).toBeInstanceOf(Error);

  server = await server.restart(env);
  const restarted = new Api(server.url, server.apiKey);

  // Straight after the restart nothing is held by the dead workers: a job
  // in work is held by a new worker, and if the dead ones had it, it is on
  // its second attempt. (A job that was still pending may be on its first.)
  for (const job of (await restarted.list('?limit=100')).jobs) {
    if (['claimed', 'preparing', 'processing'].includes(job.status)) {
      expect(job.attempts).toBeGreaterThanOrEqual(runningAtKill.has(job.id) ? 2 : 1);
      expect(job.claimed_by).toMatch(/^embedded-/);
    } else {
      expect(['created', 'pending', 'finished', 'failed']).toContain(job.status);
    }
  }

  // No partial upload survived: the job is still created and owns no bytes.
  const interrupted = await restarted.get(upload.id);
  expect(interrupted.status).toBe('created');
  expect(interrupted.data_size).toBe(0);
  expect(existsSync(join(server.dataDir, 'blobs', 'jobs', upload.id))).toBe(false);
  expect(filesUnder(tmpDir).filter((f) => !f.includes('/work/'))).toEqual([]);

  // All the work completes, the interrupted upload included.
  for (const [i, job] of jobs.entries()) {
    const done = await restarted.waitTerminal(job.id, 60);
    expect(done.status).toBe('finished');
    expect(await (await restarted.request(`/v1/jobs/${job.id}/output`)).text()).toBe(`work item ${i}`);
  }
  expect((await restarted.upload(interrupted.upload_token ? interrupted : upload, 'second try')).status).toBe(
    200,
  );
  expect((await restarted.submit(upload.id)).status).toBe(200);
  expect((await restarted.waitTerminal(upload.id)).status).toBe('finished');
});
