/**
 * Reads the part named `file` of a multipart/form-data request as a stream,
 * without buffering it: the caller consumes the part while it arrives.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ApiError } from './api-error.js';

export interface FilePart {
  stream: Readable;
  fileName: string | null;
  contentType: string | null;
}

/**
 * Calls `consume` with the `file` part and settles with its result; settles
 * as soon as `consume` fails (the rest of the body is not waited for).
 * Resolves undefined when the form has no `file` part.
 */
export function consumeFilePart<T>(
  req: IncomingMessage,
  consume: (part: FilePart) => Promise<T>,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { files: 1, fields: 50, parts: 100, fieldSize: 64 * 1024 },
      });
    } catch (err) {
      reject(new ApiError('bad_request', `The multipart body is malformed: ${(err as Error).message}.`));
      return;
    }
    let result: Promise<T> | undefined;
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || result) {
        stream.resume();
        return;
      }
      result = consume({ stream, fileName: info.filename ?? null, contentType: info.mimeType ?? null });
      result.catch(reject);
    });
    parser.on('error', (err: Error) => {
      const apiError = new ApiError('bad_request', `The multipart body is malformed: ${err.message}.`);
      if (result) result.then(() => reject(apiError), reject);
      else reject(apiError);
    });
    parser.on('close', () => {
      if (result) result.then(resolve, reject);
      else resolve(undefined);
    });
    req.pipe(parser);
  });
}
