/** Opens the embedded SQLite store (WAL) and brings its schema up to date. */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export async function openSqlite(path: string): Promise<Db> {
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Another process (a `user add` while the server runs) may hold the write lock briefly.
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

/**
 * Kysely prepares every query anew, and preparing costs far more than
 * running (here ~100x for a lookup by key). The SQL text of a query shape is
 * stable, so prepared statements are kept and reused; the cap only guards
 * against unbounded shapes (e.g. `IN` lists of many lengths).
 */
function withStatementCache(sqlite: SQLite.Database, cap = 500) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (!statement) {
        if (cache.size >= cap) cache.clear();
        statement = sqlite.prepare(sql);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

/** The service's store: `bsubio.db` in the data directory. */
export async function openStore(dataDir: string): Promise<Db> {
  return openSqlite(join(dataDir, 'bsubio.db'));
}
