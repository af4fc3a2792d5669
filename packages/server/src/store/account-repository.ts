/** SQL for the dashboard's accounts: passwords, sessions, device codes and key listings. */
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { ApiKeysTable, DeviceCodesTable, SessionsTable, UsersTable } from './schema.js';

export type SessionRow = Selectable<SessionsTable>;
export type DeviceCodeRow = Selectable<DeviceCodesTable>;

export class AccountRepository {
  constructor(private readonly db: Db) {}

  async findUserById(id: string): Promise<Selectable<UsersTable> | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * A new password ends every session opened with a password: whoever knew
   * the old one is signed out. Sessions opened with a key live and die with
   * their key. The sessions go after the change, so none opened with the old
   * password in between survives it.
   */
  async setPassword(userId: string, hash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
    await this.db
      .deleteFrom('sessions')
      .where('user_id', '=', userId)
      .where('api_key_id', 'is', null)
      .execute();
  }

  // ---- sessions -------------------------------------------------------------

  async insertSession(row: SessionRow): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  /** A session that has not expired, and whose key, if it was opened with one, is not revoked. */
  async findLiveSession(idHash: string, now: number): Promise<SessionRow | undefined> {
    return this.db
      .selectFrom('sessions')
      .leftJoin('api_keys', 'api_keys.id', 'sessions.api_key_id')
      .selectAll('sessions')
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.expires_at', '>', now)
      .where((eb) => eb.or([eb('sessions.api_key_id', 'is', null), eb('api_keys.revoked_at', 'is', null)]))
      .executeTakeFirst();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteExpired(now: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
    // Device codes are kept an hour past expiry so a late poll still hears 410, not "unknown".
    await this.db
      .deleteFrom('device_codes')
      .where('expires_at', '<=', now - 3_600_000)
      .execute();
  }

  // ---- API keys as the dashboard lists them -----------------------------------

  async listActiveKeys(userId: string): Promise<Selectable<ApiKeysTable>[]> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'desc')
      .execute();
  }

  /** Revoke one of the user's own keys; false when it is not theirs or already revoked. */
  async revokeOwnKey(userId: string, keyId: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where('id', '=', keyId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // ---- device codes -----------------------------------------------------------

  async insertDeviceCode(row: DeviceCodeRow): Promise<void> {
    await this.db.insertInto('device_codes').values(row).execute();
  }

  async findDeviceCode(hash: string): Promise<DeviceCodeRow | undefined> {
    return this.db
      .selectFrom('device_codes')
      .selectAll()
      .where('device_code_hash', '=', hash)
      .executeTakeFirst();
  }

  async findByUserCode(userCode: string): Promise<DeviceCodeRow | undefined> {
    return this.db
      .selectFrom('device_codes')
      .selectAll()
      .where('user_code', '=', userCode)
      .executeTakeFirst();
  }

  async touchPoll(hash: string, now: number): Promise<void> {
    await this.db
      .updateTable('device_codes')
      .set({ last_poll_at: now })
      .where('device_code_hash', '=', hash)
      .execute();
  }

  /** One guarded transition: only a pending, unexpired code is decided, and only once. */
  async decide(
    userCode: string,
    status: 'approved' | 'denied',
    userId: string,
    now: number,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('device_codes')
      .set({ status, user_id: userId })
      .where('user_code', '=', userCode)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** approved → consumed, once: two racing polls never both get a key. */
  async consume(hash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('device_codes')
      .set({ status: 'consumed' })
      .where('device_code_hash', '=', hash)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
