/**
 * Following a job without polling, over real HTTP: the event stream of state
 * changes and log lines (resumable with Last-Event-ID), and logs?follow=1.
 */
import type { Job } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';
import { openEvents } from './sse.js';
import { writeLiveTypesFile } from './test-types.js';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  server = await startServer({
    env: { BSUBIO_TYPES_FILE: writeLiveTypesFile(0.6), BSUBIO_WORKERS: '2' },
    startTimeoutMs: 120_000,
  });
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(() => server?.cleanup());

const auth = () => ({ authorization: `Bearer ${server.apiKey}` });

async function loaded(type = 'test/chatty'): Promise<Job> {
  const job = await api.create(type);
  expect((await api.upload(job, 'the input')).status).toBe(200);
  return job;
}

describe('GET /v1/jobs/{id}/events', () => {
  it('streams every state change and each log line while the job runs, then ends', async () => {
    const job = await loaded();
    const stream = await openEvents(`${server.url}/v1/jobs/${job.id}/events`, auth());
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const first = await stream.next();
    expect(first?.event).toBe('status');
    expect(JSON.parse(first!.data).status).toBe('loaded');

    expect((await api.submit(job.id)).status).toBe(200);
    const events = [];
    let statusWhenFirstLine: string | undefined;
    for (let e = await stream.next(); e; e = await stream.next()) {
      events.push(e);
      if (e.event === 'log' && statusWhenFirstLine === undefined) {
        statusWhenFirstLine = (await api.get(job.id)).status;
      }
    }
    // The first line arrived while the tool was still running: live, not at the end.
    expect(statusWhenFirstLine).toBe('processing');
    const states = events.filter((e) => e.event === 'status').map((e) => JSON.parse(e.data).status);
    expect(states).toEqual(['pending', 'claimed', 'preparing', 'processing', 'finished']);
    expect(events.filter((e) => e.event === 'log').map((e) => e.data)).toEqual([
      'line 1',
      'line 2',
      'line 3',
    ]);
    expect(events.at(-1)?.event).toBe('status');
    for (const e of events) expect(e.id).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('resumes after Last-Event-ID without repeating or losing lines, and says 204 once all is seen', async () => {
    const job = await loaded();
    const stream = await openEvents(`${server.url}/v1/jobs/${job.id}/events`, auth());
    expect((await api.submit(job.id)).status).toBe(200);
    let last: string | undefined;
    for (let e = await stream.next(); e; e = await stream.next()) {
      last = e.id;
      if (e.event === 'log') break;
    }
    stream.close();

    const resumed = await openEvents(`${server.url}/v1/jobs/${job.id}/events`, {
      ...auth(),
      'last-event-id': last!,
    });
    expect(resumed.status).toBe(200);
    const rest = await resumed.rest();
    expect(rest.filter((e) => e.event === 'log').map((e) => e.data)).toEqual(['line 2', 'line 3']);
    expect(JSON.parse(rest.at(-1)!.data).status).toBe('finished');

    const again = await openEvents(`${server.url}/v1/jobs/${job.id}/events`, {
      ...auth(),
      'last-event-id': rest.at(-1)!.id!,
    });
    expect(again.status).toBe(204);
  });

  it('replays a finished job in full and ends the stream', async () => {
    const job = await loaded();
    expect((await api.submit(job.id)).status).toBe(200);
    await api.waitTerminal(job.id);
    const events = await (await openEvents(`${server.url}/v1/jobs/${job.id}/events`, auth())).rest();
    expect(events.map((e) => e.event)).toEqual(['log', 'log', 'log', 'status']);
    expect(JSON.parse(events[3]!.data).status).toBe('finished');
  });

  it('answers a bad Last-Event-ID with 400 and a foreign or unknown job with 404', async () => {
    const job = await loaded();
    await expectError(
      api.request(`/v1/jobs/${job.id}/events`, { headers: { 'last-event-id': 'nonsense' } }),
      400,
      /Last-Event-ID/,
    );
    const other = api.withKey(await server.addUser('sse-other@example.com'));
    await expectError(other.request(`/v1/jobs/${job.id}/events`), 404);
    await expectError(api.withKey('').request(`/v1/jobs/${job.id}/events`), 401);
  });
});

describe('GET /v1/jobs/{id}/logs?follow=1', () => {
  it('streams stderr as it is written and ends when the job does', async () => {
    const job = await loaded();
    expect((await api.submit(job.id)).status).toBe(200);
    const res = await api.request(`/v1/jobs/${job.id}/logs?follow=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let statusAtFirstBytes: string | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      statusAtFirstBytes ??= (await api.get(job.id)).status;
    }
    expect(statusAtFirstBytes).toBe('processing');
    expect(text).toBe('line 1\nline 2\nline 3\n');
    expect((await api.get(job.id)).status).toBe('finished');
    // The same bytes as the stored logs.
    expect(await (await api.request(`/v1/jobs/${job.id}/logs`)).text()).toBe(text);
  });

  it('rejects a follow value that is not 1 or 0', async () => {
    const job = await loaded();
    await expectError(api.request(`/v1/jobs/${job.id}/logs?follow=yes`), 400, /follow/);
  });
});
