/**
 * Hostile HTTP: a property-based fuzzer (fast-check) over every endpoint of
 * API.md and the extensions, sent as raw bytes over TCP so that anything goes:
 * odd methods, malformed ids and paths, huge and duplicated headers, bad
 * Authorization, broken JSON and multipart. Whatever comes in, the server
 * answers below 500, every error is the protocol's JSON error body, nobody
 * sees another user's data, and the server lives on.
 *
 * FUZZ_RUNS=<n> runs more requests, FUZZ_SEED=<n> replays a failing run.
 */
import { connect } from 'node:net';
import { ErrorBodySchema } from '@bsubio/protocol';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;

let server: TestServer;
let port: number;
let alice: Api;
let bob: Api;
let bobKey: string;
/** Everything of alice's that bob must never be shown (unless he sent it himself). */
let aliceSecrets: string[] = [];
let aliceJobs: { created: string; finished: string };
let bobJobs: { id: string; token: string }[] = [];

const UNKNOWN_ID = '01a22254-727e-72a9-8fb5-478d59fc708b';

beforeAll(async () => {
  // The slowloris connections opened below are cut at the headers timeout:
  // 20 s (not the default 60 s, Node's) holds them through the fuzzing without
  // the file waiting a minute and a half for the cut.
  server = await startServer({ env: { BSUBIO_WORKERS: '1', BSUBIO_HEADERS_TIMEOUT: '20s' } });
  port = Number(new URL(server.url).port);
  alice = new Api(server.url, await server.addUser('alice@example.com'));
  bobKey = await server.addUser('bob@example.com');
  bob = new Api(server.url, bobKey);

  const marker = `alice-private-${SEED}`;
  const created = await alice.create('passthru', { name: `${marker}-name` });
  const finished = await alice.run('passthru', `${marker}-content`);
  aliceJobs = { created: created.id, finished: finished.id };
  aliceSecrets = [marker, created.id, finished.id, created.upload_token!, created.user_id, alice.key];

  // Bob has jobs of his own in every kind of state, so that some fuzzed
  // requests reach the routes' real work and not only their 404s.
  const bobCreated = await bob.create('passthru');
  const bobFinished = await bob.run('passthru', 'bob content');
  const bobCancelled = await bob.create('passthru');
  await bob.cancel(bobCancelled.id);
  bobJobs = [
    { id: bobCreated.id, token: bobCreated.upload_token! },
    { id: bobFinished.id, token: 'used-token' },
    { id: bobCancelled.id, token: bobCancelled.upload_token! },
  ];
  // Opened now, checked by the last test: the headers timeout cuts them off
  // after the fuzzer has run beside them.
  stalled = openStalledConnections();
});
afterAll(() => server?.cleanup());

let stalled: { openedAt: number; closed: Promise<{ got: string; at: number }> }[] = [];

/** Slowloris: connections that send part of their headers and then stall. */
function openStalledConnections(): typeof stalled {
  return Array.from({ length: 20 }, () => {
    const openedAt = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    socket.write(`GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobKey}\r\nX-Slow: `);
    const closed = new Promise<{ got: string; at: number }>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      socket.on('close', () => resolve({ got, at: Date.now() }));
      socket.on('error', () => {});
    });
    return { openedAt, closed };
  });
}

// ---- raw HTTP ---------------------------------------------------------------

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** True when the server sent headers but the body was still streaming at the deadline (SSE, follow). */
  streaming: boolean;
}

/** Send `request` as is and read the answer; the connection is closed afterwards. */
function sendRaw(request: Buffer, timeoutMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const finish = (streaming: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(
          new Error(`no complete answer (${all.length} bytes): ${all.toString('latin1').slice(0, 200)}`),
        );
        return;
      }
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = all.subarray(end + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
      resolve({ status, headers, body, streaming });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => finish(false));
    // A reset after a full answer is fine (the server closes bad connections).
    socket.on('error', () => finish(false));
    socket.write(request);
  });
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer;
  chunked: boolean;
}

function encode(r: FuzzRequest): Buffer {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  if (r.chunked) {
    lines.push('Transfer-Encoding: chunked');
    const chunks = r.body.length
      ? [Buffer.from(`${r.body.length.toString(16)}\r\n`), r.body, Buffer.from('\r\n')]
      : [];
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), ...chunks, Buffer.from('0\r\n\r\n')]);
  }
  if (r.body.length || ['POST', 'PUT', 'PATCH'].includes(r.method))
    lines.push(`Content-Length: ${r.body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), r.body]);
}

// ---- generators -------------------------------------------------------------

const ENDPOINTS: [string[], string][] = [
  [['GET', 'POST'], '/v1/jobs'],
  [['GET', 'DELETE'], '/v1/jobs/{id}'],
  [['POST'], '/v1/jobs/{id}/submit'],
  [['POST'], '/v1/jobs/{id}/cancel'],
  [['GET'], '/v1/jobs/{id}/output'],
  [['GET'], '/v1/jobs/{id}/logs'],
  [['GET'], '/v1/jobs/{id}/events'],
  [['GET'], '/v1/jobs/{id}/deliveries'],
  [['POST'], '/v1/upload/{id}'],
  [['GET'], '/v1/types'],
  [['GET'], '/v1/version'],
  [['GET'], '/static/openapi.yaml'],
  [['GET'], '/docs'],
  [['GET'], '/healthz'],
  [['GET'], '/readyz'],
  [['GET'], '/metrics'],
  [['GET', 'PUT'], '/v1/webhook'],
  [['GET', 'POST', 'DELETE'], '/v1/auth/session'],
  [['GET', 'POST'], '/v1/auth/keys'],
  [['DELETE'], '/v1/auth/keys/{id}'],
  [['POST'], '/v1/auth/device/code'],
  [['POST'], '/v1/auth/device/token'],
  [['GET'], '/v1/auth/device'],
  [['POST'], '/v1/auth/device/approve'],
  [['POST'], '/v1/worker/claim'],
  [['POST'], '/v1/worker/jobs/{id}/lease'],
  [['POST'], '/v1/worker/jobs/{id}/advance'],
  [['GET'], '/v1/worker/jobs/{id}/input'],
  [['PUT'], '/v1/worker/jobs/{id}/output'],
  [['PUT'], '/v1/worker/jobs/{id}/logs'],
  [['POST'], '/v1/worker/jobs/{id}/complete'],
  [['POST'], '/v1/worker/jobs/{id}/release'],
  [['GET'], '/'],
  [['GET'], '/assets/{id}'],
];

const pathSafe = (s: string) => encodeURIComponent(s).replace(/%2F/gi, '/');

function idArb(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(aliceJobs.created, aliceJobs.finished, ...bobJobs.map((j) => j.id), UNKNOWN_ID),
    fc.constantFrom(
      aliceJobs.finished.toUpperCase(),
      `${aliceJobs.finished}x`,
      aliceJobs.finished.slice(0, 35),
    ),
    fc.constantFrom(
      '..',
      '%2e%2e',
      '..%2f..%2fetc%2fpasswd',
      '%00',
      '%',
      '%zz',
      '%C0%AE',
      '%ff%fe',
      'null',
      '-1',
    ),
    fc.constantFrom('x'.repeat(201), 'a'.repeat(5000), '%41'.repeat(300), '🙂'.repeat(20)),
    fc.string({ maxLength: 60 }).map(pathSafe),
    fc.uuid().map((u) => u),
  );
}

const QUERY_KEYS = ['token', 'status', 'limit', 'wait', 'follow', 'last_event_id', 'code', 'worker_id', 'x'];

function queryArb(): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.constantFrom(
      '',
      '0',
      '1',
      '-1',
      '100',
      '101',
      '1e9',
      'NaN',
      'created',
      'finished',
      'bogus',
      '%',
      '%00',
    ),
    fc.constantFrom(...bobJobs.map((j) => j.token)),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.constant('z'.repeat(3000)),
  );
  return fc
    .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), value), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
}

function pathArb(): fc.Arbitrary<{ method: string; path: string }> {
  const method = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
    { weight: 1, arbitrary: fc.constantFrom('get', 'FOO', 'CONNECT', 'TRACE', 'PROPFIND', 'G\tET') },
  );
  const known = fc
    .tuple(
      fc.constantFrom(...ENDPOINTS),
      fc.boolean(),
      idArb(),
      queryArb(),
      fc.constantFrom('', '/', '//', '/extra', '/..'),
    )
    .chain(([[methods, template], right, id, query, suffix]) =>
      (right ? fc.constantFrom(...methods) : method).map((m) => ({
        method: m,
        path: `${template.replace('{id}', id)}${suffix}${query}`,
      })),
    );
  const random = fc
    .tuple(
      method,
      fc.array(fc.oneof(fc.string({ maxLength: 12 }).map(pathSafe), idArb()), { maxLength: 5 }),
      queryArb(),
    )
    .map(([m, segments, query]) => ({ method: m, path: `/${segments.join('/')}${query}` }));
  const odd = fc.constantFrom(
    '*',
    '//v1//jobs',
    '/v1/jobs/../jobs',
    'http://evil.example/v1/jobs',
    '/v1/jobs#frag',
    '/%2e%2e/%2e%2e/etc/passwd',
  );
  return fc.oneof(
    { weight: 6, arbitrary: known },
    { weight: 2, arbitrary: random },
    { weight: 1, arbitrary: fc.tuple(method, odd).map(([m, p]) => ({ method: m, path: p })) },
  );
}

function authArb(): fc.Arbitrary<[string, string][]> {
  const flip = (key: string) => key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant([['Authorization', `Bearer ${bobKey}`]] as [string, string][]) },
    { weight: 2, arbitrary: fc.constant([] as [string, string][]) },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(
          `Bearer ${flip(bobKey)}`,
          `Bearer bsub_000000000000_${'A'.repeat(43)}`,
          `bearer   ${bobKey}   `,
          'Bearer',
          'Bearer ',
          `Basic ${Buffer.from('bob:pw').toString('base64')}`,
          `Bearer ${bobKey} extra`,
          'Bearer bsubw_garbage',
          `Bearer ${'k'.repeat(9000)}`,
          'Bearer \u00ff\u00fe',
        )
        .map((v) => [['Authorization', v]] as [string, string][]),
    },
    // Two Authorization headers, bob's and a bad one, in either order.
    {
      weight: 1,
      arbitrary: fc.constant([
        ['Authorization', 'Bearer nope'],
        ['Authorization', `Bearer ${bobKey}`],
      ] as [string, string][]),
    },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary=XyZ',
  'multipart/form-data; boundary="XyZ"; boundary=other',
  'application/octet-stream',
  'text/plain',
  'application/x-www-form-urlencoded',
  'text/event-stream',
  ';;;',
  'application/json, text/plain',
  'x'.repeat(2000),
];

function otherHeadersArb(): fc.Arbitrary<[string, string][]> {
  const header = fc.oneof(
    fc.constantFrom<[string, string]>(
      ['Cookie', 'bsubio_session=garbage'],
      ['Cookie', `bsubio_session=${'a'.repeat(100)}; other=1`],
      ['x-bsubio-csrf', '1'],
      ['Origin', 'http://evil.example'],
      ['Last-Event-ID', '-5'],
      ['Last-Event-ID', 'abc'],
      ['Last-Event-ID', '99999999999999999999'],
      ['Accept', '*/*'],
      ['Accept-Encoding', 'gzip, br, deflate'],
      ['Range', 'bytes=5-1'],
      ['Range', 'bytes=0-'],
      ['If-None-Match', '*'],
      ['Content-Disposition', 'attachment; filename="../../etc/passwd"'],
      ['X-Forwarded-For', '1.2.3.4, ::1, garbage'],
      ['X-Forwarded-Proto', 'https'],
      ['x-request-id', 'x'.repeat(3000)],
      ['Expect', '100-continue'],
    ),
    // Huge headers: past Node's limit the answer is 431.
    fc.constantFrom<[string, string]>(['X-Huge', 'h'.repeat(20_000)], ['X-Big', 'b'.repeat(8_000)]),
    fc
      .tuple(fc.constantFrom('X-Fuzz', 'Accept', 'User-Agent', 'Referer'), fc.string({ maxLength: 50 }))
      .map(([n, v]) => [n, v.replace(/[\r\n\0]/g, '')] as [string, string]),
  );
  return fc.array(header, { maxLength: 4 });
}

function multipart(
  boundary: string,
  parts: { name: string; filename?: string; body: Buffer }[],
  close: boolean,
) {
  const pieces: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    pieces.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`),
      p.body,
      Buffer.from('\r\n'),
    );
  }
  if (close) pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

function bodyArb(): fc.Arbitrary<{ contentType?: string; body: Buffer }> {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const jsonValue = fc.oneof(
    fc
      .record(
        {
          type: fc.oneof(
            fc.constantFrom('passthru', 'json_format', 'nope', '', 'pdf/extract'),
            fc.anything(),
          ),
          name: fc.oneof(fc.string(), fc.anything()),
          params: fc.oneof(fc.object(), fc.anything()),
          email: fc.constantFrom('alice@example.com', 'bob@example.com', 'x'),
          password: fc.string(),
          api_key: fc.constantFrom(bobKey, 'bsub_x', ''),
          hostname: fc.string(),
          device_code: fc.string(),
          user_code: fc.string(),
          approve: fc.boolean(),
          url: fc.constantFrom(
            'http://127.0.0.1:1/x',
            'https://example.com/hook',
            'file:///etc/passwd',
            'not a url',
          ),
          worker_id: fc.string(),
          lease_ms: fc.integer(),
          types: fc.anything(),
          status: fc.string(),
          to: fc.string(),
          label: fc.string(),
        },
        { requiredKeys: [] },
      )
      .map(json),
    fc.anything().map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')),
    fc
      .constantFrom(
        '{',
        '{"type":',
        '{"type": "passthru"',
        '[]',
        'null',
        '"passthru"',
        '{"__proto__": {"polluted": true}, "type": "passthru"}',
        '{"constructor": {"prototype": {"polluted": true}}}',
        '{"type": "passthru", "type": "json_format"}',
        `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
        '\uFEFF{"type": "passthru"}',
      )
      .map((s) => Buffer.from(s)),
  );
  const boundary = fc.constantFrom('XyZ', 'other', 'x'.repeat(100));
  const partArb = fc.record(
    {
      name: fc.constantFrom('file', 'files', 'type', '', 'file"; filename="x'),
      filename: fc.constantFrom('a.txt', '', '../../../etc/passwd', 'x'.repeat(1000), 'nul\u0000.txt'),
      body: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    },
    { requiredKeys: ['name', 'body'] },
  );
  const form = fc
    .tuple(
      boundary,
      fc.oneof(fc.array(partArb, { maxLength: 3 }), fc.array(partArb, { minLength: 101, maxLength: 120 })),
      fc.boolean(),
    )
    .map(([b, parts, close]) => multipart(b, parts, close));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({ body: Buffer.alloc(0) }) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...CONTENT_TYPES), jsonValue)
        .map(([contentType, body]) => ({ contentType, body })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom('multipart/form-data; boundary=XyZ', ...CONTENT_TYPES), form)
        .map(([contentType, body]) => ({ contentType, body })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.option(fc.constantFrom(...CONTENT_TYPES)), fc.uint8Array({ maxLength: 2000 }))
        .map(([contentType, b]) => ({ contentType: contentType ?? undefined, body: Buffer.from(b) })),
    },
  );
}

function requestArb(): fc.Arbitrary<FuzzRequest> {
  return fc
    .tuple(pathArb(), authArb(), otherHeadersArb(), bodyArb(), fc.nat(20))
    .map(([{ method, path }, auth, others, { contentType, body }, n]) => ({
      method,
      path,
      headers: [
        ...auth,
        ...(contentType ? [['Content-Type', contentType] as [string, string]] : []),
        ...others,
      ],
      body,
      chunked: n === 0,
    }));
}

// ---- invariants --------------------------------------------------------------

/** A secret of alice's in this answer that the request did not carry itself. */
function leakedSecret(request: Buffer, answer: RawAnswer): string | undefined {
  const sent = request.toString('latin1').toLowerCase();
  const got = `${JSON.stringify(answer.headers)}${answer.body.toString('latin1')}`.toLowerCase();
  return aliceSecrets.find((s) => got.includes(s.toLowerCase()) && !sent.includes(s.toLowerCase()));
}

function checkAnswer(r: FuzzRequest, raw: Buffer, answer: RawAnswer): void {
  const what = `${r.method} ${r.path.slice(0, 200)}`;
  expect(answer.status, what).toBeGreaterThanOrEqual(100);
  expect(answer.status, `${what} → ${answer.body.toString().slice(0, 300)}`).toBeLessThan(500);
  expect(leakedSecret(raw, answer), what).toBeUndefined();
  if (answer.status >= 400 && r.method !== 'HEAD') {
    // API.md: every non-2xx answer is application/json {"success": false, "error": "..."}.
    expect(answer.headers['content-type'], `${what} → ${answer.status}`).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body.toString('utf8'));
    const errors = [...Value.Errors(ErrorBodySchema, body)].map((e) => `${e.instancePath}: ${e.message}`);
    expect(errors, `${what} → ${answer.status} ${answer.body.toString().slice(0, 300)}`).toEqual([]);
  }
}

describe('hostile HTTP', () => {
  it(`answers ${RUNS} fuzzed requests below 500, in the error shape, leaking nothing (seed ${SEED})`, async () => {
    console.log(`fuzz: ${RUNS} runs, seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
    await fc.assert(
      fc.asyncProperty(requestArb(), async (r) => {
        const raw = encode(r);
        const answer = await sendRaw(raw);
        checkAnswer(r, raw, answer);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );

    // Alice's jobs are as she left them, and the server is alive and quiet.
    expect((await alice.get(aliceJobs.created)).status).toBe('created');
    const output = await alice.request(`/v1/jobs/${aliceJobs.finished}/output`);
    expect(await output.text()).toBe(`alice-private-${SEED}-content`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.process.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/uncaught|unhandled|"level":(50|60)/i);
  });

  it('answers requests that break HTTP itself with a JSON 4xx, and keeps serving', async () => {
    const cases: [string, Buffer, number][] = [
      [
        'huge header',
        encode({
          method: 'GET',
          path: '/v1/jobs',
          headers: [['X-Huge', 'h'.repeat(40_000)]],
          body: Buffer.alloc(0),
          chunked: false,
        }),
        431,
      ],
      // Past the router's parameter length: a 404 like any unknown job, not Fastify's own 414.
      [
        'id of 300 characters',
        encode({
          method: 'GET',
          path: `/v1/jobs/${'x'.repeat(300)}`,
          headers: [['Authorization', `Bearer ${bobKey}`]],
          body: Buffer.alloc(0),
          chunked: false,
        }),
        404,
      ],
      [
        'bad %-escape in a path',
        encode({
          method: 'GET',
          path: '/v1/jobs/%zz',
          headers: [['Authorization', `Bearer ${bobKey}`]],
          body: Buffer.alloc(0),
          chunked: false,
        }),
        400,
      ],
      ['CONNECT', Buffer.from('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'), 400],
      ['garbage request line', Buffer.from('\u0001\u0002 nonsense\r\n\r\n'), 400],
      ['bad HTTP version', Buffer.from('GET /v1/types HTTP/9.9\r\nHost: x\r\n\r\n'), 400],
      [
        'header without colon',
        Buffer.from('GET /v1/types HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n'),
        400,
      ],
      [
        'both Content-Length and chunked',
        Buffer.from(
          'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        ),
        400,
      ],
      [
        'bad chunk size',
        Buffer.from(
          `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
        400,
      ],
    ];
    for (const [name, raw, status] of cases) {
      const answer = await sendRaw(raw);
      expect(answer.status, name).toBe(status);
      expect(answer.headers['content-type'], name).toMatch(/^application\/json/);
      const errors = [...Value.Errors(ErrorBodySchema, JSON.parse(answer.body.toString()))];
      expect(errors, `${name}: ${answer.body}`).toEqual([]);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('keeps serving while slow clients hold connections, and cuts off a client that never finishes its headers', async () => {
    // A body that stops halfway, and an upload that stops halfway.
    const halfBody = connect({ host: '127.0.0.1', port });
    halfBody.on('error', () => {});
    halfBody.write(
      `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bobKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type": `,
    );
    const upload = await bob.create('passthru');
    const halfUpload = connect({ host: '127.0.0.1', port });
    halfUpload.on('error', () => {});
    halfUpload.write(
      `POST /v1/upload/${upload.id}?token=${upload.upload_token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(5000)}`,
    );

    // Meanwhile everyone else is served as usual.
    for (let i = 0; i < 5; i++) {
      expect((await bob.list()).total).toBeGreaterThan(0);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    }
    const job = await bob.run('passthru', 'served while others stall');
    expect(job.status).toBe('finished');

    // The headers timeout (--headers-timeout, 20 s here, checked every 5 s)
    // closes the stalled connections, with a 408 or without a word, never by
    // crashing.
    const answers = await Promise.all(stalled.map((s) => s.closed));
    for (const [i, { got, at }] of answers.entries()) {
      // Held until the timeout, and cut by it: Node's default (60 s) would come later.
      const heldMs = at - stalled[i]!.openedAt;
      expect(heldMs).toBeGreaterThanOrEqual(19_000);
      expect(heldMs).toBeLessThan(50_000);
      if (got === '') continue;
      expect(got).toMatch(/^HTTP\/1\.1 408 /);
      const body = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4));
      expect([...Value.Errors(ErrorBodySchema, body)]).toEqual([]);
    }
    halfBody.destroy();
    halfUpload.destroy();
    // The half-sent upload left nothing behind: the job is still waiting for its input.
    expect((await bob.get(upload.id)).status).toBe('created');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.process.exitCode).toBeNull();
  });
});
