/**
 * Blob storage on S3-compatible object storage (cluster mode), configured by
 * `s3://bucket[/prefix]?endpoint=...&region=...`; credentials come from the
 * usual AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles).
 * Bodies are streamed: multipart uploads of bounded parts on the way in,
 * response streams on the way out, never a whole blob in memory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  type BlobStore,
  contentKey,
  countBytes,
  type OpenedBlob,
  type StagedBlob,
  type StoredBlob,
} from './blob-store.js';
import { RangeNotSatisfiableError, type RangeSpec, rangeHeader } from './byte-range.js';

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
  endpoint?: string;
  region: string;
}

/** `s3://bucket/optional/prefix?endpoint=http://host:9000&region=eu-west-1` */
export function parseS3Url(url: string): S3Location {
  const parsed = new URL(url);
  if (parsed.protocol !== 's3:' || !parsed.hostname) {
    throw new Error(`BSUBIO_BLOB_URL must look like s3://bucket?endpoint=...&region=..., not "${url}".`);
  }
  const path = parsed.pathname.replace(/^\/+|\/+$/g, '');
  return {
    bucket: parsed.hostname,
    prefix: path ? `${path}/` : '',
    endpoint: parsed.searchParams.get('endpoint') ?? undefined,
    region: parsed.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
  };
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** Parts of 8 MiB, at most 4 in flight: an upload holds at most ~32 MiB. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;
/** The largest object one CopyObject copies; a larger one is streamed through (rare: uploads are 1 GiB by default). */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly location: S3Location;
  readonly scratchDir: string;

  constructor(url: string, dataDir: string) {
    this.location = parseS3Url(url);
    this.client = new S3Client({
      region: this.location.region,
      ...(this.location.endpoint ? { endpoint: this.location.endpoint, forcePathStyle: true } : {}),
    });
    this.scratchDir = join(dataDir, 'tmp');
  }

  async init(): Promise<void> {
    await rm(this.scratchDir, { recursive: true, force: true });
    await mkdir(this.scratchDir, { recursive: true });
  }

  private key(key: string): string {
    if (!/^[A-Za-z0-9/_.-]+$/.test(key) || key.includes('..')) throw new Error(`bad blob key ${key}`);
    return this.location.prefix + key;
  }

  private async upload(key: string, body: Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.key(key), Body: body },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      // A failed multipart upload is aborted, so no parts are left behind.
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async put(key: string, source: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredBlob> {
    const { counter, size } = countBytes(source, maxBytes);
    let failure: Error | undefined;
    counter.once('error', (err) => {
      failure = err;
    });
    try {
      await this.upload(key, counter);
      if (failure) throw failure;
      return { size: size() };
    } catch (err) {
      source.unpipe(counter);
      await this.delete(key).catch(() => {});
      throw failure ?? err;
    }
  }

  /** Uploaded to `tmp/<random>` while hashed; settle() copies it to its content key inside the bucket. */
  // StageOptions.releaseWritten is not taken up: the S3 client holds the parts it sends.
  async stage(source: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<StagedBlob> {
    const staging = `tmp/${randomUUID()}`;
    const hash = createHash('sha256');
    const { counter, size } = countBytes(source, maxBytes, hash);
    let failure: Error | undefined;
    counter.once('error', (err) => {
      failure = err;
    });
    try {
      await this.upload(staging, counter);
      if (failure) throw failure;
      return { size: size(), sha256: hash.digest('hex'), staging };
    } catch (err) {
      source.unpipe(counter);
      await this.delete(staging).catch(() => {});
      throw failure ?? err;
    }
  }

  async settle(staged: StagedBlob): Promise<string> {
    const key = contentKey(staged.sha256);
    try {
      if ((await this.size(key)) === undefined) await this.copy(staged.staging, key, staged.size);
    } finally {
      await this.delete(staged.staging).catch(() => {});
    }
    return key;
  }

  async discard(staged: StagedBlob): Promise<void> {
    await this.delete(staged.staging);
  }

  /** S3 has no rename: "moved aside" is a copy, then a delete. */
  async removeUnlessUsed(key: string, inUse: () => Promise<boolean>): Promise<void> {
    const size = await this.size(key);
    if (size === undefined) return;
    // Named after its key, so a removal a crash cut short can be finished (recoverRemovals).
    const aside = `removing/${randomUUID()}/${key}`;
    try {
      await this.copy(key, aside, size);
    } catch (err) {
      // Another removal took it meanwhile.
      if (isMissing(err)) return;
      throw err;
    }
    try {
      await this.delete(key);
      if (await inUse()) await this.copy(aside, key, size);
    } finally {
      await this.delete(aside).catch(() => {});
    }
  }

  /**
   * Also drops staged uploads a crash left in tmp/ (an object there lives
   * for milliseconds, between its upload's end and settle()).
   */
  async recoverRemovals(inUse: (key: string) => Promise<boolean>, movedBefore?: number): Promise<void> {
    for (const { key: aside, size } of await this.listBefore('removing/', movedBefore)) {
      // removing/<random>/<key>
      const key = aside.split('/').slice(2).join('/');
      if (await inUse(key)) await this.copy(aside, key, size);
      await this.delete(aside);
    }
    for (const { key: staged } of await this.listBefore('tmp/', movedBefore)) await this.delete(staged);
  }

  /** Objects under `prefix` (keys without the store's prefix), written before `before` when given. */
  private async listBefore(prefix: string, before?: number): Promise<{ key: string; size: number }[]> {
    const found: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: this.key(prefix),
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (before !== undefined && (object.LastModified?.getTime() ?? 0) >= before) continue;
        found.push({ key: object.Key!.slice(this.location.prefix.length), size: Number(object.Size ?? 0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  /** A copy inside the bucket: by the store itself up to 5 GiB, streamed through this process past that. */
  private async copy(from: string, to: string, size: number): Promise<void> {
    if (size <= MAX_COPY_BYTES) {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(to),
          CopySource: `${this.location.bucket}/${encodeURI(this.key(from))}`,
        }),
      );
      return;
    }
    const blob = await this.open(from);
    if (!blob) throw new Error(`blob ${from} is missing`);
    await this.upload(to, blob.stream);
  }

  async jobKeys(jobId: string): Promise<string[]> {
    const prefix = this.key(`jobs/${jobId}/`);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) keys.push(o.Key!.slice(this.location.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async adopt(key: string, filePath: string): Promise<StoredBlob> {
    const { size } = await stat(filePath);
    await this.upload(key, createReadStream(filePath));
    await unlink(filePath).catch(() => {});
    return { size };
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
      );
      return head.ContentLength;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async open(key: string, spec?: RangeSpec): Promise<OpenedBlob | undefined> {
    let got: GetObjectCommandOutput;
    try {
      got = await this.client.send(
        new GetObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(key),
          // One request: the store resolves the range, and Content-Range tells the size.
          ...(spec ? { Range: rangeHeader(spec) } : {}),
        }),
      );
    } catch (err) {
      if (isMissing(err)) return undefined;
      if (spec && (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) {
        const size = await this.size(key);
        if (size === undefined) return undefined;
        // An empty blob is served whole, as by the file store.
        if (size === 0) return this.open(key);
        throw new RangeNotSatisfiableError(size);
      }
      throw err;
    }
    const stream = got.Body as Readable;
    const partial = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(got.ContentRange ?? '');
    if (!partial) return { stream, size: Number(got.ContentLength ?? 0) };
    return {
      stream,
      size: Number(partial[3]),
      range: { start: Number(partial[1]), end: Number(partial[2]) },
    };
  }

  async readFrom(key: string, offset: number): Promise<Buffer> {
    const size = await this.size(key);
    if (size === undefined || offset >= size) return Buffer.alloc(0);
    const got = await this.client.send(
      new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key), Range: `bytes=${offset}-` }),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of got.Body as Readable) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async copyTo(key: string, dest: string): Promise<void> {
    const blob = await this.open(key);
    if (!blob) throw new Error(`blob ${key} is missing`);
    await pipeline(blob.stream, createWriteStream(dest, { flags: 'wx' }));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }));
  }

  async jobIds(): Promise<string[]> {
    const prefix = this.key('jobs/');
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: prefix,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const p of page.CommonPrefixes ?? []) ids.push(p.Prefix!.slice(prefix.length).replace(/\/$/, ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return ids;
  }
}
