/**
 * Assembles and runs the service: the store (SQLite, or PostgreSQL in
 * cluster mode), blobs (files, or S3), the HTTP API with the worker
 * extension, and an in-process worker pool, with start-up recovery and a
 * clean shutdown. In cluster mode any number of these run side by side.
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Catalog,
  EMBEDDED_WORKER_PREFIX,
  sandboxMechanisms,
  setCgroupMode,
  WorkerPool,
} from '@bsubio/worker';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { openBlobStore } from './blobs/open-blob-store.js';
import type { ServerConfig } from './config.js';
import { buildApp } from './http/app.js';
import { requestLogFields } from './http/log-redact.js';
import { openLogSink } from './log-sink.js';
import { AccountService } from './services/account-service.js';
import { ClusterNotifier } from './services/cluster-notifier.js';
import { EmbeddedBackend } from './services/embedded-backend.js';
import { JobEvents } from './services/job-events.js';
import { JobService } from './services/job-service.js';
import { Metrics } from './services/metrics.js';
import { ResultCache } from './services/result-cache.js';
import { ServerKey } from './services/server-key.js';
import { UserService } from './services/user-service.js';
import { WebhookService } from './services/webhooks.js';
import { WorkerTokens } from './services/worker-tokens.js';
import { AccountRepository } from './store/account-repository.js';
import { BlobRefRepository } from './store/blob-ref-repository.js';
import { openStore } from './store/database.js';
import { JobRepository } from './store/job-repository.js';
import { UserRepository } from './store/user-repository.js';
import { WebhookRepository } from './store/webhook-repository.js';

export const LOCAL_USER_EMAIL = 'local@localhost';

/** Cluster mode: a delete still unfinished after this long was interrupted. */
const INTERRUPTED_DELETE_MS = 10 * 60_000;

export function serverVersion(): { version: string; build: string } {
  const pkgPath = fileURLToPath(new URL('../package.json', import.meta.url));
  const { version } = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
  // The build is when this code was compiled: the time of this file.
  const build = statSync(fileURLToPath(import.meta.url)).mtime.toISOString();
  return { version, build };
}

/** packages/web next to this package (a workspace checkout), if it is there. */
/**
 * A data directory made by an older version (0755) or by hand is closed to
 * other local users: it holds the database, every user's files and the
 * server key. Only when it is ours; a shared directory is the operator's call.
 */
function closeToOthers(dataDir: string, notice: (line: string) => void): void {
  const stat = statSync(dataDir);
  if (stat.uid !== process.getuid?.() || (stat.mode & 0o077) === 0) return;
  chmodSync(dataDir, stat.mode & 0o700);
  notice(
    `Closed the data directory ${dataDir} to other users (mode ${(stat.mode & 0o777).toString(8)} → ${(stat.mode & 0o700).toString(8)}).`,
  );
}

/** The dashboard's files: the @bsubio/web package, in a checkout or installed beside us. */
function defaultWebDir(): string | undefined {
  try {
    return `${dirname(createRequire(import.meta.url).resolve('@bsubio/web/package.json'))}/`;
  } catch {
    return undefined;
  }
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
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  closeToOthers(config.dataDir, notice);
  const catalog = Catalog.load(config.typesFile);
  const store = await openStore(config.dataDir, config.databaseUrl);
  const { db } = store;
  const blobs = await openBlobStore(config.blobUrl, config.dataDir);
  const cluster = store.dialect === 'postgres';

  const events = new JobEvents();
  const userRepository = new UserRepository(db);
  const users = new UserService(userRepository);
  const accounts = new AccountService(new AccountRepository(db), userRepository, users);
  const jobRepository = new JobRepository(db, store.leaseDb);
  const serverKey = await ServerKey.load({
    envKey: config.secretKey,
    dataDir: config.dataDir,
    db,
    cluster,
  });
  const cache = new ResultCache(config.cache, catalog);
  const jobs = new JobService(jobRepository, blobs, catalog, events, {
    blobRefs: new BlobRefRepository(db),
    cache,
    uploadToken: (jobId) => serverKey.uploadToken(jobId),
    claimLimits: { maxRunningPerUser: config.maxRunningPerUser, maxRunningPerType: config.maxRunningPerType },
    maxUploadBytes: config.maxUploadBytes,
    maxAttempts: config.maxAttempts,
    maxActiveJobs: config.maxActiveJobs,
    maxStoredBytes: config.maxStoredBytes,
  });
  const metrics = new Metrics();
  metrics.attach(events);
  metrics.more.push(() => cache.render());
  const webhookRepository = new WebhookRepository(db);
  const version = serverVersion();
  let onBackgroundError: (err: unknown, what: string) => void = () => {};
  const webhooks = new WebhookService(
    webhookRepository,
    events,
    {
      allowPrivate: config.webhookAllowPrivate,
      retryBaseMs: config.webhookRetryBaseMs,
      retryWindowMs: config.webhookRetryWindowMs,
      timeoutMs: config.webhookTimeoutMs,
      userAgent: `bsubio-webhooks/${version.version}`,
      secrets: {
        encrypt: (plain) => serverKey.encrypt(plain),
        decrypt: (stored) => serverKey.decrypt(stored),
      },
    },
    (err) => onBackgroundError(err, 'webhook delivery failed'),
  );

  // Recovery: finish deletes a crash interrupted; jobs held by this data
  // directory's previous in-process workers go back to the queue now. In
  // cluster mode other replicas' workers are alive and other replicas may be
  // deleting: their jobs come back only when their leases lapse.
  if (!cluster) {
    await jobs.finishInterruptedDeletes();
    await jobs.reapLostJobs(`${EMBEDDED_WORKER_PREFIX}-`);
  }

  let closing: Promise<void> | undefined;
  // Log lines go to stderr in batches of 16 KiB, and at least every 200 ms (log-sink.ts).
  const logSink = openLogSink(2);
  const app = buildApp({
    jobs,
    users,
    accounts,
    webDir: defaultWebDir(),
    catalog,
    version,
    maxUploadBytes: config.maxUploadBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    trustProxy: config.trustProxy,
    metricsToken: config.metricsToken,
    webhooks,
    metrics,
    rateLimit: config.rateLimit,
    renderMetrics: async () => {
      const [jobCounts, deliveries] = await Promise.all([
        jobRepository.countByStatusAndType(),
        webhookRepository.countByStatus(),
      ]);
      return metrics.render({ jobs: jobCounts, deliveries });
    },
    ready: async () => {
      if (closing) throw new Error('the server is shutting down.');
      await sql`select 1`.execute(db);
    },
    logger: {
      level: config.logLevel,
      stream: logSink,
      serializers: { req: requestLogFields },
    } as never,
    workerTokens: new WorkerTokens(db),
  });
  onBackgroundError = (err, what) => app.log.error({ err }, what);
  if (serverKey.source === 'database') {
    app.log.warn(
      'BSUBIO_SECRET_KEY is not set: the server key that protects webhook secrets and upload tokens is kept in the database, where it protects nothing; give every replica the same BSUBIO_SECRET_KEY (openssl rand -hex 32).',
    );
  }

  // Cluster mode: submits, cancels, every change, deletes and live logs reach the other replicas.
  const notifier = store.pool
    ? new ClusterNotifier(
        store.pool,
        events,
        (id) => jobRepository.findById(id),
        jobs.workers,
        (err) => app.log.warn({ err }, 'cluster notification failed'),
      )
    : undefined;
  await notifier?.start();

  const pool =
    config.workers > 0
      ? new WorkerPool({
          backend: new EmbeddedBackend(jobs),
          catalog,
          scratchDir: join(blobs.scratchDir, 'work'),
          concurrency: config.workers,
          leaseMs: config.leaseMs,
          // Every move to pending in this process wakes an idle slot at once
          // (the 'pending' event, see EmbeddedBackend); the poll is only a
          // safety net, and an idle server should do next to nothing.
          pollMs: 10_000,
          onError: (err, jobId) => app.log.error({ err, jobId }, 'worker error'),
        })
      : undefined;
  if (pool) {
    // Which kernel mechanisms hold the jobs' limits here, said once (a warning when it is the watch alone).
    setCgroupMode(config.cgroups);
    const sandbox = sandboxMechanisms();
    if (sandbox.degraded) app.log.warn(sandbox.summary);
    else app.log.info(sandbox.summary);
  }
  pool?.start();

  // Remote or crashed workers: their leases lapse and the jobs go back to the queue.
  const reaper = setInterval(
    () => {
      jobs.reapLostJobs().catch((err) => app.log.error({ err }, 'lease reaper failed'));
    },
    Math.max(1000, Math.floor(config.leaseMs / 2)),
  );
  reaper.unref();

  // Retention: finished jobs past BSUBIO_RETENTION, jobs never submitted and
  // jobs never uploaded (BSUBIO_CREATED_TTL) go, rows and files.
  let sweeping = false;
  const sweep = () => {
    if (sweeping) return;
    sweeping = true;
    jobs
      .sweepExpired(
        config.retentionMs,
        config.unsubmittedRetentionMs,
        Math.min(config.createdTtlMs, config.unsubmittedRetentionMs),
      )
      .then(async (removed) => {
        // Cluster mode: a delete begun over ten minutes ago was cut short by
        // a replica that stopped; on one machine that is done at start-up.
        if (cluster) await jobs.finishInterruptedDeletes(Date.now() - INTERRUPTED_DELETE_MS);
        // Sessions and device codes expire too; device codes are started without a key.
        await accounts.sweepExpired();
        if (removed > 0) app.log.info({ removed }, 'retention sweep removed expired jobs');
      })
      .catch((err) => app.log.error({ err }, 'retention sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  };
  sweep();
  const sweeper = setInterval(sweep, config.sweepIntervalMs);
  sweeper.unref();
  webhooks.start();

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = httpUrl(config.host, port);
  // After listen, so that the key file names the real port (`--port 0` picks one).
  await ensureLocalUser(users, config, port, notice);

  return {
    app,
    url,
    jobs,
    close: () => {
      closing ??= (async () => {
        clearInterval(reaper);
        clearInterval(sweeper);
        // Long-lived requests (waits, event streams) answer now, so the listener can close.
        jobs.events.emit('shutdown');
        await Promise.all([pool?.stop(config.shutdownGraceMs), app.close()]);
        // After the pool: jobs that finished in the grace period still get their webhook queued.
        await webhooks.stop();
        await notifier?.stop();
        await db.destroy();
        logSink.close();
      })();
      return closing;
    },
  };
}

/** `http://host:port`, with an IPv6 address in brackets. */
function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * On an empty data directory, create a local user so the service works at
 * once, and hand its key to the bsub.io clients through their config file.
 */
async function ensureLocalUser(
  users: UserService,
  config: ServerConfig,
  port: number,
  notice: (line: string) => void,
): Promise<void> {
  if ((await users.countUsers()) > 0) return;
  let apiKey: string;
  try {
    ({ apiKey } = await users.createUser(LOCAL_USER_EMAIL));
  } catch (err) {
    // Cluster mode: another replica starting at the same time created it first.
    if ((await users.countUsers()) > 0) return;
    throw err;
  }
  // A wildcard address is where the server listens, not where a client connects.
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const baseUrl = httpUrl(host, port);
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
  // What a person opening the dashboard next needs: the user has a key, no password.
  notice(
    `Dashboard: ${baseUrl}/ (sign in with that API key, or give ${LOCAL_USER_EMAIL} a password: bsubio-server user password ${LOCAL_USER_EMAIL}).`,
  );
}
