/**
 * `bsubio-server`: run the service, and manage users and keys.
 *
 *   bsubio-server [serve] [flags]      start the service
 *   bsubio-server user add <email>     create a user; prints only its API key
 *                                      (--password: also a dashboard password)
 *   bsubio-server key add <email>      another key for a user; prints only the key
 *   bsubio-server key revoke <prefix>  revoke the key with this prefix
 *   bsubio-server worker --server URL --token T   run a remote worker agent
 *   bsubio-server worker-token add <name> | revoke <prefix>
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, SETTINGS } from './config.js';
import type { UserService } from './services/user-service.js';
import type { Db } from './store/database.js';

const settingsHelp = SETTINGS.map(
  ([flag, variable, text, fallback]) =>
    `  --${flag.padEnd(24)} ${variable.padEnd(31)} ${text} (default ${fallback})`,
).join('\n');

const HELP: Record<string, string> = {
  main: `bsubio-server: the bsubio API server (a self-hosted bsub.io)

Usage:
  bsubio-server [serve] [flags]      start the service (SQLite + files + in-process workers)
  bsubio-server user add <email>     create a user and print its API key
                                     (--password: also set a password for the dashboard)
  bsubio-server key add <email>      add another API key for a user and print it
  bsubio-server key revoke <prefix>  revoke the API key whose prefix starts with <prefix>
  bsubio-server worker --server URL --token TOKEN [--types a,b] [--concurrency N] [--name ID]
                                     run a remote worker agent (cluster mode)
  bsubio-server worker-token add <name>      create a worker token and print it
  bsubio-server worker-token revoke <prefix> revoke a worker token
  bsubio-server <command> --help     help for one command

Cluster mode: set BSUBIO_DATABASE_URL (PostgreSQL) and BSUBIO_BLOB_URL (S3)
on every API replica, run them with --workers 0, and run workers elsewhere
with "bsubio-server worker". See README, "Running a cluster".

Flags of serve (flag, environment variable):
${settingsHelp}
`,
  serve: `Usage: bsubio-server serve [flags]

Starts the service. When ready it prints "Listening: http://<host>:<port>" on
stdout. SIGTERM or SIGINT stops it cleanly: no new jobs are claimed, running
jobs get the grace period, the rest go back to pending.

On first start with an empty data directory it creates the user
local@localhost and writes its key to ~/.config/bsubio/config.json (the file the
bsub.io CLI and SDKs read) unless that file exists.

Flags (flag, environment variable):
${settingsHelp}
`,
  user: `Usage: bsubio-server user add <email> [--password] [--data-dir DIR]

Creates a user and prints only the new API key on stdout.
  --password       also set a password for signing in to the dashboard: asked
                   for (not echoed) on a terminal, else read from the first
                   line of stdin (at least 8 characters)
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
`,
  key: `Usage:
  bsubio-server key add <email> [--data-dir DIR]     print a new API key for the user
  bsubio-server key revoke <prefix> [--data-dir DIR] revoke the key with this prefix

A key looks like bsub_<prefix>_<secret>; revoke takes its prefix (at least 4
characters, with or without "bsub_").
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
`,
  worker: `Usage: bsubio-server worker --server URL[,URL...] --token TOKEN [flags]

Runs a remote worker agent: it claims jobs from the API servers over HTTP
(the /v1/worker/... extension) with a worker token, runs each in the sandbox
like the embedded workers, and streams input, output and logs over HTTP. It
needs no database or storage credentials. With several URLs (API replicas) it
moves to the next one when a server cannot be reached. SIGTERM or SIGINT
drains: no new claims, running jobs get the grace period, the rest go back to
pending. Prints "Worker <name> ready: ..." on stdout once it runs.

Flags (flag, environment variable):
  --server URL[,URL]        BSUBIO_SERVER            API server(s) (required)
  --token TOKEN             BSUBIO_WORKER_TOKEN      worker token (required; see worker-token add)
  --types a,b               BSUBIO_WORKER_TYPES      types to take (default: every type installed here)
  --concurrency N           BSUBIO_WORKER_CONCURRENCY jobs at once (default one per core)
  --name ID                 BSUBIO_WORKER_NAME       shows in claimed_by as <name>-<slot> (default worker-<host>-<pid>)
  --types-file FILE         BSUBIO_TYPES_FILE        extra processing types (the same file as the servers')
  --lease-seconds N         BSUBIO_LEASE_SECONDS     lease, renewed at a third of it (default 15)
  --shutdown-grace-seconds N BSUBIO_SHUTDOWN_GRACE_SECONDS time running jobs get on SIGTERM (default 10)
  --scratch-dir DIR         BSUBIO_SCRATCH_DIR       local scratch space (default a temp dir)
`,
  'worker-token': `Usage:
  bsubio-server worker-token add <name> [--database-url URL | --data-dir DIR]   print a new worker token
  bsubio-server worker-token revoke <prefix|name> [--database-url URL | --data-dir DIR]

A worker token (bsubw_<prefix>_<secret>) lets a remote worker agent use the
/v1/worker/... endpoints and nothing else. Only its hash is stored. Revoking
takes effect at the worker's next request.
  --database-url URL   PostgreSQL (env BSUBIO_DATABASE_URL); else SQLite in --data-dir
  --data-dir DIR       data directory (env BSUBIO_DATA_DIR, default ./data)
`,
};

const flagOptions = Object.fromEntries(
  [...SETTINGS.map(([flag]) => flag)].map((flag) => [flag, { type: 'string' as const }]),
);

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`bsubio-server: ${(err as Error).message}\nRun "bsubio-server --help" for usage.\n`);
    return 1;
  }
  const { values, positionals } = parsed;
  const [command = 'serve', ...rest] = positionals;
  if (values.help) {
    process.stdout.write(HELP[command] ?? HELP.main!);
    return 0;
  }
  try {
    switch (command) {
      case 'serve':
        if (rest.length > 0) return usage(`unexpected argument "${rest[0]}"`);
        return await serve(values);
      case 'user':
        if (rest[0] !== 'add' || rest.length !== 2)
          return usage('use "bsubio-server user add <email>"', 'user');
        return await withUsers(values, async (users, setPassword) => {
          // Asked before the user exists, so a bad password leaves nothing half made.
          const password = values.password ? await readPassword() : undefined;
          const { user, apiKey } = await users.createUser(rest[1]!);
          if (password !== undefined) await setPassword(user.email, password);
          process.stdout.write(`${apiKey}\n`);
        });
      case 'key':
        if (rest[0] === 'add' && rest.length === 2) {
          return await withUsers(values, async (users) => {
            process.stdout.write(`${await users.addKey(rest[1]!)}\n`);
          });
        }
        if (rest[0] === 'revoke' && rest.length === 2) {
          return await withUsers(values, async (users) => {
            const prefix = await users.revokeKey(rest[1]!);
            process.stderr.write(`Revoked key bsub_${prefix}_…\n`);
          });
        }
        return usage('use "bsubio-server key add <email>" or "bsubio-server key revoke <prefix>"', 'key');
      case 'worker':
        if (rest.length > 0) return usage(`unexpected argument "${rest[0]}"`, 'worker');
        return await worker(values);
      case 'worker-token':
        if (rest[0] === 'add' && rest.length === 2) {
          return await withStore(values, async (db) => {
            const { WorkerTokens } = await import('./services/worker-tokens.js');
            process.stdout.write(`${await new WorkerTokens(db).add(rest[1]!)}\n`);
          });
        }
        if (rest[0] === 'revoke' && rest.length === 2) {
          return await withStore(values, async (db) => {
            const { WorkerTokens } = await import('./services/worker-tokens.js');
            const prefix = await new WorkerTokens(db).revoke(rest[1]!);
            process.stderr.write(`Revoked worker token bsubw_${prefix}_…\n`);
          });
        }
        return usage(
          'use "bsubio-server worker-token add <name>" or "bsubio-server worker-token revoke <prefix>"',
          'worker-token',
        );
      default:
        return usage(`unknown command "${command}"`);
    }
  } catch (err) {
    // A UserError (duplicate email, unknown key…) is the caller's mistake too;
    // matched by name because user-service is loaded lazily.
    if (err instanceof ConfigError || (err instanceof Error && err.name === 'UserError')) {
      process.stderr.write(`bsubio-server: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...flagOptions,
      ...Object.fromEntries(WORKER_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
      help: { type: 'boolean', short: 'h' },
      password: { type: 'boolean' },
    },
  });
}

function usage(problem: string, command = 'main'): number {
  process.stderr.write(`bsubio-server: ${problem}.\n\n${HELP[command] ?? HELP.main}`);
  return 1;
}

async function withUsers(
  flags: Record<string, unknown>,
  action: (
    users: UserService,
    setPassword: (email: string, password: string) => Promise<void>,
  ) => Promise<void>,
): Promise<number> {
  const { password: _password, ...settings } = flags;
  const { UserService } = await import('./services/user-service.js');
  const { UserRepository } = await import('./store/user-repository.js');
  const { AccountRepository } = await import('./store/account-repository.js');
  const { AccountService } = await import('./services/account-service.js');
  return withStore(settings, async (db) => {
    const userRepository = new UserRepository(db);
    const users = new UserService(userRepository);
    const accounts = new AccountService(new AccountRepository(db), userRepository, users);
    await action(users, (email, password) => accounts.setPassword(email, password));
  });
}

async function withStore(flags: Record<string, unknown>, action: (db: Db) => Promise<void>): Promise<number> {
  const config = loadConfig(flags as Record<string, string>);
  const { openStore } = await import('./store/database.js');
  const { db } = await openStore(config.dataDir, config.databaseUrl);
  try {
    await action(db);
    return 0;
  } finally {
    await db.destroy();
  }
}

/** A password: asked for without echo on a terminal, else the first line of stdin. */
async function readPassword(): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await new Promise<string>((resolve, reject) => {
      process.stderr.write('Password for the dashboard: ');
      let typed = '';
      process.stdin.setRawMode(true);
      process.stdin.resume();
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') {
            done();
            return resolve(typed);
          }
          if (char === '\u0003') {
            done();
            return reject(new Error('cancelled'));
          }
          if (char === '\u007f') typed = typed.slice(0, -1);
          else typed += char;
        }
      };
      const done = () => {
        process.stdin.off('data', onData);
        process.stdin.setRawMode(false);
        process.stdin.pause();
        process.stderr.write('\n');
      };
      process.stdin.on('data', onData);
    });
  } else {
    let text = '';
    for await (const chunk of process.stdin) text += chunk.toString();
    password = text.split(/\r?\n/)[0] ?? '';
  }
  if (password.length < 8) {
    throw new ConfigError('the password must have at least 8 characters; nothing was created.');
  }
  return password;
}

const WORKER_FLAGS = ['server', 'token', 'types', 'concurrency', 'name', 'scratch-dir'] as const;

async function worker(flags: Record<string, unknown>): Promise<number> {
  const env = process.env;
  const get = (flag: string, variable: string): string | undefined => {
    const value = flags[flag];
    if (typeof value === 'string') return value;
    return env[variable] || undefined;
  };
  const servers = (get('server', 'BSUBIO_SERVER') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const token = get('token', 'BSUBIO_WORKER_TOKEN');
  if (servers.length === 0 || !token) return usage('--server and --token are required', 'worker');
  for (const server of servers) {
    if (!/^https?:\/\//.test(server))
      return usage(`--server must be an http(s):// URL, not "${server}"`, 'worker');
  }
  const number = (value: string | undefined, fallback: number, name: string, min: number, max: number) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, not "${value}".`);
    }
    return Number(value);
  };
  const { availableParallelism } = await import('node:os');
  const agent = await import('./worker-agent.js');
  const types = get('types', 'BSUBIO_WORKER_TYPES')
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  await agent.runWorkerAgent({
    servers,
    token,
    name: get('name', 'BSUBIO_WORKER_NAME') ?? agent.defaultWorkerName(),
    concurrency: number(
      get('concurrency', 'BSUBIO_WORKER_CONCURRENCY'),
      availableParallelism(),
      '--concurrency',
      1,
      256,
    ),
    types: types && types.length > 0 ? types : undefined,
    typesFile: get('types-file', 'BSUBIO_TYPES_FILE'),
    leaseMs: number(get('lease-seconds', 'BSUBIO_LEASE_SECONDS'), 15, '--lease-seconds', 1, 3600) * 1000,
    graceMs:
      number(
        get('shutdown-grace-seconds', 'BSUBIO_SHUTDOWN_GRACE_SECONDS'),
        10,
        '--shutdown-grace-seconds',
        0,
        86400,
      ) * 1000,
    scratchDir: get('scratch-dir', 'BSUBIO_SCRATCH_DIR') ?? agent.defaultScratchDir(),
  });
  return 0;
}

async function serve(flags: Record<string, unknown>): Promise<number> {
  const config = loadConfig(flags as Record<string, string>);
  // Loaded here, not at the top (like the store in withUsers): the HTTP stack
  // and the workers take seconds to load on a slow machine, and `--help` or
  // `user add` need none of it.
  const { startServer } = await import('./server.js');
  const server = await startServer(config, (line) => process.stderr.write(`${line}\n`));
  // The handlers go in before the "Listening:" line: whoever reads that line
  // may signal at once, and a SIGTERM that arrives first would kill the
  // process by default instead of draining it.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      server.app.log.info({ signal }, 'shutting down');
      server.close().then(resolve, (err) => {
        server.app.log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write(`Listening: ${server.url}\n`);
  await stopped;
  return 0;
}
