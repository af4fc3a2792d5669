/**
 * `--param key=value` (repeatable): the type's declared parameters, sent in
 * the create request. Integer parameters are sent as JSON numbers, as the
 * server expects; everything else as given, so that the server, which knows
 * the rules, answers a bad value with its own sentence.
 */
import type { ProcessingType } from 'bsubio';
import { CliError } from './errors.js';

export function parseParams(given: string[], spec: ProcessingType): Record<string, string | number> {
  const params: Record<string, string | number> = {};
  for (const pair of given) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CliError(
        `--param takes key=value, not "${pair}"`,
        `Run 'bsubio types ${spec.type}' to see its parameters.`,
      );
    }
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const declared = spec.params?.find((p) => p.name === name);
    params[name] = declared?.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
  }
  return params;
}
