/**
 * The blob store the settings ask for: local files by default, S3 when
 * BSUBIO_BLOB_URL names a bucket. The S3 client is loaded only then: the AWS
 * SDK takes seconds to load on a slow machine, which every embedded start
 * would otherwise pay.
 */
import { type BlobStore, FsBlobStore } from './blob-store.js';

export async function openBlobStore(blobUrl: string | undefined, dataDir: string): Promise<BlobStore> {
  let store: BlobStore;
  if (blobUrl) {
    const { S3BlobStore } = await import('./s3-blob-store.js');
    store = new S3BlobStore(blobUrl, dataDir);
  } else {
    store = new FsBlobStore(dataDir);
  }
  await store.init();
  return store;
}
