/**
 * Server settings: every one has a flag and a BSUBIO_* environment variable;
 * a flag wins over the environment, which wins over the default.
 */
import { isIP } from 'node:net';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  SettingError as ConfigError,
  parseInteger as integer,
  parseLogLevel,
  type Setting,
  settingValue,
} from '@bsubio/worker/settings';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  maxUploadBytes: number;
  /** In-process workers; 0 runs none (jobs wait for remote workers). */
  workers: number;
  /** Per-job cgroups for the sandbox's limits: `auto` uses them where writable, `off` keeps to the /proc watch. */
  cgroups: 'auto' | 'off';
  typesFile: string | undefined;
  maxAttempts: number;
  leaseMs: number;
  shutdownGraceMs: number;
  logLevel: string;
  /** Where the bsub.io clients read their key; written on first start when absent. */
  clientConfigPath: string;
  /** Finished and failed jobs are removed this long after they ended. */
  retentionMs: number;
  /** Jobs never submitted (created, loaded) are removed this long after creation. */
  unsubmittedRetentionMs: number;
  /**
   * Jobs never uploaded (created) expire this long after creation, or after
   * unsubmittedRetentionMs when that is shorter: a client that died
   * mid-upload leaves nothing behind for long.
   */
  createdTtlMs: number;
  /** How often the retention sweeper runs. */
  sweepIntervalMs: number;
  /** Per user: requests per second (0 = no limit); bursts up to twice that. */
  rateLimit: number;
  /** Per user: jobs pending or running at once (0 = no limit). */
  maxActiveJobs: number;
  /** Per user: jobs running at once, whatever waits (0 = no cap; claims are fair between users anyway). */
  maxRunningPerUser: number;
  /** Per type: jobs running at once across users ("video/mp4=2"); absent: no cap. */
  maxRunningPerType: Record<string, number>;
  /** Per user: bytes of inputs and outputs kept (0 = no limit). */
  maxStoredBytes: number;
  /** The result cache: off, within each user's jobs (user), or across users (shared). */
  cache: 'off' | 'user' | 'shared';
  /** Allow webhooks to private, loopback and link-local addresses. */
  webhookAllowPrivate: boolean;
  /** First webhook retry after this; each next one waits twice as long (at most an hour). */
  webhookRetryBaseMs: number;
  /** Webhook deliveries are retried for this long, then given up. */
  webhookRetryWindowMs: number;
  /** Time one webhook POST may take. */
  webhookTimeoutMs: number;
  /** A request whose body stops arriving for this long is answered 408 and dropped. */
  bodyTimeoutMs: number;
  /** A client that has not sent all of a request's headers this long after starting it is answered 408 and dropped. */
  headersTimeoutMs: number;
  /** Bearer token /metrics asks for; unset: /metrics answers loopback clients only. */
  metricsToken: string | undefined;
  /** 64 hex digits: the server key (services/server-key.ts); unset: a file in the data dir. */
  secretKey: string | undefined;
  /**
   * Which proxies' X-Forwarded-For / -Proto / -Host to believe (Fastify's
   * trustProxy): false, a hop count, or addresses and CIDR ranges.
   */
  trustProxy: TrustProxy;
  /** Cluster mode: PostgreSQL for jobs and the queue (postgres://...); unset: SQLite in the data directory. */
  databaseUrl: string | undefined;
  /** Cluster mode: S3-compatible storage for files (s3://bucket?endpoint=...); unset: files in the data directory. */
  blobUrl: string | undefined;
}

/** false: none; n: the n nearest hops; else addresses, CIDRs or loopback/linklocal/uniquelocal. */
export type TrustProxy = false | number | string[];

/**
 * A bad setting: the SettingError of the flag-table parsing shared with
 * bsubio-worker (@bsubio/worker's settings.ts), so a bad integer found there
 * and a bad value found here are caught alike.
 */
export { ConfigError };

/** Flag name → environment variable, with the text `--help` shows. */
export const SETTINGS = [
  ['port', 'BSUBIO_PORT', 'TCP port to listen on', '9986'],
  ['host', 'BSUBIO_HOST', 'address to listen on', '127.0.0.1'],
  ['data-dir', 'BSUBIO_DATA_DIR', 'where the database and files live', './data'],
  [
    'database-url',
    'BSUBIO_DATABASE_URL',
    'cluster: PostgreSQL for jobs and queue (postgres://user:pw@host/db)',
    'SQLite in the data dir',
  ],
  [
    'blob-url',
    'BSUBIO_BLOB_URL',
    'cluster: S3 storage for files (s3://bucket?endpoint=URL&region=R)',
    'files in the data dir',
  ],
  ['max-upload-bytes', 'BSUBIO_MAX_UPLOAD_BYTES', 'largest accepted upload', '1073741824 (1 GiB)'],
  ['body-timeout', 'BSUBIO_BODY_TIMEOUT', 'drop a request whose body stops arriving this long (408)', '60s'],
  [
    'headers-timeout',
    'BSUBIO_HEADERS_TIMEOUT',
    'drop a client whose request headers are not all in this long (408)',
    '60s',
  ],
  [
    'trust-proxy',
    'BSUBIO_TRUST_PROXY',
    'proxies whose X-Forwarded-* to believe: addresses/CIDRs, loopback, or a hop count',
    'none',
  ],
  ['workers', 'BSUBIO_WORKERS', 'in-process workers (0 = none)', 'one per core'],
  ['cgroups', 'BSUBIO_CGROUPS', 'a cgroup per job for its limits: auto or off', 'auto'],
  ['types-file', 'BSUBIO_TYPES_FILE', 'extra processing types (JSON, see README)', 'none'],
  ['max-attempts', 'BSUBIO_MAX_ATTEMPTS', 'claims per job before a lost job fails (ELOST)', '3'],
  ['lease-seconds', 'BSUBIO_LEASE_SECONDS', 'worker lease, renewed at a third of it', '15'],
  ['shutdown-grace-seconds', 'BSUBIO_SHUTDOWN_GRACE_SECONDS', 'time running jobs get on SIGTERM', '10'],
  ['log-level', 'BSUBIO_LOG_LEVEL', 'fatal, error, warn, info, debug or silent', 'info'],
  ['retention', 'BSUBIO_RETENTION', 'keep finished and failed jobs this long (e.g. 7d, 12h, 90s)', '7d'],
  ['unsubmitted-retention', 'BSUBIO_UNSUBMITTED_RETENTION', 'keep jobs never submitted this long', '24h'],
  [
    'created-ttl',
    'BSUBIO_CREATED_TTL',
    'a job never uploaded (created) expires this long after creation',
    '24h',
  ],
  [
    'metrics-token',
    'BSUBIO_METRICS_TOKEN',
    '/metrics needs "Authorization: Bearer <token>"; unset: loopback clients only',
    'none',
  ],
  ['sweep-interval', 'BSUBIO_SWEEP_INTERVAL', 'how often expired jobs are removed', '1m'],
  ['rate-limit', 'BSUBIO_RATE_LIMIT', 'requests per second per user, bursts to 2x (0 = none)', '0'],
  ['max-active-jobs', 'BSUBIO_MAX_ACTIVE_JOBS', 'jobs pending or running at once per user (0 = none)', '0'],
  ['max-running-per-user', 'BSUBIO_MAX_RUNNING_PER_USER', 'jobs running at once per user (0 = none)', '0'],
  [
    'max-running-per-type',
    'BSUBIO_MAX_RUNNING_PER_TYPE',
    'jobs running at once per type, all users: type=n,type=n',
    'none',
  ],
  ['max-stored-bytes', 'BSUBIO_MAX_STORED_BYTES', 'bytes of inputs and outputs per user (0 = none)', '0'],
  [
    'cache',
    'BSUBIO_CACHE',
    "result cache: off, user (a user's own earlier jobs), shared (any user's; see README)",
    'user',
  ],
  [
    'webhook-allow-private',
    'BSUBIO_WEBHOOK_ALLOW_PRIVATE',
    'allow webhooks to private/loopback addresses (1/0)',
    '0',
  ],
  ['webhook-retry-base', 'BSUBIO_WEBHOOK_RETRY_BASE', 'first webhook retry delay, doubled each time', '10s'],
  ['webhook-retry-window', 'BSUBIO_WEBHOOK_RETRY_WINDOW', 'how long webhook deliveries are retried', '24h'],
  ['webhook-timeout', 'BSUBIO_WEBHOOK_TIMEOUT', 'time one webhook POST may take', '10s'],
] as const satisfies readonly Setting[];

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90` (seconds), `250ms`, `90s`, `15m`, `12h`, `7d` → milliseconds. */
export function parseDuration(
  value: string | undefined,
  fallbackMs: number,
  name: string,
  minMs = 0,
): number {
  if (value === undefined) return fallbackMs;
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * DURATION_UNITS[match[2] ?? 's']! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < minMs) {
    throw new ConfigError(
      `${name} must be a duration like 90s, 15m, 12h or 7d${minMs > 0 ? ` (at least ${minMs} ms)` : ''}, not "${value}".`,
    );
  }
  return ms;
}

function cgroupMode(value: string | undefined): 'auto' | 'off' {
  if (value === undefined || value === 'auto') return 'auto';
  if (value === 'off') return 'off';
  throw new ConfigError(`--cgroups / BSUBIO_CGROUPS must be auto or off, not "${value}"`);
}

function cacheMode(value: string | undefined): 'off' | 'user' | 'shared' {
  const v = value?.trim().toLowerCase() ?? 'user';
  if (v === 'off' || v === 'user' || v === 'shared') return v;
  throw new ConfigError(`--cache / BSUBIO_CACHE must be off, user or shared, not "${value}".`);
}

function boolean(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be 1 or 0, not "${value}".`);
}

type Flags = Record<string, string | boolean | undefined>;

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const get = (flag: string, variable: string) => settingValue(flags, env, flag, variable);
  const logLevel = parseLogLevel(get('log-level', 'BSUBIO_LOG_LEVEL'), '--log-level / BSUBIO_LOG_LEVEL');
  const home = env.HOME ?? homedir();
  return {
    host: get('host', 'BSUBIO_HOST') ?? '127.0.0.1',
    port: integer(get('port', 'BSUBIO_PORT'), 9986, '--port / BSUBIO_PORT', 0, 65535),
    dataDir: resolve(get('data-dir', 'BSUBIO_DATA_DIR') ?? './data'),
    maxUploadBytes: integer(
      get('max-upload-bytes', 'BSUBIO_MAX_UPLOAD_BYTES'),
      1024 ** 3,
      '--max-upload-bytes / BSUBIO_MAX_UPLOAD_BYTES',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    bodyTimeoutMs: parseDuration(
      get('body-timeout', 'BSUBIO_BODY_TIMEOUT'),
      60_000,
      '--body-timeout / BSUBIO_BODY_TIMEOUT',
      100,
    ),
    headersTimeoutMs: parseDuration(
      get('headers-timeout', 'BSUBIO_HEADERS_TIMEOUT'),
      60_000,
      '--headers-timeout / BSUBIO_HEADERS_TIMEOUT',
      100,
    ),
    trustProxy: trustProxy(get('trust-proxy', 'BSUBIO_TRUST_PROXY')),
    metricsToken: metricsToken(get('metrics-token', 'BSUBIO_METRICS_TOKEN')),
    // The environment only: a flag would show the key in `ps`.
    secretKey: env.BSUBIO_SECRET_KEY || undefined,
    workers: integer(
      get('workers', 'BSUBIO_WORKERS'),
      availableParallelism(),
      '--workers / BSUBIO_WORKERS',
      0,
      256,
    ),
    cgroups: cgroupMode(get('cgroups', 'BSUBIO_CGROUPS')),
    typesFile: get('types-file', 'BSUBIO_TYPES_FILE'),
    maxAttempts: integer(
      get('max-attempts', 'BSUBIO_MAX_ATTEMPTS'),
      3,
      '--max-attempts / BSUBIO_MAX_ATTEMPTS',
      1,
      100,
    ),
    leaseMs:
      integer(
        get('lease-seconds', 'BSUBIO_LEASE_SECONDS'),
        15,
        '--lease-seconds / BSUBIO_LEASE_SECONDS',
        1,
        3600,
      ) * 1000,
    shutdownGraceMs:
      integer(
        get('shutdown-grace-seconds', 'BSUBIO_SHUTDOWN_GRACE_SECONDS'),
        10,
        '--shutdown-grace-seconds / BSUBIO_SHUTDOWN_GRACE_SECONDS',
        0,
        86400,
      ) * 1000,
    logLevel,
    clientConfigPath: join(home, '.config', 'bsubio', 'config.json'),
    retentionMs: parseDuration(
      get('retention', 'BSUBIO_RETENTION'),
      7 * DURATION_UNITS.d!,
      '--retention / BSUBIO_RETENTION',
      1000,
    ),
    unsubmittedRetentionMs: parseDuration(
      get('unsubmitted-retention', 'BSUBIO_UNSUBMITTED_RETENTION'),
      DURATION_UNITS.d!,
      '--unsubmitted-retention / BSUBIO_UNSUBMITTED_RETENTION',
      1000,
    ),
    createdTtlMs: parseDuration(
      get('created-ttl', 'BSUBIO_CREATED_TTL'),
      DURATION_UNITS.d!,
      '--created-ttl / BSUBIO_CREATED_TTL',
      1000,
    ),
    sweepIntervalMs: parseDuration(
      get('sweep-interval', 'BSUBIO_SWEEP_INTERVAL'),
      60_000,
      '--sweep-interval / BSUBIO_SWEEP_INTERVAL',
      100,
    ),
    rateLimit: integer(get('rate-limit', 'BSUBIO_RATE_LIMIT'), 0, '--rate-limit / BSUBIO_RATE_LIMIT', 0, 1e6),
    maxActiveJobs: integer(
      get('max-active-jobs', 'BSUBIO_MAX_ACTIVE_JOBS'),
      0,
      '--max-active-jobs / BSUBIO_MAX_ACTIVE_JOBS',
      0,
      1e6,
    ),
    maxRunningPerUser: integer(
      get('max-running-per-user', 'BSUBIO_MAX_RUNNING_PER_USER'),
      0,
      '--max-running-per-user / BSUBIO_MAX_RUNNING_PER_USER',
      0,
      1e6,
    ),
    maxRunningPerType: typeCaps(get('max-running-per-type', 'BSUBIO_MAX_RUNNING_PER_TYPE')),
    maxStoredBytes: integer(
      get('max-stored-bytes', 'BSUBIO_MAX_STORED_BYTES'),
      0,
      '--max-stored-bytes / BSUBIO_MAX_STORED_BYTES',
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    cache: cacheMode(get('cache', 'BSUBIO_CACHE')),
    webhookAllowPrivate: boolean(
      get('webhook-allow-private', 'BSUBIO_WEBHOOK_ALLOW_PRIVATE'),
      '--webhook-allow-private / BSUBIO_WEBHOOK_ALLOW_PRIVATE',
    ),
    webhookRetryBaseMs: parseDuration(
      get('webhook-retry-base', 'BSUBIO_WEBHOOK_RETRY_BASE'),
      10_000,
      '--webhook-retry-base / BSUBIO_WEBHOOK_RETRY_BASE',
      10,
    ),
    webhookRetryWindowMs: parseDuration(
      get('webhook-retry-window', 'BSUBIO_WEBHOOK_RETRY_WINDOW'),
      DURATION_UNITS.d!,
      '--webhook-retry-window / BSUBIO_WEBHOOK_RETRY_WINDOW',
      1000,
    ),
    databaseUrl: databaseUrl(get('database-url', 'BSUBIO_DATABASE_URL')),
    blobUrl: blobUrl(get('blob-url', 'BSUBIO_BLOB_URL')),
    webhookTimeoutMs: parseDuration(
      get('webhook-timeout', 'BSUBIO_WEBHOOK_TIMEOUT'),
      10_000,
      '--webhook-timeout / BSUBIO_WEBHOOK_TIMEOUT',
      100,
    ),
  };
}

/** `video/mp4=2,office/pdf=1` → { "video/mp4": 2, "office/pdf": 1 }. */
function typeCaps(value: string | undefined): Record<string, number> {
  const caps: Record<string, number> = {};
  for (const entry of (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = /^([^=\s]+)=(\d+)$/.exec(entry);
    if (!match || Number(match[2]) < 1) {
      throw new ConfigError(
        `--max-running-per-type / BSUBIO_MAX_RUNNING_PER_TYPE takes type=n pairs with n ≥ 1, like video/mp4=2,office/pdf=1; "${entry}" is not one.`,
      );
    }
    caps[match[1]!] = Number(match[2]);
  }
  return caps;
}

function metricsToken(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim().length < 16 || /\s/.test(value.trim())) {
    throw new ConfigError(
      '--metrics-token / BSUBIO_METRICS_TOKEN must be at least 16 characters without spaces.',
    );
  }
  return value.trim();
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Off unless asked: believing X-Forwarded-For from anyone would let every
 * client pick its own address, and with it its own sign-in throttle bucket.
 */
function trustProxy(value: string | undefined): TrustProxy {
  const name = '--trust-proxy / BSUBIO_TRUST_PROXY';
  const v = value?.trim().toLowerCase();
  if (v === undefined || ['', '0', 'false', 'no', 'off', 'none'].includes(v)) return false;
  if (/^\d+$/.test(v)) return integer(v, 0, name, 1, 100);
  const entries = v.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (PROXY_KEYWORDS.has(entry)) continue;
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 4 ? 32 : 128;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || extra !== undefined) {
      throw new ConfigError(
        `${name} takes IP addresses, CIDR ranges (10.0.0.0/8), loopback, linklocal, uniquelocal or a hop count, not "${entry}".`,
      );
    }
  }
  return entries;
}

function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new ConfigError(
      `--database-url / BSUBIO_DATABASE_URL must be a postgres://user:password@host:port/database URL.`,
    );
  }
  return value;
}

function blobUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^s3:\/\/[^/?]+/.test(value)) {
    throw new ConfigError(
      `--blob-url / BSUBIO_BLOB_URL must look like s3://bucket?endpoint=http://host:9000&region=us-east-1.`,
    );
  }
  return value;
}
