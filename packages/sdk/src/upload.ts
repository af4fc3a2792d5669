/**
 * The upload body: `multipart/form-data` with the input in the part named
 * `file` (the official wire form), built as a stream so that the input is
 * never held in memory whole. In Node the parts are pulled chunk by chunk as
 * fetch sends them, with an exact Content-Length when the input's size is
 * known; in browsers a Blob of [head, file, tail] is sent, which the browser
 * reads from disk itself.
 */
import type { LocalFile, Platform } from './platform.js';
import { chunksOf, type PreparedBody } from './transport.js';

/**
 * What can be uploaded: a file path (Node), a Blob or File, bytes (a Node
 * `Buffer` is a Uint8Array), a web ReadableStream, or any async iterable of
 * bytes (a Node Readable such as `fs.createReadStream(...)`).
 */
export type UploadInput =
  | string
  | Blob
  | Uint8Array
  | ArrayBuffer
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

export interface UploadOptions {
  /** File name sent with the part (the server keeps it). Default: the path's or File's name, else `input`. */
  fileName?: string;
  /** Content type of the part. Default: the Blob's type, else `application/octet-stream`. */
  contentType?: string;
  /** Called as bytes of the input are handed to the network, with the total when known. */
  onProgress?: (sent: number, total: number | null) => void;
}

interface Source {
  name: string | null;
  type: string | null;
  size: number | null;
  /** A Blob, when the input is one (browsers send it as is). */
  blob?: Blob;
  chunks(): AsyncIterable<Uint8Array>;
}

const SLICE = 256 * 1024;

async function toSource(input: UploadInput, platform: Platform): Promise<Source> {
  if (typeof input === 'string') {
    const file: LocalFile = await platform.openFile(input);
    return { name: file.name, type: null, size: file.size, chunks: () => file.chunks() };
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    const name = typeof File !== 'undefined' && input instanceof File ? input.name : null;
    return {
      name,
      type: input.type || null,
      size: input.size,
      blob: input,
      chunks: () => chunksOf(input.stream()),
    };
  }
  if (input instanceof ArrayBuffer || input instanceof Uint8Array) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    return {
      name: null,
      type: null,
      size: bytes.byteLength,
      async *chunks() {
        // Slices (views, not copies) so that progress moves and sends interleave.
        for (let offset = 0; offset < bytes.byteLength; offset += SLICE) {
          yield bytes.subarray(offset, Math.min(offset + SLICE, bytes.byteLength));
        }
      },
    };
  }
  if (typeof ReadableStream !== 'undefined' && input instanceof ReadableStream) {
    return { name: null, type: null, size: null, chunks: () => chunksOf(input) };
  }
  if (input && typeof (input as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const path = (input as { path?: unknown }).path;
    const name = typeof path === 'string' ? (path.split(/[\\/]/).pop() ?? null) : null;
    return { name, type: null, size: null, chunks: () => input as AsyncIterable<Uint8Array> };
  }
  throw new TypeError(
    'The input must be a file path, a Blob, a Uint8Array/Buffer, an ArrayBuffer, a ReadableStream or an async iterable of bytes.',
  );
}

/** Quote a header parameter value the way browsers do for form data. */
function quote(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

function randomBoundary(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return `----bsubio${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export async function multipartBody(
  input: UploadInput,
  options: UploadOptions,
  platform: Platform,
  progress: () => void,
): Promise<PreparedBody> {
  const source = await toSource(input, platform);
  const boundary = randomBoundary();
  const encoder = new TextEncoder();
  const fileName = options.fileName ?? source.name ?? 'input';
  const contentType = options.contentType ?? source.type ?? 'application/octet-stream';
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(fileName)}"\r\n` +
      `Content-Type: ${contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const onProgress = options.onProgress;
  onProgress?.(0, source.size);

  if (!platform.streamingUploads) {
    // Browsers: a Blob body (a File stays on disk). A stream input is gathered
    // into a Blob first, since Chromium streams request bodies only over HTTP/2.
    const file = source.blob ?? (await gather(source.chunks()));
    return { body: new Blob([head, file, tail]), headers, streaming: false };
  }

  if (source.size !== null) {
    headers['content-length'] = String(head.byteLength + source.size + tail.byteLength);
  }
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let stage: 'head' | 'file' | 'tail' | 'done' = 'head';
  let sent = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        progress();
        if (stage === 'head') {
          stage = 'file';
          iterator = source.chunks()[Symbol.asyncIterator]();
          controller.enqueue(head);
          return;
        }
        if (stage === 'file') {
          const { done, value } = await iterator!.next();
          if (!done) {
            // Node streams may yield Buffers; fetch wants plain Uint8Array views.
            const chunk = value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer);
            sent += chunk.byteLength;
            controller.enqueue(chunk);
            onProgress?.(sent, source.size);
            return;
          }
          stage = 'tail';
        }
        if (stage === 'tail') {
          stage = 'done';
          controller.enqueue(tail);
          controller.close();
        }
      },
      async cancel() {
        // Aborted or failed: close the file now rather than at garbage collection.
        await iterator?.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  return { body, headers, streaming: true };
}

async function gather(chunks: AsyncIterable<Uint8Array>): Promise<Blob> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return new Blob(parts as BlobPart[]);
}
