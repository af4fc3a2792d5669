/**
 * The data directory on a small tmpfs that fills up: an upload is answered
 * 507 naming the cause and keeps nothing, a tool whose output does not fit
 * fails naming ENOSPC and keeps nothing, and once space is freed the same
 * upload and a new job go through. Needs root (mount); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError } from './client.js';
import { writeTypesFile } from './test-types.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('disk-full.test: skipped, mounting a tmpfs needs root');

const TMPFS_MB = 24;
/** `test/big`: the input written out 64 times. */
const typesFile = writeTypesFile([
  {
    type: 'test/big',
    name: 'Big copy',
    description: 'Writes the input 64 times.',
    mime_in: ['*/*'],
    mime_out: ['application/octet-stream'],
    ext: '.bin',
    display: 'binary',
    requires: ['sh', 'cat'],
    limits: { wall_seconds: 120, memory_mb: 256, output_mb: 64 },
    command: ['sh', '-c', 'i=0; while [ $i -lt 64 ]; do cat "$0" || exit 1; i=$((i+1)); done', '{input}'],
  },
]);

let dataDir = '';
let server: TestServer;
let api: Api;
const filler = () => join(dataDir, 'filler');

function freeBytes(): number {
  const s = statfsSync(dataDir);
  return s.bavail * s.bsize;
}

/** Fill the file system, then give back `leave` bytes. */
function fillLeaving(leave: number): void {
  const fd = openSync(filler(), 'a');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  let size = statSync(filler()).size;
  while (freeBytes() < leave && size > 0) {
    size = Math.max(0, size - 64 * 1024);
    truncateSync(filler(), size);
  }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  if (!isRoot) return;
  dataDir = mkdtempSync(join(tmpdir(), 'bsubio-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m,mode=0755`, 'tmpfs', dataDir]);
  server = await startServer({ dataDir, env: { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '1' } });
  api = new Api(server.url, server.apiKey);
});

afterAll(async () => {
  if (!isRoot || !dataDir) return;
  await server?.kill();
  try {
    execFileSync('umount', [dataDir]);
  } catch {
    execFileSync('umount', ['-l', dataDir]);
  }
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(server?.home ?? '', { recursive: true, force: true });
});

describe.skipIf(!isRoot)('a full disk', () => {
  it('refuses an upload with 507 naming the cause, keeps nothing, and takes it once space is back', async () => {
    const job = await api.create('passthru');
    fillLeaving(256 * 1024);
    const input = new Uint8Array(2 * 1024 * 1024).fill(7);
    const form = new FormData();
    form.append('file', new Blob([input]), 'big.bin');
    const body = await expectError(
      fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, { method: 'POST', body: form }),
      507,
      /no space left on device/,
    );
    expect(body.code).toBe('insufficient_storage');

    // Nothing partial: no blob, no temporary file, and the job still waits for its input.
    expect(existsSync(join(dataDir, 'blobs', 'jobs', job.id))).toBe(false);
    expect(filesUnder(join(dataDir, 'tmp'))).toEqual([]);
    const after = await api.get(job.id);
    expect(after.status).toBe('created');
    expect(after.data_size).toBe(0);

    // The same upload, with the same token, goes through once space is back.
    rmSync(filler());
    expect((await api.upload(job, input, 'big.bin')).status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);
    const done = await api.waitTerminal(job.id, 120);
    expect(done.status).toBe('finished');
    expect(done.output_size).toBe(input.length);
  });

  it('fails a job whose output does not fit naming ENOSPC, keeps no partial output, and recovers', async () => {
    const input = new Uint8Array(128 * 1024).fill(65); // 8 MiB of output
    const job = await api.create('test/big');
    expect((await api.upload(job, input)).status).toBe(200);
    fillLeaving(2 * 1024 * 1024);
    expect((await api.submit(job.id)).status).toBe(200);
    const failed = await api.waitTerminal(job.id, 120);
    expect(failed.status).toBe('failed');
    expect(failed.error_code).toBe('EINTERNAL');
    expect(failed.error_message).toMatch(/ENOSPC: no space left on device/);
    await expectError(api.request(`/v1/jobs/${job.id}/output`), 409);
    const blobs = filesUnder(join(dataDir, 'blobs', 'jobs', job.id)).map((f) => f.split('/').at(-1));
    expect(blobs.filter((name) => name?.startsWith('output-'))).toEqual([]);
    expect(filesUnder(join(dataDir, 'tmp'))).toEqual([]);

    // The server kept serving, and with space back the same work finishes.
    rmSync(filler());
    const again = await api.run('test/big', input);
    expect(again.status).toBe('finished');
    expect(again.output_size).toBe(64 * input.length);
    const output = Buffer.from(await (await api.request(`/v1/jobs/${again.id}/output`)).arrayBuffer());
    expect(output.length).toBe(64 * input.length);
    expect(output.every((b) => b === 65)).toBe(true);
  });
});
