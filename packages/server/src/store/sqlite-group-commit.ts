/**
 * Group commit for embedded SQLite: the queue's writes (claims, moves
 * between states, lease renewals) that arrive while the event loop is busy
 * run together in one transaction when it is next free.
 *
 * Why: a job's life is four guarded UPDATEs, and each, committed on its own,
 * writes every page it touched to the WAL again — the row, two indexes, the
 * job_counts counters — so most of a move's cost was its commit, and several
 * workers' moves could not share one. In one transaction a page touched by
 * many moves is written once. Each write still succeeds or fails on its own
 * (SQLite undoes a failed statement, not the transaction), and its caller
 * hears of it only after the commit, so nothing is reported that could
 * still be lost to a process crash.
 *
 * The statements are the same ones Kysely builds for PostgreSQL, compiled by
 * Kysely and run on better-sqlite3 directly (synchronously, so a batch never
 * spans an await and no other query can slip into its transaction).
 */
import type SQLite from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';

interface Pending {
  query: CompiledQuery;
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

/** Runs compiled writes in batches, one transaction per turn of the event loop. */
export class SqliteGroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;

  /** `prepare`: the store's statement cache (preparing costs far more than running). */
  constructor(
    private readonly sqlite: SQLite.Database,
    private readonly prepare: (sql: string) => SQLite.Statement,
  ) {}

  /** Run a write; resolves with its rows (RETURNING) once its batch committed. */
  run<Row>(query: CompiledQuery<Row>): Promise<Row[]> {
    return new Promise<Row[]>((resolve, reject) => {
      this.pending.push({ query, resolve: resolve as (rows: unknown[]) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: writes that other requests and
        // workers make in this same turn join the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Every write of the batch in one transaction; each caller gets its own outcome. */
  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    const outcomes: ({ rows: unknown[] } | { error: unknown })[] = [];
    try {
      this.sqlite.exec('BEGIN IMMEDIATE');
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    for (const op of batch) {
      try {
        outcomes.push({ rows: this.execute(op.query) });
      } catch (error) {
        outcomes.push({ error });
      }
    }
    // A failed statement may, for a few kinds of error (a full disk), have
    // rolled the whole transaction back: then no write of the batch holds.
    if (!this.sqlite.inTransaction) {
      const failure = outcomes.find((o) => 'error' in o) as { error: unknown };
      for (const op of batch) op.reject(failure.error);
      return;
    }
    try {
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) op.reject(outcome.error);
      else op.resolve(outcome.rows);
    });
  }

  private execute(query: CompiledQuery): unknown[] {
    const statement = this.prepare(query.sql);
    const parameters = query.parameters as unknown[];
    if (statement.reader) return statement.all(...parameters);
    statement.run(...parameters);
    return [];
  }
}
