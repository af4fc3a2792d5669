/**
 * The server's own secret key, so that what the database holds of a secret
 * is of no use to someone who can only read the database (a backup, a
 * replica, a leaked dump, a local user when permissions are wrong):
 *
 * - upload tokens are not stored: each is HMAC(key, "upload:" + job id), so it
 *   can be computed again (create's idempotent replay, GET of a created job)
 *   but not from the row;
 * - webhook signing secrets are stored encrypted (AES-256-GCM), decrypted
 *   only to sign a delivery or to show the secret to its owner.
 *
 * Where the key comes from: BSUBIO_SECRET_KEY (64 hex digits) when set —
 * what a cluster's replicas should share; else, on one machine, the file
 * `server.key` in the data directory (made on first start, mode 0600); else,
 * in cluster mode without the setting, a key kept in the database itself,
 * which keeps replicas consistent but protects nothing, and says so at start.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { ConfigError } from '../config.js';
import type { Db } from '../store/database.js';

const ENCRYPTED_PREFIX = 'enc1:';
/**
 * Upload tokens kept once computed. A created job's token is shown on every
 * GET of it (pollers ask many times a second), and an HMAC each time was a
 * measurable part of such a request. A token depends only on the key and the
 * job id, so a kept one is never stale; the bound is what memory may hold.
 */
const UPLOAD_TOKEN_CACHE_MAX = 4096;
/** What the jobs table's upload_token column holds for a token derived from the key. */
export const DERIVED_FROM_SERVER_KEY = 'hmac';

export class ServerKey {
  private readonly uploadTokens = new Map<string, string>();

  private constructor(
    private readonly key: Buffer,
    /** Where the key came from, for the start-up log. */
    readonly source: 'env' | 'file' | 'database',
  ) {}

  static fromHex(hex: string, source: ServerKey['source']): ServerKey {
    if (!/^[0-9a-fA-F]{64}$/.test(hex.trim())) {
      throw new ConfigError(
        'BSUBIO_SECRET_KEY must be 64 hexadecimal digits (32 random bytes, e.g. from "openssl rand -hex 32").',
      );
    }
    return new ServerKey(Buffer.from(hex.trim(), 'hex'), source);
  }

  /** The key for this server: see the module comment for the order. */
  static async load(options: { envKey: string | undefined; dataDir: string; db: Db; cluster: boolean }) {
    if (options.envKey) return ServerKey.fromHex(options.envKey, 'env');
    if (!options.cluster) return ServerKey.fromFile(join(options.dataDir, 'server.key'));
    return ServerKey.fromDatabase(options.db);
  }

  private static fromFile(path: string): ServerKey {
    try {
      return ServerKey.fromHex(readFileSync(path, 'utf8'), 'file');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const hex = randomBytes(32).toString('hex');
    try {
      // wx: of two processes starting at once, one writes and both read its key.
      writeFileSync(path, `${hex}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return ServerKey.fromHex(readFileSync(path, 'utf8'), 'file');
  }

  private static async fromDatabase(db: Db): Promise<ServerKey> {
    const hex = randomBytes(32).toString('hex');
    await sql`insert into server_secrets (name, value) values ('server_key', ${hex}) on conflict (name) do nothing`.execute(
      db,
    );
    const row = await db
      .selectFrom('server_secrets')
      .select('value')
      .where('name', '=', 'server_key')
      .executeTakeFirstOrThrow();
    return ServerKey.fromHex(row.value, 'database');
  }

  /** The upload token of a job: the same for the same job id, unknowable without the key. */
  uploadToken(jobId: string): string {
    let token = this.uploadTokens.get(jobId);
    if (token === undefined) {
      token = createHmac('sha256', this.key).update(`upload:${jobId}`).digest('base64url').slice(0, 32);
      if (this.uploadTokens.size >= UPLOAD_TOKEN_CACHE_MAX) this.uploadTokens.clear();
      this.uploadTokens.set(jobId, token);
    }
    return token;
  }

  /** `enc1:<iv>.<tag>.<ciphertext>`, base64url parts. */
  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${ENCRYPTED_PREFIX}${[iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.')}`;
  }

  /** The plain text of `encrypt`'s output; a value stored before encryption is returned as it is. */
  decrypt(stored: string): string {
    if (!stored.startsWith(ENCRYPTED_PREFIX)) return stored;
    const [iv, tag, body] = stored
      .slice(ENCRYPTED_PREFIX.length)
      .split('.')
      .map((part) => Buffer.from(part, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv!);
    decipher.setAuthTag(tag!);
    return Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8');
  }
}
