/**
 * What the dashboard's previews need from output and logs, over real HTTP:
 * a Range request gets only the bytes it names (206 with Content-Range, or
 * 416 past the end), and an HTML output can be shown inline in a frame with
 * its own styles under its own strict policy, signed in by the session
 * cookie alone. (The same ranges on S3 storage: cluster.test.ts.)
 */
import type { Job } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

const MIB = 1024 * 1024;
const HTML = '<!doctype html><style>p { color: rebeccapurple }</style><p>styled</p>';

let server: TestServer;
let api: Api;

beforeAll(async () => {
  const types = writeTypesFile([
    {
      ...shellType(
        'test/big',
        'Big text',
        'Writes 3 MiB of numbered lines (2 MiB of them to stderr), then stops.',
        // 32-byte lines: line i starts at byte 32*i, so any range can be checked by arithmetic.
        'i=0; while [ $i -lt 98304 ]; do printf "%031d\\n" $i; i=$((i+1)); done; ' +
          'i=0; while [ $i -lt 65536 ]; do printf "%031d\\n" $i; i=$((i+1)); done >&2',
      ),
      requires: ['sh', 'printf'],
    },
    { ...shellType('test/empty', 'Nothing', 'Writes nothing.', 'true'), requires: ['sh', 'true'] },
    {
      ...shellType('test/html', 'HTML page', 'Writes a page with its own CSS.', `printf '%s' '${HTML}'`),
      mime_out: ['text/html'],
      ext: '.html',
      display: 'html',
      requires: ['sh', 'printf'],
    },
    shellType(
      'test/long',
      'Long copy',
      'Logs a start line, sleeps 30 s, then copies the input.',
      'echo started >&2; sleep 30; cat "$0"',
    ),
  ]);
  server = await startServer({ env: { BSUBIO_TYPES_FILE: types, BSUBIO_WORKERS: '2' } });
  api = new Api(server.url, server.apiKey);
}, 150_000);
afterAll(() => server?.cleanup());

const line = (i: number) => `${String(i).padStart(31, '0')}\n`;

async function ranged(path: string, range: string) {
  const res = await api.request(path, { headers: { range } });
  const body = Buffer.from(await res.arrayBuffer());
  return { res, body };
}

describe('Range on output and logs', () => {
  let big: Job;
  beforeAll(async () => {
    big = await api.run('test/big', 'x');
    expect(big.status).toBe('finished');
    expect(big.output_size).toBe(3 * MIB);
  }, 120_000);

  it('sends only the first MiB of a 3 MiB output when asked', async () => {
    const { res, body } = await ranged(`/v1/jobs/${big.id}/output`, `bytes=0-${MIB - 1}`);
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 0-${MIB - 1}/${3 * MIB}`);
    expect(res.headers.get('content-length')).toBe(String(MIB));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(body.length).toBe(MIB);
    expect(body.subarray(0, 32).toString()).toBe(line(0));
    expect(body.subarray(MIB - 32).toString()).toBe(line(MIB / 32 - 1));
  });

  it('serves an open end, a suffix and a range past the end clamped to the size', async () => {
    const open = await ranged(`/v1/jobs/${big.id}/output`, `bytes=${3 * MIB - 64}-`);
    expect(open.res.status).toBe(206);
    expect(open.body.toString()).toBe(line(98302) + line(98303));
    const suffix = await ranged(`/v1/jobs/${big.id}/output`, 'bytes=-32');
    expect(suffix.res.headers.get('content-range')).toBe(`bytes ${3 * MIB - 32}-${3 * MIB - 1}/${3 * MIB}`);
    expect(suffix.body.toString()).toBe(line(98303));
    const clamped = await ranged(`/v1/jobs/${big.id}/output`, `bytes=${32 * 7}-${10 * MIB}`);
    expect(clamped.res.status).toBe(206);
    expect(clamped.body.length).toBe(3 * MIB - 32 * 7);
    expect(clamped.body.subarray(0, 32).toString()).toBe(line(7));
  });

  it('answers a range that starts past the end with 416 and the size', async () => {
    const res = await api.request(`/v1/jobs/${big.id}/output`, { headers: { range: `bytes=${3 * MIB}-` } });
    expect(res.headers.get('content-range')).toBe(`bytes */${3 * MIB}`);
    await expectError(res, 416, /past the end.*3145728 bytes/);
  });

  it('ignores Range headers it does not serve (several ranges, other units, nonsense) and sends it all', async () => {
    for (const range of ['bytes=0-1,5-6', 'lines=1-2', 'bytes=9-3', 'nonsense']) {
      const { res, body } = await ranged(`/v1/jobs/${big.id}/output`, range);
      expect(res.status, range).toBe(200);
      expect(body.length).toBe(3 * MIB);
    }
    const whole = await api.request(`/v1/jobs/${big.id}/output`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    await whole.arrayBuffer();
  });

  it("serves ranges of stored logs, of a running job's live log, and an empty output whole", async () => {
    const logs = await ranged(`/v1/jobs/${big.id}/logs`, 'bytes=32-63');
    expect(logs.res.status).toBe(206);
    expect(logs.res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(logs.res.headers.get('content-range')).toBe(`bytes 32-63/${2 * MIB}`);
    expect(logs.body.toString()).toBe(line(1));

    const long = await api.create('test/long');
    expect((await api.upload(long, 'x')).status).toBe(200);
    expect((await api.submit(long.id)).status).toBe(200);
    const deadline = Date.now() + 30_000;
    let live: Awaited<ReturnType<typeof ranged>>;
    for (;;) {
      live = await ranged(`/v1/jobs/${long.id}/logs`, 'bytes=0-2');
      if (live.res.status === 206 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(live.res.status).toBe(206);
    expect(live.res.headers.get('content-range')).toBe('bytes 0-2/8');
    expect(live.body.toString()).toBe('sta');
    await expectError(
      api.request(`/v1/jobs/${long.id}/logs`, { headers: { range: 'bytes=8-' } }),
      416,
      /8 bytes/,
    );
    await api.cancel(long.id);

    const empty = await api.run('test/empty', 'x');
    const none = await ranged(`/v1/jobs/${empty.id}/output`, 'bytes=0-1023');
    expect(none.res.status).toBe(200);
    expect(none.body.length).toBe(0);
  }, 60_000);
});

it('describes Range and inline in the served OpenAPI document', async () => {
  const yaml = await (await fetch(`${server.url}/static/openapi.yaml`)).text();
  for (const needle of ['name: Range', 'name: inline', 'Content-Range', "frame-ancestors 'self'"]) {
    expect(yaml, needle).toContain(needle);
  }
  expect(yaml).toMatch(/['"]206['"]:/);
  expect(yaml).toMatch(/['"]416['"]:/);
});

describe('inline output for the preview frame', () => {
  let page: Job;
  let cookie: string;
  let owner: Api;
  beforeAll(async () => {
    const user = await signIn();
    cookie = user.cookie;
    owner = api.withKey(user.key);
    page = await owner.run('test/html', 'x');
    expect(page.status).toBe('finished');
  }, 120_000);

  it('serves HTML inline with its own sandboxing policy, to the session cookie alone', async () => {
    // What an <iframe src> sends: the cookie, no Authorization, no CSRF header.
    const res = await fetch(`${server.url}/v1/jobs/${page.id}/output?inline=1`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(HTML);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(
      "sandbox; default-src 'none'; style-src 'unsafe-inline' data:; img-src data:; font-src data:; frame-ancestors 'self'",
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toMatch(/^inline; filename=".*\.html"$/);
  });

  it('lets the same cookie open the event stream, as an EventSource in the dashboard does', async () => {
    const res = await fetch(`${server.url}/v1/events`, { headers: { cookie, accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toMatch(/^id: \S+\nevent: ready\ndata: \{\}\n\n/);
    await reader.cancel();
  });

  it('keeps downloads as attachments, and refuses a bad inline value or no sign-in', async () => {
    const download = await owner.request(`/v1/jobs/${page.id}/output`);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; /);
    expect(download.headers.get('content-security-policy')).toBeNull();
    await download.text();
    await expectError(owner.request(`/v1/jobs/${page.id}/output?inline=yes`), 400, /inline/);
    await expectError(fetch(`${server.url}/v1/jobs/${page.id}/output?inline=1`), 401);
  });
});

/** A user with a password, signed in: its API key and the session cookie. */
async function signIn(): Promise<{ key: string; cookie: string }> {
  const email = 'preview@example.com';
  const password = 'correct horse battery';
  const key = await server.addUser(email, password);
  const res = await fetch(`${server.url}/v1/auth/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bsubio-csrf': '1' },
    body: JSON.stringify({ email, password }),
  });
  expect(res.status).toBe(200);
  const token = /bsubio_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
  return { key, cookie: `bsubio_session=${token}` };
}

describe('the input, to download it or run it again', () => {
  it('serves the input as uploaded, with its name and ranges, to its owner only', async () => {
    const content = 'the input as the user sent it\n'.repeat(100);
    const created = await api.run('test/empty', content, 'report.txt');
    expect(created.status).toBe('finished');
    const res = await api.request(`/v1/jobs/${created.id}/input`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="report.txt"');
    expect(await res.text()).toBe(content);
    const { res: part, body } = await ranged(`/v1/jobs/${created.id}/input`, 'bytes=0-29');
    expect(part.status).toBe(206);
    expect(body.toString()).toBe('the input as the user sent it\n');
    const stranger = new Api(server.url, await server.addUser('input-stranger@example.com'));
    await expectError(stranger.request(`/v1/jobs/${created.id}/input`), 404);
  });

  it('answers 409 while a job has no input yet', async () => {
    const job = await api.create('test/empty');
    await expectError(api.request(`/v1/jobs/${job.id}/input`), 409, /has no input yet/);
  });
});
