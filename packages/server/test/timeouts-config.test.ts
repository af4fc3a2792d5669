/**
 * The request timeouts as settings: --headers-timeout / BSUBIO_HEADERS_TIMEOUT
 * and --body-timeout / BSUBIO_BODY_TIMEOUT take a duration, default to 60 s,
 * and a bad value stops the start with a sentence naming the setting.
 * (What they do to slow clients is in fuzz.test.ts and body-timeout.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('request timeouts as settings', () => {
  it('default to 60 s, read a duration, and a flag wins over the environment', () => {
    expect(loadConfig({}, {}).headersTimeoutMs).toBe(60_000);
    expect(loadConfig({}, { BSUBIO_HEADERS_TIMEOUT: '20s' }).headersTimeoutMs).toBe(20_000);
    expect(loadConfig({ 'headers-timeout': '2m' }, { BSUBIO_HEADERS_TIMEOUT: '20s' }).headersTimeoutMs).toBe(
      120_000,
    );
    expect(loadConfig({}, {}).bodyTimeoutMs).toBe(60_000);
  });

  it('refuse a value that is not a duration, or too short, naming the setting', () => {
    expect(() => loadConfig({}, { BSUBIO_HEADERS_TIMEOUT: 'soon' })).toThrow(
      '--headers-timeout / BSUBIO_HEADERS_TIMEOUT must be a duration like 90s, 15m, 12h or 7d (at least 100 ms), not "soon".',
    );
    expect(() => loadConfig({ 'headers-timeout': '5ms' }, {})).toThrow(/--headers-timeout.*at least 100 ms/);
  });
});
