/**
 * Accounts (extensions): the dashboard's session, its API-key management,
 * and the device flow of `bsubio register` (POST /v1/auth/device/code and
 * /token, as the bsub.io CLI expects them; approval from a signed-in page).
 */
import {
  AccountSchema,
  ApiKeyInfoSchema,
  CreatedKeySchema,
  CreateKeyRequestSchema,
  CSRF_HEADER,
  DEVICE_TOKEN_STATUS,
  DescribeDeviceQuerySchema,
  DeviceAuthorizedResponseSchema,
  DeviceCodeRequestSchema,
  DeviceCodeResponseSchema,
  DeviceDecisionRequestSchema,
  DevicePendingResponseSchema,
  DeviceSignInSchema,
  DeviceSlowDownResponseSchema,
  DeviceTokenRequestSchema,
  KeyIdParamsSchema,
  MessageResponseSchema,
  SessionInfoSchema,
  SessionRequestSchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { ApiError } from '../../services/api-error.js';
import type { AppDeps } from '../app.js';
import { LoginThrottle } from '../login-throttle.js';
import { described, emptyResponse, errors } from '../schemas.js';
import { checkCsrf, clearSessionCookie, readSessionCookie, setSessionCookie } from '../session-cookie.js';

const publicRoute = { auth: 'none' as const };
const extension = { 'x-bsubio-extension': true, tags: ['Accounts'] };
const unauthorized = 'Missing, malformed or unknown API key';
const passwordOnly = 'Only for a session signed in with a password (not with an API key).';
const csrfHeaders = Type.Object({
  [CSRF_HEADER]: Type.Optional(
    Type.String({
      description:
        'Required (any value) when the session cookie authenticates a request that changes something: a cross-site form cannot send it',
    }),
  ),
});
/** `{"success": true, "data": <schema>}`. */
const success = (data: TSchema, description: string) =>
  described(Type.Object({ success: Type.Literal(true), data }), description);
/** Device sign-ins one client address may start per minute. */
export const DEVICE_STARTS_PER_MINUTE = 10;

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

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  // ---- the dashboard's session ---------------------------------------------------

  api.post(
    '/v1/auth/session',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'signIn',
        summary: 'Extension: sign in to the dashboard (sets the session cookie)',
        description:
          'With an email and password, or with an API key. Sends the HttpOnly, SameSite=Strict cookie that then authenticates /v1 requests without an Authorization header; a cookie-authenticated request that changes anything must send the x-bsubio-csrf header. Failed sign-ins are throttled per email and per address.',
        security: [],
        headers: csrfHeaders,
        body: SessionRequestSchema,
        response: {
          200: success(AccountSchema, 'Signed in'),
          ...errors({
            400: 'Neither email and password nor api_key',
            401: 'Wrong email or password, or an unknown key',
            403: 'No x-bsubio-csrf header, or another origin',
            429: 'Too many failed sign-ins from this address or for this email',
          }),
        },
      },
    },
    async (request, reply) => {
      checkCsrf(request);
      const body = request.body;
      const apiKey = 'api_key' in body ? body.api_key : undefined;
      const email = 'email' in body ? body.email.trim().toLowerCase() : undefined;
      const password = 'password' in body ? body.password : undefined;
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
      const userId =
        apiKey !== undefined ? key?.userId : (await accounts.checkPassword(email!, password!))?.id;
      if (!userId) {
        throw new ApiError(
          'unauthorized',
          apiKey !== undefined
            ? 'That API key is not valid (unknown or revoked).'
            : 'Wrong email or password.',
        );
      }
      // It was not a failure after all.
      byAddress.forgive(address, attemptAt);
      byEmail.succeed(emails);
      const { token, maxAgeSeconds } = await accounts.openSession(userId, key?.keyId ?? null);
      setSessionCookie(request, reply, token, maxAgeSeconds);
      const user = (await accounts.findUser(userId))!;
      return { success: true as const, data: { id: user.id, email: user.email } };
    },
  );

  api.get(
    '/v1/auth/session',
    {
      schema: {
        ...extension,
        operationId: 'getSession',
        summary: 'Extension: who is signed in, and how (key, session or key_session)',
        response: { 200: success(SessionInfoSchema, 'The account'), ...errors({ 401: unauthorized }) },
      },
    },
    async (request) => {
      const user = await accounts.findUser(request.userId);
      if (!user) throw new ApiError('unauthorized', 'This account no longer exists.');
      const via = request.authMethod as 'key' | 'session' | 'key_session';
      return { success: true as const, data: { id: user.id, email: user.email, via } };
    },
  );

  api.delete(
    '/v1/auth/session',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'signOut',
        summary: 'Extension: sign out (ends the session and clears the cookie)',
        security: [],
        headers: csrfHeaders,
        response: { 204: emptyResponse('Signed out'), ...errors({ 403: 'No x-bsubio-csrf header' }) },
      },
    },
    async (request, reply) => {
      checkCsrf(request);
      const token = readSessionCookie(request);
      if (token) await accounts.closeSession(token);
      clearSessionCookie(request, reply);
      return reply.code(204).send();
    },
  );

  // ---- API keys -------------------------------------------------------------------

  api.get(
    '/v1/auth/keys',
    {
      schema: {
        ...extension,
        operationId: 'listApiKeys',
        summary: "Extension: the signed-in user's API keys (prefixes, never the keys)",
        description: passwordOnly,
        response: {
          200: success(Type.Object({ keys: Type.Array(ApiKeyInfoSchema) }), 'Keys'),
          ...errors({ 401: unauthorized, 403: 'Not a password session' }),
        },
      },
    },
    async (request) => {
      requireSession(request);
      return { success: true as const, data: { keys: await accounts.listKeys(request.userId) } };
    },
  );

  api.post(
    '/v1/auth/keys',
    {
      schema: {
        ...extension,
        operationId: 'createApiKey',
        summary: 'Extension: a new API key, shown once',
        description: passwordOnly,
        headers: csrfHeaders,
        body: CreateKeyRequestSchema,
        response: {
          201: success(CreatedKeySchema, 'The key'),
          ...errors({
            400: 'The label is not a string of at most 200 characters',
            401: unauthorized,
            403: 'Not a password session, or no x-bsubio-csrf header',
          }),
        },
      },
    },
    async (request, reply) => {
      requireSession(request);
      const created = await accounts.createKey(request.userId, request.body.label);
      return reply.code(201).send({ success: true as const, data: created });
    },
  );

  api.delete(
    '/v1/auth/keys/:keyId',
    {
      schema: {
        ...extension,
        operationId: 'revokeApiKey',
        summary: 'Extension: revoke an API key (its next request is refused)',
        params: KeyIdParamsSchema,
        headers: csrfHeaders,
        response: {
          204: emptyResponse('Revoked'),
          ...errors({
            401: unauthorized,
            403: 'Not a password session, or no x-bsubio-csrf header',
            404: 'No such key for this user',
          }),
        },
      },
    },
    async (request, reply) => {
      requireSession(request);
      await accounts.revokeKey(request.userId, request.params.keyId);
      return reply.code(204).send();
    },
  );

  // ---- device flow --------------------------------------------------------------------

  // Anyone may start a device sign-in, and each start stores a row: a few a
  // minute per client address is plenty for people running bsubio register.
  const deviceStarts = new LoginThrottle(DEVICE_STARTS_PER_MINUTE);

  api.post(
    '/v1/auth/device/code',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'startDeviceSignIn',
        summary: 'Extension: start the device sign-in of bsubio register',
        description:
          "Returns a secret device_code for polling and a user_code that a signed-in user approves on verification_uri (the dashboard's /device page).",
        security: [],
        body: DeviceCodeRequestSchema,
        response: {
          200: described(DeviceCodeResponseSchema, 'Codes'),
          ...errors({
            400: 'The hostname is not a string of at most 255 characters',
            429: 'Too many device sign-ins started from this address',
          }),
        },
      },
    },
    async (request, reply) => {
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
      const hostname = request.body.hostname ?? '';
      const started = await accounts.startDevice(hostname.trim(), `${publicOrigin(request)}/device`);
      return reply.code(200).header('cache-control', 'no-store').send(started);
    },
  );

  api.post(
    '/v1/auth/device/token',
    {
      config: publicRoute,
      schema: {
        ...extension,
        operationId: 'pollDeviceSignIn',
        summary: 'Extension: poll a device sign-in until it is approved',
        description: 'Poll no faster than `interval` seconds. Once approved, the API key is handed out once.',
        security: [],
        body: DeviceTokenRequestSchema,
        response: {
          200: described(DeviceAuthorizedResponseSchema, 'Approved: a new API key for this machine'),
          202: described(DevicePendingResponseSchema, 'Not approved yet'),
          ...errors({
            400: 'Unknown device_code or user_code',
            403: 'Denied by the user',
            410: 'Expired or already used',
          }),
          429: described(DeviceSlowDownResponseSchema, 'Polled too fast; use the new interval'),
        },
      },
    },
    async (request, reply) => {
      const outcome = await accounts.pollDevice(request.body.device_code, request.body.user_code);
      reply.header('cache-control', 'no-store');
      switch (outcome.kind) {
        case 'authorized':
          return reply.code(DEVICE_TOKEN_STATUS.authorized).send(outcome.body);
        case 'pending':
          return reply.code(DEVICE_TOKEN_STATUS.pending).send({ status: 'pending' as const });
        case 'slow_down':
          return reply
            .code(DEVICE_TOKEN_STATUS.slowDown)
            .header('retry-after', String(outcome.interval))
            .send({
              success: false as const,
              error: `Polling too fast; wait ${outcome.interval} seconds between polls.`,
              code: 'rate_limited',
              interval: outcome.interval,
            });
        case 'denied':
          return reply.code(DEVICE_TOKEN_STATUS.denied).send({
            success: false as const,
            error: 'The sign-in was denied in the dashboard.',
            code: 'forbidden',
          });
        case 'expired':
          return reply.code(DEVICE_TOKEN_STATUS.expired).send({
            success: false as const,
            error: 'The code expired or was already used; run bsubio register again.',
            code: 'gone',
          });
      }
    },
  );

  api.get(
    '/v1/auth/device',
    {
      schema: {
        ...extension,
        operationId: 'describeDeviceSignIn',
        summary: 'Extension: the device sign-in a user code names, before approving it',
        querystring: DescribeDeviceQuerySchema,
        response: {
          200: success(DeviceSignInSchema, 'The device sign-in'),
          ...errors({
            401: unauthorized,
            403: 'Not a password session',
            404: 'No pending sign-in with this code',
          }),
        },
      },
    },
    async (request) => {
      requireSession(request);
      const row = await accounts.describeDevice(request.query.code ?? '');
      return {
        success: true as const,
        data: {
          user_code: row.user_code,
          hostname: row.hostname,
          created_at: new Date(Number(row.created_at)).toISOString(),
          expires_at: new Date(Number(row.expires_at)).toISOString(),
        },
      };
    },
  );

  api.post(
    '/v1/auth/device/approve',
    {
      schema: {
        ...extension,
        operationId: 'decideDeviceSignIn',
        summary: 'Extension: approve or deny a device sign-in (bsubio register)',
        headers: csrfHeaders,
        body: DeviceDecisionRequestSchema,
        response: {
          200: described(MessageResponseSchema, 'Approved or denied'),
          ...errors({
            400: 'No user_code or approve',
            401: unauthorized,
            403: 'Not a password session, or no x-bsubio-csrf header',
            404: 'No pending sign-in with this code',
          }),
        },
      },
    },
    async (request) => {
      requireSession(request);
      const { user_code: userCode, approve } = request.body;
      await accounts.decideDevice(request.userId, userCode, approve);
      return { success: true as const, message: approve ? 'Device approved' : 'Device denied' };
    },
  );
}
