/**
 * Group commit for PostgreSQL's durable queue writes (a job's end, a return
 * to pending): those issued in the same turn of the event loop run in one
 * transaction, so they share one WAL flush.
 *
 * Why: with one user's jobs of one type, every move updates the same
 * job_counts rows (the triggers), and a durable commit holds those row locks
 * until its WAL flush is on disk; every other worker's move waited behind
 * each flush in turn, so four workers were hardly faster than one. In one
 * transaction the locks are taken once and released after one flush.
 *
 * The lease bookkeeping does not come here: it commits without waiting for
 * the disk on connections of its own (openPostgres).
 */
import type { CompiledQuery } from 'kysely';
import type { Db } from './database.js';

interface Pending {
  query: CompiledQuery;
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

export class PostgresGroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly db: Db) {}

  run<Row>(query: CompiledQuery<Row>): Promise<Row[]> {
    return new Promise<Row[]>((resolve, reject) => {
      this.pending.push({ query, resolve: resolve as (rows: unknown[]) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    if (batch.length === 1) {
      await this.alone(batch[0]!);
      return;
    }
    let results: unknown[][];
    try {
      results = await this.db.transaction().execute(async (trx) => {
        const rows: unknown[][] = [];
        for (const op of batch) rows.push((await trx.executeQuery(op.query)).rows);
        return rows;
      });
    } catch {
      // One write failed and took the batch's transaction with it (nothing
      // of it committed): each goes again on its own, to get its own outcome.
      await Promise.all(batch.map((op) => this.alone(op)));
      return;
    }
    batch.forEach((op, i) => {
      op.resolve(results[i]!);
    });
  }

  private async alone(op: Pending): Promise<void> {
    try {
      op.resolve((await this.db.executeQuery(op.query)).rows);
    } catch (error) {
      op.reject(error);
    }
  }
}
