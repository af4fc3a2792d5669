/**
 * BsubClient against a real bsubio server: configuration the way the
 * official SDKs load it, processFile with every kind of input and output,
 * createAndSubmit, waitForJob (with and without the server's wait
 * extension) and the iterator over jobs.
 */
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BsubClient, BsubError, type ProgressEvent, pipeline } from 'bsubio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy.js';
import { STARTUP_MS } from './helpers/startup.js';

let server: TestServer;
let client: BsubClient;
let dir: string;
/** A HOME whose config file points at the test server. */
let home: string;
let proxy: FaultProxy | undefined;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
  dir = mkdtempSync(join(tmpdir(), 'bsubio-sdk-'));
  home = join(dir, 'home');
  mkdirSync(join(home, '.config', 'bsubio'), { recursive: true });
  writeFileSync(
    join(home, '.config', 'bsubio', 'config.json'),
    JSON.stringify({ api_key: server.apiKey, base_url: server.url }),
  );
}, STARTUP_MS + 30_000);
afterAll(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Run `fn` with HOME and BSUBIO_* set as given, then restore them. */
function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(env);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

describe('configuration', () => {
  it('reads ~/.config/bsubio/config.json ({"api_key", "base_url"}, as the CLI writes it)', async () => {
    const fromFile = withEnv({ HOME: home, BSUBIO_API_KEY: undefined, BSUBIO_BASE_URL: undefined }, () => {
      return new BsubClient();
    });
    expect(fromFile.configuration.host).toBe(server.url);
    expect(fromFile.configuration.accessToken).toBe(server.apiKey);
    expect((await fromFile.jobs.listJobs()).success).toBe(true);
  });

  it('BSUBIO_API_KEY and BSUBIO_BASE_URL override the file; explicit options override both', async () => {
    proxy = await startFaultProxy(server.url);
    const fromEnv = withEnv(
      { HOME: home, BSUBIO_BASE_URL: proxy.url, BSUBIO_API_KEY: 'bsub_from_env' },
      () => new BsubClient(),
    );
    expect(fromEnv.configuration.host).toBe(proxy.url);
    await expect(fromEnv.jobs.listJobs()).rejects.toMatchObject({ kind: 'auth' });
    expect(proxy.seen).toEqual(['GET /v1/jobs']);

    const explicit = withEnv(
      { HOME: home, BSUBIO_BASE_URL: proxy.url, BSUBIO_API_KEY: 'bsub_from_env' },
      () => new BsubClient({ baseUrl: server.url, apiKey: server.apiKey }),
    );
    expect((await explicit.jobs.listJobs()).success).toBe(true);
    expect(proxy.seen).toHaveLength(1);
  });

  it('with no file and no environment the host is the public service', () => {
    const empty = mkdtempSync(join(tmpdir(), 'bsubio-empty-home-'));
    const bare = withEnv(
      { HOME: empty, BSUBIO_API_KEY: undefined, BSUBIO_BASE_URL: undefined },
      () => new BsubClient(),
    );
    expect(bare.configuration.host).toBe('https://app.bsub.io');
    expect(bare.configuration.accessToken).toBeUndefined();
    rmSync(empty, { recursive: true });
  });
});

describe('processFile', () => {
  const json = '{"b":[1,2],"a":null}';
  const pretty = `${JSON.stringify(JSON.parse(json), null, 2)}`;

  it('takes a file path, reports its stages, and returns job, output and logs', async () => {
    const path = join(dir, 'data.json');
    writeFileSync(path, json);
    const events: ProgressEvent[] = [];
    const result = await client.processFile('json_format', path, { onProgress: (e) => events.push(e) });
    expect(result.job.status).toBe('finished');
    expect(result.job.input_name).toBe('data.json');
    expect(text(result.output).trim()).toBe(pretty);
    expect(result.logs).toBe('');
    const stages = [...new Set(events.map((e) => e.stage))];
    expect(stages).toEqual(['uploading', 'waiting', 'downloading']);
    const lastUpload = events.filter((e) => e.stage === 'uploading').at(-1);
    expect(lastUpload).toMatchObject({ sent: json.length, total: json.length });
  });

  it('makes one request per step and no more: create, upload, submit, wait, output, logs', async () => {
    const calls: string[] = [];
    const counting = new BsubClient({
      baseUrl: server.url,
      apiKey: server.apiKey,
      fetch: (input, init) => {
        const url = new URL(String(input instanceof Request ? input.url : input));
        calls.push(`${init?.method ?? 'GET'} ${url.pathname.replace(/[0-9a-f-]{36}/, '{id}')}`);
        return globalThis.fetch(input, init);
      },
    });
    const result = await counting.processFile('test/linecount', Buffer.from('one\ntwo\n'));
    expect(text(result.output).trim()).toBe('2');
    expect(calls).toEqual([
      'POST /v1/jobs',
      'POST /v1/upload/{id}',
      'POST /v1/jobs/{id}/submit',
      'GET /v1/jobs/{id}',
      'GET /v1/jobs/{id}/output',
      'GET /v1/jobs/{id}/logs',
    ]);
  });

  it("takes a pipeline built with pipeline().pipe(): one job, the last step's output", async () => {
    const chain = pipeline('passthru').pipe('json_format').pipe('test/linecount');
    expect(String(chain)).toBe('passthru → json_format → test/linecount');
    expect(chain.toRequest()).toEqual({
      type: 'passthru',
      // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
      then: [{ type: 'json_format' }, { type: 'test/linecount' }],
    });
    const result = await client.processFile(chain, Buffer.from(json), { fileName: 'data.json' });
    expect(result.job).toMatchObject({
      type: 'passthru',
      status: 'finished',
      step: 3,
      steps: [
        { type: 'passthru', status: 'done' },
        { type: 'json_format', status: 'done' },
        { type: 'test/linecount', status: 'done' },
      ],
    });
    // json_format's pretty print of the input, counted.
    expect(text(result.output).trim()).toBe(String(pretty.split('\n').length));
    expect(result.logs).toContain('== step 3/3: test/linecount ==');
  });

  it('a pipeline that cannot run is refused at create, naming the step, and leaves no job', async () => {
    const before = (await client.jobs.listJobs({ limit: 1 })).data.total;
    const error = await client
      .processFile(pipeline('test/linecount').pipe('pdf/extract'), Buffer.from('x'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BsubError);
    expect((error as BsubError).message).toMatch(
      /Step 2 \(pdf\/extract\) does not accept plain text \(text\/plain\), which step 1 \(test\/linecount\) produces/,
    );
    expect((await client.jobs.listJobs({ limit: 1 })).data.total).toBe(before);
  });

  it('takes a Blob, a Buffer, a web ReadableStream and a Node Readable', async () => {
    const inputs = {
      blob: new Blob([json], { type: 'application/json' }),
      buffer: Buffer.from(json),
      webStream: new Blob([json]).stream(),
      nodeStream: (() => {
        const s = new PassThrough();
        s.end(json);
        return s;
      })(),
    };
    for (const [kind, input] of Object.entries(inputs)) {
      const { output, job } = await client.processFile('json_format', input);
      expect(text(output).trim(), kind).toBe(pretty);
      expect(job.data_size, kind).toBe(json.length);
    }
  });

  it('passes a binary file through byte for byte from a read stream', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7919) % 256);
    const path = join(dir, 'random.bin');
    writeFileSync(path, bytes);
    const { output } = await client.processFile('passthru', createReadStream(path), {
      fileName: 'random.bin',
    });
    expect(Buffer.compare(Buffer.from(output), Buffer.from(bytes))).toBe(0);
  });

  it('streams the output to a file path, or to a WritableStream, instead of returning it', async () => {
    const out = join(dir, 'out.json');
    const saved = await client.processFile('json_format', Buffer.from(json), { outputTo: out });
    expect(saved.outputBytes).toBe(readFileSync(out).length);
    expect(readFileSync(out, 'utf8').trim()).toBe(pretty);
    expect('output' in saved).toBe(false);

    const chunks: Uint8Array[] = [];
    const sink = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) });
    await client.processFile('passthru', Buffer.from('to a stream'), { outputTo: sink });
    expect(Buffer.concat(chunks).toString()).toBe('to a stream');
  });
});

describe('createAndSubmit, waitForJob, downloadOutput', () => {
  it('createAndSubmit returns the submitted job; waitForJob resolves when it finishes', async () => {
    const job = await client.createAndSubmit('passthru', Buffer.from('hello'), { name: 'greeting' });
    expect(['pending', 'claimed', 'preparing', 'processing', 'finished']).toContain(job.status);
    expect(job.name).toBe('greeting');
    const done = await client.waitForJob(job.id);
    expect(done.status).toBe('finished');
    const saved = join(dir, 'hello.txt');
    const result = await client.downloadOutput(done.id, saved);
    expect(result.bytes).toBe(5);
    expect(readFileSync(saved, 'utf8')).toBe('hello');
  });

  it('waitForJob returns a failed job rather than throwing', async () => {
    const job = await client.createAndSubmit('json_format', Buffer.from('[1,'));
    const done = await client.waitForJob(job.id);
    expect(done.status).toBe('failed');
    expect(done.error_code).toBe('EEXIT');
  });

  it('waitForJob holds one ?wait= request on the server instead of polling', async () => {
    proxy = await startFaultProxy(server.url);
    const viaProxy = new BsubClient({ baseUrl: proxy.url, apiKey: server.apiKey });
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    await client.jobs.uploadJobData(job.id, job.upload_token!, Buffer.from('x'));
    const waiting = viaProxy.waitForJob(job.id, { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1500));
    await client.jobs.submitJob(job.id);
    expect((await waiting).status).toBe('finished');
    expect(proxy.seen).toEqual([`GET /v1/jobs/${job.id}?wait=20`]);
  });

  it('waitForJob falls back to polling with backoff when the server ignores ?wait=', async () => {
    proxy = await startFaultProxy(server.url);
    proxy.rewrite((url) => url.searchParams.delete('wait'));
    const viaProxy = new BsubClient({ baseUrl: proxy.url, apiKey: server.apiKey });
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    await client.jobs.uploadJobData(job.id, job.upload_token!, Buffer.from('x'));
    const statuses: string[] = [];
    let sawFirst!: () => void;
    const firstSeen = new Promise<void>((resolve) => {
      sawFirst = resolve;
    });
    const waiting = viaProxy.waitForJob(job.id, {
      onStatus: (j) => {
        statuses.push(j.status);
        sawFirst();
      },
    });
    await firstSeen;
    await new Promise((r) => setTimeout(r, 1500));
    await client.jobs.submitJob(job.id);
    expect((await waiting).status).toBe('finished');
    expect(statuses[0]).toBe('loaded');
    expect(statuses.at(-1)).toBe('finished');
    // Asked to wait once, learnt the server answered at once, then polled
    // without ?wait=, backing off: a handful of requests, not a busy loop.
    expect(proxy.seen[0]).toMatch(/\?wait=/);
    expect(proxy.seen.slice(1).filter((r) => r.includes('wait='))).toEqual([]);
    expect(proxy.seen.length).toBeGreaterThan(2);
    expect(proxy.seen.length).toBeLessThan(20);
  });

  it('waitForJob gives up after timeoutMs with kind timeout and the job as last seen', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const started = Date.now();
    const error = await client.waitForJob(job.id, { timeoutMs: 1200 }).catch((e) => e);
    expect(error.kind).toBe('timeout');
    expect(error.job.status).toBe('created');
    // Gave up near the deadline, not after a full 60 s server-side wait.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('waitForJob stops at once when its signal aborts', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const started = Date.now();
    const error = await client.waitForJob(job.id, { signal: AbortSignal.timeout(300) }).catch((e) => e);
    expect(error.kind).toBe('aborted');
    // Not held for the server-side wait (up to 60 s).
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('listAllJobs', () => {
  it('iterates every job of the key, newest first, filtered by status', async () => {
    const own = new BsubClient({ baseUrl: server.url, apiKey: await server.addUser('lister@example.com') });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await own.jobs.createJob({ type: 'passthru' })).data.id);
    await own.jobs.cancelJob(ids[0]!);
    const all: string[] = [];
    for await (const job of own.listAllJobs()) all.push(job.id);
    expect(all).toEqual([...ids].reverse());
    const created: string[] = [];
    for await (const job of own.listAllJobs({ status: 'created' })) created.push(job.id);
    expect(created).toEqual(ids.slice(1).reverse());
  }, 120_000);
});
