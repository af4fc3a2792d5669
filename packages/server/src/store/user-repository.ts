/** SQL for users and their API keys. */
import type { Selectable } from 'kysely';
import { type Db, readFirst } from './database.js';
import { QueryShapes, type ValueOf } from './query-shapes.js';
import type { ApiKeysTable, UsersTable } from './schema.js';

export type UserRow = Selectable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;

export class UserRepository {
  private readonly shapes = new QueryShapes(8);

  constructor(private readonly db: Db) {}

  async insertUser(row: UserRow): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  async findByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insertKey(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  /** The live key with this prefix, if any. */
  async findActiveKey(prefix: string): Promise<ApiKeyRow | undefined> {
    // Read again every few hundred ms per key in use (UserService's cache):
    // too rarely for Kysely's code to be compiled, so each was slow.
    const query = this.shapes.compile(
      'findActiveKey',
      (value: ValueOf) =>
        this.db
          .selectFrom('api_keys')
          .selectAll()
          .where('prefix', '=', value('prefix'))
          .where('revoked_at', 'is', null),
      { prefix },
    );
    return readFirst(this.db, query);
  }

  async touchKey(id: string, now: number): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  /** Revoke live keys whose prefix starts with `prefix`; how many were revoked. */
  async revokeByPrefix(prefix: string, now: number): Promise<ApiKeyRow[]> {
    return this.db
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where('prefix', 'like', `${prefix.replace(/[%_\\]/g, '\\$&')}%`)
      .where('revoked_at', 'is', null)
      .returningAll()
      .execute();
  }

  async matchingActiveKeys(prefix: string): Promise<ApiKeyRow[]> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('prefix', 'like', `${prefix.replace(/[%_\\]/g, '\\$&')}%`)
      .where('revoked_at', 'is', null)
      .execute();
  }
}
