/**
 * Assembles and runs the embedded service: SQLite store, file blobs, the
 * HTTP API and an in-process worker pool, with start-up recovery and a clean
 * shutdown.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog, EMBEDDED_WORKER_PREFIX, WorkerPool } from '@bsubio/worker';
import type { FastifyInstance } from 'fastify';
import { FsBlobStore } from './blobs/blob-store.js';
import type { ServerConfig } from './config.js';
import { buildApp } from './http/app.js';
import { EmbeddedBackend } from './services/embedded-backend.js';
import { JobEvents } from './services/job-events.js';
import { JobService } from './services/job-service.js';
import { UserService } from './services/user-service.js';
import { type Db, openSqlite } from './store/database.js';
import { JobRepository } from './store/job-repository.js';
import { UserRepository } from './store/user-repository.js';

export const LOCAL_USER_EMAIL = 'local@localhost';

export function serverVersion(): { version: string; build: string } {
  const pkgPath = fileURLToPath(new URL('../package.json', import.meta.url));
  const { version } = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
  // The build is when this code was compiled: the time of this file.
  const build = statSync(fileURLToPath(import.meta.url)).mtime.toISOString();
  return { version, build };
}

export async function openStore(dataDir: string): Promise<Db> {
  return openSqlite(join(dataDir, 'bsubio.db'));
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  jobs: JobService;
  /** Stop claiming, let running jobs finish within the grace period, hand back the rest. */
  close(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  notice: (line: string) => void,
): Promise<RunningServer> {
  await mkdir(config.dataDir, { recursive: true });
  const catalog = Catalog.load(config.typesFile);
  const db = await openStore(config.dataDir);
  const blobs = new FsBlobStore(config.dataDir);
  await blobs.init();

  const events = new JobEvents();
  const users = new UserService(new UserRepository(db));
  const jobs = new JobService(new JobRepository(db), blobs, catalog, events, {
    maxUploadBytes: config.maxUploadBytes,
    maxAttempts: config.maxAttempts,
  });

  await ensureLocalUser(users, config, notice);
  // Recovery: finish deletes a crash interrupted; jobs held by this data
  // directory's previous in-process workers go back to the queue now.
  await jobs.finishInterruptedDeletes();
  await jobs.reapLostJobs(`${EMBEDDED_WORKER_PREFIX}-`);

  const app = buildApp({
    jobs,
    users,
    catalog,
    version: serverVersion(),
    maxUploadBytes: config.maxUploadBytes,
    logger: { level: config.logLevel, stream: process.stderr } as never,
  });

  const pool =
    config.workers > 0
      ? new WorkerPool({
          backend: new EmbeddedBackend(jobs),
          catalog,
          scratchDir: join(blobs.scratchDir, 'work'),
          concurrency: config.workers,
          leaseMs: config.leaseMs,
          onError: (err, jobId) => app.log.error({ err, jobId }, 'worker error'),
        })
      : undefined;
  pool?.start();

  // Remote or crashed workers: their leases lapse and the jobs go back to the queue.
  const reaper = setInterval(
    () => {
      jobs.reapLostJobs().catch((err) => app.log.error({ err }, 'lease reaper failed'));
    },
    Math.max(1000, Math.floor(config.leaseMs / 2)),
  );
  reaper.unref();

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    jobs,
    close: () => {
      closing ??= (async () => {
        clearInterval(reaper);
        await Promise.all([pool?.stop(config.shutdownGraceMs), app.close()]);
        await db.destroy();
      })();
      return closing;
    },
  };
}

/**
 * On an empty data directory, create a local user so the service works at
 * once, and hand its key to the bsub.io clients through their config file.
 */
async function ensureLocalUser(
  users: UserService,
  config: ServerConfig,
  notice: (line: string) => void,
): Promise<void> {
  if ((await users.countUsers()) > 0) return;
  const { apiKey } = await users.createUser(LOCAL_USER_EMAIL);
  const baseUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  const body = `${JSON.stringify({ api_key: apiKey, base_url: baseUrl }, null, 2)}\n`;
  let target = config.clientConfigPath;
  if (existsSync(target)) target = join(config.dataDir, 'local-api-key.json');
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, body, { mode: 0o600 });
  notice(
    target === config.clientConfigPath
      ? `Created user ${LOCAL_USER_EMAIL}; its API key is saved in ${target} for the bsubio CLI and SDKs.`
      : `Created user ${LOCAL_USER_EMAIL}; ${config.clientConfigPath} already exists, so its API key is saved in ${target}.`,
  );
}
