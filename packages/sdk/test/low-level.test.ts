/**
 * The low-level API (JobsApi, OutputApi, SystemApi) against a real bsubio
 * server: every method, one job through its whole life.
 */
import { Configuration, JobsApi, OutputApi, SystemApi } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { STARTUP_MS } from './helpers/startup.js';

let server: TestServer;
let jobs: JobsApi;
let output: OutputApi;
let system: SystemApi;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  const configuration = new Configuration({ host: server.url, accessToken: server.apiKey });
  jobs = new JobsApi(configuration);
  output = new OutputApi(configuration);
  system = new SystemApi(configuration);
}, STARTUP_MS + 30_000);
afterAll(() => server?.cleanup());

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('SystemApi', () => {
  it('getVersion answers the server name and a semver, without a key', async () => {
    const anonymous = new SystemApi(new Configuration({ host: server.url }));
    const version = await anonymous.getVersion();
    expect(version.server).toBe('bsubio');
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('getTypes lists passthru and json_format with their output description', async () => {
    const { types } = await system.getTypes();
    const json = types.find((t) => t.type === 'json_format');
    expect(types.map((t) => t.type)).toContain('passthru');
    expect(json?.output.ext).toBe('.json');
  });
});

describe('JobsApi and OutputApi through a job’s life', () => {
  it('create → upload → submit → wait → output, logs → delete', async () => {
    const created = await jobs.createJob({ type: 'json_format' });
    expect(created.success).toBe(true);
    expect(created.data.status).toBe('created');
    expect(created.data.data_size).toBe(0);
    const token = created.data.upload_token!;
    expect(token).toBeTruthy();

    const input = new TextEncoder().encode('{"b":[1,2],"a":null}');
    const uploaded = await jobs.uploadJobData(created.data.id, token, input, { fileName: 'data.json' });
    expect(uploaded).toEqual({
      success: true,
      message: 'File uploaded successfully',
      data_size: input.length,
    });
    const loaded = (await jobs.getJob(created.data.id)).data;
    expect(loaded.status).toBe('loaded');
    expect(loaded.upload_token).toBeUndefined();
    expect(loaded.input_name).toBe('data.json');

    expect(await jobs.submitJob(created.data.id)).toEqual({
      success: true,
      message: 'Job submitted for processing',
    });
    const finished = (await jobs.getJob(created.data.id, { wait: 30 })).data;
    expect(finished.status).toBe('finished');

    expect(JSON.parse(text(await output.getJobOutput(finished.id)))).toEqual({ b: [1, 2], a: null });
    const streamed = await output.streamJobOutput(finished.id);
    expect(streamed.contentType).toMatch(/json/);
    expect(streamed.fileName).toBe('data.json');
    expect(streamed.size).toBeGreaterThan(input.length);
    await streamed.body.cancel();
    expect(await output.getJobLogs(finished.id)).toBe('');

    await jobs.deleteJob(finished.id);
    await expect(jobs.getJob(finished.id)).rejects.toMatchObject({ kind: 'not_found', status: 404 });
  });

  it('listJobs filters by status and limits, newest first, with the total before the limit', async () => {
    const a = (await jobs.createJob({ type: 'passthru' })).data;
    const b = (await jobs.createJob({ type: 'passthru' })).data;
    const c = (await jobs.createJob({ type: 'passthru' })).data;
    const page = await jobs.listJobs({ status: 'created', limit: 2 });
    expect(page.data.jobs.map((j) => j.id)).toEqual([c.id, b.id]);
    expect(page.data.total).toBeGreaterThanOrEqual(3);
    const all = await jobs.listJobs({ status: 'created', limit: 100 });
    expect(all.data.jobs.map((j) => j.id)).toContain(a.id);
    expect(all.data.jobs.every((j) => j.status === 'created')).toBe(true);
  });

  it('cancelJob fails a waiting job with ECANCELED, keeping its logs readable', async () => {
    const job = (await jobs.createJob({ type: 'passthru' })).data;
    expect(await jobs.cancelJob(job.id)).toEqual({ success: true, message: 'Job cancelled' });
    const cancelled = (await jobs.getJob(job.id)).data;
    expect(cancelled.status).toBe('failed');
    expect(cancelled.error_code).toBe('ECANCELED');
    expect(typeof (await output.getJobLogs(job.id))).toBe('string');
  });

  it('createJob passes the name extension through', async () => {
    const job = (await jobs.createJob({ type: 'passthru', name: 'nightly report' })).data;
    expect(job.name).toBe('nightly report');
  });

  it('uploadJobData needs only the upload token, not the API key', async () => {
    const job = (await jobs.createJob({ type: 'passthru' })).data;
    const keyless = new JobsApi(new Configuration({ host: server.url }));
    const result = await keyless.uploadJobData(job.id, job.upload_token!, new Blob(['hello']));
    expect(result.data_size).toBe(5);
  });
});
