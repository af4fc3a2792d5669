/**
 * Pipelines on remote workers (`bsubio-worker`, over the worker API), on
 * SQLite and PostgreSQL: a worker that runs every step's type runs the
 * pipeline to the end, step after step; a worker that takes only some of
 * the types never claims a pipeline it could not finish, while it still
 * takes the ordinary jobs of its types. A remote worker killed during step 2
 * is followed by another that resumes at step 2.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Job } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { SERVER_BIN, startServer, type TestServer } from '../../../test/support/server.js';
import { startRemoteWorker } from '../../../test/support/worker.js';
import { Api } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

const run = promisify(execFile);

const typesFile = writeTypesFile([
  shellType('test/upper', 'Upper case', 'Upper-cases the input.', 'echo "upper ran" >&2; tr a-z A-Z < "$0"'),
  shellType('test/pause', 'Pause', 'Sleeps 1 s, then copies.', 'echo pausing >&2; sleep 1; cat "$0"'),
  shellType('test/linger', 'Linger', 'Sleeps 4 s, then copies.', 'echo lingering >&2; sleep 4; cat "$0"'),
]);

for (const store of ['SQLite', 'PostgreSQL'] as const) {
  describe(`remote workers and pipelines on ${store}`, () => {
    let postgres: TestPostgres | undefined;
    let server: TestServer;
    let api: Api;
    let token = '';
    const children: ChildProcess[] = [];
    const dirs: string[] = [];

    beforeAll(async () => {
      if (store === 'PostgreSQL') postgres = await startPostgres();
      const database: Record<string, string> = postgres ? { BSUBIO_DATABASE_URL: postgres.url() } : {};
      server = await startServer({
        // The reaper looks for lapsed leases every second.
        env: { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '0', BSUBIO_LEASE_SECONDS: '2', ...database },
      });
      api = new Api(server.url, server.apiKey);
      const { stdout } = await run(process.execPath, [SERVER_BIN, 'worker-token', 'add', 'pipelines'], {
        env: { ...process.env, HOME: server.home, BSUBIO_DATA_DIR: server.dataDir, ...database },
      });
      token = stdout.trim();
    }, 180_000);

    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await server?.cleanup();
      await postgres?.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    function startWorker(name: string, types: string[], leaseSeconds = 15): Promise<ChildProcess> {
      const dir = mkdtempSync(join(tmpdir(), 'bsubio-worker-'));
      dirs.push(dir);
      const { child, ready } = startRemoteWorker({
        name,
        server: server.url,
        token,
        dir,
        args: [
          '--types',
          types.join(','),
          '--concurrency',
          '1',
          '--lease-seconds',
          String(leaseSeconds),
          '--types-file',
          typesFile,
        ],
      });
      children.push(child);
      return ready;
    }

    async function submit(body: Record<string, unknown>, input: string): Promise<Job> {
      const { status, body: created } = await api.json<{ data: Job }>('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(status).toBe(201);
      expect((await api.upload(created.data, input)).status).toBe(200);
      expect((await api.submit(created.data.id)).status).toBe(200);
      return created.data;
    }

    it('a worker of some of the types leaves a pipeline it cannot finish to one that can', async () => {
      await startWorker('only-upper', ['test/upper']);
      const pipeline = await submit(
        // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
        { type: 'test/upper', then: [{ type: 'test/pause' }] },
        'hello remote\n',
      );
      const ordinary = await submit({ type: 'test/upper' }, 'plain\n');
      const done = await api.waitTerminal(ordinary.id, 60);
      expect(done.status).toBe('finished');
      expect(done.claimed_by).toMatch(/^only-upper-/);
      // The idle worker keeps asking; the pipeline stays where it is.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await api.get(pipeline.id)).toMatchObject({ status: 'pending', attempts: 0, step: 1 });

      await startWorker('both', ['test/upper', 'test/pause']);
      const finished = await api.waitTerminal(pipeline.id, 90);
      expect(finished).toMatchObject({ status: 'finished', step: 2, attempts: 1 });
      expect(finished.claimed_by).toMatch(/^both-/);
      expect(await (await api.request(`/v1/jobs/${pipeline.id}/output`)).text()).toBe('HELLO REMOTE\n');
      expect(await (await api.request(`/v1/jobs/${pipeline.id}/logs`)).text()).toBe(
        '== step 1/2: test/upper ==\nupper ran\n== step 2/2: test/pause ==\npausing\n',
      );
    }, 240_000);

    it('a remote worker killed during step 2 is followed by one that resumes at step 2', async () => {
      for (const child of children.splice(0)) await kill(child);
      const doomed = await startWorker('doomed', ['test/upper', 'test/linger'], 3);
      const job = await submit(
        // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
        { type: 'test/upper', then: [{ type: 'test/linger' }] },
        'resume me\n',
      );
      for (;;) {
        const now = await api.get(job.id);
        if (now.step === 2 && now.status === 'processing') break;
        if (now.status === 'finished' || now.status === 'failed') throw new Error(`ended ${now.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await kill(doomed);

      await startWorker('rescuer', ['test/upper', 'test/linger']);
      const expected =
        '== step 1/2: test/upper ==\nupper ran\n== step 2/2: test/linger (attempt 2) ==\nlingering\n';
      // While step 2 runs again, the live log holds step 1's kept log and then the new attempt's lines.
      // Until the rescuer claims it, the log is still the killed attempt's, which may hold
      // "lingering" too (a sandbox that starts fast prints it before the kill): wait for attempt 2's.
      for (;;) {
        const live = await (await api.request(`/v1/jobs/${job.id}/logs`)).text();
        if (live.includes('(attempt 2) ==\nlingering')) {
          expect(live).toBe(expected);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const done = await api.waitTerminal(job.id, 90);
      expect(done).toMatchObject({ status: 'finished', step: 2, attempts: 2 });
      expect(done.claimed_by).toMatch(/^rescuer-/);
      expect(await (await api.request(`/v1/jobs/${job.id}/output`)).text()).toBe('RESUME ME\n');
      expect(await (await api.request(`/v1/jobs/${job.id}/logs`)).text()).toBe(expected);
    }, 240_000);
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
