/** A small HTTP client for tests: real fetch against a real server, plus shape checks. */
import { ErrorBodySchema, type Job, JobResponseSchema, ListJobsResponseSchema } from '@bsubio/protocol';
import type { TSchema } from 'typebox';
import { Format } from 'typebox/format';
import { Value } from 'typebox/value';
import { expect } from 'vitest';

// The wire formats, exactly: RFC 3339 UTC with milliseconds, lower-case canonical UUIDs.
Format.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v));
Format.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(v));

export function expectShape(schema: TSchema, value: unknown): void {
  const errors = [...Value.Errors(schema, value)].map((e) => `${e.instancePath}: ${e.message}`);
  expect(errors, JSON.stringify(value)).toEqual([]);
}

export class Api {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  withKey(key: string): Api {
    return new Api(this.base, key);
  }

  request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.key && !headers.has('authorization')) headers.set('authorization', `Bearer ${this.key}`);
    return fetch(`${this.base}${path}`, { ...init, headers });
  }

  async json<T = unknown>(
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: T; res: Response }> {
    const res = await this.request(path, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, res };
  }

  async create(type: string, extra: Record<string, unknown> = {}): Promise<Job> {
    const { status, body } = await this.json<{ data: Job }>('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, ...extra }),
    });
    expect(status, JSON.stringify(body)).toBe(201);
    expectShape(JobResponseSchema, body);
    return body.data;
  }

  upload(job: Pick<Job, 'id' | 'upload_token'>, content: string | Uint8Array, fileName = 'input.bin') {
    const form = new FormData();
    form.append(
      'file',
      new Blob([typeof content === 'string' ? content : new Uint8Array(content)]),
      fileName,
    );
    // The upload token is the credential: no API key is sent.
    return this.withKey('').json<{ success: boolean; data_size: number; message: string }>(
      `/v1/upload/${job.id}?token=${job.upload_token}`,
      { method: 'POST', body: form },
    );
  }

  submit(id: string) {
    return this.json(`/v1/jobs/${id}/submit`, { method: 'POST' });
  }

  cancel(id: string) {
    return this.json(`/v1/jobs/${id}/cancel`, { method: 'POST' });
  }

  delete(id: string) {
    return this.request(`/v1/jobs/${id}`, { method: 'DELETE' });
  }

  async get(id: string, wait?: number): Promise<Job> {
    const { status, body } = await this.json<{ data: Job }>(`/v1/jobs/${id}${wait ? `?wait=${wait}` : ''}`);
    expect(status).toBe(200);
    expectShape(JobResponseSchema, body);
    return body.data;
  }

  async list(query = ''): Promise<{ jobs: Job[]; total: number }> {
    const { status, body } = await this.json<{ data: { jobs: Job[]; total: number } }>(`/v1/jobs${query}`);
    expect(status).toBe(200);
    expectShape(ListJobsResponseSchema, body);
    return body.data;
  }

  /** create → upload → submit → wait: the terminal job. */
  async run(type: string, content: string | Uint8Array, fileName?: string): Promise<Job> {
    const job = await this.create(type);
    expect((await this.upload(job, content, fileName)).status).toBe(200);
    expect((await this.submit(job.id)).status).toBe(200);
    return this.waitTerminal(job.id);
  }

  async waitTerminal(id: string, seconds = 30): Promise<Job> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const job = await this.get(id, 10);
      if (job.status === 'finished' || job.status === 'failed') return job;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${seconds}s`);
    }
  }
}

/** Assert a JSON error answer: status, exact shape, and a sentence matching `message`. */
export async function expectError(res: Response | Promise<Response>, status: number, message?: RegExp) {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text);
  expectShape(ErrorBodySchema, body);
  if (message) expect(body.error).toMatch(message);
  return body as { success: false; error: string; code?: string };
}
