/**
 * Single byte ranges (RFC 9110 §14): what a `Range: bytes=...` header asks
 * for, and what it means for a blob of a given size. Only one range is
 * served; a header this server does not serve (several ranges, another
 * unit, bad syntax) is ignored, as the RFC allows, and the whole blob goes.
 */

/** `first-last`, `first-` (to the end) or `-suffix` (the last `suffix` bytes). */
export type RangeSpec = { first: number; last: number | undefined } | { suffix: number };

/** Inclusive byte positions, as Content-Range writes them. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A range that starts past the end of the blob: 416, with its size. */
export class RangeNotSatisfiableError extends Error {
  override name = 'RangeNotSatisfiableError';
  constructor(readonly size: number) {
    super(`the range starts past the end of the ${size} bytes`);
  }
}

export function parseRangeHeader(value: string | undefined): RangeSpec | undefined {
  const match = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(value ?? '');
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') return { suffix: Number(last) };
  if (last !== '' && Number(last) < Number(first)) return undefined;
  return { first: Number(first), last: last === '' ? undefined : Number(last) };
}

/**
 * The bytes of a blob of `size` that `spec` asks for; undefined for all of
 * it. An empty blob is served whole (it has no byte a range could name).
 */
export function resolveRange(spec: RangeSpec | undefined, size: number): ByteRange | undefined {
  if (!spec || size === 0) return undefined;
  if ('suffix' in spec) {
    if (spec.suffix === 0) throw new RangeNotSatisfiableError(size);
    return { start: Math.max(0, size - spec.suffix), end: size - 1 };
  }
  if (spec.first >= size) throw new RangeNotSatisfiableError(size);
  return { start: spec.first, end: Math.min(size - 1, spec.last ?? size - 1) };
}

/** The spec as an S3 `Range` header (S3 serves the same single-range forms). */
export function rangeHeader(spec: RangeSpec): string {
  return 'suffix' in spec ? `bytes=-${spec.suffix}` : `bytes=${spec.first}-${spec.last ?? ''}`;
}
