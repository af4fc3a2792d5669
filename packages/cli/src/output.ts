/**
 * Writing a finished job's output to stdout, streamed. On a terminal, output
 * that is not text (an image, a video, bytes with NULs) is refused with a hint
 * instead of being dumped raw, as curl does: it would garble the terminal
 * and is never what was wanted there.
 */
import { once } from 'node:events';
import type { ProcessingType } from 'bsubio';
import type { Context } from './context.js';
import { CliError } from './errors.js';

const TEXTUAL = /^(text\/|application\/(json|xml|javascript|x-ndjson|yaml)\b|[^;]*\+(json|xml)\b)/i;
const BINARY = /^(image|video|audio|font)\/|^application\/(pdf|zip|gzip|x-tar|vnd\.)/i;

/** Whether a type's output is binary by its declared MIME types alone (octet-stream: cannot tell). */
export function typeWritesBinary(spec: ProcessingType): string | undefined {
  const mimes = spec.output.mime_out;
  return mimes.length > 0 && mimes.every((m) => BINARY.test(m)) ? mimes[0] : undefined;
}

/** Binary by content type, or (for octet-stream and the like) by its first bytes: NULs or not UTF-8. */
export function looksBinary(contentType: string, head: Uint8Array): boolean {
  if (TEXTUAL.test(contentType)) return false;
  if (BINARY.test(contentType)) return true;
  if (head.includes(0)) return true;
  // A character may be cut at the end of the first chunk: allow up to 3 bytes short.
  for (let cut = 0; cut <= Math.min(3, head.length); cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return false;
    } catch {}
  }
  return true;
}

export function binaryRefusal(what: string, mime: string, hint: string): CliError {
  return new CliError(`${what} is binary (${mime}); not writing it to the terminal`, hint);
}

/** Stream job `id`'s output to stdout; `hint` says what to do instead when it is refused. */
export async function writeOutputToStdout(ctx: Context, id: string, hint: string): Promise<number> {
  const streamed = await ctx.client().output.streamJobOutput(id, { signal: ctx.signal });
  const reader = streamed.body.getReader();
  let bytes = 0;
  try {
    let first = true;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first && ctx.stdout.isTTY && looksBinary(streamed.contentType, value)) {
        const type = streamed.contentType.split(';')[0] || 'application/octet-stream';
        throw binaryRefusal(`the output of job ${id}`, type, hint);
      }
      first = false;
      bytes += value.byteLength;
      if (!ctx.stdout.write(value)) await once(ctx.stdout, 'drain');
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return bytes;
}
