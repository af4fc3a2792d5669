/**
 * PostgreSQL connections that prepare each parameterized statement once.
 *
 * Kysely sends every query unnamed, so PostgreSQL parses and plans it anew
 * each time; the claim (a fair pick over job_counts with subqueries) cost
 * more to plan than to run. Named, a statement is prepared once per
 * connection and then only bound and executed: the queue drain went from
 * 255-263 to 360-362 jobs/s with one worker and from 467-469 to 599-606
 * with four (measured A/B, alternating).
 *
 * The name is a hash of the SQL text, so the same text always has the same
 * name. A connection prepares at most MAX_PREPARED statements (texts with
 * many shapes, such as IN lists of every length, would grow without end);
 * past that, statements go unnamed as before. A prepared statement whose
 * result type changed under it (a replica's migration added a column to a
 * `RETURNING *` table) is answered by PostgreSQL with 0A000; that query is
 * sent again unnamed, and its text is not prepared on that connection again.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

const MAX_PREPARED = 200;

type Query = (this: pg.Client, ...args: unknown[]) => unknown;

/** A pg Client class whose parameterized string queries are prepared statements. */
export function preparingClient(client: typeof pg): typeof pg.Client {
  const query = client.Client.prototype.query as Query;
  return class PreparingClient extends client.Client {
    private readonly prepared = new Set<string>();
    private readonly unpreparable = new Set<string>();

    // pg's query() has many overloads; only `query(text, values)` returning a
    // promise (what Kysely sends) is prepared, everything else passes through.
    override query(...args: unknown[]): never {
      const [text, values, callback] = args;
      const plain =
        typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined;
      if (
        plain ||
        this.unpreparable.has(text) ||
        (!this.prepared.has(text) && this.prepared.size >= MAX_PREPARED)
      )
        return query.apply(this, args) as never;
      this.prepared.add(text);
      const name = `bsubio_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      const named = query.call(this, { name, text, values }) as Promise<pg.QueryResult>;
      return named.catch((err: { code?: string }) => {
        if (err?.code !== '0A000') throw err;
        this.unpreparable.add(text);
        return query.call(this, text, values);
      }) as never;
    }
  };
}
