/**
 * Server settings: every one has a flag and a BSUBIO_* environment variable;
 * a flag wins over the environment, which wins over the default.
 */
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  maxUploadBytes: number;
  /** In-process workers; 0 runs none (jobs wait for remote workers). */
  workers: number;
  typesFile: string | undefined;
  maxAttempts: number;
  leaseMs: number;
  shutdownGraceMs: number;
  logLevel: string;
  /** Where the bsub.io clients read their key; written on first start when absent. */
  clientConfigPath: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Flag name → environment variable, with the text `--help` shows. */
export const SETTINGS = [
  ['port', 'BSUBIO_PORT', 'TCP port to listen on', '9986'],
  ['host', 'BSUBIO_HOST', 'address to listen on', '127.0.0.1'],
  ['data-dir', 'BSUBIO_DATA_DIR', 'where the database and files live', './data'],
  ['max-upload-bytes', 'BSUBIO_MAX_UPLOAD_BYTES', 'largest accepted upload', '1073741824 (1 GiB)'],
  ['workers', 'BSUBIO_WORKERS', 'in-process workers (0 = none)', 'one per core'],
  ['types-file', 'BSUBIO_TYPES_FILE', 'extra processing types (JSON, see README)', 'none'],
  ['max-attempts', 'BSUBIO_MAX_ATTEMPTS', 'claims per job before a lost job fails (ELOST)', '3'],
  ['lease-seconds', 'BSUBIO_LEASE_SECONDS', 'worker lease, renewed at a third of it', '15'],
  ['shutdown-grace-seconds', 'BSUBIO_SHUTDOWN_GRACE_SECONDS', 'time running jobs get on SIGTERM', '10'],
  ['log-level', 'BSUBIO_LOG_LEVEL', 'fatal, error, warn, info, debug or silent', 'info'],
] as const;

type Flags = Record<string, string | boolean | undefined>;

function pick(flags: Flags, env: NodeJS.ProcessEnv, flag: string, variable: string): string | undefined {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string') return fromFlag;
  const fromEnv = env[variable];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function integer(
  value: string | undefined,
  fallback: number,
  name: string,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not "${value}".`);
  }
  return Number(value);
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const get = (flag: string, variable: string) => pick(flags, env, flag, variable);
  const logLevel = get('log-level', 'BSUBIO_LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(
      `--log-level / BSUBIO_LOG_LEVEL must be one of fatal, error, warn, info, debug, silent.`,
    );
  }
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
    workers: integer(
      get('workers', 'BSUBIO_WORKERS'),
      availableParallelism(),
      '--workers / BSUBIO_WORKERS',
      0,
      256,
    ),
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
  };
}
