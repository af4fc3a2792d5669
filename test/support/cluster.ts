/**
 * Throwaway cluster back ends for tests, on loopback only: a PostgreSQL
 * server in a temp directory (run as a non-root user when the tests run as
 * root, since postgres refuses root) and an S3 endpoint (moto's server).
 * Each is stopped, and its directory removed, by its stop().
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The directory of PostgreSQL's server binaries (initdb, postgres). */
function postgresBinDir(): string {
  for (const candidate of ['/usr/local/bin/initdb', '/usr/bin/initdb']) {
    if (existsSync(candidate)) {
      const real = realpathSync(candidate);
      if (existsSync(join(dirname(real), 'postgres'))) return dirname(real);
    }
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = join(base, version, 'bin');
    if (existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error('PostgreSQL is not installed (Debian package "postgresql"; see scripts/setup-debian.sh)');
}

/** As root, the user postgres runs as (postgres refuses root). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
      return { uid, gid };
    } catch {}
  }
  throw new Error('running as root, and neither user postgres nor nobody exists');
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, log: () => string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start in time:\n${log()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export interface TestPostgres {
  /** postgres://bsubio@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  stop(): Promise<void>;
  /** Shut the server down ("fast": connections are cut), keeping its data, as an outage would. */
  pause(): Promise<void>;
  /** Start it again on the same port and data after pause(). */
  resume(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-pg-'));
  const data = join(dir, 'data');
  const owner = runAs();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'bsubio', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C'],
    { ...asOwner, stdio: 'pipe', cwd: dir },
  );
  const port = await freePort();
  // Durability is not what a test checks: no fsync makes it much faster here.
  const launch = () =>
    spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      { ...asOwner, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
    );
  let log = '';
  let child = launch();
  const listen = () =>
    child.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-50_000);
    });
  listen();
  const url = (database = 'postgres') => `postgres://bsubio@127.0.0.1:${port}/${database}`;
  const pg = (await import('pg')).default;
  const ready = () =>
    waitFor(
      'PostgreSQL',
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`);
        const client = new pg.Client({ connectionString: url() });
        await client.connect();
        await client.end();
        return true;
      },
      60_000,
      () => log,
    );
  try {
    await ready();
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    async pause() {
      await stopChild(child, 'SIGINT');
    },
    async resume() {
      child = launch();
      listen();
      await ready();
    },
    async stop() {
      // SIGINT: "fast" shutdown, open connections are cut.
      await stopChild(child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestS3 {
  endpoint: string;
  stop(): Promise<void>;
}

/** moto's S3 server (`pip install "moto[server]"`); any credentials are accepted. */
export async function startS3(): Promise<TestS3> {
  const port = await freePort();
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'moto S3 server',
      async () => {
        if (child.exitCode !== null) throw new Error(`moto exited: ${log}`);
        const res = await fetch(`${endpoint}/`);
        await res.arrayBuffer();
        return res.status < 500;
      },
      // Loading moto alone has taken 45 s on a busy 2-core VM.
      120_000,
      () => log,
    );
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    throw err;
  }
  return { endpoint, stop: () => stopChild(child, 'SIGTERM', 10_000) };
}
