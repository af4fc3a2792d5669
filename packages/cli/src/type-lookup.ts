/** Finding a processing type by the name a user typed, with a "did you mean" when there is none. */
import type { ProcessingType } from 'bsubio';
import { CliError } from './errors.js';

/** The type as the server lists it (by name or alias), or a "did you mean" error. */
export function findType(name: string, list: ProcessingType[]): ProcessingType {
  const found = list.find((t) => t.type === name || t.aliases?.includes(name));
  if (found) return found;
  const names = list.map((t) => t.type);
  const closest = names
    .map((n) => ({ n, d: distance(name.toLowerCase(), n.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  throw new CliError(
    `unknown job type "${name}"${closest && closest.d <= Math.max(2, name.length / 3) ? `; did you mean ${closest.n}?` : ''}`,
    "Run 'bsubio types' to list them.",
  );
}

/** Levenshtein distance, for the suggestion. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        current[j - 1]! + 1,
        previous[j]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
