/**
 * A request whose body stops arriving is answered 408 and dropped after
 * --body-timeout of silence (5 s here: this VM stalls for a second or two at
 * times, and a guard firing during a stall would make the test flaky), and nothing of it is kept; a body
 * that arrives slowly but steadily, a long poll and a kept-alive connection
 * are not cut.
 */
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorBodySchema } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectShape } from './client.js';

let server: TestServer;
let api: Api;
let port: number;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_WORKERS: '1', BSUBIO_BODY_TIMEOUT: '5s' } });
  api = new Api(server.url, server.apiKey);
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server?.cleanup();
});

/** A raw connection, with everything it receives until the server closes it. */
function open(): { socket: Socket; received: () => string; closed: Promise<string> } {
  const socket = connect({ host: '127.0.0.1', port });
  let data = '';
  socket.on('data', (d) => {
    data += d.toString();
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(data)));
  return { socket, received: () => data, closed };
}

function parseAnswer(raw: string): { status: number; body: unknown } {
  const status = Number(raw.slice(9, 12));
  return { status, body: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) };
}

/** Resolves when `check` holds, polling; fails the test after `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('a request body that stops arriving', () => {
  it('is answered 408 for an upload, keeps nothing, and the job takes its input later', async () => {
    const job = await api.create('passthru');
    const conn = open();
    conn.socket.write(
      `POST /v1/upload/${job.id}?token=${job.upload_token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(5000)}`,
    );
    const started = Date.now();
    const answer = parseAnswer(await conn.closed);
    // Not before the timeout's silence.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(answer.status).toBe(408);
    expectShape(ErrorBodySchema, answer.body);
    expect((answer.body as { error: string }).error).toMatch(/stopped arriving.*send it again/);

    await eventually(() => readdirSync(join(server.dataDir, 'tmp')).length === 0, 10_000, 'tmp to empty');
    const after = await api.get(job.id);
    expect(after.status).toBe('created');
    expect((await api.upload(after, 'the whole input this time')).status).toBe(200);
    await api.submit(job.id);
    expect((await api.waitTerminal(job.id)).status).toBe('finished');
  });

  it('is answered 408 for a JSON body too', async () => {
    const conn = open();
    conn.socket.write(
      `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type": `,
    );
    const answer = parseAnswer(await conn.closed);
    expect(answer.status).toBe(408);
    expectShape(ErrorBodySchema, answer.body);
  });
});

describe('what is not cut off', () => {
  it('an upload that arrives slowly but steadily, for longer than the timeout', async () => {
    const job = await api.create('passthru');
    const chunks = Array.from({ length: 16 }, (_, i) => `chunk ${i};`);
    const body = chunks.join('');
    const conn = open();
    conn.socket.write(
      `POST /v1/upload/${job.id}?token=${job.upload_token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    // 16 pieces 500 ms apart: 8 s in all, never 5 s without a byte.
    for (const chunk of chunks) {
      await sleep(500);
      conn.socket.write(chunk);
    }
    expect(parseAnswer(await conn.closed).status).toBe(200);
    await api.submit(job.id);
    expect((await api.waitTerminal(job.id)).status).toBe('finished');
    expect(await (await api.request(`/v1/jobs/${job.id}/output`)).text()).toBe(body);
  });

  it('a long poll with no body, and the kept-alive connection after a complete body', async () => {
    const job = await api.create('passthru');
    const conn = open();
    const upload = `POST /v1/upload/${job.id}?token=${job.upload_token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nhello`;
    conn.socket.write(upload);
    await eventually(() => conn.received().includes('\r\n\r\n{'), 10_000, 'the upload answer');
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 /);
    // Quiet for longer than the timeout on the same connection, then a long
    // poll (2 s) on it: it is answered.
    await sleep(6000);
    const before = conn.received().length;
    conn.socket.write(
      `GET /v1/jobs/${job.id}?wait=2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.apiKey}\r\nConnection: close\r\n\r\n`,
    );
    const rest = (await conn.closed).slice(before);
    const answer = parseAnswer(rest);
    expect(answer.status).toBe(200);
    expect((answer.body as { data: { status: string } }).data.status).toBe('loaded');
  });
});
