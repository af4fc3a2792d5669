/**
 * The remote worker agent (`bsubio-worker`, also `bsubio-server worker`). It
 * runs the same worker pool, runner and sandbox as the embedded server, over
 * RemoteBackend: HTTP to the API replicas with a worker token, nothing else —
 * which is why this package depends on neither Fastify, a database driver
 * nor the AWS SDK. SIGTERM drains: no new claims, running jobs get the grace
 * period, the rest go back.
 */
import { existsSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Catalog } from './catalog.js';
import { WorkerPool } from './pool.js';
import { RemoteBackend } from './remote-backend.js';
import { sandboxMechanisms } from './sandbox.js';
import { removeDirsOfGoneProcesses } from './stale-dirs.js';

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
  /** pino's levels: fatal, error, warn, info, debug, trace or silent. */
  logLevel: string;
}

export function defaultWorkerName(): string {
  return `worker-${hostname()}-${process.pid}`;
}

export function defaultScratchDir(): string {
  return join(tmpdir(), `bsubio-worker-${process.pid}`);
}

/**
 * JSON lines on stderr, the same shape as the server's (pino's level, time,
 * pid, hostname, msg), so one log pipeline reads both; `worker` names the agent.
 */
export function agentLogger(level: string, name: string) {
  return pino({ level, base: { pid: process.pid, hostname: hostname(), worker: name } }, process.stderr);
}

export async function runWorkerAgent(options: WorkerAgentOptions): Promise<void> {
  const log = agentLogger(options.logLevel, options.name);
  // A scratch directory the agent makes is its own, removed when it stops; one
  // that was there before (--scratch-dir) is the operator's, and stays.
  if (options.scratchDir === defaultScratchDir()) removeDirsOfGoneProcesses(/^bsubio-worker-(\d+)$/);
  const ownsScratchDir = !existsSync(options.scratchDir);
  const catalog = Catalog.load(options.typesFile);
  const known = catalog.names();
  const unknown = options.types?.filter((t) => !known.includes(t)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown processing types: ${unknown.join(', ')}`);
  const types = options.types ?? known.filter((name) => catalog.resolve(name)?.available);
  const backend = new RemoteBackend({ servers: options.servers, token: options.token });
  const pool = new WorkerPool({
    backend,
    catalog,
    scratchDir: options.scratchDir,
    concurrency: options.concurrency,
    leaseMs: options.leaseMs,
    idPrefix: options.name,
    types,
    onError: (err, jobId) => log.error({ err, jobId }, jobId ? 'job failed in the worker' : 'worker error'),
  });
  const sandbox = sandboxMechanisms();
  if (sandbox.degraded) log.warn(sandbox.summary);
  else log.info(sandbox.summary);
  pool.start();
  // Handlers before the "ready" line: whoever reads it may signal at once, and
  // a SIGTERM that came first would kill the process instead of draining it.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal, running: pool.activeJobs.length }, 'draining');
      backend.stopClaiming();
      pool.stop(options.graceMs).then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info({ slots: pool.concurrency, servers: options.servers, types }, 'worker ready');
  process.stdout.write(
    `Worker ${options.name} ready: ${pool.concurrency} slots, servers ${options.servers.join(', ')}\n`,
  );
  await stopped;
  if (ownsScratchDir) rmSync(options.scratchDir, { recursive: true, force: true });
  log.info('stopped');
}
