/**
 * QueryShapes compiles a query once per shape and only fills in values
 * afterwards; it must give exactly what Kysely's own compile gives, and fall
 * back to Kysely when a shape's SQL depends on a value after all.
 */
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { QueryShapes, type ValueOf } from '../src/store/query-shapes.js';

interface Db {
  t: { id: number; a: string | null; b: number };
}
const db = new Kysely<Db>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
afterAll(() => db.destroy());

const update = (value: ValueOf) =>
  db
    .updateTable('t')
    .set({ a: value('a'), b: value('b') })
    .where('id', '=', value('id'))
    .returningAll();

it('fills the values of a shape into the SQL it compiled once, as Kysely would compile them', () => {
  const shapes = new QueryShapes();
  for (const values of [
    { a: 'x', b: 1, id: 7 },
    { a: null, b: 2, id: 8 },
    { a: 'y', b: 3, id: 9 },
  ]) {
    const ours = shapes.compile('update', update, values);
    const kysely = update((name) => values[name as keyof typeof values] as never).compile();
    expect(ours.sql).toBe(kysely.sql);
    expect(ours.parameters).toEqual(kysely.parameters);
  }
});

it('compiles each time, correctly, a shape whose SQL depends on a value', () => {
  const shapes = new QueryShapes();
  // `is null` for a null, `= ?` otherwise: a marker is not null, so the first check sees the difference.
  const byA = (value: ValueOf) =>
    db
      .selectFrom('t')
      .selectAll()
      .where('a', (value('a') as unknown) === null ? 'is' : '=', value('a'));
  const first = shapes.compile('by a', byA, { a: null });
  expect(first.sql).toContain('"a" is null');
  const second = shapes.compile('by a', byA, { a: 'x' });
  expect(second.sql).toContain('= ?');
  expect(second.parameters).toEqual(['x']);
  expect(shapes.compile('by a', byA, { a: null }).sql).toContain('"a" is null');
});
