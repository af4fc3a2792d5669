/**
 * A remote worker SIGKILLed at each state a job passes through on it:
 * claimed, preparing, processing, and while it sends the output. To stop the
 * worker at exactly that point, its HTTP traffic goes through a proxy in this
 * test that holds one request (a slow network, not a stand-in: every byte
 * that passes reaches the real server): the move to `preparing` (so the job
 * is `claimed`), the input download (`preparing`), nothing (`processing`,
 * the tool sleeps), or the output upload half-way (`processing`, bytes
 * arriving). Each job must then be finished exactly once, on a later attempt
 * by another worker, with its own bytes; no partial upload may remain.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { type ClientRequest, createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SERVER_BIN, startServer, type TestServer } from '../../../test/support/server.js';
import { startRemoteWorker } from '../../../test/support/worker.js';
import { Api } from './client.js';
import { writeTypesFile } from './test-types.js';

const run = promisify(execFile);
const STAGES = ['claimed', 'preparing', 'processing', 'sending-output'] as const;
type Stage = (typeof STAGES)[number];

/** One type per stage, so that each stage's worker takes only its own job. */
const typesFile = writeTypesFile(
  STAGES.map((stage) => ({
    type: `test/${stage}`,
    name: `Pause then copy (${stage})`,
    description: 'Sleeps 3 s, then copies the input.',
    mime_in: ['*/*'],
    mime_out: ['application/octet-stream'],
    ext: '.bin',
    display: 'binary',
    requires: ['sh', 'sleep', 'cat'],
    limits: { wall_seconds: 120, memory_mb: 256, output_mb: 64 },
    command: ['sh', '-c', 'sleep 3; cat "$0"', '{input}'],
  })),
);

let server: TestServer;
let token = '';
const children: ChildProcess[] = [];
const dirs: string[] = [];
let proxy: Server | undefined;

beforeAll(async () => {
  server = await startServer({
    env: {
      BSUBIO_TYPES_FILE: typesFile,
      BSUBIO_WORKERS: '0',
      // The reaper looks for lapsed leases every second.
      BSUBIO_LEASE_SECONDS: '2',
      BSUBIO_MAX_ATTEMPTS: '4',
    },
  });
  const { stdout } = await run(process.execPath, [SERVER_BIN, 'worker-token', 'add', 'kill-test'], {
    env: { ...process.env, HOME: server.home, BSUBIO_DATA_DIR: server.dataDir },
  });
  token = stdout.trim();
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  proxy?.closeAllConnections();
  proxy?.close();
  await server?.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** `bsubio-server worker` for `types`, talking to `url`; resolves once ready. */
function startWorker(name: string, url: string, types: string[], concurrency = 1): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-worker-'));
  dirs.push(dir);
  const { child, ready } = startRemoteWorker({
    name,
    server: url,
    token,
    dir,
    // Renewed every 5 s (slack for a loaded machine); a killed worker's job
    // comes back ~15 s after its last renewal.
    args: [
      '--types',
      types.join(','),
      '--concurrency',
      String(concurrency),
      '--lease-seconds',
      '15',
      '--types-file',
      typesFile,
    ],
  });
  children.push(child);
  return ready;
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Which worker request the proxy holds: `hold` keeps it from the server,
 * `partial` passes its headers and first bytes, then stops reading.
 */
type Rule = (req: IncomingMessage, body: Buffer | undefined) => 'hold' | 'partial' | 'pass';
let rule: Rule = () => 'pass';
let onHeld: ((path: string) => void) | undefined;

/** Requests passed on to the server, by the worker connection they came in on. */
const openRequests = new WeakMap<Socket, Set<ClientRequest>>();

async function startProxy(target: string): Promise<string> {
  const upstream = new URL(target);
  proxy = createServer(async (req, res) => {
    const forward = () => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      // The worker died: the server sees its connection go, as it would.
      const socket = req.socket;
      if (!openRequests.has(socket)) {
        openRequests.set(socket, new Set());
        socket.once('close', () => {
          for (const request of openRequests.get(socket) ?? []) request.destroy();
        });
      }
      openRequests.get(socket)!.add(out);
      res.once('finish', () => openRequests.get(socket)?.delete(out));
      return out;
    };
    const streamed = req.method === 'PUT';
    let body: Buffer | undefined;
    if (!streamed) {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      body = Buffer.concat(chunks);
    }
    const action = rule(req, body);
    if (action === 'hold') {
      onHeld?.(req.url ?? '');
      return;
    }
    const out = forward();
    if (!streamed) {
      out.end(body);
    } else if (action === 'partial') {
      // The first piece reaches the server; the rest is read (so that the
      // worker's death is seen) but goes nowhere.
      req.once('data', (chunk: Buffer) => {
        out.write(chunk, () => onHeld?.(req.url ?? ''));
        req.on('data', () => {});
      });
    } else {
      req.pipe(out);
    }
  });
  await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

function rulesFor(stage: Stage): Rule {
  return (req, body) => {
    const path = req.url ?? '';
    if (stage === 'claimed' && path.endsWith('/advance') && body?.toString().includes('"preparing"'))
      return 'hold';
    if (stage === 'preparing' && /\/input\?/.test(path)) return 'hold';
    if (stage === 'sending-output' && /\/output\?/.test(path)) return 'partial';
    return 'pass';
  };
}

async function until<T>(check: () => Promise<T | undefined>, what: string, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tmpFiles(): string[] {
  const dir = join(server.dataDir, 'tmp');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

it('finishes each job exactly once after its worker is killed at claimed, preparing, processing and while sending output', async () => {
  const api = new Api(server.url, server.apiKey);
  // Every time a job becomes finished is recorded, to check "exactly once".
  const db = new Database(join(server.dataDir, 'bsubio.db'));
  db.pragma('busy_timeout = 10000');
  db.exec(`
    CREATE TABLE finish_log (job_id TEXT NOT NULL, claimed_by TEXT);
    CREATE TRIGGER jobs_finish_log AFTER UPDATE OF status ON jobs
    WHEN NEW.status = 'finished' AND OLD.status <> 'finished'
    BEGIN INSERT INTO finish_log VALUES (NEW.id, NEW.claimed_by); END;
  `);
  const proxyUrl = await startProxy(server.url);

  const inputs = new Map<string, Uint8Array>();
  for (const stage of STAGES) {
    rule = rulesFor(stage);
    const held = new Promise<string>((resolve) => {
      onHeld = resolve;
    });
    const worker = await startWorker(`doomed-${stage}`, proxyUrl, [`test/${stage}`]);
    // 1 MiB, so that the output upload arrives in many pieces.
    const input = new Uint8Array(1024 * 1024).fill(STAGES.indexOf(stage) + 97);
    const job = await api.create(`test/${stage}`);
    inputs.set(job.id, input);
    expect((await api.upload(job, input)).status).toBe(200);
    expect((await api.submit(job.id)).status).toBe(200);

    const expected = stage === 'sending-output' ? 'processing' : stage;
    if (stage !== 'processing') await held;
    let last = '';
    const seen = await until(async () => {
      const current = await api.get(job.id);
      last = JSON.stringify(current);
      return current.status === expected ? current : undefined;
    }, `job ${stage} to be ${expected} (last seen: ${last})`);
    expect(seen.claimed_by).toMatch(new RegExp(`^doomed-${stage}-`));
    if (stage === 'sending-output') {
      await until(
        async () => (tmpFiles().some((f) => statSync(f).size > 0) ? true : undefined),
        'the output to reach the server',
      );
    }
    await kill(worker);
    console.log(`[worker-kill] killed the worker while its job was ${stage}`);
  }
  rule = () => 'pass';

  // A healthy worker picks every job up once its lease has lapsed.
  await startWorker(
    'rescuer',
    server.url,
    STAGES.map((s) => `test/${s}`),
    STAGES.length,
  );
  for (const [id, input] of inputs) {
    const done = await api.waitTerminal(id, 300);
    expect(done.status, JSON.stringify(done)).toBe('finished');
    expect(done.claimed_by).toMatch(/^rescuer-/);
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    const output = Buffer.from(await (await api.request(`/v1/jobs/${id}/output`)).arrayBuffer());
    expect(output.equals(Buffer.from(input))).toBe(true);
  }
  const finishes = db.prepare('SELECT job_id, claimed_by FROM finish_log').all() as { job_id: string }[];
  expect(finishes.map((f) => f.job_id).sort()).toEqual([...inputs.keys()].sort());
  db.close();
  // The upload cut off by the kill left nothing behind.
  expect(tmpFiles()).toEqual([]);
}, 600_000);
