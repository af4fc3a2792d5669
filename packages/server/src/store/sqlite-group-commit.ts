/**
 * Group commit for embedded SQLite: the queue's writes (claims, moves
 * between states, lease renewals, ends) that arrive while the event loop is
 * busy run together in one transaction when it is next free, and the lease
 * bookkeeping does not wait for a commit of its own.
 *
 * Why: a job's life is four guarded UPDATEs, and each, committed on its own,
 * wrote every page it touched to the WAL again — the row, its indexes, the
 * job_counts counters — so a commit cost several times its statement, and
 * several workers' moves could not share one.
 *
 * Two kinds of write, as on PostgreSQL (openPostgres, JobRepository):
 * - durable (a job's end, a return to pending): its caller hears of it only
 *   after the commit that holds it;
 * - lease bookkeeping (a claim, the moves between the working states, a
 *   renewal): its caller hears of it when the statement ran, and the commit
 *   follows with the next durable write or within LAZY_COMMIT_MS. A process
 *   crash may forget such moves, never reorder them — which is safe for the
 *   reasons JobRepository gives (every move is guarded; an in-process worker
 *   dies with the process; a remote one finds its next move refused).
 *
 * Any other write on the connection (Kysely's, through `beforeForeignWrite`)
 * first commits what is open, so it never joins — and is never acknowledged
 * inside — a transaction that is not yet durable. Each write succeeds or
 * fails on its own (SQLite undoes a failed statement, not the transaction).
 *
 * The statements are the ones Kysely builds for PostgreSQL too, compiled by
 * Kysely and run on better-sqlite3 directly: synchronously, so a batch never
 * spans an await and no other query can slip into its middle.
 */
import type SQLite from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';

/** How long lease bookkeeping may wait for its commit. */
export const LAZY_COMMIT_MS = 10;

interface Pending {
  query: CompiledQuery;
  durable: boolean;
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

type Outcome = { rows: unknown[] } | { error: unknown };

/** Runs compiled writes in batches, one transaction per turn of the event loop at most. */
export class SqliteGroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  /** A transaction is open, holding lease bookkeeping that is not committed yet. */
  private open = false;
  private commitTimer: NodeJS.Timeout | undefined;

  /** `prepare`: the store's statement cache (preparing costs far more than running). */
  constructor(
    private readonly sqlite: SQLite.Database,
    private readonly prepare: (sql: string) => SQLite.Statement,
  ) {}

  /**
   * Run a write; resolves with its rows (RETURNING): a durable one once its
   * batch committed, lease bookkeeping once it ran.
   */
  run<Row>(query: CompiledQuery<Row>, durable: boolean): Promise<Row[]> {
    return new Promise<Row[]>((resolve, reject) => {
      this.pending.push({ query, durable, resolve: resolve as (rows: unknown[]) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: writes that other requests and
        // workers make in this same turn join the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Another write is about to run on the connection: what is open commits first. */
  beforeForeignWrite(): void {
    this.commitOpen();
  }

  /** Commit what is open (at close, before other writes, when the lazy wait is over). */
  commitOpen(): void {
    if (!this.open) return;
    try {
      this.commit();
    } catch {
      // Only lease bookkeeping was open: losing it is what a crash would do.
    }
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    try {
      if (!this.open) {
        this.sqlite.exec('BEGIN IMMEDIATE');
        this.open = true;
      }
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    const outcomes: Outcome[] = batch.map((op) => {
      try {
        return { rows: this.execute(op.query) };
      } catch (error) {
        return { error };
      }
    });
    // A failed statement may, for a few kinds of error (a full disk), have
    // rolled the whole transaction back: then no write of it holds.
    if (!this.sqlite.inTransaction) {
      this.closed();
      const failure = outcomes.find((o) => 'error' in o) as { error: unknown };
      for (const op of batch) op.reject(failure.error);
      return;
    }
    if (batch.some((op) => op.durable)) {
      try {
        this.commit();
      } catch (error) {
        for (const op of batch) op.reject(error);
        return;
      }
    } else {
      this.commitTimer ??= setTimeout(() => {
        this.commitTimer = undefined;
        this.commitOpen();
      }, LAZY_COMMIT_MS);
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) op.reject(outcome.error);
      else op.resolve(outcome.rows);
    });
  }

  /** COMMIT; on failure the transaction is rolled back and the error thrown. */
  private commit(): void {
    this.closed();
    try {
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      throw error;
    }
  }

  private closed(): void {
    this.open = false;
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
  }

  private execute(query: CompiledQuery): unknown[] {
    const statement = this.prepare(query.sql);
    const parameters = query.parameters as unknown[];
    if (statement.reader) return statement.all(...parameters);
    statement.run(...parameters);
    return [];
  }
}
