/**
 * The dashboard's accounts: password sign-in (argon2id), browser sessions,
 * and the device flow that `bsubio register` runs. API keys themselves stay
 * in UserService; this service only issues them through it.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { ApiKeyInfo, DeviceAuthorizedResponse, DeviceCodeResponse } from '@bsubio/protocol';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import type { AccountRepository, DeviceCodeRow } from '../store/account-repository.js';
import type { UserRepository, UserRow } from '../store/user-repository.js';
import { ApiError } from './api-error.js';
import { secretsEqual, type UserService } from './user-service.js';

export const SESSION_TTL_MS = 7 * 24 * 3600_000;
export const DEVICE_CODE_TTL_S = 600;
export const DEVICE_POLL_INTERVAL_S = 5;
/** Polls this much sooner than `interval` are forgiven: timers and slow machines drift. */
const POLL_SLACK_MS = 1_000;
/** No 0/O, 1/I/L: a code read aloud or off a phone is typed right. */
const USER_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

export function normalizeUserCode(code: string): string {
  const bare = code.toUpperCase().replace(/[^A-Z0-9]/g, '');
  return bare.length === 8 ? `${bare.slice(0, 4)}-${bare.slice(4)}` : bare;
}

export type DeviceTokenOutcome =
  | { kind: 'authorized'; body: DeviceAuthorizedResponse }
  | { kind: 'pending' }
  | { kind: 'slow_down'; interval: number }
  | { kind: 'denied' }
  | { kind: 'expired' };

export class AccountService {
  /** A password hash to verify against when the email is unknown, so timing does not tell. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly accounts: AccountRepository,
    private readonly userRows: UserRepository,
    private readonly users: UserService,
  ) {}

  static hashPassword(password: string): Promise<string> {
    return argon2Hash(password);
  }

  async setPassword(email: string, password: string): Promise<void> {
    if (password.length < 8)
      throw new ApiError('bad_request', 'The password must have at least 8 characters.');
    const user = await this.userRows.findByEmail(email.trim().toLowerCase());
    if (!user) throw new ApiError('not_found', `No user with email ${email}.`);
    await this.accounts.setPassword(user.id, await AccountService.hashPassword(password));
  }

  /** The user whose email and password match, or undefined. */
  async checkPassword(email: string, password: string): Promise<UserRow | undefined> {
    const user = await this.userRows.findByEmail(email.trim().toLowerCase());
    if (!user?.password_hash) {
      this.dummyHash ??= argon2Hash('not a password of anyone');
      await argon2Verify(await this.dummyHash, password).catch(() => false);
      return undefined;
    }
    const ok = await argon2Verify(user.password_hash, password).catch(() => false);
    return ok ? user : undefined;
  }

  async findUser(userId: string): Promise<UserRow | undefined> {
    return this.accounts.findUserById(userId);
  }

  // ---- sessions -----------------------------------------------------------------

  /**
   * A new session; the returned token goes only into the cookie. One opened
   * with an API key (`apiKeyId`) ends when that key is revoked and cannot
   * manage keys or approve devices.
   */
  async openSession(
    userId: string,
    apiKeyId: string | null = null,
  ): Promise<{ token: string; maxAgeSeconds: number }> {
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    await this.accounts.deleteExpired(now);
    await this.accounts.insertSession({
      id_hash: sha256(token),
      user_id: userId,
      created_at: now,
      expires_at: now + SESSION_TTL_MS,
      api_key_id: apiKeyId,
    });
    return { token, maxAgeSeconds: SESSION_TTL_MS / 1000 };
  }

  /** The signed-in user of a session cookie, and whether the session was opened with an API key. */
  async sessionUser(token: string): Promise<{ userId: string; viaKey: boolean } | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const row = await this.accounts.findLiveSession(sha256(token), Date.now());
    return row && { userId: row.user_id, viaKey: row.api_key_id !== null };
  }

  /** Expired sessions and device codes go; the retention sweep calls this on its timer. */
  async sweepExpired(now = Date.now()): Promise<void> {
    await this.accounts.deleteExpired(now);
  }

  async closeSession(token: string): Promise<void> {
    await this.accounts.deleteSession(sha256(token));
  }

  // ---- API keys -------------------------------------------------------------------

  async listKeys(userId: string): Promise<ApiKeyInfo[]> {
    const rows = await this.accounts.listActiveKeys(userId);
    return rows.map((row) => ({
      id: row.id,
      prefix: row.prefix,
      label: row.label,
      created_at: iso(Number(row.created_at)),
      last_used_at: row.last_used_at === null ? null : iso(Number(row.last_used_at)),
    }));
  }

  async createKey(userId: string, label: string | undefined): Promise<{ api_key: string; key: ApiKeyInfo }> {
    const apiKey = await this.users.issueKeyFor(userId, label?.trim().slice(0, 100) || null);
    const keys = await this.listKeys(userId);
    const prefix = apiKey.split('_')[1]!;
    return { api_key: apiKey, key: keys.find((k) => k.prefix === prefix)! };
  }

  async revokeKey(userId: string, keyId: string): Promise<void> {
    if (!(await this.accounts.revokeOwnKey(userId, keyId, Date.now()))) {
      throw new ApiError(
        'not_found',
        `No active key ${keyId} for this account; list them with GET /v1/auth/keys.`,
      );
    }
    this.users.forgetCachedKeys();
  }

  // ---- device flow ------------------------------------------------------------------

  async startDevice(hostname: string, verificationUri: string): Promise<DeviceCodeResponse> {
    const deviceCode = randomBytes(32).toString('base64url');
    const now = Date.now();
    for (let tries = 0; ; tries++) {
      let code = '';
      for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
      const userCode = normalizeUserCode(code);
      try {
        await this.accounts.insertDeviceCode({
          device_code_hash: sha256(deviceCode),
          user_code: userCode,
          hostname: hostname.slice(0, 100) || 'unknown host',
          status: 'pending',
          user_id: null,
          created_at: now,
          expires_at: now + DEVICE_CODE_TTL_S * 1000,
          last_poll_at: null,
        });
        return {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: verificationUri,
          verification_uri_complete: `${verificationUri}?code=${userCode}`,
          expires_in: DEVICE_CODE_TTL_S,
          interval: DEVICE_POLL_INTERVAL_S,
        };
      } catch (err) {
        // A user code already in use (1 in 31^8): draw another.
        if (tries >= 3) throw err;
      }
    }
  }

  async pollDevice(deviceCode: string, userCode: string): Promise<DeviceTokenOutcome> {
    const hash = sha256(deviceCode);
    const row = await this.accounts.findDeviceCode(hash);
    if (!row || !secretsEqual(row.user_code, normalizeUserCode(userCode))) {
      throw new ApiError(
        'bad_request',
        'Unknown device_code or user_code: start again with POST /v1/auth/device/code (bsubio register).',
      );
    }
    const now = Date.now();
    if (row.status === 'consumed' || (row.status === 'pending' && now >= Number(row.expires_at))) {
      return { kind: 'expired' };
    }
    if (row.status === 'denied') return { kind: 'denied' };
    if (row.status === 'approved') {
      if (!(await this.accounts.consume(hash))) return { kind: 'expired' };
      const user = (await this.accounts.findUserById(row.user_id!))!;
      const apiKey = await this.users.issueKeyFor(user.id, `bsubio register on ${row.hostname}`);
      return {
        kind: 'authorized',
        body: {
          status: 'authorized',
          api_key: apiKey,
          user: { email: user.email, first_name: '', last_name: '' },
        },
      };
    }
    const last = row.last_poll_at === null ? null : Number(row.last_poll_at);
    await this.accounts.touchPoll(hash, now);
    if (last !== null && now - last < DEVICE_POLL_INTERVAL_S * 1000 - POLL_SLACK_MS) {
      return { kind: 'slow_down', interval: DEVICE_POLL_INTERVAL_S + 5 };
    }
    return { kind: 'pending' };
  }

  /** What the approval page shows about a code, or a 404. */
  async describeDevice(userCode: string): Promise<DeviceCodeRow> {
    const row = await this.accounts.findByUserCode(normalizeUserCode(userCode));
    if (row?.status !== 'pending' || Date.now() >= Number(row.expires_at)) {
      throw new ApiError(
        'not_found',
        'No waiting sign-in has this code; it may have expired or been used. Run bsubio register again.',
      );
    }
    return row;
  }

  async decideDevice(userId: string, userCode: string, approve: boolean): Promise<void> {
    const ok = await this.accounts.decide(
      normalizeUserCode(userCode),
      approve ? 'approved' : 'denied',
      userId,
      Date.now(),
    );
    if (!ok) {
      throw new ApiError(
        'not_found',
        'No waiting sign-in has this code; it may have expired or been used. Run bsubio register again.',
      );
    }
  }
}
