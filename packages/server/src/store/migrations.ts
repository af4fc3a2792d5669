/**
 * Schema migrations, applied in order at start-up. Written with Kysely's
 * schema builder so the same list serves SQLite and PostgreSQL.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

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
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(
      `database migration ${failed?.migrationName ?? ''} failed: ${(error as Error)?.message ?? error}`,
    );
  }
}
