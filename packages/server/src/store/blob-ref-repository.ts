/**
 * The SQL of shared blobs: which jobs refer to which blob (blob_refs), and
 * the result cache's look-up of a finished job by its cache key.
 */
import type { Db } from './database.js';
import type { JobRow } from './job-repository.js';

/** The job whose directory holds a per-job blob (`jobs/<id>/...`); none for a content key. */
export function owningJob(key: string): string | undefined {
  return /^jobs\/([^/]+)\//.exec(key)?.[1];
}

export class BlobRefRepository {
  constructor(private readonly db: Db) {}

  /** Record that `jobId` refers to `key` (again: no change). */
  async add(key: string, jobId: string): Promise<void> {
    await this.db
      .insertInto('blob_refs')
      .values({ key, job_id: jobId })
      .onConflict((oc) => oc.columns(['key', 'job_id']).doNothing())
      .execute();
  }

  async remove(key: string, jobId: string): Promise<void> {
    await this.db.deleteFrom('blob_refs').where('key', '=', key).where('job_id', '=', jobId).execute();
  }

  /** Forget every reference of a job; returns the keys it referred to. */
  async removeJob(jobId: string): Promise<string[]> {
    const rows = await this.db.deleteFrom('blob_refs').where('job_id', '=', jobId).returning('key').execute();
    return rows.map((r) => r.key);
  }

  /**
   * Whether any job refers to `key`: a reference, or, for a per-job blob,
   * its own job while that job is not being deleted.
   */
  async inUse(key: string): Promise<boolean> {
    const owner = owningJob(key);
    const row = await this.db
      .selectNoFrom((eb) => [
        eb.exists(eb.selectFrom('blob_refs').select('job_id').where('key', '=', key)).as('referenced'),
        eb
          .exists(
            eb
              .selectFrom('jobs')
              .select('id')
              .where('id', '=', owner ?? '')
              .where('deleted_at', 'is', null),
          )
          .as('owned'),
      ])
      .executeTakeFirstOrThrow();
    return Boolean(Number(row.referenced)) || Boolean(Number(row.owned));
  }

  /**
   * A finished job with this cache key and an output, of `userId` when given
   * (else any user's): one that ran rather than one served from the cache
   * (its usage is what a hit saves), then the newest.
   */
  async findCached(cacheKey: string, userId: string | undefined): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('cache_key', '=', cacheKey)
      .where('status', '=', 'finished')
      .where('deleted_at', 'is', null)
      .where('output_key', 'is not', null)
      .$if(userId !== undefined, (q) => q.where('user_id', '=', userId!))
      .orderBy('cached')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }
}
