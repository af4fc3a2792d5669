/**
 * Accounts (extensions): the dashboard's session, its API-key management,
 * and the device flow of `bsubio register` (POST /v1/auth/device/code and
 * /token, as the bsub.io CLI expects them; approval from a signed-in page).
 */
import { DEVICE_TOKEN_STATUS } from '@bsubio/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../services/api-error.js';
import type { AppDeps } from '../app.js';
import { LoginThrottle } from '../login-throttle.js';
import { checkCsrf, clearSessionCookie, readSessionCookie, setSessionCookie } from '../session-cookie.js';

const publicRoute = { config: { auth: 'none' as const } };
/** Device sign-ins one client address may start per minute. */
export const DEVICE_STARTS_PER_MINUTE = 10;

function stringField(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | null | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Managing keys and approving devices needs a person signed in with their
 * password, not a (possibly leaked) key — nor a session opened with one,
 * which would let a key mint keys that outlive its revocation.
 */
function requireSession(request: FastifyRequest): void {
  if (request.authMethod !== 'session') {
    throw new ApiError(
      'forbidden',
      request.authMethod === 'key_session'
        ? 'Sign in with your email and password for this; a session opened with an API key cannot manage keys or approve devices.'
        : 'Sign in to the dashboard for this; an API key cannot manage keys or approve devices.',
    );
  }
}

/**
 * The dashboard's own address as the client reached it: behind a proxy named
 * by --trust-proxy, its X-Forwarded-Proto and -Host (Fastify reads them into
 * request.protocol and request.host); from anyone else they are ignored.
 */
function publicOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export function registerAuthRoutes(app: FastifyInstance, { accounts, users }: AppDeps): void {
  // Per email a few guesses a minute; per address more, since people share addresses (NAT).
  const byEmail = new LoginThrottle(5);
  const byAddress = new LoginThrottle(30);

  // ---- the dashboard's session ---------------------------------------------------

  app.post('/v1/auth/session', publicRoute, async (request, reply) => {
    checkCsrf(request);
    const apiKey = stringField(request.body, 'api_key');
    const email = stringField(request.body, 'email')?.trim().toLowerCase();
    const password = stringField(request.body, 'password');
    if (apiKey === undefined && (email === undefined || password === undefined)) {
      throw new ApiError('bad_request', 'Send {"email", "password"} or {"api_key"} to sign in.');
    }
    const address = [request.ip];
    const emails = email ? [email] : [];
    // Checked and counted before the (slow) password check, with no await in
    // between: guesses sent at once are counted at once, not after they ran.
    const attemptAt = Date.now();
    const wait = Math.max(byAddress.retryAfter(address, attemptAt), byEmail.retryAfter(emails, attemptAt));
    if (wait > 0) {
      throw new ApiError(
        'rate_limited',
        `Too many failed sign-ins; try again in ${wait} second${wait === 1 ? '' : 's'}.`,
        { 'retry-after': String(wait) },
      );
    }
    byAddress.fail(address, attemptAt);
    byEmail.fail(emails, attemptAt);
    const key = apiKey !== undefined ? await users.authenticate(apiKey.trim()) : undefined;
    const userId = apiKey !== undefined ? key?.userId : (await accounts.checkPassword(email!, password!))?.id;
    if (!userId) {
      throw new ApiError(
        'unauthorized',
        apiKey !== undefined ? 'That API key is not valid (unknown or revoked).' : 'Wrong email or password.',
      );
    }
    // It was not a failure after all.
    byAddress.forgive(address, attemptAt);
    byEmail.succeed(emails);
    const { token, maxAgeSeconds } = await accounts.openSession(userId, key?.keyId ?? null);
    setSessionCookie(request, reply, token, maxAgeSeconds);
    const user = (await accounts.findUser(userId))!;
    return { success: true, data: { id: user.id, email: user.email } };
  });

  app.get('/v1/auth/session', async (request) => {
    const user = await accounts.findUser(request.userId);
    if (!user) throw new ApiError('unauthorized', 'This account no longer exists.');
    return { success: true, data: { id: user.id, email: user.email, via: request.authMethod } };
  });

  app.delete('/v1/auth/session', publicRoute, async (request, reply) => {
    checkCsrf(request);
    const token = readSessionCookie(request);
    if (token) await accounts.closeSession(token);
    clearSessionCookie(request, reply);
    return reply.code(204).send();
  });

  // ---- API keys -------------------------------------------------------------------

  app.get('/v1/auth/keys', async (request) => {
    requireSession(request);
    return { success: true, data: { keys: await accounts.listKeys(request.userId) } };
  });

  app.post('/v1/auth/keys', async (request, reply) => {
    requireSession(request);
    const created = await accounts.createKey(request.userId, stringField(request.body, 'label'));
    return reply.code(201).send({ success: true, data: created });
  });

  app.delete<{ Params: { keyId: string } }>('/v1/auth/keys/:keyId', async (request, reply) => {
    requireSession(request);
    await accounts.revokeKey(request.userId, request.params.keyId);
    return reply.code(204).send();
  });

  // ---- device flow --------------------------------------------------------------------

  // Anyone may start a device sign-in, and each start stores a row: a few a
  // minute per client address is plenty for people running bsubio register.
  const deviceStarts = new LoginThrottle(DEVICE_STARTS_PER_MINUTE);

  app.post('/v1/auth/device/code', publicRoute, async (request, reply) => {
    const address = [request.ip];
    const wait = deviceStarts.retryAfter(address);
    if (wait > 0) {
      throw new ApiError(
        'rate_limited',
        `Too many device sign-ins started from your address; try again in ${wait} second${wait === 1 ? '' : 's'}.`,
        { 'retry-after': String(wait) },
      );
    }
    deviceStarts.fail(address);
    const hostname = stringField(request.body, 'hostname') ?? '';
    const started = await accounts.startDevice(hostname.trim(), `${publicOrigin(request)}/device`);
    return reply.code(200).header('cache-control', 'no-store').send(started);
  });

  app.post('/v1/auth/device/token', publicRoute, async (request, reply) => {
    const deviceCode = stringField(request.body, 'device_code');
    const userCode = stringField(request.body, 'user_code');
    if (!deviceCode || !userCode) {
      throw new ApiError('bad_request', 'Send {"device_code", "user_code"} from POST /v1/auth/device/code.');
    }
    const outcome = await accounts.pollDevice(deviceCode, userCode);
    reply.header('cache-control', 'no-store');
    switch (outcome.kind) {
      case 'authorized':
        return reply.code(DEVICE_TOKEN_STATUS.authorized).send(outcome.body);
      case 'pending':
        return reply.code(DEVICE_TOKEN_STATUS.pending).send({ status: 'pending' });
      case 'slow_down':
        return reply
          .code(DEVICE_TOKEN_STATUS.slowDown)
          .header('retry-after', String(outcome.interval))
          .send({
            success: false,
            error: `Polling too fast; wait ${outcome.interval} seconds between polls.`,
            code: 'rate_limited',
            interval: outcome.interval,
          });
      case 'denied':
        return reply.code(DEVICE_TOKEN_STATUS.denied).send({
          success: false,
          error: 'The sign-in was denied in the dashboard.',
          code: 'forbidden',
        });
      case 'expired':
        return reply.code(DEVICE_TOKEN_STATUS.expired).send({
          success: false,
          error: 'The code expired or was already used; run bsubio register again.',
          code: 'gone',
        });
    }
  });

  app.get<{ Querystring: { code?: string } }>('/v1/auth/device', async (request) => {
    requireSession(request);
    const row = await accounts.describeDevice(request.query.code ?? '');
    return {
      success: true,
      data: {
        user_code: row.user_code,
        hostname: row.hostname,
        created_at: new Date(Number(row.created_at)).toISOString(),
        expires_at: new Date(Number(row.expires_at)).toISOString(),
      },
    };
  });

  app.post('/v1/auth/device/approve', async (request) => {
    requireSession(request);
    const userCode = stringField(request.body, 'user_code');
    const approve = (request.body as { approve?: unknown } | undefined)?.approve;
    if (!userCode || typeof approve !== 'boolean') {
      throw new ApiError('bad_request', 'Send {"user_code": "ABCD-EFGH", "approve": true|false}.');
    }
    await accounts.decideDevice(request.userId, userCode, approve);
    return { success: true, message: approve ? 'Device approved' : 'Device denied' };
  });
}
