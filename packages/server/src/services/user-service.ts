/**
 * Users and API keys. A key looks like `bsub_<prefix>_<secret>`; the prefix
 * finds the row, the SHA-256 of the whole key is compared in constant time,
 * and the key itself is never stored.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { uuidv7 } from '@bsubio/protocol';
import type { UserRepository, UserRow } from '../store/user-repository.js';

const KEY_RE = /^bsub_([0-9a-f]{12})_([A-Za-z0-9_-]{32,64})$/;
/** Writing last_used_at on every request would turn reads into writes. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * How long a key's row, once read, answers for it without the database.
 * Every API request authenticates, so without this a job's six requests
 * make six extra reads. A revocation made by this process empties the cache
 * at once; one made elsewhere (the CLI, another replica of a cluster) takes
 * effect within this time.
 */
const KEY_CACHE_MS = 250;
/** Only live keys are cached; this is a backstop on their number, not a working limit. */
const KEY_CACHE_MAX = 10_000;

interface CachedKey {
  row: { id: string; user_id: string; hash: string; last_used_at: number | null };
  /** `row.hash` as bytes, for the comparison each request makes. */
  expected: Buffer;
  readAt: number;
}

export class UserError extends Error {
  override name = 'UserError';
}

/** SHA-256 of a key (or any secret), in one call (createHash's object cost more than the hash on every request). */
function hashKey(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

export interface AuthenticatedUser {
  userId: string;
  keyId: string;
}

export class UserService {
  private readonly keyCache = new Map<string, CachedKey>();

  constructor(private readonly users: UserRepository) {}

  /** Forget every cached key row: after a revocation, the next request reads the database. */
  forgetCachedKeys(): void {
    this.keyCache.clear();
  }

  async createUser(email: string): Promise<{ user: UserRow; apiKey: string }> {
    const normalized = email.trim().toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(normalized)) throw new UserError(`"${email}" is not an email address.`);
    if (await this.users.findByEmail(normalized))
      throw new UserError(`A user with email ${normalized} already exists.`);
    const user: UserRow = {
      id: uuidv7(),
      email: normalized,
      created_at: Date.now(),
      webhook_url: null,
      webhook_secret: null,
      password_hash: null,
    };
    await this.users.insertUser(user);
    const apiKey = await this.issueKey(user.id);
    return { user, apiKey };
  }

  async addKey(email: string): Promise<string> {
    return this.issueKey((await this.requireUser(email)).id);
  }

  /** The user with this email, or a UserError that says how to create one. */
  async requireUser(email: string): Promise<UserRow> {
    const user = await this.users.findByEmail(email.trim().toLowerCase());
    if (!user)
      throw new UserError(`No user with email ${email}; create one with "bsubio-server user add ${email}".`);
    return user;
  }

  /** Revoke the one live key whose prefix starts with `prefix`. */
  async revokeKey(prefix: string): Promise<string> {
    const bare = prefix.replace(/^bsub_/, '').split('_')[0] ?? '';
    if (bare.length < 4)
      throw new UserError('Give at least the first 4 characters of the key prefix (after "bsub_").');
    const matches = await this.users.matchingActiveKeys(bare);
    if (matches.length === 0) throw new UserError(`No active key starts with ${prefix}.`);
    if (matches.length > 1)
      throw new UserError(`${matches.length} keys start with ${prefix}; give more characters.`);
    await this.users.revokeByPrefix(matches[0]!.prefix, Date.now());
    this.forgetCachedKeys();
    return matches[0]!.prefix;
  }

  async countUsers(): Promise<number> {
    return this.users.countUsers();
  }

  /** A new key for a user known by id (the dashboard, the device flow). */
  issueKeyFor(userId: string, label: string | null): Promise<string> {
    return this.issueKey(userId, label);
  }

  private async issueKey(userId: string, label: string | null = null): Promise<string> {
    const prefix = randomBytes(6).toString('hex');
    const key = `bsub_${prefix}_${randomBytes(32).toString('base64url')}`;
    await this.users.insertKey({
      id: uuidv7(),
      user_id: userId,
      prefix,
      hash: hashKey(key).toString('hex'),
      created_at: Date.now(),
      last_used_at: null,
      revoked_at: null,
      label,
    });
    return key;
  }

  /** The owner of a live key, or undefined for anything else. */
  async authenticate(key: string): Promise<AuthenticatedUser | undefined> {
    const match = KEY_RE.exec(key);
    if (!match) return undefined;
    const prefix = match[1]!;
    const now = Date.now();
    let cached = this.keyCache.get(prefix);
    if (!cached || now - cached.readAt > KEY_CACHE_MS) {
      const row = await this.users.findActiveKey(prefix);
      if (!row) {
        this.keyCache.delete(prefix);
        return undefined;
      }
      if (this.keyCache.size >= KEY_CACHE_MAX) this.keyCache.clear();
      cached = { row, expected: Buffer.from(row.hash, 'hex'), readAt: now };
      this.keyCache.set(prefix, cached);
    }
    // The whole key is checked on every request, cached or not.
    if (!timingSafeEqual(cached.expected, hashKey(key))) return undefined;
    const { row } = cached;
    if (row.last_used_at === null || now - row.last_used_at > TOUCH_INTERVAL_MS) {
      row.last_used_at = now;
      await this.users.touchKey(row.id, now);
    }
    return { userId: row.user_id, keyId: row.id };
  }
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashKey(a), hashKey(b));
}
