/**
 * Hostile tools, added as operator types through BSUBIO_TYPES_FILE, each
 * stopped by the sandbox with the right error code while the server stays
 * healthy and keeps running other jobs.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, runJob, scratch, startServer, type TestServer } from './support.js';

const files = scratch();
let server: TestServer;

const hostile = (
  type: string,
  command: string[],
  limits: Record<string, number>,
  extra: Record<string, unknown> = {},
) => ({
  type,
  name: type,
  description: `Sandbox test: ${type}`,
  mime_in: ['*/*'],
  mime_out: ['application/octet-stream'],
  ext: '.bin',
  display: 'download',
  command,
  requires: [],
  limits: { wall_seconds: 20, memory_mb: 256, output_mb: 8, ...limits },
  ...extra,
});

const py = (code: string) => ['python3', '-c', code];

beforeAll(async () => {
  const typesFile = join(files.dir, 'types.json');
  writeFileSync(
    typesFile,
    JSON.stringify({
      types: [
        hostile(
          'evil/net',
          [
            ...py('import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)'),
            '{param:host}',
            '{param:port}',
          ],
          {},
          {
            params: [
              { name: 'host', type: 'string', description: 'an address', pattern: '[0-9.]+' },
              { name: 'port', type: 'integer', description: 'a port', minimum: 1, maximum: 65535 },
            ],
          },
        ),
        hostile(
          'evil/read',
          ['cat', '{param:path}'],
          {},
          {
            params: [{ name: 'path', type: 'string', description: 'a path', pattern: '/.*' }],
          },
        ),
        hostile(
          'evil/write',
          ['sh', '-c', 'echo owned > "$1"', 'sh', '{param:path}'],
          {},
          {
            params: [{ name: 'path', type: 'string', description: 'a path', pattern: '/.*' }],
          },
        ),
        hostile('evil/forkbomb', ['bash', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 60'], {
          wall_seconds: 30,
        }),
        hostile('evil/alloc', py('b = bytearray(4 << 30); print(len(b))'), {}),
        hostile(
          'evil/alloc-shared',
          py('import mmap\nm = mmap.mmap(-1, 4 << 30)\nfor i in range(0, 4 << 30, 4096): m[i] = 1'),
          {},
        ),
        hostile('evil/sleep', ['sleep', 'infinity'], { wall_seconds: 2 }),
        hostile('evil/print', ['head', '-c', '10G', '/dev/zero'], { output_mb: 5 }),
        hostile('evil/bigfile', ['sh', '-c', 'head -c 10G /dev/zero > /work/big'], { output_mb: 5 }),
        hostile(
          'needs/missing',
          ['no-such-tool-xyz', '{input}'],
          {},
          { requires: ['no-such-tool-xyz'], package: 'xyz-tools' },
        ),
        // passthru's way of working (no tool), with a tiny output limit.
        hostile('identity/small', [], { output_mb: 0.001 }, { builtin: 'identity' }),
        hostile('slow/cat', ['sh', '-c', 'sleep 6; cat "$1"', 'sh', '{input}'], { wall_seconds: 30 }),
      ],
    }),
  );
  // One process per test file runs two at a time: use 3 workers so a slow job
  // and a probe can overlap.
  server = await startServer({ env: { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '3' } });
});

afterAll(async () => {
  await server?.cleanup();
  files.cleanup();
});

async function healthy(): Promise<void> {
  const res = await fetch(`${server.url}/healthz`);
  expect(res.status).toBe(200);
  const echo = await runJob(server, 'passthru', 'still alive');
  expect(echo.status).toBe('finished');
  expect(echo.output.toString()).toBe('still alive');
}

describe('the sandbox', () => {
  it('has no network: neither the server on loopback nor the internet', async () => {
    const port = Number(new URL(server.url).port);
    for (const host of ['127.0.0.1', '1.1.1.1']) {
      const job = await runJob(server, 'evil/net', 'x', {
        params: { host, port: host === '1.1.1.1' ? 80 : port },
      });
      expect(job.status, host).toBe('failed');
      expect(job.error_code).toBe('EEXIT');
      expect(job.error_message).toMatch(/Network is unreachable|Connection refused|Errno/);
    }
    await healthy();
  });

  it("cannot read another job's input, the server's data, or files outside its work directory", async () => {
    // A job that holds its input for a few seconds.
    const secret = `secret-${Date.now()}`;
    const slow = runJob(server, 'slow/cat', secret);
    // Find that input on the host: in the server's blobs, and in the sandbox view.
    let targets: string[] = [];
    for (let i = 0; i < 40 && targets.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      targets = findFiles(server.dataDir, /input/).concat(findSandboxInputs());
    }
    expect(targets.length).toBeGreaterThan(0);
    for (const path of [
      ...targets,
      join(server.dataDir, 'bsubio.db'),
      '/etc/shadow',
      '/root/.bashrc',
      `${server.home}/.config/bsubio/config.json`,
    ]) {
      const job = await runJob(server, 'evil/read', 'x', { params: { path } });
      expect(job.status, path).toBe('failed');
      expect(job.error_code, path).toBe('EEXIT');
      expect(job.error_message, path).toMatch(/No such file or directory|Permission denied/);
      expect(job.output.toString()).not.toContain(secret);
    }
    // The system is read-only.
    const write = await runJob(server, 'evil/write', 'x', { params: { path: '/usr/bin/owned' } });
    expect(write.error_code).toBe('EEXIT');
    expect(write.error_message).toMatch(/Read-only file system|Permission denied/);
    const done = await slow;
    expect(done.output.toString()).toBe(secret);
    await healthy();
  });

  it('stops a fork bomb (ENOMEM, process limit)', async () => {
    const job = await runJob(server, 'evil/forkbomb', 'x');
    expect(job.status).toBe('failed');
    // ENOMEM naming processes: stopped by the process limit, not by the time limit (ETIMEDOUT).
    expect(job.error_code).toBe('ENOMEM');
    expect(job.error_message).toMatch(/processes/);
    await healthy();
  });

  it('stops a 4 GiB allocation, private or shared (ENOMEM)', async () => {
    for (const type of ['evil/alloc', 'evil/alloc-shared']) {
      const job = await runJob(server, type, 'x');
      expect(job.status, type).toBe('failed');
      expect(job.error_code, `${type}: ${job.error_message} ${job.logs}`).toBe('ENOMEM');
      expect(job.error_message).toMatch(/256 MiB/);
    }
    await healthy();
  });

  it('stops a tool that sleeps forever at its time limit (ETIMEDOUT)', async () => {
    const started = Date.now();
    const job = await runJob(server, 'evil/sleep', 'x');
    expect(job.error_code).toBe('ETIMEDOUT');
    expect(job.error_message).toMatch(/2 seconds/);
    // Killed at its limit rather than left to sleep (generous: CI's VMs are slow).
    expect(Date.now() - started).toBeLessThan(60_000);
    await healthy();
  });

  it('stops a tool that prints 10 GiB, or writes it to a file, at its output limit (EFBIG)', async () => {
    for (const type of ['evil/print', 'evil/bigfile']) {
      const job = await runJob(server, type, 'x');
      expect(job.status, type).toBe('failed');
      // EFBIG: stopped at the output limit, not at the time limit (ETIMEDOUT).
      expect(job.error_code, `${type}: ${job.error_message}`).toBe('EFBIG');
    }
    await healthy();
  });

  it('holds a builtin type to its output limit too, leaving the stored input whole (EFBIG)', async () => {
    const input = 'x'.repeat(4096);
    const job = await runJob(server, 'identity/small', input);
    expect(job.status).toBe('failed');
    expect(job.error_code).toBe('EFBIG');
    expect(job.error_message).toMatch(/0.001 MiB/);
    // The output was a hard link to the input: failing must unlink it, not empty it.
    // The input is stored under its SHA-256 (content-addressed).
    const digest = createHash('sha256').update(input).digest('hex');
    const stored = findFiles(join(server.dataDir, 'blobs', 'cas'), new RegExp(`^${digest}$`));
    expect(stored).toHaveLength(1);
    expect(readFileSync(stored[0] as string, 'utf8')).toBe(input);
    await healthy();
  });

  it('lists a type whose tool is missing as unavailable, says what to install, and refuses its jobs', async () => {
    const res = await fetch(`${server.url}/v1/types`);
    const { types } = (await res.json()) as {
      types: { type: string; available: boolean; install_hint?: string }[];
    };
    expect(types.filter((t) => t.type.startsWith('evil/')).every((t) => t.available)).toBe(true);
    const missing = types.find((t) => t.type === 'needs/missing');
    expect(missing?.available).toBe(false);
    expect(missing?.install_hint).toMatch(/no-such-tool-xyz.*xyz-tools/);
    const created = await createJob(server, 'needs/missing');
    expect(created.status).toBe(400);
    expect(created.body.error).toMatch(/not installed|unavailable|xyz-tools/i);
  });
});

function findFiles(dir: string, pattern: RegExp): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && pattern.test(entry.name)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

/** Inputs of running jobs as the runner lays them out for the sandbox. */
function findSandboxInputs(): string[] {
  const found: string[] = [];
  for (const base of readdirSync('/tmp').filter((n) => n.startsWith('bsubio-sandbox-'))) {
    try {
      found.push(...findFiles(join('/tmp', base), /^input/));
    } catch {
      // another server's directory, gone meanwhile
    }
  }
  return found;
}
