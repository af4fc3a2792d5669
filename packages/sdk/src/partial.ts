/**
 * Reading part of a job's output or logs (`Range: bytes=...`, an extension):
 * a preview needs the first MiB of a 1 GiB text output, not all of it. A
 * server that ignores Range answers 200 with everything; then we read only
 * as many bytes as asked and cancel the rest of the transfer.
 */
import type { BaseConfiguration } from './configuration.js';
import { BsubError, errorFromResponse } from './errors.js';
import type { RequestOptions } from './transport.js';

export interface PartialBody {
  bytes: Uint8Array;
  /** Where `bytes` starts in the whole body. */
  start: number;
  /** Size of the whole body, when the server said it. */
  total: number | null;
  /** True when `bytes` is the whole body. */
  complete: boolean;
  contentType: string;
}

export class PartialApi {
  constructor(readonly configuration: BaseConfiguration) {}

  /** The first `maxBytes` of a finished job's output. */
  outputHead(jobId: string, maxBytes: number, options?: RequestOptions): Promise<PartialBody> {
    return this.read(
      `/v1/jobs/${encodeURIComponent(jobId)}/output`,
      `bytes=0-${maxBytes - 1}`,
      maxBytes,
      options,
    );
  }

  /** The last `maxBytes` of a job's logs (the end is where a failure says why). */
  logsTail(jobId: string, maxBytes: number, options?: RequestOptions): Promise<PartialBody> {
    return this.read(
      `/v1/jobs/${encodeURIComponent(jobId)}/logs`,
      `bytes=-${maxBytes}`,
      maxBytes,
      options,
      true,
    );
  }

  private async read(
    path: string,
    range: string,
    maxBytes: number,
    options: RequestOptions | undefined,
    keepTail = false,
  ): Promise<PartialBody> {
    const url = `${this.configuration.host}${path}`;
    const headers: Record<string, string> = { accept: '*/*', range };
    if (this.configuration.accessToken) headers.authorization = `Bearer ${this.configuration.accessToken}`;
    let response: Response;
    try {
      response = await this.configuration.fetch(url, { headers, signal: options?.signal });
    } catch (error) {
      throw new BsubError('network', `Could not complete GET ${url}: ${(error as Error).message}.`, {
        method: 'GET',
        url,
        cause: error,
      });
    }
    const contentType = response.headers.get('content-type') ?? 'application/octet-stream';
    // 416: the body is empty (a range of an empty log cannot be satisfied).
    if (response.status === 416) {
      await response.body?.cancel();
      return { bytes: new Uint8Array(0), start: 0, total: 0, complete: true, contentType };
    }
    if (!response.ok) throw await errorFromResponse(response, 'GET', url);
    const ranged = response.status === 206 ? parseContentRange(response.headers.get('content-range')) : null;
    const length = response.headers.get('content-length');
    const total = ranged ? ranged.total : length === null ? null : Number(length);
    const { bytes, sawEnd } = await readUpTo(response.body, ranged || !keepTail ? maxBytes : Infinity);
    if (ranged) {
      return {
        bytes,
        start: ranged.start,
        total,
        complete: ranged.start === 0 && total !== null && bytes.byteLength >= total,
        contentType,
      };
    }
    // 200: the whole body was on offer.
    if (keepTail && bytes.byteLength > maxBytes) {
      const start = bytes.byteLength - maxBytes;
      return { bytes: bytes.subarray(start), start, total: bytes.byteLength, complete: false, contentType };
    }
    return { bytes, start: 0, total, complete: sawEnd, contentType };
  }
}

function parseContentRange(value: string | null): { start: number; total: number | null } | null {
  const match = value ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim()) : null;
  if (!match) return null;
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) };
}

/** Read at most `limit` bytes, then cancel the transfer; `sawEnd` when the body ended first. */
async function readUpTo(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; sawEnd: boolean }> {
  if (!body) return { bytes: new Uint8Array(0), sawEnd: true };
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  let sawEnd = false;
  try {
    while (length < limit) {
      const { done, value } = await reader.read();
      if (done) {
        sawEnd = true;
        break;
      }
      parts.push(value);
      length += value.byteLength;
    }
  } finally {
    if (!sawEnd) await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(Math.min(length, limit));
  let offset = 0;
  for (const part of parts) {
    const take = Math.min(part.byteLength, all.byteLength - offset);
    all.set(part.subarray(0, take), offset);
    offset += take;
    if (offset >= all.byteLength) break;
  }
  return { bytes: all, sawEnd };
}
