/**
 * Blob storage on the local file system. Inputs are content-addressed:
 * files under `<data-dir>/blobs/cas/<2 hex>/<sha-256>`, written once, so the
 * same file uploaded a hundred times takes its space once. A job's output
 * and logs are files under `<data-dir>/blobs/jobs/<job-id>/` (inputs stored
 * before content addressing are there too, and stay readable). Every write
 * goes to a temporary file, which is put into place once complete and
 * fsynced with its directory before the store may refer to it, so a reader
 * never sees half a file, and a blob the store refers to survives a crash.
 * Which jobs refer to which blob is the database's (services/stored-blobs.ts).
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { copyFile, mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { type ByteRange, type RangeSpec, resolveRange } from './byte-range.js';
import { FileReadStream } from './file-read-stream.js';
import { FileSink } from './file-sink.js';

const fsyncAsync = promisify(fsync);

export class BlobTooLargeError extends Error {
  override name = 'BlobTooLargeError';
  constructor(readonly limit: number) {
    super(`blob is larger than ${limit} bytes`);
  }
}

export interface StoredBlob {
  size: number;
}

/**
 * A blob written and hashed but not yet at its content key: settle() puts it
 * there (or finds the same bytes there already), discard() drops it.
 */
export interface StagedBlob {
  size: number;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** Where the store keeps it meanwhile (a temporary file, a temporary object). */
  readonly staging: string;
}

/** The key of the content-addressed blob with this SHA-256: `cas/ab/abcdef…`. */
export function contentKey(sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
  return `cas/${sha256.slice(0, 2)}/${sha256}`;
}

export interface StageOptions {
  /**
   * No one but the store holds the source's chunks (an upload's body read
   * only by us): a local store may free each one's memory as soon as it is
   * on disk (see file-sink.ts).
   */
  releaseWritten?: boolean;
}

export interface OpenedBlob {
  stream: Readable;
  size: number;
  range?: ByteRange;
}

/**
 * Where a job's input, output and logs live: files under the data directory
 * (embedded) or an S3-compatible bucket (cluster). Blobs are written once and
 * never modified; keys are `cas/<ab>/<sha-256>` (inputs) or
 * `jobs/<job-id>/<kind>-<random>` (outputs, logs, and inputs from before).
 */
export interface BlobStore {
  init(): Promise<void>;
  /** A local directory for scratch files (a worker's per-job files). */
  readonly scratchDir: string;
  /** Stream `source` into `key`; past `maxBytes` BlobTooLargeError, and nothing is kept. */
  put(key: string, source: Readable, maxBytes?: number): Promise<StoredBlob>;
  /** Take over a finished local file as the blob `key` (the file is gone afterwards). */
  adopt(key: string, filePath: string): Promise<StoredBlob>;
  /**
   * Stream `source` to a staging place, hashing it on the way (no second
   * pass); past `maxBytes` BlobTooLargeError, and nothing is kept.
   */
  stage(source: Readable, maxBytes?: number, options?: StageOptions): Promise<StagedBlob>;
  /**
   * Put a staged blob at its content key, durably; when the same bytes are
   * there already, the staged copy goes and the one there stays.
   */
  settle(staged: StagedBlob): Promise<string>;
  discard(staged: StagedBlob): Promise<void>;
  /**
   * Remove the blob `key` unless it came back into use: the blob is first
   * moved aside, then `inUse()` is asked; when a job refers to it now, it is
   * put back. A job that starts to refer to a blob records that before it
   * looks for the blob (see services/stored-blobs.ts), so of a delete and a
   * new reference racing, either the delete sees the reference or the new
   * reference sees the blob gone; never a reference to a deleted blob.
   */
  removeUnlessUsed(key: string, inUse: () => Promise<boolean>): Promise<void>;
  /**
   * Finish removals a crash interrupted while their blob was moved aside:
   * each goes back when `inUse(key)` says a job refers to it, else it goes.
   * Without `movedBefore` all of them, for when no removal runs (embedded
   * mode's start-up); with it, those moved aside before then (S3: replicas
   * remove concurrently, and one in flight that long is dead).
   */
  recoverRemovals(inUse: (key: string) => Promise<boolean>, movedBefore?: number): Promise<void>;
  /** The keys of blobs under `jobs/<job-id>/` (outputs, logs, older inputs, a lost worker's uploads). */
  jobKeys(jobId: string): Promise<string[]>;
  size(key: string): Promise<number | undefined>;
  /**
   * A stream of the blob (undefined when it does not exist); `size` is the
   * whole blob's. With `range`, only those bytes, and `range` says which
   * (left out when the whole blob is served); RangeNotSatisfiableError when
   * the range starts past its end.
   */
  open(key: string, range?: RangeSpec): Promise<OpenedBlob | undefined>;
  readFrom(key: string, offset: number): Promise<Buffer>;
  /** Put a copy of the blob in the local file `dest`. */
  copyTo(key: string, dest: string): Promise<void>;
  delete(key: string): Promise<void>;
  jobIds(): Promise<string[]>;
}

/**
 * How much a blob's writer buffers: chunks that pile up while a write is in
 * flight go to the disk together (one writev), not one 64 KiB write each.
 * On a VM where every syscall is slow that was a good part of an upload.
 */
export const WRITE_CHUNK_BYTES = 1024 * 1024;

/**
 * `source` piped into a pass-through that counts its bytes and fails with
 * BlobTooLargeError past `maxBytes`; for every store's put().
 *
 * The source is the caller's, usually the HTTP request: past the limit it
 * must stay open (only unpiped, which the caller does on failure), so that
 * the caller can still answer on its connection. So it is piped by hand
 * instead of owned by pipeline(), which would destroy it; its failures are
 * passed on to the counter by hand too. Those listeners stay: an error the
 * source emits later (a client that aborts while its refused body is
 * drained) must find one, or it would crash the process; on a finished
 * counter they do nothing.
 */
export function countBytes(
  source: Readable,
  maxBytes: number,
  hash?: Hash,
): { counter: Transform; size: () => number } {
  let size = 0;
  const counter = new Transform({
    highWaterMark: WRITE_CHUNK_BYTES,
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new BlobTooLargeError(maxBytes));
      // Hashed as it passes (SHA-256 runs at ~1.5 GB/s here), so a 1 GiB
      // upload is never read back from disk to learn its key.
      hash?.update(chunk);
      done(null, chunk);
    },
  });
  const sourceFailed = (err?: Error) => counter.destroy(err ?? new Error('the upload ended early'));
  const sourceClosed = () => {
    if (!source.readableEnded) sourceFailed(source.errored ?? undefined);
  };
  source.on('error', sourceFailed).once('close', sourceClosed);
  source.pipe(counter);
  return { counter, size: () => size };
}

/** A blob moved aside by a removal is named after its key, so a removal a crash cut short can be finished. */
const asideName = (key: string) => `${randomUUID()}~${key.replaceAll('/', '~')}`;
const keyOfAside = (name: string) => name.slice(name.indexOf('~') + 1).replaceAll('~', '/');

export class FsBlobStore implements BlobStore {
  private readonly root: string;
  private readonly tmp: string;
  /** Blobs a removal moved aside (kept across a restart, unlike tmp: see recoverRemovals). */
  private readonly removing: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'blobs');
    this.tmp = join(dataDir, 'tmp');
    this.removing = join(dataDir, 'removing');
  }

  /** Create the directories and remove temporary files a crash left behind. */
  async init(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { recursive: true });
    await mkdir(this.root, { recursive: true });
    await mkdir(this.removing, { recursive: true });
  }

  /** A directory on the same file system as the blobs, for files that will be adopted. */
  get scratchDir(): string {
    return this.tmp;
  }

  private path(key: string): string {
    if (!/^[A-Za-z0-9/_.-]+$/.test(key) || key.includes('..')) throw new Error(`bad blob key ${key}`);
    return join(this.root, key);
  }

  /**
   * Stream `source` into the blob `key`. Past `maxBytes` the write stops with
   * BlobTooLargeError and nothing is kept.
   */
  async put(key: string, source: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredBlob> {
    const tmpPath = join(this.tmp, randomUUID());
    const { counter, size } = countBytes(source, maxBytes);
    try {
      await pipeline(counter, new FileSink(tmpPath, { highWaterMark: WRITE_CHUNK_BYTES }));
      await this.adopt(key, tmpPath);
      return { size: size() };
    } catch (err) {
      source.unpipe(counter);
      await unlink(tmpPath).catch(() => {});
      throw err;
    }
  }

  /**
   * Move a finished local file (on the same file system) into the blob `key`
   * and make it durable: renamed into place first, then the file's bytes and
   * the directory entry are flushed together, so a caller waits for one
   * round of fsyncs rather than two in a row (on a busy VM each wait can
   * cost a late wake-up of hundreds of milliseconds). The order between the
   * two does not matter: the blob is referenced by the store only after both
   * have returned, and a crash in between leaves at worst an unreferenced
   * file in the job's directory, which goes with the job. The metadata steps
   * take microseconds and run synchronously, each saving a round trip
   * through the thread pool (see the worker's runner.ts for what those cost).
   */
  async adopt(key: string, filePath: string): Promise<StoredBlob> {
    const target = this.path(key);
    try {
      renameSync(filePath, target);
    } catch (err) {
      // The job's directory is made by its first blob (the input, usually).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dirname(target), { recursive: true });
      renameSync(filePath, target);
    }
    try {
      const fd = openSync(target, 'r');
      let size: number;
      try {
        size = fstatSync(fd).size;
        // An empty file has no bytes to flush; its name is made durable all the same.
        await Promise.all([size > 0 ? fsyncAsync(fd) : undefined, syncDir(dirname(target))]);
      } finally {
        closeSync(fd);
      }
      return { size };
    } catch (err) {
      // Not durable, so not a blob: nothing may come to reference it.
      rmSync(target, { force: true });
      throw err;
    }
  }

  async stage(
    source: Readable,
    maxBytes = Number.POSITIVE_INFINITY,
    options: StageOptions = {},
  ): Promise<StagedBlob> {
    const staging = join(this.tmp, randomUUID());
    const hash = createHash('sha256');
    const { counter, size } = countBytes(source, maxBytes, hash);
    try {
      const file = new FileSink(staging, {
        highWaterMark: WRITE_CHUNK_BYTES,
        releaseWritten: options.releaseWritten,
      });
      await pipeline(counter, file);
      return { size: size(), sha256: hash.digest('hex'), staging };
    } catch (err) {
      source.unpipe(counter);
      await unlink(staging).catch(() => {});
      throw err;
    }
  }

  /**
   * Link the staged file in at its content key. Its bytes are flushed before
   * the name exists, so a blob found at a content key is always whole (a
   * crash cannot leave a short file there for a later upload to trust);
   * then the directory entry. When the key exists already the bytes are the
   * same, and the staged copy simply goes.
   */
  async settle(staged: StagedBlob): Promise<string> {
    const key = contentKey(staged.sha256);
    const target = this.path(key);
    try {
      if (staged.size > 0) {
        const fd = openSync(staged.staging, 'r');
        try {
          await fsyncAsync(fd);
        } finally {
          closeSync(fd);
        }
      }
      linkInto(staged.staging, target);
      await syncDir(dirname(target));
    } finally {
      rmSync(staged.staging, { force: true });
    }
    return key;
  }

  async discard(staged: StagedBlob): Promise<void> {
    rmSync(staged.staging, { force: true });
  }

  async removeUnlessUsed(key: string, inUse: () => Promise<boolean>): Promise<void> {
    const path = this.path(key);
    const aside = join(this.removing, asideName(key));
    try {
      renameSync(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      if (await inUse()) linkInto(aside, path);
    } finally {
      rmSync(aside, { force: true });
    }
    // A job's directory goes with its last blob; the 256 cas/ directories stay.
    if (key.startsWith('jobs/')) {
      try {
        rmdirSync(dirname(path));
      } catch {
        // Not empty: other blobs of the job are still there.
      }
    }
  }

  /** One process uses a data directory: `movedBefore` is never needed here. */
  async recoverRemovals(inUse: (key: string) => Promise<boolean>): Promise<void> {
    for (const name of await readdir(this.removing)) {
      const aside = join(this.removing, name);
      const key = keyOfAside(name);
      if (await inUse(key)) linkInto(aside, this.path(key));
      rmSync(aside, { force: true });
    }
  }

  async jobKeys(jobId: string): Promise<string[]> {
    const dir = `jobs/${jobId}`;
    try {
      return (await readdir(this.path(dir))).map((name) => `${dir}/${name}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(key))).size;
    } catch {
      return undefined;
    }
  }

  async open(key: string, spec?: RangeSpec): Promise<OpenedBlob | undefined> {
    const path = this.path(key);
    try {
      const handle = await open(path, 'r');
      const size = (await handle.stat()).size;
      let range: ByteRange | undefined;
      try {
        range = resolveRange(spec, size);
      } catch (err) {
        await handle.close();
        throw err;
      }
      const stream = new FileReadStream(handle, range?.start ?? 0, range?.end ?? size - 1);
      return { stream, size, ...(range ? { range } : {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** The bytes of the blob from `offset` to its end (empty when missing or shorter). */
  async readFrom(key: string, offset: number): Promise<Buffer> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.path(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    }
    try {
      const size = (await handle.stat()).size;
      if (offset >= size) return Buffer.alloc(0);
      const buffer = Buffer.allocUnsafe(size - offset);
      let read = 0;
      while (read < buffer.length) {
        const { bytesRead } = await handle.read(buffer, read, buffer.length - read, offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return buffer.subarray(0, read);
    } finally {
      await handle.close();
    }
  }

  /**
   * Put a copy of the blob at `dest`: a hard link when on the same file
   * system (blobs are never modified in place, so sharing is safe), else a copy.
   */
  async copyTo(key: string, dest: string): Promise<void> {
    const source = this.path(key);
    try {
      linkSync(source, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(source, dest); // a whole file's bytes: not on the event loop
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    rmSync(path, { force: true });
    try {
      rmdirSync(dirname(path));
    } catch {
      // Other blobs of the job are still there.
    }
  }

  /** Job ids that have blobs, for tests and consistency checks. */
  async jobIds(): Promise<string[]> {
    try {
      return await readdir(join(this.root, 'jobs'));
    } catch {
      return [];
    }
  }
}

/**
 * A second name for `file` at `target`, making its directory when needed;
 * a name already there is left as it is (content keys: the same bytes).
 */
function linkInto(file: string, target: string): void {
  try {
    linkSync(file, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT') throw err;
    mkdirSync(dirname(target), { recursive: true });
    try {
      linkSync(file, target);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

export function blobKey(jobId: string, kind: 'input' | 'output' | 'logs'): string {
  return `jobs/${jobId}/${kind}-${randomUUID().slice(0, 8)}`;
}
