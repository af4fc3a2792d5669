/**
 * The queue's hot statements, compiled once per shape.
 *
 * Kysely builds a query as a tree and compiles it to SQL on every call; for
 * the four statements of a job's life that was about a fifth of a
 * one-worker queue drain, more than SQLite's own work on them. Those
 * statements come in few shapes (which states, which columns are set, which
 * guards), and a shape's SQL never changes: only its values do. So a shape
 * is compiled once with markers in the places of its values, and a call
 * only puts its values where the markers were.
 *
 * The first call of each shape checks the trick against Kysely itself: it
 * compiles the query with the real values too, and keeps the shape only
 * when both give the same SQL and, once filled, the same parameters. A
 * shape that does not pass is compiled by Kysely every time, as before.
 */
import type { CompiledQuery } from 'kysely';

/** Stands for a named value while a shape is compiled. */
class Marker {
  constructor(readonly name: string) {}
}

/** What a query builder offers here. */
interface Compilable<Row> {
  compile(): CompiledQuery<Row>;
}

/** `value(name)`: the value called `name`, or its marker. */
export type ValueOf = (name: string) => never;

type Shape = { query: CompiledQuery; slots: (string | undefined)[] } | 'compile-each-time';

export class QueryShapes {
  private readonly shapes = new Map<string, Shape>();

  /** Bounded: keys are built from a few states and column names, never from values. */
  constructor(private readonly max = 512) {}

  /**
   * The query of shape `key` with `values` in place. `build` makes the
   * query, taking each value through `value(name)`; everything else it
   * puts in the query (states, column names, constants) belongs to the
   * shape and must be part of `key`.
   */
  compile<Row>(
    key: string,
    build: (value: ValueOf) => Compilable<Row>,
    values: Readonly<Record<string, unknown>>,
  ): CompiledQuery<Row> {
    const real = (name: string) => values[name] as never;
    const shape = this.shapes.get(key);
    if (shape === undefined) {
      const direct = build(real).compile();
      const marked = build((name) => new Marker(name) as never).compile();
      const slots = marked.parameters.map((p) => (p instanceof Marker ? p.name : undefined));
      const candidate = { query: marked as CompiledQuery, slots };
      const agrees =
        marked.sql === direct.sql &&
        sameParameters(fill(candidate.query, slots, values).parameters, direct.parameters);
      if (this.shapes.size >= this.max) this.shapes.clear();
      this.shapes.set(key, agrees ? candidate : 'compile-each-time');
      return direct;
    }
    if (shape === 'compile-each-time') return build(real).compile();
    return fill(shape.query, shape.slots, values) as CompiledQuery<Row>;
  }
}

function fill(
  query: CompiledQuery,
  slots: readonly (string | undefined)[],
  values: Readonly<Record<string, unknown>>,
): CompiledQuery {
  const parameters = query.parameters.map((p, i) => {
    const slot = slots[i];
    return slot === undefined ? p : values[slot];
  });
  return { ...query, parameters };
}

function sameParameters(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]));
}
