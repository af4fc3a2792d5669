// What every benchmark needs: the built bsubio-server on a free loopback
// port, with a throwaway data directory and HOME, and its first-start key.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, stopChild, waitFor } from '../test/support/postgres.mjs';

// PostgreSQL's throwaway server is the tests' own.
export { startPostgres } from '../test/support/postgres.mjs';

export const ROOT = resolve(import.meta.dirname, '..');
export const SERVER_BIN = join(ROOT, 'packages', 'server', 'bin', 'bsubio-server.js');

/**
 * Starts a server with these BSUBIO_* settings. Resolves once it listens,
 * with its url, key, child process and a stop() that also removes its files.
 */
export async function startBenchServer(env = {}, { logToFile = false } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bsubio-bench-data-'));
  const home = mkdtempSync(join(tmpdir(), 'bsubio-bench-home-'));
  // logToFile: the server's default logging (an access-log line per
  // request) into a file, as a service's stderr goes to its journal.
  const stderr = logToFile ? openSync(join(dataDir, 'server.log'), 'w') : 'inherit';
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0'], {
    env: {
      ...process.env,
      HOME: home,
      BSUBIO_DATA_DIR: dataDir,
      BSUBIO_LOG_LEVEL: logToFile ? 'info' : 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', stderr],
  });
  if (typeof stderr === 'number') closeSync(stderr);
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

/**
 * A job created (with `create` added to the create body) and its input
 * uploaded through `server`'s HTTP API: loaded, waiting for its submit.
 * Resolves with its id.
 */
export async function loadedJob(server, type, bytes, create = {}) {
  const auth = { authorization: `Bearer ${server.key}` };
  const created = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ type, ...create }),
  });
  const { data } = await created.json();
  const up = await fetch(`${server.url}/v1/upload/${data.id}?token=${data.upload_token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (up.status !== 200) throw new Error(`upload: ${up.status}`);
  return data.id;
}

/** Submit a loaded job and wait for its end (`?wait`); resolves with the job, finished or failed. */
export async function submitAndWait(server, id) {
  const auth = { authorization: `Bearer ${server.key}` };
  await (await fetch(`${server.url}/v1/jobs/${id}/submit`, { method: 'POST', headers: auth })).arrayBuffer();
  for (;;) {
    const { data } = await (await fetch(`${server.url}/v1/jobs/${id}?wait=60`, { headers: auth })).json();
    if (data.status === 'finished' || data.status === 'failed') return data;
  }
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

/**
 * CPU time in milliseconds, from /proc (clock ticks of USER_HZ, 100 on
 * Linux): the whole machine's busy time (user, nice, system, irq, softirq:
 * not idle or iowait), and one process's own user + system time.
 */
export function machineCpuMs() {
  const [, user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
    .slice(0, 200)
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .map(Number);
  return (user + nice + system + irq + softirq) * 10;
}
export function processCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
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
    await waitFor(
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
