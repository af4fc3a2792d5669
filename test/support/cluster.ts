/**
 * Throwaway cluster back ends for tests, on loopback only: a PostgreSQL
 * server in a temp directory (run as a non-root user when the tests run as
 * root, since postgres refuses root) and an S3 endpoint (moto's server).
 * Each is stopped, and its directory removed, by its stop().
 */
import { spawn } from 'node:child_process';
import { freePort, startPostgres as startPostgresServer, stopChild, waitFor } from './postgres.mjs';

export { freePort };

export interface TestPostgres {
  /** postgres://bsubio@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** A fresh database on this server; resolves with its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
  /** Shut the server down ("fast": connections are cut), keeping its data, as an outage would. */
  pause(): Promise<void>;
  /** Start it again on the same port and data after pause(). */
  resume(): Promise<void>;
}

/** A throwaway PostgreSQL (see postgres.mjs, shared with the benchmarks). */
export function startPostgres(): Promise<TestPostgres> {
  return startPostgresServer();
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
