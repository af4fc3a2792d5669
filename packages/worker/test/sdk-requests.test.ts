/**
 * The requests the official bsub.io Go SDK's live tests make, replayed
 * byte for byte in their order, for machines without Go (go-sdk.test.ts runs
 * the SDK itself): create `{"type": "test/linecount"}`, upload a multipart
 * form whose file part is named "upload", submit, then read the job, its
 * output and logs straight away, without waiting, as GetJobResult does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
});
afterAll(async () => {
  await server?.cleanup();
});

const auth = () => ({ authorization: `Bearer ${server.apiKey}` });

/** CreateAndSubmitJob: create, multipart upload, submit. */
async function createAndSubmit(type: string, data: string): Promise<string> {
  const created = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ type }),
  });
  expect(created.status).toBe(201);
  const { data: job } = (await created.json()) as {
    data: { id: string; upload_token: string; status: string };
  };
  expect(job.status).toBe('created');
  const form = new FormData();
  form.append('file', new Blob([data], { type: 'application/octet-stream' }), 'upload');
  const uploaded = await fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
    method: 'POST',
    headers: auth(),
    body: form,
  });
  expect(uploaded.status).toBe(200);
  const submitted = await fetch(`${server.url}/v1/jobs/${job.id}/submit`, {
    method: 'POST',
    headers: auth(),
  });
  expect(submitted.status).toBe(200);
  return job.id;
}

/** GetJobResult: the job, then its output when finished, then its logs, with no wait in between. */
async function getJobResult(id: string): Promise<{ status: string; output: string; logs: string }> {
  const job = (await (await fetch(`${server.url}/v1/jobs/${id}`, { headers: auth() })).json()) as {
    data: { status: string };
  };
  let output = '';
  if (job.data.status === 'finished') {
    const res = await fetch(`${server.url}/v1/jobs/${id}/output`, { headers: auth() });
    expect(res.status).toBe(200);
    output = await res.text();
  }
  const logs = await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: auth() });
  expect(logs.headers.get('content-type')).toMatch(/^text\/plain/);
  return { status: job.data.status, output, logs: await logs.text() };
}

describe('the Go SDK live tests, replayed', () => {
  it('lists test/linecount as an available type', async () => {
    const { types } = (await (await fetch(`${server.url}/v1/types`)).json()) as {
      types: { type: string; available: boolean }[];
    };
    expect(types.find((t) => t.type === 'test/linecount')?.available).toBe(true);
  });

  it('TestGetJobResult: the result is there right after submit', async () => {
    for (const [input, lines] of [
      ['test input data', '1'],
      ['line1\nline2\nline3\nline4\nline5', '5'],
    ] as const) {
      const id = await createAndSubmit('test/linecount', input);
      const result = await getJobResult(id);
      expect(result.status).toBe('finished');
      expect(result.output.trim()).toBe(lines);
    }
  });

  it('TestIntegration_RealJobTypes: a count per input, a trailing newline or not', async () => {
    const cases: [string, string][] = [
      ['Hello from test/linecount!', '1'],
      ['line 1\nline 2\nline 3\nline 4\nline 5', '5'],
      ['line1\nline2\nline3\n', '3'],
      ['', '0'],
    ];
    for (const [input, lines] of cases) {
      const id = await createAndSubmit('test/linecount', input);
      // Process() polls every 2 s; the job is done before the first poll.
      const result = await getJobResult(id);
      expect(result.status, JSON.stringify(input)).toBe('finished');
      expect(result.output, JSON.stringify(input)).toBe(`${lines}\n`);
    }
  });
});
