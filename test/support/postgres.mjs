// A throwaway PostgreSQL for the tests and the benchmarks, on loopback only:
// a server in a temp directory on a free port (as a non-root user when run
// as root, since postgres refuses root), with durable writes off: neither a
// test nor a benchmark measures the disk's fsync. Plain JavaScript so that
// both the tests (TypeScript) and the benchmarks (plain Node) can use it.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A free TCP port on loopback. @returns {Promise<number>} */
export function freePort() {
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

/**
 * Polls `check` until it returns true; fails with the child's log after `timeoutMs`.
 * @param {string} what @param {() => Promise<boolean>} check @param {number} timeoutMs @param {() => string} log
 */
export async function waitFor(what, check, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start in time:\n${log()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`.
 * @param {import('node:child_process').ChildProcess} child @param {NodeJS.Signals} signal
 * @returns {Promise<void>}
 */
export function stopChild(child, signal, timeoutMs = 30_000) {
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

/** The directory of PostgreSQL's server binaries (Debian: /usr/lib/postgresql/<v>/bin). */
function postgresBinDir() {
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

/** As root, the user postgres runs as (postgres refuses root); else nothing to change. */
function runAs() {
  if (process.getuid?.() !== 0) return {};
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
      return { uid, gid };
    } catch {}
  }
  throw new Error('running as root, and neither user postgres nor nobody exists');
}

/**
 * Starts the server and resolves once it takes connections.
 * - url(database = 'postgres'): postgres://bsubio@127.0.0.1:<port>/<database>
 * - createDatabase(name): a fresh database on it; resolves with its URL
 * - pause(): a "fast" shutdown (connections are cut) that keeps the data, as an outage would
 * - resume(): the same port and data again, after pause()
 * - stop(): shut down and remove its directory
 */
export async function startPostgres() {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-pg-'));
  const data = join(dir, 'data');
  const owner = runAs();
  if (owner.uid !== undefined) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'bsubio', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C'],
    { ...owner, stdio: 'pipe', cwd: dir },
  );
  const port = await freePort();
  const settings = [
    'listen_addresses=127.0.0.1',
    'fsync=off',
    'synchronous_commit=off',
    'full_page_writes=off',
  ];
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
        ...[...settings, 'max_connections=200'].flatMap((s) => ['-c', s]),
      ],
      { ...owner, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
    );
  let log = '';
  let child;
  const start = () => {
    child = launch();
    child.stderr.on('data', (d) => {
      log = (log + d.toString()).slice(-50_000);
    });
  };
  start();
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
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return url(name);
    },
    async pause() {
      await stopChild(child, 'SIGINT');
    },
    async resume() {
      start();
      await ready();
    },
    async stop() {
      // SIGINT: "fast" shutdown, open connections are cut.
      await stopChild(child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
