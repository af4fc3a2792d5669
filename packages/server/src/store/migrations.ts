/**
 * Schema migrations, applied in order at start-up. Written with Kysely's
 * schema builder so the same list serves SQLite and PostgreSQL.
 */
import { type Kysely, PostgresAdapter, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('prefix', 'text', (c) => c.notNull().unique())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('params', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('upload_token', 'text')
        .addColumn('data_size', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('input_name', 'text')
        .addColumn('input_type', 'text')
        .addColumn('input_key', 'text')
        .addColumn('output_key', 'text')
        .addColumn('log_key', 'text')
        .addColumn('output_size', 'bigint')
        .addColumn('claimed_by', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint')
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('deleted_at', 'bigint')
        .execute();
      // Listing: a user's jobs newest first (ids are UUIDv7, so id order is creation order).
      await db.schema.createIndex('jobs_user_id').on('jobs').columns(['user_id', 'id']).execute();
      await db.schema
        .createIndex('jobs_user_status_id')
        .on('jobs')
        .columns(['user_id', 'status', 'id'])
        .execute();
      // Claiming: the oldest pending job; reaping: expired leases.
      await db.schema.createIndex('jobs_status_id').on('jobs').columns(['status', 'id']).execute();
      await db.schema
        .createIndex('jobs_lease')
        .on('jobs')
        .columns(['lease_expires_at'])
        .where(sql.ref('lease_expires_at'), 'is not', null)
        .execute();
      await db.schema.createIndex('api_keys_user').on('api_keys').columns(['user_id']).execute();
    },
  },
  // Live results and operations: webhooks, idempotent create, retention.
  '0002_live': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('jobs').addColumn('webhook_url', 'text').execute();
      await db.schema.alterTable('users').addColumn('webhook_url', 'text').execute();
      await db.schema.alterTable('users').addColumn('webhook_secret', 'text').execute();
      // Retention: finished jobs by when they ended.
      await db.schema.createIndex('jobs_finished_at').on('jobs').columns(['finished_at']).execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('body_hash', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['user_id', 'key'])
        .execute();
      await db.schema
        .createIndex('idempotency_keys_created_at')
        .on('idempotency_keys')
        .columns(['created_at'])
        .execute();
      await db.schema
        .createIndex('idempotency_keys_job')
        .on('idempotency_keys')
        .columns(['job_id'])
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_status_code', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .addUniqueConstraint('webhook_deliveries_job_event', ['job_id', 'event'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['status', 'next_attempt_at'])
        .execute();
    },
  },
  // The web dashboard (issue 8): passwords, browser sessions, the CLI's device
  // sign-in, and labels on API keys.
  '0003_web_accounts': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('users').addColumn('password_hash', 'text').execute();
      await db.schema.alterTable('api_keys').addColumn('label', 'text').execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_expires_at').on('sessions').columns(['expires_at']).execute();
      await db.schema
        .createTable('device_codes')
        .addColumn('device_code_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_code', 'text', (c) => c.notNull().unique())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('last_poll_at', 'bigint')
        .execute();
    },
  },
  // Cluster mode: remote workers authenticate with tokens of their own.
  '0004_worker_tokens': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('worker_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull().unique())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
    },
  },
  // Listing counts a user's live jobs for `total`. The indexes above lack
  // deleted_at, so each counted row had to be read from the table to test
  // it; with deleted_at in the key (`IS NULL` is an equality to an index) the
  // count is answered from the index alone, and pages still come in id order
  // (measured by `npm run bench`, scale).
  '0005_live_job_indexes': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex('jobs_user_live_id')
        .on('jobs')
        .columns(['user_id', 'deleted_at', 'id'])
        .execute();
      await db.schema
        .createIndex('jobs_user_live_status_id')
        .on('jobs')
        .columns(['user_id', 'deleted_at', 'status', 'id'])
        .execute();
    },
  },
  // `total` of a job list was a count(*) over the user's jobs: 1.3 s per list
  // at a million jobs. job_counts keeps, per user, type and status, how many
  // live jobs (deleted_at IS NULL) there are; totals are sums over a handful
  // of its rows. Triggers keep it, so it is right whichever process changes
  // a job (replicas share one PostgreSQL) and inside the same statement.
  // The 0001 listing indexes go: every query that used them is served by
  // 0005's, and each index is one more write per job transition.
  '0006_job_counts': {
    async up(db: Kysely<unknown>) {
      // No foreign key to users: deleting a user cascades to its jobs, whose
      // DELETE trigger still writes here, whatever order the cascade takes.
      await db.schema
        .createTable('job_counts')
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_counts_pk', ['user_id', 'type', 'status'])
        .execute();
      if (isPostgres(db)) await countJobsOnPostgres(db);
      else await countJobsOnSqlite(db);
      await sql`
        INSERT INTO job_counts (user_id, type, status, n)
        SELECT user_id, type, status, count(*) FROM jobs
        WHERE deleted_at IS NULL
        GROUP BY user_id, type, status`.execute(db);
      await db.schema.dropIndex('jobs_user_id').execute();
      await db.schema.dropIndex('jobs_user_status_id').execute();
    },
  },
  // The job page's timeline and the overview's queue wait: when the input
  // arrived and when the job was submitted were not kept (updated_at moves
  // on). Two plain columns, written by the transitions that already write
  // the row: no index, so no extra write per transition.
  '0007_job_timeline': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('jobs').addColumn('uploaded_at', 'bigint').execute();
      await db.schema.alterTable('jobs').addColumn('submitted_at', 'bigint').execute();
    },
  },
  // Security round 2: a session opened with an API key remembers the key, so
  // revoking the key ends the session too (a leaked key must not keep the
  // account through a cookie).
  '0008_key_sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('sessions')
        .addColumn('api_key_id', 'text', (c) => c.references('api_keys.id').onDelete('cascade'))
        .execute();
    },
  },
  // Security round 2: the server key (services/server-key.ts) for clusters
  // that do not set BSUBIO_SECRET_KEY.
  '0009_server_secrets': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('server_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // Security round 2: what each job's sandbox used, from its cgroup: peak
  // memory and CPU time (shown in the job and in /metrics).
  '0010_job_usage': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('jobs').addColumn('peak_memory_bytes', 'bigint').execute();
      await db.schema.alterTable('jobs').addColumn('cpu_ms', 'bigint').execute();
    },
  },
  // Pipelines (#23): a job of several steps keeps them here; an ordinary
  // job leaves all three null. `step` is the one it is on (from 1), and
  // `step_outputs` the blob keys of the finished steps' outputs and logs, so
  // that a crash resumes at the running step. They go when the job ends.
  '0011_pipelines': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('jobs').addColumn('steps', 'text').execute();
      await db.schema.alterTable('jobs').addColumn('step', 'integer').execute();
      await db.schema.alterTable('jobs').addColumn('step_outputs', 'text').execute();
    },
  },
  // Result cache and content-addressed blobs (#23). blob_refs says which
  // jobs refer to which blob besides the job whose directory holds it (a
  // blob under jobs/<id>/ is its job's while the job lives): an input stored
  // by its SHA-256 is referred to by every job that uploaded those bytes, an
  // output by the job that made it and every job served it from the cache.
  // A blob goes when nothing refers to it (services/stored-blobs.ts).
  // On the job: the input's SHA-256, the cache key (null: not cacheable,
  // opted out, or from before), whether the request opted out, and whether
  // and from which job it was served from the cache.
  '0012_result_cache': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('blob_refs')
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('blob_refs_pkey', ['key', 'job_id'])
        .execute();
      await db.schema.createIndex('blob_refs_job_id').on('blob_refs').column('job_id').execute();
      await db.schema.alterTable('jobs').addColumn('input_sha256', 'text').execute();
      await db.schema.alterTable('jobs').addColumn('cache_key', 'text').execute();
      await db.schema
        .alterTable('jobs')
        .addColumn('cache_opt_out', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('jobs')
        .addColumn('cached', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('jobs').addColumn('cached_from', 'text').execute();
      await db.schema.createIndex('jobs_cache_key').on('jobs').column('cache_key').execute();
    },
  },
  // The hot path (#19): every move of a job between states rewrote its
  // entries in every index that holds `status`, and each such page is
  // written to the WAL again at each commit (26 WAL frames per job's life on
  // SQLite, 19 after this). The queue-wide (status, id) index gives way to
  // partial ones that only the moves concerned touch: pending jobs by type
  // (what a claim and a queue position read), jobs never uploaded or never
  // submitted by age (what retention reads; SQLite matches a partial index
  // only to the same predicate, so one each), and ended jobs by end time. Queries that use
  // them state the same predicates with literal states (job-repository.ts).
  '0013_queue_indexes': {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('jobs_status_id').execute();
      await db.schema
        .createIndex('jobs_pending_type_id')
        .on('jobs')
        .columns(['type', 'id'])
        .where(sql.ref('status'), '=', sql.lit('pending'))
        .where(sql.ref('deleted_at'), 'is', null)
        .execute();
      for (const status of ['created', 'loaded']) {
        await db.schema
          .createIndex(`jobs_${status}_created_at`)
          .on('jobs')
          .column('created_at')
          .where(sql.ref('status'), '=', sql.lit(status))
          .where(sql.ref('deleted_at'), 'is', null)
          .execute();
      }
      await db.schema.dropIndex('jobs_finished_at').execute();
      await db.schema
        .createIndex('jobs_finished_at')
        .on('jobs')
        .column('finished_at')
        .where(sql.ref('finished_at'), 'is not', null)
        .execute();
    },
  },
  // A job's life moved its entry in jobs_user_live_status_id four times
  // (pending, claimed, preparing, processing, finished), and the user's
  // claimed entries sit at one end of its key range and its preparing and
  // processing ones at the other: each commit on SQLite wrote three of the
  // index's leaf pages to the WAL (of 8.4 pages per one-job commit). The
  // running states leave the index: a job now leaves it when claimed (the
  // front of the user's pending range) and comes back finished (the end of
  // the finished range, the page next to it), one leaf page. Queries that
  // use the index state its predicate word for word, because SQLite uses a
  // partial index only for a WHERE that contains it; running jobs are found
  // through jobs_lease, which holds them all (job-repository.ts).
  // SQLite only: there a commit's cost is the pages it writes; on PostgreSQL
  // it is the flush, and the queue with the same index measured slower with
  // four workers (262 -> 159 jobs/s; a single run each on a loaded machine,
  // so not settled). The extra terms are true of what those queries ask
  // for, so they read the same rows there.
  '0014_status_index_without_running': {
    async up(db: Kysely<unknown>) {
      if (isPostgres(db)) return;
      await db.schema.dropIndex('jobs_user_live_status_id').execute();
      await db.schema
        .createIndex('jobs_user_live_status_id')
        .on('jobs')
        .columns(['user_id', 'deleted_at', 'status', 'id'])
        .where(
          sql.ref('status'),
          'not in',
          sql`(${sql.join(['claimed', 'preparing', 'processing'].map((s) => sql.lit(s)))})`,
        )
        .execute();
    },
  },
  // PostgreSQL only: the claim's guards against concurrent claims, which
  // each read the counters on their own snapshot (job-repository.ts:
  // nextUserNotBeingServed, capsHeld). Functions, because only a VOLATILE
  // function's queries see what was committed after the calling statement
  // began: the claim's own snapshot is taken before it can hold a lock.
  // Both take a transaction-scoped advisory lock, held until the claim
  // commits, and only try it: a claim passes over what another claim is
  // deciding about at that moment instead of waiting (no deadlocks).
  '0015_claim_locks': {
    async up(db: Kysely<unknown>) {
      if (!isPostgres(db)) return;
      const running = sql.raw("status IN ('claimed', 'preparing', 'processing')");
      await sql`
        CREATE FUNCTION fair_claim_try_user(u text, running_then numeric) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          -- Another claim is serving this user now: pass her over.
          IF NOT pg_try_advisory_xact_lock(${sql.lit(USER_CLAIM_LOCKS)}, hashtext(u)) THEN
            RETURN false;
          END IF;
          -- With the lock held, a fresh look: a claim that served her and
          -- committed after the caller's snapshot shows here. Serve her only
          -- if she runs no more than the caller thought.
          RETURN (SELECT coalesce(sum(n), 0) FROM job_counts WHERE user_id = u AND ${running}) <= running_then;
        END
        $$`.execute(db);
      await sql`
        CREATE FUNCTION claim_under_cap(kind text, k text, cap bigint) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          -- A user (kind 'user') or a type ('type') that another claim is
          -- taking a job of now: pass it over, whatever its count.
          IF NOT pg_try_advisory_xact_lock(
            CASE kind WHEN 'user' THEN ${sql.lit(USER_CLAIM_LOCKS)} ELSE ${sql.lit(TYPE_CLAIM_LOCKS)} END, hashtext(k)) THEN
            RETURN false;
          END IF;
          IF kind = 'user' THEN
            RETURN (SELECT coalesce(sum(n), 0) FROM job_counts WHERE user_id = k AND ${running}) < cap;
          END IF;
          RETURN (SELECT coalesce(sum(n), 0) FROM job_counts WHERE type = k AND ${running}) < cap;
        END
        $$`.execute(db);
    },
  },
};

/**
 * The first keys of the advisory locks a claim takes on PostgreSQL: on the
 * user it serves, and on a capped type it takes a job of (the second key is
 * the user id's or the type's hash). Constants no other lock of the
 * database uses: bsubio takes no other advisory locks.
 */
const USER_CLAIM_LOCKS = 0x6273_7562; // "bsub"
const TYPE_CLAIM_LOCKS = 0x6273_7563;

/** Whether the migration runs on PostgreSQL (Kysely's migrator hands both dialects the same code). */
function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * SQLite has one writer at a time, so the triggers need no care about
 * concurrency. A change that keeps a job's (user, type, status, live) key
 * fires nothing (the WHEN clause); one that changes it moves one unit from
 * the old key to the new one. Upserts, so a first job of a kind makes its row.
 */
async function countJobsOnSqlite(db: Kysely<unknown>) {
  const add = (who: 'NEW' | 'OLD', delta: 1 | -1) => `
    INSERT INTO job_counts (user_id, type, status, n)
    SELECT ${who}.user_id, ${who}.type, ${who}.status, ${delta} WHERE ${who}.deleted_at IS NULL
    ON CONFLICT (user_id, type, status) DO UPDATE SET n = n + excluded.n;`;
  await sql
    .raw(`CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN ${add('NEW', 1)} END`)
    .execute(db);
  await sql
    .raw(`CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN ${add('OLD', -1)} END`)
    .execute(db);
  await sql
    .raw(`
      CREATE TRIGGER jobs_count_update AFTER UPDATE OF user_id, type, status, deleted_at ON jobs
      WHEN OLD.user_id IS NOT NEW.user_id OR OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status
        OR (OLD.deleted_at IS NULL) IS NOT (NEW.deleted_at IS NULL)
      BEGIN ${add('OLD', -1)} ${add('NEW', 1)} END`)
    .execute(db);
}

/**
 * PostgreSQL: transactions of several replicas change one user's jobs at
 * once, and a job's transition updates two counter rows (its old status's
 * and its new one's), each locked until commit. Were they taken in the
 * order old, new, then A→B in one transaction and B→A in another would
 * each hold one row and wait for the other: a deadlock. So the two rows are
 * always taken in key order, whatever the direction of the change; every
 * job statement of ours is one statement in its own transaction, so no
 * transaction holds a counter row while it waits for another in the other
 * order. The upsert (ON CONFLICT DO UPDATE) adds to the row as it is at
 * commit of whoever held it, so concurrent changes add up exactly.
 */
async function countJobsOnPostgres(db: Kysely<unknown>) {
  await sql`
    CREATE FUNCTION job_counts_add(u text, t text, s text, delta bigint) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO job_counts (user_id, type, status, n) VALUES (u, t, s, delta)
      ON CONFLICT (user_id, type, status) DO UPDATE SET n = job_counts.n + EXCLUDED.n
    $$`.execute(db);
  await sql`
    CREATE FUNCTION jobs_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        IF NEW.deleted_at IS NULL THEN PERFORM job_counts_add(NEW.user_id, NEW.type, NEW.status, 1); END IF;
        RETURN NULL;
      END IF;
      IF TG_OP = 'DELETE' THEN
        IF OLD.deleted_at IS NULL THEN PERFORM job_counts_add(OLD.user_id, OLD.type, OLD.status, -1); END IF;
        RETURN NULL;
      END IF;
      -- UPDATE that changed the key (see the trigger's WHEN): lower key first.
      IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NULL
         AND (NEW.user_id, NEW.type, NEW.status) < (OLD.user_id, OLD.type, OLD.status) THEN
        PERFORM job_counts_add(NEW.user_id, NEW.type, NEW.status, 1);
        PERFORM job_counts_add(OLD.user_id, OLD.type, OLD.status, -1);
        RETURN NULL;
      END IF;
      IF OLD.deleted_at IS NULL THEN PERFORM job_counts_add(OLD.user_id, OLD.type, OLD.status, -1); END IF;
      IF NEW.deleted_at IS NULL THEN PERFORM job_counts_add(NEW.user_id, NEW.type, NEW.status, 1); END IF;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER jobs_count_insert_delete AFTER INSERT OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_count()`.execute(db);
  await sql`
    CREATE TRIGGER jobs_count_update AFTER UPDATE OF user_id, type, status, deleted_at ON jobs
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.type IS DISTINCT FROM NEW.type
      OR OLD.status IS DISTINCT FROM NEW.status OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
    EXECUTE FUNCTION jobs_count()`.execute(db);
}

/** Every migration, for Kysely's Migrator (tests migrate to a given one). */
export const migrationProvider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error)?.message ?? error}`,
    );
  }
}
