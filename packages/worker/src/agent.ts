/**
 * `bsubio-server worker`: a remote worker agent. It runs the same worker
 * pool, runner and sandbox as the embedded server, over RemoteBackend: HTTP
 * to the API replicas with a worker token, nothing else. SIGTERM drains:
 * no new claims, running jobs get the grace period, the rest go back.
 */
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog, RemoteBackend, WorkerPool } from '@bsubio/worker';

export interface WorkerAgentOptions {
  servers: string[];
  token: string;
  name: string;
  concurrency: number;
  types: string[] | undefined;
  typesFile: string | undefined;
  leaseMs: number;
  graceMs: number;
  scratchDir: string;
}

export function defaultWorkerName(): string {
  return `worker-${hostname()}-${process.pid}`;
}

export function defaultScratchDir(): string {
  return join(tmpdir(), `bsubio-worker-${process.pid}`);
}

export async function runWorkerAgent(options: WorkerAgentOptions): Promise<void> {
  const catalog = Catalog.load(options.typesFile);
  const known = catalog.names();
  const unknown = options.types?.filter((t) => !known.includes(t)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown processing types: ${unknown.join(', ')}`);
  const backend = new RemoteBackend({ servers: options.servers, token: options.token });
  const pool = new WorkerPool({
    backend,
    catalog,
    scratchDir: options.scratchDir,
    concurrency: options.concurrency,
    leaseMs: options.leaseMs,
    idPrefix: options.name,
    types: options.types ?? known.filter((name) => catalog.resolve(name)?.available),
    onError: (err, jobId) =>
      process.stderr.write(
        `bsubio-worker: ${jobId ? `job ${jobId}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`,
      ),
  });
  pool.start();
  // Handlers before the "ready" line, for the same reason as in `serve`.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`bsubio-worker: ${signal}, draining (${pool.activeJobs.length} running)\n`);
      backend.stopClaiming();
      pool.stop(options.graceMs).then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write(
    `Worker ${options.name} ready: ${pool.concurrency} slots, servers ${options.servers.join(', ')}\n`,
  );
  await stopped;
}
