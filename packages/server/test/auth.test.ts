/**
 * Accounts over real HTTP: password sign-in with a session cookie, the CSRF
 * rules for cookie-authenticated changes, API keys managed from a session,
 * sign-in throttling, and the device flow's status codes as `bsubio register`
 * (and the bsub.io CLI) expects them. Bearer keys keep working as before.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_BIN, startServer, type TestServer } from '../../../test/support/server.js';
import { DEVICE_STARTS_PER_MINUTE } from '../src/http/routes/auth.js';
import { AccountRepository } from '../src/store/account-repository.js';
import { openSqlite } from '../src/store/database.js';

let server: TestServer;
const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery';
const CSRF = { 'x-bsubio-csrf': '1' };

/** `bsubio-server user add <email> --password` with the password on stdin. */
function addUserWithPassword(email: string, password: string): Promise<string> {
  return server.addUser(email, password);
}

async function call(path: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  const response = await fetch(`${server.url}${path}`, {
    ...init,
    headers,
    body: init.json === undefined ? init.body : JSON.stringify(init.json),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

async function signIn(email = EMAIL, password = PASSWORD): Promise<string> {
  const res = await call('/v1/auth/session', { method: 'POST', headers: CSRF, json: { email, password } });
  expect(res.status).toBe(200);
  return /bsubio_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
}

beforeAll(async () => {
  server = await startServer();
  await addUserWithPassword(EMAIL, PASSWORD);
});

afterAll(async () => {
  await server?.cleanup();
});

describe('sessions', () => {
  it('signs in with email and password into an HttpOnly, SameSite=Strict cookie', async () => {
    const res = await call('/v1/auth/session', {
      method: 'POST',
      headers: CSRF,
      json: { email: EMAIL.toUpperCase(), password: PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.email).toBe(EMAIL);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
  });

  it('does not take X-Forwarded-Proto from a client that is not a trusted proxy', async () => {
    // Behind a proxy named by BSUBIO_TRUST_PROXY it is Secure: trust-proxy.test.ts.
    const res = await call('/v1/auth/session', {
      method: 'POST',
      headers: { ...CSRF, 'x-forwarded-proto': 'https' },
      json: { email: EMAIL, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('refuses a wrong password and a sign-in without the CSRF header', async () => {
    const wrong = await call('/v1/auth/session', {
      method: 'POST',
      headers: CSRF,
      json: { email: EMAIL, password: 'nope nope' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ success: false, error: 'Wrong email or password.' });
    const noHeader = await call('/v1/auth/session', {
      method: 'POST',
      json: { email: EMAIL, password: PASSWORD },
    });
    expect(noHeader.status).toBe(403);
  });

  it('signs in with an API key too', async () => {
    const res = await call('/v1/auth/session', {
      method: 'POST',
      headers: CSRF,
      json: { api_key: server.apiKey },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.email).toBe('local@localhost');
  });

  it('lets the cookie read, but change only with the CSRF header and from this origin', async () => {
    const cookie = `bsubio_session=${await signIn()}`;
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(200);

    const bare = await call('/v1/jobs', { method: 'POST', headers: { cookie }, json: { type: 'passthru' } });
    expect(bare.status).toBe(403);
    expect(bare.body.success).toBe(false);

    const foreign = await call('/v1/jobs', {
      method: 'POST',
      headers: { cookie, ...CSRF, origin: 'https://evil.example' },
      json: { type: 'passthru' },
    });
    expect(foreign.status).toBe(403);

    const same = await call('/v1/jobs', {
      method: 'POST',
      headers: { cookie, ...CSRF, origin: server.url },
      json: { type: 'passthru' },
    });
    expect(same.status).toBe(201);
  });

  it('signs out: the cookie stops working', async () => {
    const cookie = `bsubio_session=${await signIn()}`;
    expect((await call('/v1/auth/session', { method: 'DELETE', headers: { cookie, ...CSRF } })).status).toBe(
      204,
    );
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(401);
  });

  it('leaves bearer keys exactly as they were', async () => {
    const ok = await call('/v1/jobs', { headers: { authorization: `Bearer ${server.apiKey}` } });
    expect(ok.status).toBe(200);
    const created = await call('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
      json: { type: 'passthru' },
    });
    expect(created.status).toBe(201);
    const missing = await call('/v1/jobs');
    expect(missing.status).toBe(401);
    expect(missing.body.error).toBe('Missing API key: send "Authorization: Bearer <api-key>".');
  });
});

describe('API keys from the dashboard', () => {
  it('creates a key shown once, lists it with its last use, and revokes it', async () => {
    const cookie = `bsubio_session=${await signIn()}`;
    const created = await call('/v1/auth/keys', {
      method: 'POST',
      headers: { cookie, ...CSRF },
      json: { label: 'ci' },
    });
    expect(created.status).toBe(201);
    const key = created.body.data.api_key as string;
    expect(key).toMatch(/^bsub_[0-9a-f]{12}_/);
    expect((await call('/v1/jobs', { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);

    const listed = await call('/v1/auth/keys', { headers: { cookie } });
    const entry = listed.body.data.keys.find((k: { label: string }) => k.label === 'ci');
    expect(entry.prefix).toBe(key.split('_')[1]);
    expect(entry.last_used_at).not.toBeNull();
    expect(JSON.stringify(listed.body)).not.toContain(key);

    expect(
      (await call(`/v1/auth/keys/${entry.id}`, { method: 'DELETE', headers: { cookie, ...CSRF } })).status,
    ).toBe(204);
    expect((await call('/v1/jobs', { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
  });

  it('does not let an API key manage keys', async () => {
    const res = await call('/v1/auth/keys', { headers: { authorization: `Bearer ${server.apiKey}` } });
    expect(res.status).toBe(403);
  });
});

describe('a leaked API key (security round 2, finding 1)', () => {
  /** A new key of the password user, minted from a password session. */
  async function mintKey(label: string): Promise<{ key: string; id: string }> {
    const cookie = `bsubio_session=${await signIn()}`;
    const created = await call('/v1/auth/keys', {
      method: 'POST',
      headers: { cookie, ...CSRF },
      json: { label },
    });
    expect(created.status).toBe(201);
    return { key: created.body.data.api_key, id: created.body.data.key.id };
  }

  async function keySession(key: string): Promise<string> {
    const res = await call('/v1/auth/session', { method: 'POST', headers: CSRF, json: { api_key: key } });
    expect(res.status).toBe(200);
    return `bsubio_session=${/bsubio_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]}`;
  }

  it('signs in to a session that reads jobs but cannot mint keys or approve devices', async () => {
    const { key } = await mintKey('leaked-1');
    const cookie = await keySession(key);
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(200);
    expect((await call('/v1/auth/session', { headers: { cookie } })).body.data.via).toBe('key_session');
    const minted = await call('/v1/auth/keys', { method: 'POST', headers: { cookie, ...CSRF }, json: {} });
    expect(minted.status).toBe(403);
    expect(minted.body.error).toMatch(/email and password/);
    expect((await call('/v1/auth/keys', { headers: { cookie } })).status).toBe(403);
    const approve = await call('/v1/auth/device/approve', {
      method: 'POST',
      headers: { cookie, ...CSRF },
      json: { user_code: 'ABCD-EFGH', approve: true },
    });
    expect(approve.status).toBe(403);
  });

  it('ends the session made from a key when the key is revoked from the dashboard', async () => {
    const { key, id } = await mintKey('leaked-2');
    const cookie = await keySession(key);
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(200);
    const owner = `bsubio_session=${await signIn()}`;
    expect(
      (await call(`/v1/auth/keys/${id}`, { method: 'DELETE', headers: { cookie: owner, ...CSRF } })).status,
    ).toBe(204);
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(401);
    // The owner's own password session is untouched.
    expect((await call('/v1/jobs', { headers: { cookie: owner } })).status).toBe(200);
  });

  it('ends it too when the key is revoked with bsubio-server key revoke', async () => {
    const { key } = await mintKey('leaked-3');
    const cookie = await keySession(key);
    const revoke = spawn(process.execPath, [SERVER_BIN, 'key', 'revoke', key.split('_')[1]!], {
      env: { ...process.env, HOME: server.home, BSUBIO_DATA_DIR: server.dataDir },
      stdio: 'ignore',
    });
    expect(await new Promise((resolve) => revoke.on('exit', resolve))).toBe(0);
    expect((await call('/v1/jobs', { headers: { cookie } })).status).toBe(401);
  });
});

describe('guesses sent at once (security round 2, finding 2)', () => {
  it('counts parallel wrong passwords before checking them: the right one sent among them gets no 200', async () => {
    const email = 'parallel@example.com';
    await addUserWithPassword(email, PASSWORD);
    const attempt = (password: string) =>
      call('/v1/auth/session', { method: 'POST', headers: CSRF, json: { email, password } });
    const wrong = Array.from({ length: 24 }, (_, i) => attempt(`wrong guess ${i}`));
    // Sent while the wrong ones are still being checked (argon2 takes a while each).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const right = attempt(PASSWORD);
    const statuses = (await Promise.all([...wrong, right])).map((r) => r.status);
    expect(statuses).not.toContain(200);
    // Five a minute per email: the rest were refused before any check ran.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
  });
});

describe('device flow', () => {
  const start = async () => {
    const res = await call('/v1/auth/device/code', { method: 'POST', json: { hostname: 'test-box' } });
    expect(res.status).toBe(200);
    return res.body as {
      device_code: string;
      user_code: string;
      verification_uri: string;
      expires_in: number;
      interval: number;
    };
  };
  const poll = (device: { device_code: string; user_code: string }) =>
    call('/v1/auth/device/token', {
      method: 'POST',
      json: { device_code: device.device_code, user_code: device.user_code },
    });

  it('answers 202 while pending, 429 with an interval when polled too fast, 200 once approved, then 410', async () => {
    const device = await start();
    expect(device.user_code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    expect(device.verification_uri).toBe(`${server.url}/device`);
    expect(device.expires_in).toBeGreaterThan(0);
    expect(device.interval).toBeGreaterThan(0);

    expect((await poll(device)).status).toBe(202);
    const fast = await poll(device);
    expect(fast.status).toBe(429);
    expect(fast.body.interval).toBeGreaterThan(device.interval);

    const cookie = `bsubio_session=${await signIn()}`;
    const shown = await call(`/v1/auth/device?code=${device.user_code.toLowerCase().replace('-', '')}`, {
      headers: { cookie },
    });
    expect(shown.body.data.hostname).toBe('test-box');
    const approved = await call('/v1/auth/device/approve', {
      method: 'POST',
      headers: { cookie, ...CSRF },
      json: { user_code: device.user_code, approve: true },
    });
    expect(approved.status).toBe(200);

    const done = await poll(device);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      status: 'authorized',
      user: { email: EMAIL, first_name: '', last_name: '' },
    });
    expect(
      (await call('/v1/jobs', { headers: { authorization: `Bearer ${done.body.api_key}` } })).status,
    ).toBe(200);

    expect((await poll(device)).status).toBe(410);
  });

  it('answers 403 once denied', async () => {
    const device = await start();
    const cookie = `bsubio_session=${await signIn()}`;
    await call('/v1/auth/device/approve', {
      method: 'POST',
      headers: { cookie, ...CSRF },
      json: { user_code: device.user_code, approve: false },
    });
    expect((await poll(device)).status).toBe(403);
  });

  it('refuses approval by an API key and unknown codes', async () => {
    const device = await start();
    const byKey = await call('/v1/auth/device/approve', {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
      json: { user_code: device.user_code, approve: true },
    });
    expect(byKey.status).toBe(403);
    const unknown = await call('/v1/auth/device/token', {
      method: 'POST',
      json: { device_code: 'x', user_code: 'ABCD-EFGH' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.success).toBe(false);
  });
});

describe('device sign-ins started without a key (security round 2, finding 7)', () => {
  /** POST /v1/auth/device/code from one loopback address of its own; the status. */
  function startFrom(localAddress: string, hostname: string): Promise<number> {
    const url = new URL('/v1/auth/device/code', server.url);
    const body = JSON.stringify({ hostname });
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          localAddress,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('limits how many one client address may start a minute, and not the others', async () => {
    const statuses = await Promise.all(
      Array.from({ length: DEVICE_STARTS_PER_MINUTE + 5 }, (_, i) =>
        startFrom('127.0.0.5', `${'h'.repeat(250)}${i}`),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(DEVICE_STARTS_PER_MINUTE);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    expect(await startFrom('127.0.0.6', 'another-box')).toBe(200);
  });

  it('sweeps device codes an hour past their expiry, and expired sessions', async () => {
    const db = await openSqlite(join(server.dataDir, 'bsubio.db'));
    try {
      const accounts = new AccountRepository(db);
      const now = Date.now();
      const old = { status: 'pending', user_id: null, hostname: 'old-box', last_poll_at: null };
      await accounts.insertDeviceCode({
        ...old,
        device_code_hash: 'x'.repeat(64),
        user_code: 'ZZZZ-ZZZ2',
        created_at: now - 3 * 3_600_000,
        expires_at: now - 2 * 3_600_000,
      });
      await accounts.insertDeviceCode({
        ...old,
        device_code_hash: 'y'.repeat(64),
        user_code: 'ZZZZ-ZZZ3',
        created_at: now - 1_000,
        expires_at: now - 500,
      });
      await accounts.deleteExpired(now);
      expect(await accounts.findDeviceCode('x'.repeat(64))).toBeUndefined();
      // Just expired: kept a while, so a late poll hears 410 rather than "unknown".
      expect(await accounts.findDeviceCode('y'.repeat(64))).toBeDefined();
    } finally {
      await db.destroy();
    }
  });
});

describe('sign-in throttling', () => {
  it('refuses attempts for an email after five failures a minute, even with the right password', async () => {
    const email = 'grace@example.com';
    await addUserWithPassword(email, PASSWORD);
    for (let i = 0; i < 5; i++) {
      const res = await call('/v1/auth/session', {
        method: 'POST',
        headers: CSRF,
        json: { email, password: `wrong ${i}!!` },
      });
      expect(res.status).toBe(401);
    }
    const blocked = await call('/v1/auth/session', {
      method: 'POST',
      headers: CSRF,
      json: { email, password: PASSWORD },
    });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
