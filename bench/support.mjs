// What every benchmark needs: the built bsubio-server on a free loopback
// port, with a throwaway data directory and HOME, and its first-start key.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

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
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const match = /Listening: (http:\/\/\S+)/.exec(out);
      if (match) resolveUrl(match[1]);
    });
    exited.then((code) => reject(new Error(`the server exited with ${code} before listening`)));
  });
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

/** The p-th percentile (0-100) of a list of numbers. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))];
}
