/**
 * The server key's upload tokens: kept once computed (a created job's token
 * is shown on every GET of it), which must never change what a token is,
 * and must hold a bounded number of them.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ServerKey } from '../src/services/server-key.js';

const hex = randomBytes(32).toString('hex');
const expectedToken = (jobId: string) =>
  createHmac('sha256', Buffer.from(hex, 'hex')).update(`upload:${jobId}`).digest('base64url').slice(0, 32);

describe('ServerKey.uploadToken', () => {
  it('gives the HMAC of the job id, the same when asked again, different per key', () => {
    const key = ServerKey.fromHex(hex, 'env');
    const id = '019ad3c4-6b2c-7f6e-a1d2-1234567890ab';
    expect(key.uploadToken(id)).toBe(expectedToken(id));
    expect(key.uploadToken(id)).toBe(expectedToken(id));
    const other = ServerKey.fromHex(randomBytes(32).toString('hex'), 'env');
    expect(other.uploadToken(id)).not.toBe(key.uploadToken(id));
  });

  it('keeps a bounded number of tokens, and gives right ones past the bound', () => {
    const key = ServerKey.fromHex(hex, 'env');
    const kept = (key as unknown as { uploadTokens: Map<string, string> }).uploadTokens;
    for (let i = 0; i < 10_000; i++) {
      const id = `job-${i}`;
      expect(key.uploadToken(id)).toBe(expectedToken(id));
      expect(kept.size).toBeLessThanOrEqual(4096);
    }
    expect(key.uploadToken('job-0')).toBe(expectedToken('job-0'));
  });
});
