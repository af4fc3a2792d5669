/**
 * Blobs that several jobs share. An input is stored under its SHA-256, so
 * every job that uploads those bytes refers to one blob; a job served from
 * the result cache refers to the output (and nothing else) of the job that
 * ran. Each reference is a row of blob_refs, besides the implicit one of the
 * job whose directory holds a per-job blob (jobs/<id>/...). A blob is
 * removed once nothing refers to it.
 *
 * Races: a new reference is recorded *before* the blob is looked for or put
 * in place, and a removal moves the blob aside *before* it asks whether the
 * blob is in use (BlobStore.removeUnlessUsed), putting it back when it is.
 * So of a removal and a new reference racing, the removal sees the
 * reference, or the new reference finds the blob gone (a cache hit then runs
 * the job; an upload puts its own copy of the bytes in place). Two removals
 * of one blob both ask and may both remove: a removal of nothing is no harm.
 */
import type { Readable } from 'node:stream';
import { type BlobStore, contentKey, type StageOptions } from '../blobs/blob-store.js';
import type { BlobRefRepository } from '../store/blob-ref-repository.js';

export class StoredBlobs {
  constructor(
    private readonly blobs: BlobStore,
    private readonly refs: BlobRefRepository,
  ) {}

  /**
   * Stream an input into content-addressed storage for `jobId`: hashed while
   * it is written, then referenced, then put at its key (or found there).
   * Past `maxBytes` BlobTooLargeError, and nothing is kept.
   */
  async storeInput(
    jobId: string,
    source: Readable,
    maxBytes: number,
    options: StageOptions = {},
  ): Promise<{ key: string; size: number; sha256: string }> {
    const staged = await this.blobs.stage(source, maxBytes, options);
    const { size, sha256 } = staged;
    const key = contentKey(sha256);
    try {
      await this.refs.add(key, jobId);
      await this.blobs.settle(staged);
      return { key, size, sha256 };
    } catch (err) {
      await this.blobs.discard(staged).catch(() => {});
      await this.release(key, jobId).catch(() => {});
      throw err;
    }
  }

  /**
   * Let `jobId` refer to the existing blob `key` too (a cache hit); false
   * when the blob is gone (its last job was deleted meanwhile), and then no
   * reference is kept.
   */
  async share(key: string, jobId: string): Promise<boolean> {
    await this.refs.add(key, jobId);
    if ((await this.blobs.size(key)) !== undefined) return true;
    await this.refs.remove(key, jobId);
    return false;
  }

  /** `jobId` no longer refers to `key`; the blob goes when nothing else does. */
  async release(key: string, jobId: string): Promise<void> {
    await this.refs.remove(key, jobId);
    await this.removeIfUnused(key);
  }

  /**
   * A job being deleted (its deleted_at set) lets go of every blob: those
   * it referred to and those in its own directory (its outputs and logs,
   * an input from before content addressing, anything a lost remote worker
   * uploaded and never reported). Each goes unless another job refers to it.
   */
  async releaseJob(jobId: string): Promise<void> {
    const referred = await this.refs.removeJob(jobId);
    const own = await this.blobs.jobKeys(jobId);
    for (const key of new Set([...referred, ...own])) await this.removeIfUnused(key);
  }

  /** After a crash: blobs a removal left moved aside (before `movedBefore`) go back if in use, else go. */
  async recoverRemovals(movedBefore?: number): Promise<void> {
    await this.blobs.recoverRemovals((key) => this.refs.inUse(key), movedBefore);
  }

  private async removeIfUnused(key: string): Promise<void> {
    if (await this.refs.inUse(key)) return;
    await this.blobs.removeUnlessUsed(key, () => this.refs.inUse(key));
  }
}
