/**
 * Reads the part named `file` of a multipart/form-data request as a stream,
 * without buffering it: the caller consumes the part while it arrives.
 *
 * A parser of our own rather than busboy: busboy looks for the boundary with
 * a Boyer-Moore-Horspool search in JavaScript, and on a busy 2-core machine
 * that search was most of a big upload's time (about 60 MiB/s of CPU for a
 * file of repeated bytes, 4 MiB/s upload when the machine was loaded).
 * Here the boundary is found with Buffer.indexOf (native, GiB/s), and the
 * file's bytes are passed on as slices of the request's own chunks, never
 * copied. Only the `file` part is kept; every other part is read and dropped.
 */
import type { IncomingMessage } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { ApiError } from '../services/api-error.js';

export interface FilePart {
  stream: Readable;
  fileName: string | null;
  contentType: string | null;
}

/** Longest accepted header block of one part (busboy's default is 16 KiB too). */
const MAX_PART_HEADER_BYTES = 16 * 1024;
/** At most this many parts; the rest of a bigger form is an error. */
const MAX_PARTS = 100;
/** How much of the file part may wait in memory for a slow consumer. */
const FILE_BUFFER_BYTES = 1024 * 1024;

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

function malformed(message: string): ApiError {
  return new ApiError('bad_request', `The multipart body is malformed: ${message}.`);
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
    let boundary: string;
    try {
      boundary = boundaryOf(req.headers['content-type']);
    } catch (err) {
      reject(err);
      return;
    }
    let result: Promise<T> | undefined;
    const parser = new MultipartParser(boundary, (part) => {
      result = consume(part);
      result.catch(reject);
    });
    parser.on('error', (err: Error) => {
      const apiError = err instanceof ApiError ? err : malformed(err.message);
      if (result) result.then(() => reject(apiError), reject);
      else reject(apiError);
    });
    parser.on('finish', () => {
      if (result) result.then(resolve, reject);
      else resolve(undefined);
    });
    // A request that ends early (the client went away) never finishes the
    // parser; the file part's consumer sees that as its stream failing.
    req.once('close', () => {
      if (!req.complete) parser.destroy(new Error('the request ended early'));
    });
    req.pipe(parser);
  });
}

/** The boundary parameter of a multipart/form-data Content-Type. */
function boundaryOf(contentType: string | undefined): string {
  const params = parseParams((contentType ?? '').slice((contentType ?? '').indexOf(';') + 1));
  const boundary = params.get('boundary');
  if (contentType === undefined || !contentType.includes(';') || !boundary) {
    throw malformed('the Content-Type has no boundary');
  }
  if (boundary.length > 200) throw malformed('the boundary is longer than 200 characters');
  return boundary;
}

/**
 * `; a=b; c="d e"` parameters (RFC 7231 / RFC 7578), names lower-cased; the
 * first of repeated names wins. `name*=charset'lang'percent-encoded`
 * (RFC 5987) is decoded and stored under `name*`.
 */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ';' || text[i] === ' ' || text[i] === '\t')) i++;
    const eq = text.indexOf('=', i);
    if (eq === -1) break;
    const name = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      i++;
      const next = text.indexOf(';', i);
      i = next === -1 ? n : next;
    } else {
      const next = text.indexOf(';', i);
      const end = next === -1 ? n : next;
      value = text.slice(i, end).trim();
      i = end;
    }
    if (name.endsWith('*')) {
      const decoded = decodeExtValue(value);
      if (decoded === undefined) continue;
      value = decoded;
    }
    if (name && !params.has(name)) params.set(name, value);
  }
  return params;
}

/** `UTF-8''na%C3%AFve.txt` → `naïve.txt`; undefined when not decodable. */
function decodeExtValue(value: string): string | undefined {
  const match = /^([^']*)'[^']*'(.*)$/.exec(value);
  if (!match) return undefined;
  const charset = match[1]!.toLowerCase();
  const bytes: number[] = [];
  const encoded = match[2]!;
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(encoded.charCodeAt(i) & 0xff);
    }
  }
  const buffer = Buffer.from(bytes);
  if (charset === 'utf-8' || charset === 'utf8') return buffer.toString('utf8');
  if (charset === 'iso-8859-1' || charset === 'latin1') return buffer.toString('latin1');
  return undefined;
}

/** The last component of a path a browser or client may have sent. */
function baseName(path: string): string {
  const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  return name === '.' || name === '..' ? '' : name;
}

type State = 'preamble' | 'afterBoundary' | 'headers' | 'body' | 'epilogue';

/**
 * A Writable the request is piped into. Calls `onFile` for the first part
 * named `file` that is a file (it has a filename, or is
 * application/octet-stream: busboy's rule, which the old parser applied);
 * every other part is dropped. Finishes once the body has ended after the
 * closing boundary; fails on a malformed body.
 */
class MultipartParser extends Writable {
  /** `\r\n--boundary`: what ends a part's body. */
  private readonly delimiter: Buffer;
  private state: State = 'preamble';
  /** Bytes held back: a possible start of the delimiter, or an unfinished header block. */
  private pending: Buffer = CRLF;
  private parts = 0;
  private file: Readable | undefined;
  private fileDone = false;
  /** The current part is the file part (its bytes go to `file`). */
  private inFile = false;
  /** The write waiting for the file's consumer to want more. */
  private waiting: (() => void) | undefined;

  constructor(
    boundary: string,
    private readonly onFile: (part: FilePart) => void,
  ) {
    super({ highWaterMark: FILE_BUFFER_BYTES });
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    try {
      this.feed(chunk);
    } catch (err) {
      done(err as Error);
      return;
    }
    // The consumer is behind: take the next chunk only when it wants more,
    // so the request is paused (TCP backpressure) instead of buffered here.
    if (this.file && !this.fileDone && this.file.readableLength >= FILE_BUFFER_BYTES) {
      this.waiting = () => done();
    } else {
      done();
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.state !== 'epilogue') {
      done(malformed('the body ended before the closing boundary'));
      return;
    }
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.file && !this.fileDone) {
      this.fileDone = true;
      this.file.destroy(err ?? new Error('the upload ended early'));
    }
    done(err);
  }

  private feed(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    while (buf.length > 0) {
      switch (this.state) {
        case 'preamble':
        case 'body': {
          const at = buf.indexOf(this.delimiter);
          if (at === -1) {
            const keep = this.partialDelimiterStart(buf);
            if (keep > 0) this.emit_(buf.subarray(0, keep));
            // A copy, so that the request's chunk is not held for a few bytes.
            this.pending = Buffer.from(buf.subarray(keep));
            return;
          }
          if (at > 0) this.emit_(buf.subarray(0, at));
          if (this.state === 'body') this.endPart();
          buf = buf.subarray(at + this.delimiter.length);
          this.state = 'afterBoundary';
          break;
        }
        case 'afterBoundary': {
          if (buf.length < 2) {
            this.pending = Buffer.from(buf);
            return;
          }
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            this.state = 'epilogue';
            return;
          }
          // Transport padding (spaces, tabs) may follow the boundary before its CRLF.
          const eol = buf.indexOf(CRLF);
          if (eol === -1) {
            if (buf.length > 256) throw new Error('a boundary line is not ended by CRLF');
            this.pending = Buffer.from(buf);
            return;
          }
          if (!/^[ \t]*$/.test(buf.toString('latin1', 0, eol))) {
            throw new Error('unexpected bytes after a boundary');
          }
          buf = buf.subarray(eol + 2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          // A part without headers starts straight with the blank line.
          const end = buf[0] === 0x0d && buf[1] === 0x0a ? -2 : buf.indexOf(HEADER_END);
          if (end === -1) {
            if (buf.length > MAX_PART_HEADER_BYTES) throw new Error('a part header is too long');
            this.pending = Buffer.from(buf);
            return;
          }
          if (end > MAX_PART_HEADER_BYTES) throw new Error('a part header is too long');
          this.startPart(end === -2 ? '' : buf.toString('latin1', 0, end));
          buf = buf.subarray(end + 4);
          this.state = 'body';
          break;
        }
        case 'epilogue':
          return;
      }
    }
  }

  /**
   * Where the tail of `buf` that could be the start of a delimiter begins
   * (buf.length when none does): those bytes wait for the next chunk.
   */
  private partialDelimiterStart(buf: Buffer): number {
    let at = buf.indexOf(0x0d, Math.max(0, buf.length - this.delimiter.length + 1));
    while (at !== -1) {
      const tail = buf.subarray(at);
      if (this.delimiter.subarray(0, tail.length).equals(tail)) return at;
      at = buf.indexOf(0x0d, at + 1);
    }
    return buf.length;
  }

  private startPart(headerText: string): void {
    if (++this.parts > MAX_PARTS) throw new Error(`more than ${MAX_PARTS} parts`);
    let disposition: Map<string, string> | undefined;
    let contentType: string | null = null;
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-disposition') {
        const semi = value.indexOf(';');
        const type = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
        if (type === 'form-data') disposition = parseParams(semi === -1 ? '' : value.slice(semi + 1));
      } else if (name === 'content-type') {
        contentType = value.split(';')[0]!.trim().toLowerCase() || null;
      }
    }
    // As busboy: an empty filename counts as none; the type defaults to text/plain.
    const rawName = disposition?.get('filename*') || disposition?.get('filename') || undefined;
    const isFile = rawName !== undefined || contentType === 'application/octet-stream';
    if (disposition?.get('name') !== 'file' || !isFile || this.file) return;
    this.inFile = true;
    this.file = new Readable({
      highWaterMark: FILE_BUFFER_BYTES,
      read: () => {
        const resume = this.waiting;
        this.waiting = undefined;
        resume?.();
      },
    });
    // A consumer attaches its listeners after an await or two: a body that
    // breaks off before then must not be an unhandled 'error' event.
    this.file.on('error', () => {});
    const fileName = rawName === undefined ? null : baseName(rawName);
    this.onFile({
      stream: this.file,
      fileName,
      contentType: contentType ?? 'text/plain',
    });
  }

  /** Bytes of the current part (or of the preamble). */
  private emit_(bytes: Buffer): void {
    if (this.state === 'body' && this.inFile && !this.fileDone) this.file!.push(bytes);
  }

  private endPart(): void {
    if (this.inFile && !this.fileDone) {
      this.fileDone = true;
      this.file!.push(null);
    }
    this.inFile = false;
  }
}

const EMPTY = Buffer.alloc(0);
