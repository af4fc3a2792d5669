// What every benchmark needs: the built bsubio-server on a free loopback
// port, with a throwaway data directory and HOME, and its first-start key.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const SERVER_BIN = join(ROOT, 'packages', 'server', 'bin', 'bsubio-server.js');

/**
 * Starts a server with these BSUBIO_* settings. Resolves once it listens,
 * with its url, key, child process and a stop() that also removes its files.
 */
export async function startBenchServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bsubio-bench-data-'));
  const home = mkdtempSync(join(tmpdir(), 'bsubio-bench-home-'));
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0'], {
    env: { ...process.env, HOME: home, BSUBIO_DATA_DIR: dataDir, BSUBIO_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const url = await listeningUrl(child, 'the server');
  const { api_key } = JSON.parse(readFileSync(join(home, '.config', 'bsubio', 'config.json'), 'utf8'));
  return {
    url,
    key: api_key,
    child,
    dataDir,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The URL a child process prints as "Listening: <url>" once it serves. */
export function listeningUrl(child, what) {
  return new Promise((resolveUrl, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const match = /Listening: (http:\/\/\S+)/.exec(out);
      if (match) resolveUrl(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before listening`)));
  });
}

/** The p-th percentile (0-100) of a list of numbers. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * One line of the report: our figure next to the peer's. The runner collects
 * these from each benchmark's stdout (one JSON line, prefixed) and writes
 * docs/benchmarks.md and its chart from them.
 *   item: 1..6 (the numbering), what: the line's label,
 *   ours/peer: numbers in `unit`, peerName: what the peer is,
 *   better: 'higher' | 'lower'; skipped: a reason instead of figures.
 */
export function report(row) {
  process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(row)}\n`);
}
export const REPORT_PREFIX = 'BSUBIO-BENCH-ROW ';

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function waitUntil(what, check, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start in time:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stopChild(child, signal, timeoutMs = 30_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill(signal);
  });
}

/** PostgreSQL's server binaries (Debian: /usr/lib/postgresql/<v>/bin). */
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

/** As root, the user postgres runs as (postgres refuses root). */
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
 * A throwaway PostgreSQL in a temp dir on a free loopback port (the same
 * settings as test/support/cluster.ts: durable writes off, as for every peer
 * here, so that the figures compare the queues, not the disk's fsync).
 */
export async function startPostgres() {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-bench-pg-'));
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
  const child = spawn(
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
    { ...owner, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  let log = '';
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-20_000);
  });
  const url = (database = 'postgres') => `postgres://bsubio@127.0.0.1:${port}/${database}`;
  const pg = (await import('pg')).default;
  const stop = async () => {
    await stopChild(child, 'SIGINT');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
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
  } catch (err) {
    await stop();
    throw err;
  }
  /** A fresh database on this server. */
  async function createDatabase(name) {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    return url(name);
  }
  return { url, createDatabase, stop };
}

/** redis-server on a free loopback port, in memory only (no RDB, no AOF). */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => {
    log = (log + d).slice(-20_000);
  });
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-20_000);
  });
  child.on('error', (err) => {
    log += `\n${err.message} (Debian package "redis-server"; see scripts/setup-debian.sh)`;
  });
  const stop = async () => {
    await stopChild(child, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      'redis-server',
      async () => /Ready to accept connections/.test(log),
      30_000,
      () => log,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: '127.0.0.1', port, stop };
}
