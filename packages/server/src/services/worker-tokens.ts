/**
 * Tokens of remote workers. A token looks like `bsubw_<prefix>_<secret>`;
 * only its SHA-256 is stored, found by its prefix and compared in constant
 * time. Worker tokens open only the `/v1/worker/...` endpoints, never a
 * user's jobs, and API keys never open those.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/database.js';

const TOKEN_RE = /^bsubw_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export class WorkerTokenError extends Error {
  override name = 'UserError';
}

export class WorkerTokens {
  constructor(private readonly db: Db) {}

  /** A new token for `name`; the only time the whole token is seen. */
  async add(name: string): Promise<string> {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new WorkerTokenError('A worker token name is 1 to 64 letters, digits, ".", "_" or "-".');
    }
    const prefix = randomBytes(6).toString('hex');
    const token = `bsubw_${prefix}_${randomBytes(32).toString('base64url')}`;
    await this.db
      .insertInto('worker_tokens')
      .values({
        id: randomUUID(),
        name,
        prefix,
        hash: hashToken(token).toString('hex'),
        created_at: Date.now(),
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return token;
  }

  /** Revoke the one live token whose prefix starts with `prefix` (or whose name is `prefix`). */
  async revoke(prefixOrName: string): Promise<string> {
    const bare = prefixOrName.replace(/^bsubw_/, '').split('_')[0] ?? '';
    const rows = await this.db
      .selectFrom('worker_tokens')
      .select(['id', 'prefix', 'name'])
      .where('revoked_at', 'is', null)
      .execute();
    const matches = rows.filter(
      (r) => (bare.length >= 4 && r.prefix.startsWith(bare)) || r.name === prefixOrName,
    );
    if (matches.length === 0) throw new WorkerTokenError(`No active worker token matches ${prefixOrName}.`);
    if (matches.length > 1) {
      throw new WorkerTokenError(`${matches.length} worker tokens match ${prefixOrName}; give the prefix.`);
    }
    await this.db
      .updateTable('worker_tokens')
      .set({ revoked_at: Date.now() })
      .where('id', '=', matches[0]!.id)
      .execute();
    return matches[0]!.prefix;
  }

  /** The token's name when it is valid and not revoked. */
  async authenticate(token: string): Promise<string | undefined> {
    const match = TOKEN_RE.exec(token);
    if (!match) return undefined;
    const row = await this.db
      .selectFrom('worker_tokens')
      .selectAll()
      .where('prefix', '=', match[1]!)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    if (!timingSafeEqual(Buffer.from(row.hash, 'hex'), hashToken(token))) return undefined;
    return row.name;
  }
}
