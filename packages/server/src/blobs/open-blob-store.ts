/**
 * The blob store the settings ask for: local files by default, S3 when
 * BSUBIO_BLOB_URL names a bucket. The S3 client is loaded only then: the AWS
 * SDK takes seconds to load on a slow machine, which every embedded start
 * would otherwise pay. It is an optional dependency of @bsubio/server, so an
 * install without it (npm install --omit=optional) still runs on local files.
 */
import { type BlobStore, FsBlobStore } from './blob-store.js';

export async function openBlobStore(blobUrl: string | undefined, dataDir: string): Promise<BlobStore> {
  let store: BlobStore;
  if (blobUrl) {
    const { S3BlobStore } = await import('./s3-blob-store.js').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_MODULE_NOT_FOUND' || !/@aws-sdk/.test(err.message)) throw err;
      throw new Error(
        'BSUBIO_BLOB_URL names S3 storage, but the AWS SDK is not installed (an optional dependency); ' +
          'run: npm install @aws-sdk/client-s3 @aws-sdk/lib-storage',
      );
    });
    store = new S3BlobStore(blobUrl, dataDir);
  } else {
    store = new FsBlobStore(dataDir);
  }
  await store.init();
  return store;
}
