/**
 * The per-user event stream, GET /v1/events, over real HTTP against a real
 * server: what each event carries, that users see only their own jobs,
 * resuming with Last-Event-ID, 1,000 jobs' changes in order, and a reader
 * that stops reading does not make the server hold its events without bound.
 */
import { connect } from 'node:net';
import { DeletedEventSchema, type Job, JobSchema, LogEventSchema } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { progressRank } from '../src/services/user-feed.js';
import { Api, expectError, expectShape } from './client.js';
import { openEvents, type SseEvent, type SseStream } from './sse.js';
import { shellType, writeTypesFile } from './test-types.js';

let server: TestServer;
let api: Api;

/** 100-character lines of stderr, `n` of them, as fast as the tool can write. */
const NOISY_LINES = 30_000;

beforeAll(async () => {
  const types = writeTypesFile([
    shellType(
      'test/chatty',
      'Chatty copy',
      'Writes three log lines over time, then copies the input.',
      'for i in 1 2 3; do echo "line $i" >&2; sleep 0.4; done; cat "$0"',
    ),
    shellType(
      'test/hold',
      'Held copy',
      'Waits until its input is cancelled (60 s at most).',
      'sleep 60; cat "$0"',
    ),
    {
      ...shellType(
        'test/noisy',
        'Noisy copy',
        'Writes 3 MB of stderr at once, then copies the input.',
        `yes ${'x'.repeat(99)} | head -n ${NOISY_LINES} >&2; cat "$0"`,
      ),
      requires: ['sh', 'yes', 'head', 'cat'],
    },
  ]);
  server = await startServer({ env: { BSUBIO_TYPES_FILE: types, BSUBIO_WORKERS: '4' } });
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(() => server?.cleanup());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function events(key: string, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
  return openEvents(`${server.url}/v1/events${query}`, { ...bearer(key), ...headers });
}

/** Events until `done` says stop (the one it stopped at included); fails after `ms`. */
async function until(stream: SseStream, done: (e: SseEvent) => boolean, ms = 30_000): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  const timer = setTimeout(() => stream.close(), ms);
  try {
    for (;;) {
      const e = await stream.next().catch(() => undefined);
      if (!e) throw new Error(`stream ended before the awaited event; saw ${JSON.stringify(seen.slice(-5))}`);
      seen.push(e);
      if (done(e)) return seen;
    }
  } finally {
    clearTimeout(timer);
  }
}

const jobOf = (e: SseEvent) => JSON.parse(e.data) as Job;
const isJob = (id: string, status?: string) => (e: SseEvent) =>
  e.event === 'job' && jobOf(e).id === id && (status === undefined || jobOf(e).status === status);

/** A job created with its input uploaded (raw body), not submitted. */
async function loaded(who: Api, type: string, name?: string): Promise<Job> {
  const job = await who.create(type, name ? { name } : {});
  const res = await who.withKey('').request(`/v1/upload/${job.id}?token=${job.upload_token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: 'the input',
  });
  expect(res.status, await res.text()).toBe(200);
  return job;
}

describe('GET /v1/events', () => {
  it('sends ready, then every change of a job as GET shows it, its log lines when asked, and its deletion', async () => {
    const stream = await events(server.apiKey, '?logs=1');
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const ready = await stream.next();
    expect(ready).toMatchObject({ event: 'ready', data: '{}' });
    expect(ready?.id).toMatch(/\S/);

    const job = await loaded(api, 'test/chatty');
    expect((await api.submit(job.id)).status).toBe(200);
    const seen = await until(stream, isJob(job.id, 'finished'));
    const jobEvents = seen.filter((e) => e.event === 'job');
    expect(jobEvents.map((e) => jobOf(e).status)).toEqual([
      'created',
      'loaded',
      'pending',
      'claimed',
      'preparing',
      'processing',
      'finished',
    ]);
    for (const e of jobEvents) expectShape(JobSchema, JSON.parse(e.data));
    // The last one is the job exactly as GET answers it, sizes included.
    expect(JSON.parse(jobEvents.at(-1)!.data)).toEqual(await api.get(job.id));
    // The upload token is a credential: create and GET give it, a stream does not.
    expect(jobOf(jobEvents[0]!).upload_token).toBeUndefined();

    const logs = seen.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data));
    for (const l of logs) expectShape(LogEventSchema, l);
    expect(logs.map((l) => l.text).join('')).toBe('line 1\nline 2\nline 3\n');
    // Each piece says where it starts, so a client can join it to a ranged read of /logs.
    expect(logs[0].offset).toBe(0);
    for (let i = 1; i < logs.length; i++) {
      expect(logs[i].offset).toBe(logs[i - 1].offset + Buffer.byteLength(logs[i - 1].text));
    }
    // Live: the first line came before the job's end.
    const firstLog = seen.findIndex((e) => e.event === 'log');
    expect(firstLog).toBeLessThan(seen.findIndex(isJob(job.id, 'finished')));

    expect((await api.delete(job.id)).status).toBe(204);
    const [deleted] = (await until(stream, (e) => e.event === 'deleted')).slice(-1);
    expect(JSON.parse(deleted!.data)).toEqual({ id: job.id });
    expectShape(DeletedEventSchema, JSON.parse(deleted!.data));
    stream.close();
  });

  it('starts the log of a job already running at the new text, with its offset', async () => {
    const late = api.withKey(await server.addUser('events-late@example.com'));
    const job = await loaded(late, 'test/chatty');
    expect((await late.submit(job.id)).status).toBe(200);
    const deadline = Date.now() + 30_000;
    while ((await (await late.request(`/v1/jobs/${job.id}/logs`)).text()) === '') {
      if (Date.now() > deadline) throw new Error('the job wrote nothing');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stream = await events(late.key, '?logs=1');
    const seen = await until(stream, isJob(job.id, 'finished'));
    stream.close();
    const logs = seen.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data));
    // The stream gives the text written after it opened, and where it starts;
    // a ranged GET /logs gives what came before.
    expect(logs[0].offset).toBeGreaterThan(0);
    const head = await late.request(`/v1/jobs/${job.id}/logs`, {
      headers: { range: `bytes=0-${logs[0].offset - 1}` },
    });
    expect(head.status).toBe(206);
    expect((await head.text()) + logs.map((l) => l.text).join('')).toBe('line 1\nline 2\nline 3\n');
  });

  it('sends no log events unless asked, and with ?job= only that job', async () => {
    const one = await loaded(api, 'test/chatty');
    const other = await api.create('test/chatty');
    const onlyOne = await events(server.apiKey, `?job=${one.id}`);
    expect((await onlyOne.next())?.event).toBe('ready');
    await api.cancel(other.id);
    expect((await api.submit(one.id)).status).toBe(200);
    const seen = await until(onlyOne, isJob(one.id, 'finished'));
    expect(seen.every((e) => e.event === 'job' && jobOf(e).id === one.id)).toBe(true);
    onlyOne.close();
  });

  it('shows each user only their own jobs', async () => {
    const otherKey = await server.addUser('events-other@example.com');
    const other = api.withKey(otherKey);
    const mine = await events(server.apiKey);
    const theirs = await events(otherKey);
    await mine.next();
    await theirs.next();

    const myJob = await api.create('test/chatty', { name: 'mine' });
    await api.cancel(myJob.id);
    expect((await api.delete(myJob.id)).status).toBe(204);
    const theirJob = await other.create('test/chatty', { name: 'theirs' });

    // The other user's first event is their own job: nothing of mine came before it.
    const first = await theirs.next();
    expect(first?.event).toBe('job');
    expect(jobOf(first!).id).toBe(theirJob.id);
    const seenByMe = await until(mine, (e) => e.event === 'deleted');
    expect(seenByMe.map((e) => (e.event === 'job' ? jobOf(e).id : JSON.parse(e.data).id))).toEqual([
      myJob.id,
      myJob.id,
      myJob.id,
    ]);
    // Following someone else's job is answered as for a job that does not exist.
    await expectError(other.request(`/v1/events?job=${myJob.id}`), 404);
    mine.close();
    theirs.close();
  });

  it('resumes after Last-Event-ID with exactly the events missed, and says reset when it cannot', async () => {
    const stream = await events(server.apiKey);
    await stream.next();
    const job = await api.create('test/hold');
    const [created] = await until(stream, isJob(job.id, 'created'));
    stream.close();

    // Missed while away: the upload, the submit, the claim and the cancel.
    const res = await api.withKey('').request(`/v1/upload/${job.id}?token=${job.upload_token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(res.status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);
    await api.cancel(job.id);

    const resumed = await events(server.apiKey, '', { 'last-event-id': created!.id! });
    const replayed = await until(resumed, (e) => e.event === 'ready');
    const states = replayed.filter(isJob(job.id)).map((e) => jobOf(e).status);
    expect(states[0]).toBe('loaded');
    expect(states.at(-1)).toBe('failed');
    expect(states).not.toContain('created');
    // Ids only grow; `ready` carries the newest one, the point to resume from.
    const seqs = replayed.map((e) => Number(e.id!.split('-')[1]));
    for (let i = 1; i < seqs.length - 1; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    expect(replayed.at(-1)!.id).toBe(replayed.at(-2)!.id);
    resumed.close();

    // The same through the query parameter (for clients that cannot set headers).
    const viaQuery = await events(server.apiKey, `?last_event_id=${encodeURIComponent(created!.id!)}`);
    const again = await until(viaQuery, (e) => e.event === 'ready');
    expect(again.map((e) => e.data)).toEqual(replayed.map((e) => e.data));
    viaQuery.close();

    // A cursor this server never gave (or from before a restart): reset, then the stream goes on.
    for (const unknown of ['nonsense', '00000000-1', `${created!.id!.split('-')[0]}-999999999`]) {
      const lost = await events(server.apiKey, '', { 'last-event-id': unknown });
      expect(lost.status).toBe(200);
      const first = await lost.next();
      expect(first).toMatchObject({ event: 'reset', data: '{}' });
      expect(first?.id).toMatch(/\S/);
      expect((await lost.next())?.event).toBe('ready');
      lost.close();
    }
  });

  it('is described in the served OpenAPI document, with its event payloads', async () => {
    const yaml = await (await fetch(`${server.url}/static/openapi.yaml`)).text();
    for (const needle of ['/v1/events:', 'streamUserEvents', 'DeletedEvent:', 'LogEvent:', 'last_event_id']) {
      expect(yaml, needle).toContain(needle);
    }
    const docs = await (await fetch(`${server.url}/docs`)).text();
    expect(docs).toContain('/v1/events');
    expect(docs).toContain('id="schema-LogEvent"');
  });

  it('replays what its window still holds, and says reset for a cursor older than that', async () => {
    const key = await server.addUser('events-window@example.com');
    const who = api.withKey(key);
    const watcher = await events(key);
    const ready = await watcher.next();
    // 1,100 jobs created and cancelled: 2,200 events, past the 2,000 a user's window keeps.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < 1100) {
          next++;
          const job = await who.create('test/hold');
          expect((await who.cancel(job.id)).status).toBe(200);
        }
      }),
    );
    const all: SseEvent[] = [];
    while (all.length < 2200) all.push((await watcher.next())!);
    watcher.close();

    const tooOld = await events(key, '', { 'last-event-id': ready!.id! });
    expect((await tooOld.next())?.event).toBe('reset');
    tooOld.close();

    const recent = await events(key, '', { 'last-event-id': all[2099]!.id! });
    const replayed = await until(recent, (e) => e.event === 'ready');
    recent.close();
    expect(replayed.slice(0, -1).map((e) => e.id)).toEqual(all.slice(2100).map((e) => e.id));
    expect(replayed.slice(0, -1).map((e) => e.data)).toEqual(all.slice(2100).map((e) => e.data));
  }, 300_000);

  it('answers bad parameters with 400 and no key with 401', async () => {
    await expectError(api.request('/v1/events?logs=yes'), 400, /logs/);
    await expectError(api.request('/v1/events?job=not-a-uuid'), 400, /job/);
    await expectError(api.withKey('').request('/v1/events'), 401);
  });

  it('delivers the changes of 1,000 jobs, each in order, with growing ids', async () => {
    const key = await server.addUser('events-many@example.com');
    const many = api.withKey(key);
    const stream = await events(key);
    await stream.next();
    const ids: string[] = [];
    const work = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < 1000) {
            next++;
            const job = await many.create('test/hold');
            ids.push(job.id);
            const res = await many.withKey('').request(`/v1/upload/${job.id}?token=${job.upload_token}`, {
              method: 'POST',
              headers: { 'content-type': 'application/octet-stream' },
              body: 'x',
            });
            expect(res.status).toBe(200);
            expect((await many.cancel(job.id)).status).toBe(200);
          }
        }),
      );
    })();
    const byJob = new Map<string, string[]>();
    let lastSeq = -1;
    let failed = 0;
    while (failed < 1000) {
      const e = await stream.next();
      if (!e) throw new Error('the stream ended');
      expect(e.event).toBe('job');
      const seq = Number(e.id!.split('-')[1]);
      expect(seq).toBeGreaterThan(lastSeq);
      lastSeq = seq;
      const job = jobOf(e);
      byJob.set(job.id, [...(byJob.get(job.id) ?? []), job.status]);
      if (job.status === 'failed') failed++;
    }
    await work;
    stream.close();
    expect(byJob.size).toBe(1000);
    expect([...byJob.keys()].sort()).toEqual([...ids].sort());
    for (const states of byJob.values()) expect(states).toEqual(['created', 'loaded', 'failed']);
  }, 300_000);

  it('gives up a reader that stopped reading, with a bounded queue, instead of holding its events', async () => {
    const key = await server.addUser('events-slow@example.com');
    const slow = api.withKey(key);
    const url = new URL(server.url);
    // A raw connection that reads the response head and then nothing more.
    const socket = connect(Number(url.port), url.hostname);
    socket.write(
      `GET /v1/events?logs=1 HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`,
    );
    const head = await new Promise<string>((resolve) => socket.once('data', (d) => resolve(d.toString())));
    socket.pause();
    expect(head).toMatch(/^HTTP\/1.1 200/);

    // About 12 MB of log events, far more than the queue (1 MiB) and the sockets' buffers hold.
    const jobs = await Promise.all(Array.from({ length: 4 }, () => loaded(slow, 'test/noisy')));
    for (const job of jobs) expect((await slow.submit(job.id)).status).toBe(200);
    for (const job of jobs) expect((await slow.waitTerminal(job.id, 120)).status).toBe('finished');

    const metric = async (name: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    const deadline = Date.now() + 30_000;
    while ((await metric('bsubio_event_streams_dropped_total')) < 1) {
      if (Date.now() > deadline) throw new Error('the slow stream was never given up');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await metric('bsubio_event_stream_queued_bytes_max')).toBeLessThanOrEqual(1024 * 1024);

    // What the reader gets when it reads again: some events, then reset, then the end.
    let received = '';
    socket.on('data', (d) => {
      received += d.toString();
    });
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received.length).toBeLessThan(12_000_000);
    const names = [...received.matchAll(/event: (\w+)/g)].map((m) => m[1]);
    expect(names.at(-1)).toBe('reset');

    // The user can connect again at once (and is told to refetch).
    const again = await events(key);
    expect((await again.next())?.event).toBe('ready');
    again.close();
  }, 300_000);
});

describe('the streams and the server', () => {
  it('forgets a stream when its client goes away, and ends the rest when the server stops', async () => {
    const own = await startServer({ env: { BSUBIO_WORKERS: '0' } });
    try {
      const metric = async () => {
        const text = await (await fetch(`${own.url}/metrics`)).text();
        return Number(/^bsubio_event_streams (\d+)$/m.exec(text)?.[1]);
      };
      const streams = await Promise.all(
        [0, 1, 2].map(() => openEvents(`${own.url}/v1/events?logs=1`, bearer(own.apiKey))),
      );
      for (const s of streams) expect((await s.next())?.event).toBe('ready');
      expect(await metric()).toBe(3);
      streams[0]!.close();
      const deadline = Date.now() + 10_000;
      while ((await metric()) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await metric()).toBe(2);

      const stopped = own.stop();
      // The server does not wait for its streams: it ends them, and exits cleanly.
      expect(await streams[1]!.rest()).toEqual([]);
      expect(await streams[2]!.rest()).toEqual([]);
      expect(await stopped).toBe(0);
    } finally {
      await own.cleanup();
    }
  });
});

describe("the order of a job's states, which a replica uses to drop late news", () => {
  it("only grows over a job's life, retries included", () => {
    const life: [string, number][] = [
      ['created', 0],
      ['loaded', 0],
      ['pending', 0],
      ['claimed', 1],
      ['preparing', 1],
      ['processing', 1],
      // The worker was lost: back to the queue, then a second attempt.
      ['pending', 1],
      ['claimed', 2],
      ['preparing', 2],
      ['processing', 2],
      ['finished', 2],
    ];
    const ranks = life.map(([status, attempts]) => progressRank({ status, attempts }));
    for (let i = 1; i < ranks.length; i++)
      expect(ranks[i]!, life[i]!.join(' ')).toBeGreaterThan(ranks[i - 1]!);
    expect(progressRank({ status: 'failed', attempts: 0 })).toBe(
      progressRank({ status: 'finished', attempts: 3 }),
    );
  });
});
