/** SQL for webhook deliveries and users' webhook settings. */
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { WebhookDeliveriesTable } from './schema.js';

export type DeliveryRow = Selectable<WebhookDeliveriesTable>;

export class WebhookRepository {
  constructor(private readonly db: Db) {}

  async userSettings(userId: string) {
    return this.db
      .selectFrom('users')
      .select(['webhook_url', 'webhook_secret'])
      .where('id', '=', userId)
      .executeTakeFirst();
  }

  async setUserUrl(userId: string, url: string | null): Promise<void> {
    await this.db.updateTable('users').set({ webhook_url: url }).where('id', '=', userId).execute();
  }

  /** Set the signing secret unless one exists; returns the one in force. */
  async ensureSecret(userId: string, candidate: string): Promise<string> {
    await this.db
      .updateTable('users')
      .set({ webhook_secret: candidate })
      .where('id', '=', userId)
      .where('webhook_secret', 'is', null)
      .execute();
    const row = await this.userSettings(userId);
    return row?.webhook_secret ?? candidate;
  }

  /** One delivery per job and event: a second insert (recovery, a race) does nothing. */
  async insert(row: Omit<DeliveryRow, 'attempts'>): Promise<boolean> {
    const result = await this.db
      .insertInto('webhook_deliveries')
      .values(row)
      .onConflict((oc) => oc.columns(['job_id', 'event']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async due(now: number, limit: number): Promise<DeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
  }

  /** When the earliest pending delivery is due, or undefined when none is pending. */
  async nextDueAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.at == null ? undefined : Number(row.at);
  }

  /** Take a due delivery for one attempt: push its time past the attempt, guarded by the time seen. */
  async take(row: DeliveryRow, until: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: until, updated_at: now })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async record(
    id: string,
    patch: {
      status: 'pending' | 'delivered' | 'failed';
      attempts: number;
      next_attempt_at: number | null;
      last_status_code: number | null;
      last_error: string | null;
      delivered_at: number | null;
    },
    now: number,
  ): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ ...patch, updated_at: now })
      .where('id', '=', id)
      .execute();
  }

  async forJob(jobId: string): Promise<DeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('created_at')
      .execute();
  }

  /** Jobs that ended since `since` with a webhook but no delivery (the process stopped in between). */
  async undelivered(since: number) {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', 'in', ['finished', 'failed'])
      .where('webhook_url', 'is not', null)
      .where('deleted_at', 'is', null)
      .where('finished_at', '>=', since)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries')
              .select('webhook_deliveries.id')
              .whereRef('webhook_deliveries.job_id', '=', 'jobs.id'),
          ),
        ),
      )
      .execute();
  }

  async countByStatus(): Promise<{ status: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
  }
}
