/**
 * Per-type parameters (an extension): declared in the catalog, checked when a
 * job is created, and substituted into the command as {param:NAME}. Values
 * become single argv entries, never shell text.
 */
import type { ParamSpec } from '@bsubio/protocol';
import type { TypeDefinition } from './catalog.js';

export type ParamValues = Record<string, string | number>;

export type ParamCheck = { ok: true; values: ParamValues } | { ok: false; error: string };

export function checkParams(definition: TypeDefinition, given: unknown): ParamCheck {
  const specs = definition.params ?? [];
  if (given === undefined || given === null) given = {};
  if (typeof given !== 'object' || Array.isArray(given)) {
    return { ok: false, error: '"params" must be an object of parameter names to values.' };
  }
  const values: ParamValues = {};
  const known = new Map(specs.map((s) => [s.name, s]));
  for (const [name, value] of Object.entries(given as Record<string, unknown>)) {
    const spec = known.get(name);
    if (!spec) {
      const accepted = specs.length ? specs.map((s) => s.name).join(', ') : 'none';
      return {
        ok: false,
        error: `Type "${definition.type}" has no parameter "${name}"; it accepts: ${accepted}.`,
      };
    }
    const problem = checkValue(spec, value);
    if (problem) return { ok: false, error: `Parameter "${name}" ${problem}` };
    values[name] = value as string | number;
  }
  for (const spec of specs) {
    if (!(spec.name in values) && spec.default !== undefined) values[spec.name] = spec.default;
  }
  return { ok: true, values };
}

function checkValue(spec: ParamSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer.';
      if (spec.minimum !== undefined && value < spec.minimum) return `must be at least ${spec.minimum}.`;
      if (spec.maximum !== undefined && value > spec.maximum) return `must be at most ${spec.maximum}.`;
      return undefined;
    }
    case 'enum': {
      const allowed = spec.values ?? [];
      if (typeof value !== 'string' || !allowed.includes(value))
        return `must be one of: ${allowed.join(', ')}.`;
      return undefined;
    }
    case 'string': {
      if (typeof value !== 'string') return 'must be a string.';
      if (value.length > 200) return 'must be at most 200 characters.';
      if (spec.pattern && !new RegExp(`^(?:${spec.pattern})$`).test(value)) {
        return `must match ${spec.pattern}.`;
      }
      return undefined;
    }
  }
}
