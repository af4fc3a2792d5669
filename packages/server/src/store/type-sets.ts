/**
 * Lists of job types as the right-hand side of `type IN (...)`.
 *
 * SQLite answers `x IN (a, b, c, ...)` of more than two values by building
 * an ephemeral b-tree of the values every time the statement runs: a new
 * page cache, fresh pages, and on this VM a page fault for each. A worker
 * that takes every type of the catalog (52 here) claims with such a list in
 * four places of one statement, and a profile of the server running
 * sequential jobs put 11 % of its main thread in the claim, most of it in
 * those b-trees (pcache1FetchStage2 and its page faults). `x IN (SELECT col
 * FROM t)` with an index on col uses that index and builds nothing, so on
 * SQLite each list is kept once as an indexed temporary table of the
 * connection (`temp.type_set_<hash of the list>`) and queries ask it.
 * PostgreSQL (and a list of one or two, which SQLite compares directly) keep
 * the plain list.
 */
import { createHash } from 'node:crypto';
import { type RawBuilder, sql } from 'kysely';
import type { Db, Dialect } from './database.js';

/** A parenthesized list of types, or a query of one, to follow `IN`. */
export type TypeSet = RawBuilder<unknown>;

/** A backstop: lists come from the catalog and its caps, so there are a handful. */
const MAX_TABLES = 64;

export class TypeSets {
  private readonly tables = new Map<string, Promise<string>>();

  /** `db`: the connection the queries that use the tables run on (temp tables are its own). */
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
  ) {}

  /**
   * What `type IN` is to be followed by for these types, parenthesized;
   * on SQLite its table is made first if this list is new.
   */
  async of(types: readonly string[]): Promise<TypeSet> {
    const list = sql`(${sql.join(types)})`;
    if (this.dialect !== 'sqlite' || types.length <= 2) return list;
    const key = [...new Set(types)].sort().join('\n');
    let table = this.tables.get(key);
    if (!table) {
      if (this.tables.size >= MAX_TABLES) return list;
      table = this.create(key);
      this.tables.set(key, table);
      // A failed creation is not kept: the next claim tries again.
      table.catch(() => this.tables.delete(key));
    }
    return sql`(select type from temp.${sql.table(await table)})`;
  }

  /**
   * The table is named after its list, so that every user of the
   * connection (another repository on it) finds the same table with the
   * same rows, and making it twice, or again after a failure, is harmless:
   * the INSERT is one statement, all or nothing.
   */
  private async create(key: string): Promise<string> {
    const name = `type_set_${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
    await sql`create temp table if not exists ${sql.table(name)} (type text primary key) without rowid`.execute(
      this.db,
    );
    const rows = key.split('\n').map((type) => sql`(${type})`);
    await sql`insert or ignore into temp.${sql.table(name)} (type) values ${sql.join(rows)}`.execute(this.db);
    return name;
  }
}
