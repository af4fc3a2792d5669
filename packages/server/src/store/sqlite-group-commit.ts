/**
 * Group commit for embedded SQLite: the queue's writes (claims, moves
 * between states, lease renewals, ends) run at once, inside a transaction
 * that stays open until the event loop is next free, so the writes of
 * several workers and requests share one commit; and the lease bookkeeping
 * does not wait for a commit at all.
 *
 * Why: a job's life is four guarded UPDATEs, and each, committed on its own,
 * wrote every page it touched to the WAL again — the row, its indexes, the
 * job_counts counters — so a commit cost several times its statement, and
 * several workers' moves could not share one.
 *
 * Two kinds of write, as on PostgreSQL (openPostgres, JobRepository):
 * - durable (a job's end, a return to pending): its caller hears of it only
 *   after the commit that holds it, at the end of the current turn;
 * - lease bookkeeping (a claim, the moves between the working states, a
 *   renewal): its caller hears of it as soon as the statement ran, and the
 *   commit follows with the next durable write or within LAZY_COMMIT_MS. A
 *   process crash may forget such moves, never reorder them — which is safe
 *   for the reasons JobRepository gives (every move is guarded; an
 *   in-process worker dies with the process; a remote one finds its next
 *   move refused).
 *
 * Any other write on the connection (Kysely's, through `beforeForeignWrite`)
 * first commits what is open, so it never joins — and is never acknowledged
 * inside — a transaction that is not yet durable. Each write succeeds or
 * fails on its own (SQLite undoes a failed statement, not the transaction).
 *
 * The statements are the ones Kysely builds for PostgreSQL too, compiled by
 * Kysely and run on better-sqlite3 directly (synchronously: no other query
 * can slip into the middle of one).
 */
import type SQLite from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';

/** How long lease bookkeeping may wait for its commit. */
export const LAZY_COMMIT_MS = 10;

interface AwaitingCommit {
  rows: unknown[];
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

export class SqliteGroupCommit {
  /** A transaction is open (holding lease bookkeeping, or durable writes about to commit). */
  private open = false;
  /** A read-only transaction is open: the reads of this turn share it (see `readFirst`). Never with `open`. */
  private reading = false;
  private awaiting: AwaitingCommit[] = [];
  private commitScheduled = false;
  private lazyTimer: NodeJS.Timeout | undefined;

  /** `prepare`: the store's statement cache (preparing costs far more than running). */
  constructor(
    private readonly sqlite: SQLite.Database,
    private readonly prepare: (sql: string) => SQLite.Statement,
  ) {}

  /**
   * Run a write now; resolves with its rows (RETURNING): a durable one once
   * it is committed, lease bookkeeping at once.
   */
  run<Row>(query: CompiledQuery<Row>, durable: boolean): Promise<Row[]> {
    let rows: unknown[];
    try {
      if (!this.open) {
        this.endReads();
        this.sqlite.exec('BEGIN IMMEDIATE');
        this.open = true;
      }
      rows = this.execute(query);
    } catch (error) {
      // A few kinds of error (a full disk) roll the whole transaction back:
      // then the durable writes that waited for it are lost too.
      if (this.open && !this.sqlite.inTransaction) this.ended(error);
      return Promise.reject(error);
    }
    if (!durable) {
      this.lazyTimer ??= setTimeout(() => this.commitOpen(), LAZY_COMMIT_MS);
      return Promise.resolve(rows as Row[]);
    }
    return new Promise<Row[]>((resolve, reject) => {
      this.awaiting.push({ rows, resolve: resolve as (rows: unknown[]) => void, reject });
      if (!this.commitScheduled) {
        this.commitScheduled = true;
        // At the end of this turn: the durable writes that other requests
        // and workers make meanwhile share the commit.
        setImmediate(() => {
          this.commitScheduled = false;
          this.commitOpen();
        });
      }
    });
  }

  /**
   * Run a read now and give its first row. Outside a write transaction the
   * reads of one turn of the event loop share one read transaction, which
   * ends when the turn does or before any write. Each read in a transaction
   * of its own took and released WAL's shared-memory read lock, two
   * fcntl(2) calls, and in a VM those were most of a lookup by key (11 of
   * 13 µs). A read sees what was committed when the turn's first read ran,
   * and this connection's own writes; another process's commit (the CLI
   * revoking a key) shows from the next turn on.
   */
  readFirst<Row>(query: CompiledQuery<Row>): Row | undefined {
    if (!this.sqlite.inTransaction) {
      this.prepare('BEGIN').run();
      this.reading = true;
      setImmediate(this.endReads);
    }
    const statement = this.prepare(query.sql);
    if (!statement.readonly) throw new Error(`not a read: ${query.sql}`);
    return statement.get(...(query.parameters as unknown[])) as Row | undefined;
  }

  /** End the turn's read transaction, if one is open (it holds no writes: COMMIT only lets go of the snapshot). */
  private readonly endReads = (): void => {
    if (!this.reading) return;
    this.reading = false;
    if (this.sqlite.inTransaction) this.prepare('COMMIT').run();
  };

  /** Another write is about to run on the connection: what is open commits first. */
  beforeForeignWrite(): void {
    this.commitOpen();
  }

  /** Commit what is open, and tell the durable writes it held. */
  commitOpen(): void {
    this.endReads();
    if (!this.open) return;
    try {
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      this.ended(error);
      return;
    }
    this.ended();
  }

  /** The transaction is over: committed (no error), or lost with `error`. */
  private ended(error?: unknown): void {
    this.open = false;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    const awaiting = this.awaiting;
    this.awaiting = [];
    for (const write of awaiting) {
      if (error === undefined) write.resolve(write.rows);
      else write.reject(error);
    }
  }

  private execute(query: CompiledQuery): unknown[] {
    const statement = this.prepare(query.sql);
    const parameters = query.parameters as unknown[];
    if (statement.reader) return statement.all(...parameters);
    statement.run(...parameters);
    return [];
  }
}
