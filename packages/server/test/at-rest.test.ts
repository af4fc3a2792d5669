/**
 * Data at rest (security round 2, finding 4): another local user of the
 * machine, trying with `cat`, reads nothing of the server's data directory
 * (database, stored inputs and outputs, the server key), not even the input
 * of a job while its sandbox runs; and what the database holds of secrets
 * (upload tokens, webhook signing secrets) is of no use to someone who can
 * read the database file itself.
 *
 * Needs root to act as another user; skipped with a message otherwise.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
/** A uid and gid no account of the machine has: "some other local user". */
const STRANGER = 42_424;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

/** A file's mode, or undefined when it went meanwhile (a job's scratch files are removed as it ends). */
function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the stranger can read the file with cat. */
async function strangerReads(path: string): Promise<boolean> {
  try {
    await run('/bin/cat', [path], { uid: STRANGER, gid: STRANGER, maxBuffer: 64 * 1024 * 1024 });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!isRoot)('data at rest', () => {
  let server: TestServer;
  let api: Api;

  beforeAll(async () => {
    server = await startServer();
    api = new Api(server.url, server.apiKey);
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it('keeps the data directory, the database, every blob and the server key from other users', async () => {
    const job = await api.create('passthru');
    expect((await api.upload(job, 'the input of a job: private\n')).status).toBe(200);
    await api.submit(job.id);
    expect((await api.waitTerminal(job.id)).status).toBe('finished');
    // A job left waiting for its upload, and a webhook secret, are in the database too.
    await api.create('passthru');
    const settings = await (await api.request('/v1/webhook')).json();
    expect(settings.data.secret).toMatch(/^whsec_/);

    expect(statSync(server.dataDir).mode & 0o077).toBe(0);
    const files = filesUnder(server.dataDir);
    expect(files.some((f) => f.endsWith('bsubio.db'))).toBe(true);
    expect(files.some((f) => f.endsWith('server.key'))).toBe(true);
    for (const file of files) {
      const mode = modeOf(file);
      if (mode === undefined) continue;
      expect(mode & 0o007, file).toBe(0);
      expect(await strangerReads(file), file).toBe(false);
    }
  });

  it('stores neither upload tokens nor webhook secrets in a form that can be used', async () => {
    const waiting = await api.create('passthru');
    expect(waiting.upload_token).toBeDefined();
    // The token is still shown to its owner, and still works.
    expect((await api.get(waiting.id)).upload_token).toBe(waiting.upload_token);
    const secret = (await (await api.request('/v1/webhook')).json()).data.secret as string;
    const database = filesUnder(server.dataDir)
      .filter((f) => /bsubio\.db/.test(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expect(database).not.toContain(waiting.upload_token!);
    expect(database).not.toContain(secret);
    expect(database).not.toContain('whsec_');
    const uploaded = await api.upload(waiting, 'x');
    expect(uploaded.status).toBe(200);
  });

  it('leaves the stored input closed to other users after it was linked into a sandbox', async () => {
    const job = await api.create('passthru');
    expect((await api.upload(job, 'still private\n')).status).toBe(200);
    await api.submit(job.id);
    expect((await api.waitTerminal(job.id)).status).toBe('finished');
    // The stored input was linked into the sandbox; it must not have been opened to all.
    for (const file of filesUnder(server.dataDir)) {
      const mode = modeOf(file);
      if (mode !== undefined) expect(mode & 0o004, file).toBe(0);
    }
  });
});
