/**
 * The two orders in which a removal of a blob and a new reference to it can
 * meet, played out step by step on a real SQLite store and real files: the
 * removal that finds the blob referenced after moving it aside puts it back;
 * the reference that comes after the blob is gone is refused, and leaves
 * nothing behind. And a removal a crash cut short is finished at start-up.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../src/blobs/blob-store.js';
import { StoredBlobs } from '../src/services/stored-blobs.js';
import { BlobRefRepository } from '../src/store/blob-ref-repository.js';
import { type Db, openSqlite } from '../src/store/database.js';

describe('shared blobs: a removal racing a new reference', () => {
  let dir: string;
  let db: Db;
  let blobs: FsBlobStore;
  let refs: BlobRefRepository;
  let stored: StoredBlobs;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bsubio-stored-blobs-'));
    db = await openSqlite(join(dir, 'bsubio.db'));
    blobs = new FsBlobStore(dir);
    await blobs.init();
    refs = new BlobRefRepository(db);
    stored = new StoredBlobs(blobs, refs);
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const bytes = (text: string) => Readable.from([Buffer.from(text)]);

  it('puts the blob back when a reference arrives while it is moved aside', async () => {
    const { key } = await stored.storeInput('job-a', bytes('shared bytes'), 1024);
    await refs.remove(key, 'job-a');
    // The removal has moved the blob aside; before it asks, job B refers to it.
    await blobs.removeUnlessUsed(key, async () => {
      await refs.add(key, 'job-b');
      return refs.inUse(key);
    });
    expect(readFileSync(join(dir, 'blobs', key), 'utf8')).toBe('shared bytes');
    expect(await refs.inUse(key)).toBe(true);
  });

  it('puts a blob in use back at start-up when a crash stopped its removal half-way', async () => {
    const kept = await stored.storeInput('job-a', bytes('in use'), 1024);
    const dropped = await stored.storeInput('job-b', bytes('unused'), 1024);
    await refs.remove(dropped.key, 'job-b');
    // Both removals move their blob aside and then never get an answer: the process dies there.
    for (const { key } of [kept, dropped]) void blobs.removeUnlessUsed(key, () => new Promise(() => {}));
    expect(await blobs.size(kept.key)).toBeUndefined();

    const restarted = new FsBlobStore(dir);
    await restarted.init();
    await new StoredBlobs(restarted, refs).recoverRemovals();
    expect(readFileSync(join(dir, 'blobs', kept.key), 'utf8')).toBe('in use');
    expect(await restarted.size(dropped.key)).toBeUndefined();
    expect(readdirSync(join(dir, 'removing'))).toEqual([]);
  });

  it('refuses a reference that comes after the blob went, and keeps no row for it', async () => {
    const { key } = await stored.storeInput('job-a', bytes('gone bytes'), 1024);
    await stored.releaseJob('job-a');
    expect(await blobs.size(key)).toBeUndefined();
    expect(await stored.share(key, 'job-b')).toBe(false);
    expect(await refs.inUse(key)).toBe(false);
  });

  it('lets an upload of the same bytes put its own copy when the last one just went', async () => {
    const first = await stored.storeInput('job-a', bytes('again'), 1024);
    await stored.releaseJob('job-a');
    const second = await stored.storeInput('job-b', bytes('again'), 1024);
    expect(second.key).toBe(first.key);
    expect(readFileSync(join(dir, 'blobs', second.key), 'utf8')).toBe('again');
  });
});
