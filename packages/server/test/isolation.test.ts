/** Two users share a server and nothing else: another user's job is a 404 everywhere. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';

let server: TestServer;
let alice: Api;
let bob: Api;

beforeAll(async () => {
  server = await startServer();
  alice = new Api(server.url, await server.addUser('alice@example.com'));
  bob = new Api(server.url, await server.addUser('bob@example.com'));
});
afterAll(() => server?.cleanup());

describe('per-user isolation', () => {
  it("answers every call on another user's job exactly like an unknown job", async () => {
    const created = await alice.create('passthru');
    const finished = await alice.run('passthru', 'secret of alice');
    const unknown = '01a22254-727e-72a9-8fb5-478d59fc708b';

    for (const id of [created.id, finished.id, unknown]) {
      const answers = await Promise.all([
        bob.request(`/v1/jobs/${id}`),
        bob.request(`/v1/jobs/${id}/submit`, { method: 'POST' }),
        bob.request(`/v1/jobs/${id}/cancel`, { method: 'POST' }),
        bob.request(`/v1/jobs/${id}`, { method: 'DELETE' }),
        bob.request(`/v1/jobs/${id}/output`),
        bob.request(`/v1/jobs/${id}/logs`),
      ]);
      const bodies = [];
      for (const res of answers) bodies.push((await expectError(res, 404)).error.replace(id, '<id>'));
      // Same words whether the job is foreign or does not exist: ids leak nothing.
      expect(new Set(bodies).size).toBe(1);
    }
  });

  it("cannot upload to another user's job even with its token when sending own key", async () => {
    const job = await alice.create('passthru');
    const form = new FormData();
    form.append('file', new Blob(['bob was here']), 'x');
    await expectError(
      bob.request(`/v1/upload/${job.id}?token=${job.upload_token}`, { method: 'POST', body: form }),
      404,
    );
    expect((await alice.get(job.id)).status).toBe('created');
  });

  it("cannot upload to another user's job with a guessed token", async () => {
    const job = await alice.create('passthru');
    const other = await bob.create('passthru');
    const form = new FormData();
    form.append('file', new Blob(['x']), 'x');
    await expectError(
      fetch(`${server.url}/v1/upload/${job.id}?token=${other.upload_token}`, { method: 'POST', body: form }),
      404,
    );
    expect((await alice.get(job.id)).status).toBe('created');
  });

  it('lists only own jobs and counts only own jobs', async () => {
    const mine = await bob.create('passthru');
    const list = await bob.list('?limit=100');
    expect(list.jobs.every((j) => j.user_id === mine.user_id)).toBe(true);
    expect(list.total).toBe(list.jobs.length);
    const alices = await alice.list('?limit=100');
    expect(alices.jobs.map((j) => j.id)).not.toContain(mine.id);
    expect(alices.jobs[0]!.user_id).not.toBe(mine.user_id);
  });

  it("leaves the other user's job untouched after all those attempts", async () => {
    const job = await alice.run('passthru', 'still here');
    await bob.request(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    await bob.request(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    const res = await alice.request(`/v1/jobs/${job.id}/output`);
    expect(await res.text()).toBe('still here');
  });
});
