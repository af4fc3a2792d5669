/**
 * The dashboard's overview and job-page extensions over real HTTP: the
 * overview of a user's queue (states now, throughput, queue wait, workers),
 * a pending job's place in the queue, and a job's timeline.
 * (On PostgreSQL, with a remote worker: cluster.test.ts.)
 */
import {
  type Job,
  type JobTimeline,
  type Overview,
  OverviewResponseSchema,
  PositionResponseSchema,
  type QueuePosition,
  TimelineResponseSchema,
} from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError, expectShape } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  const types = writeTypesFile([
    shellType('test/copy', 'Copy', 'Copies the input after a short pause.', 'sleep 0.2; cat "$0"'),
    shellType('test/hold', 'Held copy', 'Sleeps 60 s (until cancelled).', 'sleep 60; cat "$0"'),
  ]);
  // One worker: a held job keeps it busy, so later jobs of any type wait in the queue.
  server = await startServer({ env: { BSUBIO_TYPES_FILE: types, BSUBIO_WORKERS: '1' } });
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(() => server?.cleanup());

async function overview(who = api): Promise<Overview> {
  const { status, body } = await who.json<{ data: Overview }>('/v1/overview');
  expect(status).toBe(200);
  expectShape(OverviewResponseSchema, body);
  return body.data;
}

async function position(id: string): Promise<QueuePosition> {
  const { status, body } = await api.json<{ data: QueuePosition }>(`/v1/jobs/${id}/position`);
  expect(status).toBe(200);
  expectShape(PositionResponseSchema, body);
  return body.data;
}

async function timeline(id: string): Promise<JobTimeline> {
  const { status, body } = await api.json<{ data: JobTimeline }>(`/v1/jobs/${id}/timeline`);
  expect(status).toBe(200);
  expectShape(TimelineResponseSchema, body);
  return body.data;
}

async function submitted(type: string): Promise<Job> {
  const job = await api.create(type);
  expect((await api.upload(job, 'input')).status).toBe(200);
  expect((await api.submit(job.id)).status).toBe(200);
  return job;
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the overview, queue position and timeline', () => {
  const finished: Job[] = [];
  let held: Job;
  let queued: Job[];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) finished.push(await api.run('test/copy', `input ${i}`));
    const cancelled = await api.create('test/copy');
    await api.cancel(cancelled.id);
    await api.create('test/copy'); // stays created
    held = await submitted('test/hold');
    await waitFor('the held job runs', async () => (await api.get(held.id)).status === 'processing');
    queued = [await submitted('test/hold'), await submitted('test/hold')];
  }, 120_000);

  afterAll(async () => {
    for (const job of [held, ...queued]) await api.cancel(job.id);
  });

  it('counts the jobs per state and type now, and the cancelled among the failed', async () => {
    const o = await overview();
    expect(o.jobs).toEqual({
      created: 1,
      loaded: 0,
      pending: 2,
      claimed: 0,
      preparing: 0,
      processing: 1,
      finished: 3,
      failed: 1,
    });
    expect(o.total).toBe(8);
    expect(o.cancelled).toBe(1);
    expect(o.types.map((t) => [t.type, t.total])).toEqual([
      ['test/copy', 5],
      ['test/hold', 3],
    ]);
    expect(o.types[1]!.jobs.pending).toBe(2);
  });

  it('counts ended jobs per 5 minutes over the hour and per hour over the day, the current window last', async () => {
    const o = await overview();
    const { last_hour, last_day } = o.throughput;
    expect(last_hour).toHaveLength(12);
    expect(last_day).toHaveLength(24);
    const starts = last_hour.map((b) => Date.parse(b.start));
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBe(5 * 60_000);
    expect(Date.parse(last_day[1]!.start) - Date.parse(last_day[0]!.start)).toBe(3_600_000);
    expect(Date.now() - starts.at(-1)!).toBeLessThan(5 * 60_000);
    const sum = (buckets: typeof last_hour, key: 'finished' | 'failed') =>
      buckets.reduce((a, b) => a + b[key], 0);
    // Everything ended within the last minute, so both ranges see all of it.
    expect(sum(last_hour, 'finished')).toBe(3);
    expect(sum(last_hour, 'failed')).toBe(1);
    expect(sum(last_day, 'finished')).toBe(3);
    expect(sum(last_day, 'failed')).toBe(1);
  });

  it('reports the queue wait from submit to claim, and the worker holding the job with its heartbeat', async () => {
    const o = await overview();
    // Three finished and the held one were claimed (the queued two were not).
    expect(o.queue_wait.last_hour.jobs).toBe(4);
    expect(o.queue_wait.last_day.jobs).toBe(4);
    const { p50_ms, p95_ms } = o.queue_wait.last_hour;
    expect(p50_ms).not.toBeNull();
    expect(p95_ms!).toBeGreaterThanOrEqual(p50_ms!);
    expect(p95_ms!).toBeLessThan(30_000);
    const holder = (await api.get(held.id)).claimed_by!;
    const worker = o.workers.find((w) => w.id === holder);
    expect(worker?.running).toBe(1);
    expect(Date.now() - Date.parse(worker!.last_seen!)).toBeLessThan(30_000);
  });

  it('shows another user nothing of this one but the workers', async () => {
    const other = await overview(api.withKey(await server.addUser('overview-other@example.com')));
    expect(other.total).toBe(0);
    expect(other.types).toEqual([]);
    expect(other.queue_wait.last_day).toEqual({ jobs: 0, p50_ms: null, p95_ms: null });
    expect(other.workers.every((w) => w.running === 0)).toBe(true);
  });

  it('gives a pending job its place in the queue, and null once it is not pending', async () => {
    expect(await position(queued[0]!.id)).toEqual({ position: 1, pending: 2 });
    expect(await position(queued[1]!.id)).toEqual({ position: 2, pending: 2 });
    expect(await position(held.id)).toEqual({ position: null, pending: 2 });
    await api.cancel(queued[0]!.id);
    expect(await position(queued[1]!.id)).toEqual({ position: 1, pending: 1 });
    await expectError(api.request('/v1/jobs/not-a-job/position'), 404);
  });

  it("gives a job's timeline: each step in order, with durations, attempts and the worker", async () => {
    const job = finished[0]!;
    const t = await timeline(job.id);
    const got = await api.get(job.id);
    expect(t).toMatchObject({
      id: job.id,
      status: 'finished',
      attempts: 1,
      worker: got.claimed_by,
      error_code: null,
    });
    const steps = [t.created_at, t.uploaded_at, t.submitted_at, t.claimed_at, t.started_at, t.finished_at];
    expect(steps.every((s) => s !== null)).toBe(true);
    const times = steps.map((s) => Date.parse(s!));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    expect(t.created_at).toBe(got.created_at);
    expect(t.finished_at).toBe(got.finished_at);
    expect(t.durations_ms.total).toBe(times[5]! - times[0]!);
    expect(t.durations_ms.queued).toBe(times[3]! - times[2]!);
    // The tool sleeps 0.2 s.
    expect(t.durations_ms.running!).toBeGreaterThanOrEqual(200);

    const fresh = await api.create('test/copy');
    const early = await timeline(fresh.id);
    expect(early).toMatchObject({ status: 'created', attempts: 0, worker: null, uploaded_at: null });
    expect(Object.values(early.durations_ms)).toEqual([null, null, null, null, null]);

    const other = api.withKey(await server.addUser('timeline-other@example.com'));
    await expectError(other.request(`/v1/jobs/${job.id}/timeline`), 404);
  });

  it('is described in the served OpenAPI document', async () => {
    const yaml = await (await fetch(`${server.url}/static/openapi.yaml`)).text();
    for (const needle of [
      '/v1/overview:',
      '/v1/jobs/{jobId}/position:',
      '/v1/jobs/{jobId}/timeline:',
      'Overview:',
    ]) {
      expect(yaml, needle).toContain(needle);
    }
  });
});
