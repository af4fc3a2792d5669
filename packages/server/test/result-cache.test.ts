/**
 * The result cache and content-addressed storage, over real HTTP with real
 * tools (pdftotext, sh): a repeated job finishes at submit without a
 * sandbox, with the same bytes; what must miss misses; shared blobs outlive
 * the job that made them and go with the last job that refers to them,
 * however deletes and new references race.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type Job, uuidv7 } from '@bsubio/protocol';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, startS3, type TestPostgres, type TestS3 } from '../../../test/support/cluster.js';
import { makePdf } from '../../../test/support/pdf.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { S3BlobStore } from '../src/blobs/s3-blob-store.js';
import { Api, expectError } from './client.js';
import { openEvents } from './sse.js';
import { shellType, writeTypesFile } from './test-types.js';

const START = { startTimeoutMs: 120_000 };

/** `test/upper`: the input in capitals after a prefix (a param); cacheable. `script` varies the definition. */
function upperTypes(script = 'printf "%s" "$1"; tr a-z A-Z < "$0"') {
  return writeTypesFile([
    {
      ...shellType('test/upper', 'Upper case', 'The input in capitals, after a prefix.', script),
      command: ['sh', '-c', script, '{input}', '{param:prefix}'],
      requires: ['sh', 'tr'],
      cacheable: true,
      params: [{ name: 'prefix', type: 'string', description: 'Put first', default: '>' }],
    },
  ]);
}

/** A create body's `then`: the steps after the first. */
function thenSteps(...steps: { type: string; params?: Record<string, string> }[]) {
  // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
  return { then: steps };
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

async function uploaded(api: Api, type: string, content: string | Uint8Array, extra = {}): Promise<Job> {
  const job = await api.create(type, extra);
  const res = await api.upload(job, content);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return job;
}

/** Submit, and the job as the next GET sees it. */
async function submitted(api: Api, id: string): Promise<Job> {
  const res = await api.submit(id);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return api.get(id);
}

async function output(api: Api, id: string): Promise<Buffer> {
  const res = await api.request(`/v1/jobs/${id}/output`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function metric(server: TestServer, name: string, type: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{type="${type}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Nothing ran this job: no worker ever claimed it, so no sandbox started for it. */
function expectNotRun(job: Job) {
  expect(job.attempts).toBe(0);
  expect(job.claimed_by).toBeNull();
  expect(job.started_at).toBeNull();
}

describe('result cache (BSUBIO_CACHE=user, the default)', () => {
  let server: TestServer;
  let api: Api;
  beforeAll(async () => {
    server = await startServer({
      ...START,
      env: { BSUBIO_TYPES_FILE: upperTypes(), BSUBIO_WEBHOOK_ALLOW_PRIVATE: '1' },
    });
    api = new Api(server.url, server.apiKey);
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('answers the second pdf/extract of the same file at submit, without a sandbox, with the same bytes', async () => {
    const pdf = makePdf(`cached ${Date.now()}`);
    const first = await api.run('pdf/extract', pdf);
    expect(first.status).toBe('finished');
    expect(first.cached).toBe(false);
    expect(first.attempts).toBe(1);
    const runsBefore = await metric(server, 'bsubio_cache_hits_total', 'pdf/extract');

    const second = await uploaded(api, 'pdf/extract', pdf);
    const started = performance.now();
    const done = await submitted(api, second.id);
    const elapsed = performance.now() - started;
    expect(done.status).toBe('finished');
    expectNotRun(done);
    expect(done.cached).toBe(true);
    expect(done.cached_from).toBe(first.id);
    expect(done.output_size).toBe(first.output_size);
    expect(done.finished_at).not.toBeNull();
    expect(await output(api, second.id)).toEqual(await output(api, first.id));
    expect(await (await api.request(`/v1/jobs/${second.id}/logs`)).text()).toBe(
      `served from cache: job ${first.id}\n`,
    );
    expect(await metric(server, 'bsubio_cache_hits_total', 'pdf/extract')).toBe(runsBefore + 1);
    expect(await metric(server, 'bsubio_cache_bytes_saved_total', 'pdf/extract')).toBeGreaterThanOrEqual(
      first.output_size ?? 0,
    );
    // What the first run used (when its cgroup measured it) is what the hit saved.
    if (first.cpu_seconds != null) {
      expect(
        await metric(server, 'bsubio_cache_cpu_seconds_saved_total', 'pdf/extract'),
      ).toBeGreaterThanOrEqual(first.cpu_seconds);
    }
    // Submit and a GET, on a loaded 2-core VM: well under the time of running pdftotext in a sandbox.
    expect(elapsed).toBeLessThan(1000);
  });

  it('misses for another user, another parameter and "cache": false, and hits for an equal one', async () => {
    const text = `hello ${Date.now()}`;
    const first = await api.run('test/upper', text);
    expect(first.status).toBe('finished');
    const misses = await metric(server, 'bsubio_cache_misses_total', 'test/upper');

    const other = new Api(server.url, await server.addUser(`other-${Date.now()}@example.com`));
    const theirs = await submitted(other, (await uploaded(other, 'test/upper', text)).id);
    expect(theirs.cached).toBe(false);
    expect((await other.waitTerminal(theirs.id)).attempts).toBe(1);

    const prefixed = await uploaded(api, 'test/upper', text, { params: { prefix: '#' } });
    expect((await submitted(api, prefixed.id)).cached).toBe(false);
    expect((await output(api, (await api.waitTerminal(prefixed.id)).id)).toString()).toBe(
      `#${text.toUpperCase()}`,
    );

    const optedOut = await uploaded(api, 'test/upper', text, { cache: false });
    expect((await submitted(api, optedOut.id)).cached).toBe(false);
    expect((await api.waitTerminal(optedOut.id)).attempts).toBe(1);
    expect(await metric(server, 'bsubio_cache_misses_total', 'test/upper')).toBe(misses + 2);

    // The default prefix given explicitly is the same job: a hit.
    const explicit = await uploaded(api, 'test/upper', text, { params: { prefix: '>' } });
    const hit = await submitted(api, explicit.id);
    expect(hit.cached).toBe(true);
    expectNotRun(hit);
    expect((await output(api, hit.id)).toString()).toBe(`>${text.toUpperCase()}`);

    await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'test/upper', cache: 'no' }),
      }),
      400,
      /"cache" field must be true or false/,
    );
  });

  it('keys a pipeline by every step: the same chain hits, another step or params miss', async () => {
    const text = `pipeline ${Date.now()}`;
    const chain = thenSteps({ type: 'test/upper', params: { prefix: '2:' } });
    const first = await submitted(api, (await uploaded(api, 'test/upper', text, chain)).id);
    expect((await api.waitTerminal(first.id)).status).toBe('finished');
    const expected = `2:>${text.toUpperCase()}`;
    expect((await output(api, first.id)).toString()).toBe(expected);

    const again = await submitted(api, (await uploaded(api, 'test/upper', text, chain)).id);
    expect(again.cached_from).toBe(first.id);
    expectNotRun(again);
    expect((await output(api, again.id)).toString()).toBe(expected);

    // Its first step alone, or the chain with other params at step 2, is another job.
    const alone = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
    expect(alone.cached).toBe(false);
    const other = thenSteps({ type: 'test/upper', params: { prefix: '3:' } });
    const changed = await submitted(api, (await uploaded(api, 'test/upper', text, other)).id);
    expect(changed.cached).toBe(false);
    // A step of a type that is not cacheable makes the whole chain uncached.
    const mixed = thenSteps({ type: 'passthru' });
    const mixedFirst = await submitted(api, (await uploaded(api, 'test/upper', text, mixed)).id);
    expect((await api.waitTerminal(mixedFirst.id)).status).toBe('finished');
    const mixedAgain = await submitted(api, (await uploaded(api, 'test/upper', text, mixed)).id);
    expect(mixedAgain.cached).toBe(false);
    await Promise.all([alone, changed, mixedAgain].map((j) => api.waitTerminal(j.id)));
  });

  it("tells a cached job's end like any job's: its event, and its webhook", async () => {
    const posts: { event: string; body: Job }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        posts.push({ event: String(req.headers['bsubio-event']), body: JSON.parse(body) });
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    try {
      const text = `told ${Date.now()}`;
      const first = await api.run('test/upper', text);
      const job = await uploaded(api, 'test/upper', text, { webhook_url: hook });
      const events = await openEvents(`${server.url}/v1/events`, {
        authorization: `Bearer ${server.apiKey}`,
      });
      try {
        expect((await submitted(api, job.id)).cached_from).toBe(first.id);
        for (;;) {
          const event = await events.next();
          if (!event) throw new Error('the event stream ended');
          if (event.event !== 'job') continue;
          const seen = JSON.parse(event.data) as Job;
          if (seen.id === job.id && seen.status === 'finished') {
            expect(seen.cached).toBe(true);
            break;
          }
        }
      } finally {
        events.close();
      }
      const deadline = Date.now() + 30_000;
      while (posts.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(posts).toHaveLength(1);
      expect(posts[0]!.event).toBe('job.finished');
      expect(posts[0]!.body).toMatchObject({
        id: job.id,
        status: 'finished',
        cached: true,
        cached_from: first.id,
      });
    } finally {
      receiver.close();
    }
  });

  it('never caches a type the catalog does not declare cacheable', async () => {
    const { body } = await api.json<{ types: { type: string; cacheable?: boolean }[] }>('/v1/types');
    const listed = new Map(body.types.map((t) => [t.type, t.cacheable]));
    expect(listed.get('pdf/extract')).toBe(true);
    expect(listed.get('test/upper')).toBe(true);
    expect(listed.get('passthru')).toBeUndefined();
    const text = `passthru ${Date.now()}`;
    await api.run('passthru', text);
    const again = await uploaded(api, 'passthru', text);
    expect((await submitted(api, again.id)).cached).toBe(false);
    expect((await api.waitTerminal(again.id)).attempts).toBe(1);
  });

  it("keeps a cached job's output when the job it came from is deleted, and frees it with the last", async () => {
    const text = `shared output ${Date.now()}`;
    const first = await api.run('test/upper', text);
    const second = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
    expect(second.cached_from).toBe(first.id);
    const blobsDir = join(server.dataDir, 'blobs');
    const inputFile = join(blobsDir, 'cas', sha256(text).slice(0, 2), sha256(text));
    expect(existsSync(inputFile)).toBe(true);

    expect((await api.delete(first.id)).status).toBe(204);
    expect((await output(api, second.id)).toString()).toBe(`>${text.toUpperCase()}`);
    expect((await api.request(`/v1/jobs/${second.id}/input`)).status).toBe(200);
    // A third job now hits the cached job itself: the same output still.
    const third = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
    expect(third.cached_from).toBe(second.id);

    expect((await api.delete(second.id)).status).toBe(204);
    expect((await output(api, third.id)).toString()).toBe(`>${text.toUpperCase()}`);
    expect((await api.delete(third.id)).status).toBe(204);
    // Nothing of the three is left: not the input, not the first job's output.
    expect(existsSync(inputFile)).toBe(false);
    expect(existsSync(join(blobsDir, 'jobs', first.id))).toBe(false);
  });

  it('stores one copy of an input that 100 jobs upload, and counts it for each', async () => {
    const input = new Uint8Array(10 * 1024 * 1024);
    for (let i = 0; i < input.length; i += 4096) input[i] = (i / 4096) % 251;
    const digest = sha256(input);
    const jobs: Job[] = [];
    for (let i = 0; i < 100; i += 10) {
      jobs.push(...(await Promise.all(Array.from({ length: 10 }, () => uploaded(api, 'passthru', input)))));
    }
    for (const job of jobs) expect((await api.get(job.id)).data_size).toBe(input.length);
    const cas = filesUnder(join(server.dataDir, 'blobs', 'cas'));
    const copies = cas.filter((f) => f.endsWith(digest));
    expect(copies).toHaveLength(1);
    // Disk use of all the blobs: one 10 MiB input, not 100.
    const bytes = filesUnder(join(server.dataDir, 'blobs')).reduce((n, f) => n + statSync(f).blocks * 512, 0);
    expect(bytes).toBeLessThan(2 * input.length);
    expect(filesUnder(join(server.dataDir, 'tmp'))).toEqual([]);

    // Each job reads it back whole; cancelling and deleting them all frees it.
    const back = Buffer.from(await (await api.request(`/v1/jobs/${jobs[57]!.id}/input`)).arrayBuffer());
    expect(sha256(back)).toBe(digest);
    for (const job of jobs) {
      expect((await api.cancel(job.id)).status).toBe(200);
      expect((await api.delete(job.id)).status).toBe(204);
    }
    expect(existsSync(copies[0]!)).toBe(false);
  }, 240_000);

  it('loses no blob and leaves none behind when deletes race new references', async () => {
    const text = `racing ${Date.now()}`;
    const key = sha256(text);
    const inputFile = join(server.dataDir, 'blobs', 'cas', key.slice(0, 2), key);
    for (let round = 0; round < 4; round++) {
      // Jobs that end (the first runs, the rest hit it) and will be deleted...
      const source = await api.run('test/upper', text);
      const old = [source];
      for (let i = 0; i < 5; i++)
        old.push(await submitted(api, (await uploaded(api, 'test/upper', text)).id));
      // ...while new jobs upload the same input and hit the cache from them.
      const fresh = await Promise.all([
        ...old.map(async (job) => {
          expect((await api.delete(job.id)).status).toBe(204);
          return undefined;
        }),
        ...Array.from({ length: 6 }, async () => {
          const job = await uploaded(api, 'test/upper', text);
          const done = await submitted(api, job.id);
          return done.cached ? done : api.waitTerminal(job.id);
        }),
      ]);
      const kept = fresh.filter((j): j is Job => typeof j === 'object' && j !== null);
      expect(kept).toHaveLength(6);
      for (const job of kept) {
        expect(job.status).toBe('finished');
        expect((await output(api, job.id)).toString()).toBe(`>${text.toUpperCase()}`);
        expect((await api.request(`/v1/jobs/${job.id}/input`)).status).toBe(200);
      }
      expect(existsSync(inputFile)).toBe(true);
      await Promise.all(kept.map(async (job) => expect((await api.delete(job.id)).status).toBe(204)));
      expect(existsSync(inputFile)).toBe(false);
    }
    // Nothing left aside or half-written either.
    expect(filesUnder(join(server.dataDir, 'tmp'))).toEqual([]);
    expect(server.stderr()).not.toMatch(/"level":50/);
  }, 240_000);

  it('misses once the type definition changes', async () => {
    const text = `definition ${Date.now()}`;
    const first = await api.run('test/upper', text);
    expect(first.status).toBe('finished');
    // The same output, by another command: another version of the type.
    server = await server.restart({
      BSUBIO_TYPES_FILE: upperTypes('printf "%s" "$1"; tr "[:lower:]" "[:upper:]" < "$0"'),
    });
    api = new Api(server.url, server.apiKey);
    const again = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
    expect(again.cached).toBe(false);
    expect((await api.waitTerminal(again.id)).attempts).toBe(1);
    expect((await output(api, again.id)).toString()).toBe(`>${text.toUpperCase()}`);
  }, 150_000);
});

describe('jobs stored before content addressing (blobs under jobs/<id>/)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(START);
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('keeps their inputs and outputs readable, runs them, and deletes their files', async () => {
    let api = new Api(server.url, server.apiKey);
    const userId = (await api.create('passthru')).user_id;
    await server.stop();
    // Two jobs as the server wrote them before migration 0012: per-job keys,
    // no SHA-256, no cache key (the migration adds those columns empty).
    const db = new Database(join(server.dataDir, 'bsubio.db'));
    const now = Date.now();
    const legacy = (status: string, files: Record<string, string>) => {
      const id = uuidv7();
      mkdirSync(join(server.dataDir, 'blobs', 'jobs', id), { recursive: true });
      for (const [name, content] of Object.entries(files))
        writeFileSync(join(server.dataDir, 'blobs', 'jobs', id, name), content);
      const key = (kind: string) => {
        const name = Object.keys(files).find((n) => n.startsWith(kind));
        return name ? `jobs/${id}/${name}` : null;
      };
      db.prepare(
        `INSERT INTO jobs (id, user_id, type, status, params, data_size, input_key, output_key, output_size,
           created_at, updated_at, finished_at)
         VALUES (?, ?, 'passthru', ?, '{}', ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        userId,
        status,
        files['input-0a1b2c3d']?.length ?? 0,
        key('input'),
        key('output'),
        status === 'finished' ? (files['output-4e5f6a7b']?.length ?? 0) : null,
        now,
        now,
        status === 'finished' ? now : null,
      );
      return id;
    };
    const finished = legacy('finished', { 'input-0a1b2c3d': 'old input', 'output-4e5f6a7b': 'old input' });
    const loaded = legacy('loaded', { 'input-0a1b2c3d': 'waiting input' });
    db.close();

    server = await server.restart();
    api = new Api(server.url, server.apiKey);
    expect((await output(api, finished)).toString()).toBe('old input');
    const input = await api.request(`/v1/jobs/${loaded}/input`);
    expect(await input.text()).toBe('waiting input');
    expect((await api.submit(loaded)).status).toBe(200);
    expect((await api.waitTerminal(loaded)).status).toBe('finished');
    expect((await output(api, loaded)).toString()).toBe('waiting input');

    for (const id of [finished, loaded]) {
      expect((await api.delete(id)).status).toBe(204);
      expect(existsSync(join(server.dataDir, 'blobs', 'jobs', id))).toBe(false);
    }
  }, 150_000);
});

describe('result cache across users (BSUBIO_CACHE=shared)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      ...START,
      env: { BSUBIO_TYPES_FILE: upperTypes(), BSUBIO_CACHE: 'shared' },
    });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it("answers another user's identical job without naming the job it came from", async () => {
    const api = new Api(server.url, server.apiKey);
    const text = `shared ${Date.now()}`;
    const first = await api.run('test/upper', text);
    const other = new Api(server.url, await server.addUser(`shared-${Date.now()}@example.com`));
    const theirs = await submitted(other, (await uploaded(other, 'test/upper', text)).id);
    expect(theirs.cached).toBe(true);
    expectNotRun(theirs);
    expect(theirs.cached_from).toBeNull();
    expect(await (await other.request(`/v1/jobs/${theirs.id}/logs`)).text()).toBe('served from cache\n');
    expect((await output(other, theirs.id)).toString()).toBe(`>${text.toUpperCase()}`);
    // The owner's own repeat still names its job.
    const mine = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
    expect(mine.cached_from).toBe(first.id);
  });
});

describe('result cache off (BSUBIO_CACHE=off)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      ...START,
      env: { BSUBIO_TYPES_FILE: upperTypes(), BSUBIO_CACHE: 'off', BSUBIO_MAX_STORED_BYTES: '3000' },
    });
  }, 150_000);
  afterAll(() => server?.cleanup());

  it('runs every job, and still stores a repeated input once', async () => {
    const api = new Api(server.url, server.apiKey);
    const text = `off ${Date.now()}`;
    await api.run('test/upper', text);
    const again = await api.run('test/upper', text);
    expect(again.cached).toBe(false);
    expect(again.attempts).toBe(1);
    expect(
      filesUnder(join(server.dataDir, 'blobs', 'cas')).filter((f) => f.endsWith(sha256(text))),
    ).toHaveLength(1);
  });

  it("counts a shared input in each job's storage quota: what the user sees, not the disk", async () => {
    const api = new Api(server.url, await server.addUser(`quota-${Date.now()}@example.com`));
    const input = 'q'.repeat(1000);
    for (let i = 0; i < 3; i++) await uploaded(api, 'passthru', input);
    const fourth = await api.create('passthru');
    const res = await api.upload(fourth, input);
    expect(res.status).toBe(413);
    expect(JSON.stringify(res.body)).toMatch(/storage limit of 3000 bytes.*keep 3000 bytes/);
  });
});

describe('result cache and shared blobs on PostgreSQL and S3 (cluster mode)', () => {
  let postgres: TestPostgres | undefined;
  let s3: TestS3 | undefined;
  let server: TestServer;
  let bucket: S3Client;
  const BUCKET = 'bsubio-cache-test';

  beforeAll(async () => {
    [postgres, s3] = await Promise.all([startPostgres(), startS3()]);
    bucket = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await bucket.send(new CreateBucketCommand({ Bucket: BUCKET }));
    server = await startServer({
      ...START,
      env: {
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        BSUBIO_DATABASE_URL: await postgres.createDatabase('cache'),
        BSUBIO_BLOB_URL: `s3://${BUCKET}?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1`,
        BSUBIO_TYPES_FILE: upperTypes(),
      },
    });
  }, 300_000);
  afterAll(async () => {
    await server?.cleanup();
    await Promise.all([postgres?.stop(), s3?.stop()]);
  }, 120_000);

  async function objects(): Promise<string[]> {
    const page = await bucket.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    return (page.Contents ?? []).map((o) => o.Key!);
  }

  it('hits, stores a repeated input once, and leaves the bucket empty once every job is deleted', async () => {
    const api = new Api(server.url, server.apiKey);
    const text = `cluster ${Date.now()}`;
    const first = await api.run('test/upper', text);
    expect(first.status).toBe('finished');
    const jobs = [first];
    for (let i = 0; i < 3; i++) {
      const hit = await submitted(api, (await uploaded(api, 'test/upper', text)).id);
      expect(hit.cached_from).toBe(first.id);
      expectNotRun(hit);
      jobs.push(hit);
    }
    const keys = await objects();
    expect(keys.filter((k) => k.startsWith('cas/'))).toEqual([
      `cas/${sha256(text).slice(0, 2)}/${sha256(text)}`,
    ]);
    expect(keys.filter((k) => k.startsWith('tmp/') || k.startsWith('removing/'))).toEqual([]);

    // The source goes first; the cached jobs keep reading its output and the shared input.
    expect((await api.delete(first.id)).status).toBe(204);
    for (const job of jobs.slice(1)) {
      expect((await output(api, job.id)).toString()).toBe(`>${text.toUpperCase()}`);
      expect((await api.request(`/v1/jobs/${job.id}/input`)).status).toBe(200);
    }
    await Promise.all(jobs.slice(1).map(async (job) => expect((await api.delete(job.id)).status).toBe(204)));
    expect(await objects()).toEqual([]);
  }, 120_000);

  it('finishes removals and uploads a crashed replica left once they are old enough: back when in use, else gone', async () => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    const store = new S3BlobStore(
      `s3://${BUCKET}?endpoint=${encodeURIComponent(s3!.endpoint)}&region=us-east-1`,
      tmpdir(),
    );
    const used = `cas/aa/${'a'.repeat(64)}`;
    const unused = `cas/bb/${'b'.repeat(64)}`;
    await store.put(`removing/1/${used}`, Readable.from([Buffer.from('still needed')]));
    await store.put(`removing/2/${unused}`, Readable.from([Buffer.from('not needed')]));
    await store.put('tmp/3', Readable.from([Buffer.from('a staged upload a crash left')]));
    const inUse = async (key: string) => key === used;
    // Moved aside just now: maybe a live replica's removal in flight, so left alone.
    await store.recoverRemovals(inUse, Date.now() - 60_000);
    expect(await objects()).toHaveLength(3);
    await store.recoverRemovals(inUse, Date.now() + 60_000);
    expect(await objects()).toEqual([used]);
    const back = await store.open(used);
    expect(Buffer.concat(await back!.stream.toArray()).toString()).toBe('still needed');
    await store.delete(used);
  });
});
