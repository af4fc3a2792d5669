/**
 * `bsubio-server`: run the service, and manage users and keys.
 *
 *   bsubio-server [serve] [flags]      start the service
 *   bsubio-server user add <email>     create a user; prints only its API key
 *   bsubio-server key add <email>      another key for a user; prints only the key
 *   bsubio-server key revoke <prefix>  revoke the key with this prefix
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, SETTINGS } from './config.js';
import type { UserService } from './services/user-service.js';

const settingsHelp = SETTINGS.map(
  ([flag, variable, text, fallback]) =>
    `  --${flag.padEnd(24)} ${variable.padEnd(31)} ${text} (default ${fallback})`,
).join('\n');

const HELP: Record<string, string> = {
  main: `bsubio-server: the bsubio API server (a self-hosted bsub.io)

Usage:
  bsubio-server [serve] [flags]      start the service (SQLite + files + in-process workers)
  bsubio-server user add <email>     create a user and print its API key
  bsubio-server key add <email>      add another API key for a user and print it
  bsubio-server key revoke <prefix>  revoke the API key whose prefix starts with <prefix>
  bsubio-server <command> --help     help for one command

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
  user: `Usage: bsubio-server user add <email> [--data-dir DIR]

Creates a user and prints only the new API key on stdout.
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
`,
  key: `Usage:
  bsubio-server key add <email> [--data-dir DIR]     print a new API key for the user
  bsubio-server key revoke <prefix> [--data-dir DIR] revoke the key with this prefix

A key looks like bsub_<prefix>_<secret>; revoke takes its prefix (at least 4
characters, with or without "bsub_").
  --data-dir DIR   data directory (env BSUBIO_DATA_DIR, default ./data)
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
        return await withUsers(values, async (users) => {
          const { apiKey } = await users.createUser(rest[1]!);
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
    options: { ...flagOptions, help: { type: 'boolean', short: 'h' } },
  });
}

function usage(problem: string, command = 'main'): number {
  process.stderr.write(`bsubio-server: ${problem}.\n\n${HELP[command] ?? HELP.main}`);
  return 1;
}

async function withUsers(
  flags: Record<string, unknown>,
  action: (users: UserService) => Promise<void>,
): Promise<number> {
  const config = loadConfig(flags as Record<string, string>);
  const { openStore } = await import('./store/database.js');
  const { UserService } = await import('./services/user-service.js');
  const { UserRepository } = await import('./store/user-repository.js');
  const db = await openStore(config.dataDir);
  try {
    await action(new UserService(new UserRepository(db)));
    return 0;
  } finally {
    await db.destroy();
  }
}

async function serve(flags: Record<string, unknown>): Promise<number> {
  const config = loadConfig(flags as Record<string, string>);
  // Loaded here, not at the top (like the store in withUsers): the HTTP stack
  // and the workers take seconds to load on a slow machine, and `--help` or
  // `user add` need none of it.
  const { startServer } = await import('./server.js');
  const server = await startServer(config, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`Listening: ${server.url}\n`);
  await new Promise<void>((resolve) => {
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
  return 0;
}
