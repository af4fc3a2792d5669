/**
 * `bsubio-server`: run the service, and manage users and keys.
 *
 *   bsubio-server [serve] [flags]      start the service
 *   bsubio-server user add <email>     create a user; prints only its API key
 *                                      (--password: also a dashboard password)
 *   bsubio-server user password <email>  set or change a user's dashboard password
 *   bsubio-server key add <email>      another key for a user; prints only the key
 *   bsubio-server key revoke <prefix>  revoke the key with this prefix
 *   bsubio-server worker --server URL --token T   run a remote worker agent
 *   bsubio-server worker-token add <name> | revoke <prefix>
 */
import { parseArgs } from 'node:util';
import { settingsHelp as formatSettings, settingOptions } from '@bsubio/worker/settings';
import { ConfigError, loadConfig, SETTINGS } from './config.js';
import type { UserService } from './services/user-service.js';
import type { Db } from './store/database.js';

const settingsHelp = formatSettings(SETTINGS);

const HELP: Record<string, string> = {
  main: `bsubio-server: the bsubio API server (a self-hosted bsub.io)

Usage:
  bsubio-server [serve] [flags]      start the service (SQLite + files + in-process workers)
  bsubio-server user add <email>     create a user and print its API key
                                     (--password: also set a password for the dashboard)
  bsubio-server user password <email>
                                     set or change a user's dashboard password
  bsubio-server key add <email>      add another API key for a user and print it
  bsubio-server key revoke <prefix>  revoke the API key whose prefix starts with <prefix>
  bsubio-server worker --server URL --token TOKEN [flags]
                                     run a remote worker agent (cluster mode; the
                                     same as bsubio-worker from @bsubio/worker)
  bsubio-server worker-token add <name>      create a worker token and print it
  bsubio-server worker-token revoke <prefix> revoke a worker token
  bsubio-server <command> --help     help for one command

Cluster mode: set BSUBIO_DATABASE_URL (PostgreSQL) and BSUBIO_BLOB_URL (S3)
on every API replica, run them with --workers 0, and run workers elsewhere
with "bsubio-worker" (or "bsubio-server worker"). See README, "Running a cluster".

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
  user: `Usage:
  bsubio-server user add <email> [--password] [--data-dir DIR]
  bsubio-server user password <email> [--data-dir DIR]

add creates a user and prints only the new API key on stdout; password sets
or changes the password an existing user signs in to the dashboard with (the
user local@localhost made on first start has none until then).
  --password       with add: also set a password for signing in to the
                   dashboard
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
A password is asked for (not echoed) on a terminal, else read from the first
line of stdin; it has at least 8 characters.
`,
  key: `Usage:
  bsubio-server key add <email> [--data-dir DIR]     print a new API key for the user
  bsubio-server key revoke <prefix> [--data-dir DIR] revoke the key with this prefix

A key looks like bsub_<prefix>_<secret>; revoke takes its prefix (at least 4
characters, with or without "bsub_").
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
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

const flagOptions = settingOptions(SETTINGS);

export async function main(argv: string[]): Promise<number> {
  // Everything the server writes (database, blobs, keys, the data directory)
  // is for its own user alone: no other local user may read a job's files.
  process.umask(0o077);
  // The remote worker agent is its own package (bsubio-worker, which needs
  // none of the server's dependencies); here it keeps its old name.
  if (argv[0] === 'worker') {
    const { agentMain } = await import('@bsubio/worker/agent');
    return agentMain(argv.slice(1), 'bsubio-server worker');
  }
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
        if (rest[0] === 'add' && rest.length === 2) {
          return await withUsers(values, async (users, setPassword) => {
            // Asked before the user exists, so a bad password leaves nothing half made.
            const password = values.password ? await readPassword() : undefined;
            const { user, apiKey } = await users.createUser(rest[1]!);
            if (password !== undefined) await setPassword(user.email, password);
            process.stdout.write(`${apiKey}\n`);
          });
        }
        if (rest[0] === 'password' && rest.length === 2) {
          return await withUsers(values, async (users, setPassword) => {
            // The user first: nobody types a password for an email that is not there.
            const user = await users.requireUser(rest[1]!);
            await setPassword(user.email, await readPassword('nothing was changed'));
            process.stderr.write(`Set the dashboard password of ${user.email}.\n`);
          });
        }
        return usage('use "bsubio-server user add <email>" or "bsubio-server user password <email>"', 'user');
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
async function readPassword(ifTooShort = 'nothing was created'): Promise<string> {
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
    throw new ConfigError(`the password must have at least 8 characters; ${ifTooShort}.`);
  }
  return password;
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
