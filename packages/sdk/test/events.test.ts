/**
 * The SDK's per-user event stream (EventsApi), ranged reads (PartialApi)
 * and the queue extensions (InsightApi) against a real bsubio server, and
 * the text/event-stream parser on the awkward inputs a network produces.
 */
import { BsubClient, EventsApi, InsightApi, type JobStreamEvent, PartialApi, SseParser } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { STARTUP_MS } from './helpers/startup.js';

let server: TestServer;
let client: BsubClient;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
}, STARTUP_MS + 30_000);
afterAll(async () => {
  await server?.cleanup();
});

describe('SseParser', () => {
  it('splits events however the bytes are cut, keeps ids, skips comments, joins data lines', () => {
    const seen: { event: string; data: string; id: string }[] = [];
    const retries: number[] = [];
    const parser = new SseParser(
      (fields) => seen.push(fields),
      (ms) => retries.push(ms),
    );
    const text =
      ': ping\r\nid: 7\r\nevent: job\r\ndata: {"a":\r\ndata: 1}\r\n\r\nretry: 2500\nevent: reset\ndata: {}\n\n';
    for (const char of text) parser.push(char);
    expect(seen).toEqual([
      { event: 'job', data: '{"a":\n1}', id: '7' },
      { event: 'reset', data: '{}', id: '7' },
    ]);
    expect(retries).toEqual([2500]);
  });
});

describe('EventsApi', () => {
  it('delivers ready, then each change of a new job in order, and resumes after the last id seen', async () => {
    const events = new EventsApi(client.configuration);
    const abort = new AbortController();
    const seen: JobStreamEvent[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const followed = events.follow({
      signal: abort.signal,
      onEvent: (event) => {
        seen.push(event);
        if (event.event === 'ready') ready();
      },
    });
    await isReady;
    const job = await client.createAndSubmit('json_format', new TextEncoder().encode('{"b":1}'));
    await client.waitForJob(job.id);
    const states = () =>
      seen.flatMap((e) => (e.event === 'job' && e.job.id === job.id ? [e.job.status] : []));
    await expect.poll(states, { timeout: 30_000 }).toContain('finished');
    expect(states()[0]).toBe('created');
    expect(states().indexOf('loaded')).toBeLessThan(states().indexOf('pending'));
    abort.abort();
    await followed;

    // Resuming after the event that said "loaded" replays what came after it.
    const loaded = seen.find((e) => e.event === 'job' && e.job.id === job.id && e.job.status === 'loaded')!;
    const replay: JobStreamEvent[] = [];
    const again = new AbortController();
    const resumed = events.follow({
      signal: again.signal,
      lastEventId: loaded.id,
      onEvent: (event) => {
        replay.push(event);
        if (event.event === 'ready') again.abort();
      },
    });
    await resumed;
    const replayed = replay.flatMap((e) => (e.event === 'job' && e.job.id === job.id ? [e.job.status] : []));
    expect(replayed[0]).toBe('pending');
    expect(replayed.at(-1)).toBe('finished');
  });

  it('rejects with kind auth for a bad key instead of retrying for ever', async () => {
    const bad = new BsubClient({ baseUrl: server.url, apiKey: 'bsub_000000000000_nope' });
    await expect(new EventsApi(bad.configuration).follow({ onEvent: () => {} })).rejects.toMatchObject({
      kind: 'auth',
    });
  });
});

describe('PartialApi and InsightApi', () => {
  it('reads only the first bytes of an output, the last of the logs, and a job timeline', async () => {
    const input = JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => ({ i })) });
    const { job, output } = await client.processFile('json_format', new TextEncoder().encode(input));
    const partial = new PartialApi(client.configuration);
    const head = await partial.outputHead(job.id, 100);
    expect(head.bytes).toEqual(output.subarray(0, 100));
    expect(head.total).toBe(output.byteLength);
    expect(head.complete).toBe(false);
    const whole = await partial.outputHead(job.id, output.byteLength + 10);
    expect(whole.complete).toBe(true);
    const logs = await partial.logsTail(job.id, 1024);
    expect(logs.start).toBe(0);

    const insight = new InsightApi(client.configuration);
    const timeline = await insight.timeline(job.id);
    expect(timeline.status).toBe('finished');
    expect(timeline.durations_ms.total).toBeGreaterThanOrEqual(0);
    const overview = await insight.overview();
    expect(overview.jobs.finished).toBeGreaterThanOrEqual(1);
  });
});
