/**
 * The PostgreSQL connections prepare each parameterized statement once
 * (store/pg-prepared.ts): they must answer exactly as unnamed queries do,
 * including after another connection changed a table under a prepared
 * `SELECT *`, and must not prepare without bound.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../test/support/cluster.js';
import { preparingClient } from '../src/store/pg-prepared.js';

let postgres: TestPostgres;
let url: string;

beforeAll(async () => {
  postgres = await startPostgres();
  url = await postgres.createDatabase('prepared');
}, 120_000);
afterAll(async () => {
  await postgres?.stop();
});

/** Statements this connection has prepared, as PostgreSQL lists them. */
async function preparedOn(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
  return rows.map((r) => r.name);
}

it('prepares a parameterized query once and answers it like an unnamed one', async () => {
  const Client = preparingClient(pg);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE t (id int PRIMARY KEY, a text)');
    await client.query('INSERT INTO t VALUES (1, $1), (2, $2)', ['one', 'two']);
    for (const id of [1, 2, 1]) {
      const { rows } = await client.query('SELECT * FROM t WHERE id = $1', [id]);
      expect(rows).toEqual([{ id, a: id === 1 ? 'one' : 'two' }]);
    }
    const names = await preparedOn(client);
    // The insert and the select, each once; the query without values is not prepared.
    expect(names).toHaveLength(2);
    expect(names.every((n) => n.startsWith('bsubio_'))).toBe(true);
  } finally {
    await client.end();
  }
});

it('answers a prepared SELECT * again after another connection added a column, and stops preparing it', async () => {
  const Client = preparingClient(pg);
  const client = new Client({ connectionString: url });
  const other = new pg.Client({ connectionString: url });
  await client.connect();
  await other.connect();
  try {
    await client.query('CREATE TABLE u (id int PRIMARY KEY)');
    await client.query('INSERT INTO u VALUES ($1)', [7]);
    expect((await client.query('SELECT * FROM u WHERE id = $1', [7])).rows).toEqual([{ id: 7 }]);
    // A replica's migration, as in a rolling upgrade: the prepared plan's result type is stale.
    await other.query("ALTER TABLE u ADD COLUMN b text DEFAULT 'new'");
    expect((await client.query('SELECT * FROM u WHERE id = $1', [7])).rows).toEqual([{ id: 7, b: 'new' }]);
    expect((await client.query('SELECT * FROM u WHERE id = $1', [7])).rows).toEqual([{ id: 7, b: 'new' }]);
  } finally {
    await client.end();
    await other.end();
  }
});

it('prepares at most 200 statements on a connection, and runs the rest unnamed', async () => {
  const Client = preparingClient(pg);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (let n = 1; n <= 230; n++) {
      const list = Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
      const values = Array.from({ length: n }, (_, i) => i);
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM generate_series(0, 300) g WHERE g IN (${list})`,
        values,
      );
      expect(rows[0].n).toBe(n);
    }
    expect(await preparedOn(client)).toHaveLength(200);
  } finally {
    await client.end();
  }
});
