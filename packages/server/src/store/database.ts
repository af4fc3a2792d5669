/**
 * Opens the store: embedded SQLite (WAL) by default, PostgreSQL in cluster
 * mode, both behind the same Kysely query layer, and brings the schema up to
 * date (migrations take a lock, so replicas may start at once).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SQLite from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type pg from 'pg';
import { migrateToLatest } from './migrations.js';
import { preparingClient } from './pg-prepared.js';
import type { Database } from './schema.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';

export type Db = Kysely<Database>;
export type Dialect = 'sqlite' | 'postgres';

/** The store and what differs between its dialects. */
export interface Store {
  db: Db;
  dialect: Dialect;
  /** PostgreSQL only: the pool, for LISTEN/NOTIFY on a connection of its own. */
  pool?: pg.Pool;
  /**
   * PostgreSQL only: connections for lease bookkeeping (claims, the working
   * states, renewals), whose commits do not wait for the WAL flush; see
   * JobRepository. Closed with `db`.
   */
  leaseDb?: Db;
}

/** The dialect a Kysely instance speaks, recorded when the store opens. */
const dialects = new WeakMap<object, Dialect>();
export function dialectOf(db: Db): Dialect {
  return dialects.get(db) ?? 'sqlite';
}

/** SQLite only: the batcher that commits the queue's writes together (see SqliteGroupCommit). */
const groupCommits = new WeakMap<object, SqliteGroupCommit>();
export function groupCommitOf(db: Db): SqliteGroupCommit | undefined {
  return groupCommits.get(db);
}

/**
 * The first row of a read Kysely compiled (e.g. through QueryShapes). On
 * SQLite it runs on better-sqlite3 at once: Kysely's executor on top of the
 * same statement (a connection mutex, promises, plugins we do not use) cost
 * more than SQLite's own work for a lookup by key, and reads are synchronous
 * there anyway. Elsewhere, through Kysely's executor. Reads only: a write
 * must go through Kysely (or SqliteGroupCommit), which commits the open
 * group transaction first.
 */
export async function readFirst<Row>(db: Db, query: CompiledQuery<Row>): Promise<Row | undefined> {
  const groupCommit = groupCommits.get(db);
  if (groupCommit) return groupCommit.readFirst(query);
  return (await db.executeQuery(query)).rows[0];
}

export async function openSqlite(path: string): Promise<Db> {
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Another process (a `user add` while the server runs) may hold the write lock briefly.
  sqlite.pragma('busy_timeout = 5000');
  const checkpointer = new SqliteCheckpointer(sqlite, path);
  const statements = withStatementCache(sqlite);
  const groupCommit = new SqliteGroupCommit(sqlite, statements.prepare);
  // Kysely's statements: a write first commits the queue's open transaction,
  // so it is never part of (or acknowledged inside) one; see SqliteGroupCommit.
  const database = {
    prepare(sql: string) {
      const statement = statements.prepare(sql);
      if (!statement.readonly) groupCommit.beforeForeignWrite();
      return statement;
    },
    close() {
      groupCommit.commitOpen();
      checkpointer.stop();
      statements.close();
    },
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  dialects.set(db, 'sqlite');
  groupCommits.set(db, groupCommit);
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

/**
 * The PostgreSQL client, loaded on first use: the embedded default (SQLite)
 * never needs it, and every start would otherwise pay for loading it.
 */
async function loadPg(): Promise<typeof pg> {
  const { default: client } = await import('pg');
  // Times, sizes and counts are bigint (int8) columns, which pg returns as
  // strings to be safe past 2^53. Every value here (milliseconds, bytes) fits a
  // double exactly, so they come back as numbers, as on SQLite.
  client.types.setTypeParser(client.types.builtins.INT8, (value) => Number(value));
  return client;
}

function openPgPool(client: typeof pg, config: pg.PoolConfig): pg.Pool {
  const pool = new client.Pool({ ...config, Client: preparingClient(client) });
  // An idle connection that the server drops must not crash the process.
  pool.on('error', () => {});
  // Nor one that is checked out: pg-pool takes its own listener off while a
  // connection is in use, and a stopping PostgreSQL sends every connection an
  // error (57P01), which an in-use connection between two queries would raise
  // as an unhandled 'error' event. The query that uses it next fails instead,
  // and the pool drops it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

export async function openPostgres(url: string, poolSize = 10): Promise<Store> {
  const client = await loadPg();
  const pool = openPgPool(client, { connectionString: url, max: poolSize });
  // Lease bookkeeping commits asynchronously (synchronous_commit=off): a
  // crash of the database may forget the last few such moves, never reorder
  // them, and the next durable commit flushes them all (the WAL is one
  // sequence). Why losing one is safe is said in JobRepository.
  const leasePool = openPgPool(client, {
    connectionString: url,
    max: Math.max(2, Math.ceil(poolSize / 2)),
    options: '-c synchronous_commit=off',
  });
  const leaseDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: leasePool }) });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  dialects.set(db, 'postgres');
  dialects.set(leaseDb, 'postgres');
  await migrateToLatest(db as Kysely<unknown>);
  // One handle for the caller to close: destroying db closes both pools.
  const destroy = db.destroy.bind(db);
  db.destroy = async () => {
    await Promise.all([destroy(), leaseDb.destroy()]);
  };
  return { db, dialect: 'postgres', pool, leaseDb };
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

/**
 * The service's store: PostgreSQL when `databaseUrl` is set (cluster mode),
 * else `bsubio.db` in the data directory.
 */
export async function openStore(dataDir: string, databaseUrl?: string): Promise<Store> {
  if (databaseUrl) return openPostgres(databaseUrl);
  return { db: await openSqlite(join(dataDir, 'bsubio.db')), dialect: 'sqlite' };
}
