/**
 * The Fastify application: error shape, authentication and the routes.
 * Routes only translate HTTP to service calls and back.
 */

import type { Duplex } from 'node:stream';
import type { Catalog } from '@bsubio/worker';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { TrustProxy } from '../config.js';
import type { AccountService } from '../services/account-service.js';
import { ApiError } from '../services/api-error.js';
import type { JobService } from '../services/job-service.js';
import type { Metrics } from '../services/metrics.js';
import { UserFeed } from '../services/user-feed.js';
import type { UserService } from '../services/user-service.js';
import type { WebhookService } from '../services/webhooks.js';
import type { WorkerTokens } from '../services/worker-tokens.js';
import { OneLineAccessLog } from './access-log.js';
import { cutOffStalledBodies } from './body-timeout.js';
import { registerCors } from './cors.js';
import { eventStreamMetrics } from './event-stream.js';
import { infraApiError } from './infra-errors.js';
import { registerOpenApi } from './openapi.js';
import { RateLimiter } from './rate-limit.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerEventRoutes } from './routes/events.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerLiveRoutes } from './routes/live.js';
import { registerOverviewRoutes } from './routes/overview.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerUploadRoutes } from './routes/upload.js';
import { registerWebRoutes } from './routes/web.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { registerWorkerRoutes } from './routes/worker.js';
import { compileValidator, serializeWithJson, validateResponses } from './schemas.js';
import { checkCsrf, readSessionCookie } from './session-cookie.js';
import { writeErrorToSocket } from './socket-error.js';

export interface AppDeps {
  jobs: JobService;
  users: UserService;
  accounts: AccountService;
  /** The dashboard's files (packages/web); undefined: no dashboard. */
  webDir?: string;
  catalog: Catalog;
  version: { version: string; build: string };
  maxUploadBytes: number;
  /** A request whose body stops arriving for this long is answered 408 (undefined: never). */
  bodyTimeoutMs?: number;
  /** A client whose request headers are not all in this long after it began is answered 408 (default: Node's 60 s). */
  headersTimeoutMs?: number;
  /** Proxies whose X-Forwarded-* headers set request.ip and request.protocol (default: none). */
  trustProxy?: TrustProxy;
  /** What /metrics asks for; undefined: it answers loopback clients only. */
  metricsToken?: string;
  webhooks: WebhookService;
  metrics: Metrics;
  /** The Prometheus text of `/metrics`. */
  renderMetrics(): Promise<string>;
  /** Resolves when the service can take work (the store answers); rejects with why not. */
  ready(): Promise<void>;
  /** Per user requests per second; 0: no limit. */
  rateLimit?: number;
  logger?: FastifyServerOptions['logger'];
  /** Remote workers' tokens: with them, the `/v1/worker/...` extension is served. */
  workerTokens?: WorkerTokens;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user, set by the auth hook. */
    userId: string;
    /** How: a Bearer API key, or the dashboard's session cookie. */
    /** `key_session`: a dashboard session opened with an API key, which may not manage keys. */
    authMethod: 'key' | 'session' | 'key_session' | '';
  }
  interface FastifyContextConfig {
    /** `key`: a Bearer API key is required; `optional`: checked when sent; `none`: public. */
    auth?: 'key' | 'optional' | 'none';
  }
}

/** A hop count as the function proxy-addr takes (Fastify's types accept no number). */
function fastifyTrustProxy(
  trust: TrustProxy | undefined,
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return trust || false;
}

const BEARER_RE = /^Bearer\s+(\S+)\s*$/i;

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.logger ?? false,
    logController: new OneLineAccessLog(),
    // request.ip (sign-in throttle, logs) and request.protocol (Secure
    // cookies, device links) come from X-Forwarded-* only for these proxies.
    trustProxy: fastifyTrustProxy(deps.trustProxy),
    // Request ids show on every log line; a caller may pass its own.
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
    // Job ids are UUIDs; long garbage in a path is answered 404, not parsed.
    routerOptions: { maxParamLength: 200 },
    // Fastify's own answers for unroutable URLs and broken HTTP are not the
    // protocol's error body; these two give every such answer our shape.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      (reply as unknown as FastifyReply)
        .code(tooLong ? 404 : 400)
        .type('application/json')
        .send({
          success: false,
          error: tooLong
            ? `No such endpoint: ${request.method} ${request.url.split('?')[0]!.slice(0, 300)}.`
            : 'The URL is not valid (a malformed %-escape?); percent-encode it.',
          code: tooLong ? 'not_found' : 'bad_request',
        });
    },
    clientErrorHandler: answerBrokenRequest,
    // Slowloris: Node's headers timeout cuts a client that never finishes its
    // headers (answerBrokenRequest says 408). Node looks for such clients
    // every 30 s; a quarter of the timeout keeps the cut near the timeout.
    ...(deps.headersTimeoutMs
      ? {
          http: {
            headersTimeout: deps.headersTimeoutMs,
            connectionsCheckingInterval: Math.min(30_000, Math.ceil(deps.headersTimeoutMs / 4)),
          },
        }
      : {}),
  });
  // CONNECT is not routed: Node would drop the connection without a word.
  app.server.on('connect', (_req: unknown, socket: Duplex) => {
    const body = JSON.stringify({
      success: false,
      error: 'CONNECT is not supported: this is an HTTP API, not a proxy.',
      code: 'bad_request',
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  if (deps.bodyTimeoutMs) cutOffStalledBodies(app.server, deps.bodyTimeoutMs);
  app.decorateRequest('userId', '');
  app.decorateRequest('authMethod', '');
  const limiter = deps.rateLimit ? new RateLimiter(deps.rateLimit) : undefined;

  // Upload bodies are streamed by their route, never parsed or buffered here.
  app.addContentTypeParser(['multipart/form-data', 'application/octet-stream'], (_req, _payload, done) =>
    done(null),
  );

  registerCors(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // No response of ours is for a browser to guess the type of: outputs,
    // logs and error bodies are what their Content-Type says.
    reply.header('x-content-type-options', 'nosniff');
    const mode = request.routeOptions.config.auth ?? 'key';
    if (mode === 'none') return;
    const header = request.headers.authorization?.trim();
    if (!header) {
      // The dashboard: a session cookie stands in for the key (never sent by API clients).
      const token = readSessionCookie(request);
      const sessionUser = token ? await deps.accounts.sessionUser(token) : undefined;
      if (sessionUser) {
        checkCsrf(request);
        request.userId = sessionUser.userId;
        request.authMethod = sessionUser.viaKey ? 'key_session' : 'session';
      } else {
        if (mode === 'optional') return;
        throw new ApiError('unauthorized', 'Missing API key: send "Authorization: Bearer <api-key>".');
      }
    } else {
      const match = BEARER_RE.exec(header);
      if (!match) {
        throw new ApiError(
          'unauthorized',
          'Malformed Authorization header: use "Authorization: Bearer <api-key>".',
        );
      }
      const user = await deps.users.authenticate(match[1]!);
      if (!user) {
        throw new ApiError(
          'unauthorized',
          'The API key is not valid (unknown or revoked); check BSUBIO_API_KEY or your config.',
        );
      }
      request.userId = user.userId;
      request.authMethod = 'key';
    }
    const wait = limiter?.take(request.userId) ?? 0;
    if (wait > 0) {
      throw new ApiError(
        'rate_limited',
        `Too many requests: the limit is ${limiter!.perSecond} requests per second per user (BSUBIO_RATE_LIMIT); retry after ${wait} second${wait === 1 ? '' : 's'}.`,
        { 'retry-after': String(wait) },
      );
    }
  });

  // A callback, not an async function: no promise to settle after every response.
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.http.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((caught, request, reply) => {
    const error = caught instanceof ApiError ? caught : (infraApiError(caught) ?? caught);
    if (error instanceof ApiError) {
      reply.headers(error.headers);
      if (error.statusCode >= 500) request.log.error({ err: caught }, 'request failed');
      return reply.code(error.statusCode).type('application/json').send(error.toBody());
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, wrong content type, body too large).
      const message = clientErrorMessage(error as Error & { code?: string }, status);
      return reply
        .code(status)
        .type('application/json')
        .send({ success: false, error: message, code: codeFor(status) });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).type('application/json').send({
      success: false,
      error: 'The server failed to handle this request; it has been logged.',
      code: 'internal',
    });
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type('application/json')
      .send({
        success: false,
        error: `No such endpoint: ${request.method} ${request.url.split('?')[0]}.`,
        code: 'not_found',
      });
  });

  // Every route validates its input with its schema; answers go out as JSON.stringify writes them.
  app.setValidatorCompiler(compileValidator);
  serializeWithJson(app);
  if (process.env.BSUBIO_VALIDATE_RESPONSES === '1') validateResponses(app);
  // The document is generated from the routes: the plugin loads first and sees every route added after it.
  registerOpenApi(app, deps.version.version);
  app.register(async (routes) => {
    registerSystemRoutes(routes, deps);
    registerJobRoutes(routes, deps);
    registerLiveRoutes(routes, deps);
    const feed = new UserFeed(deps.jobs);
    routes.addHook('onClose', async () => feed.stop());
    registerEventRoutes(routes, deps, feed);
    deps.metrics.more.push(eventStreamMetrics);
    registerOverviewRoutes(routes, deps);
    registerWebhookRoutes(routes, deps);
    registerUploadRoutes(routes, deps);
    registerAuthRoutes(routes, deps);
    registerWebRoutes(routes, deps);
    if (deps.workerTokens) registerWorkerRoutes(routes, { jobs: deps.jobs, workerTokens: deps.workerTokens });
  });
  return app;
}

/**
 * A request Node's HTTP parser rejects (headers too large, not HTTP, bad
 * chunking) never reaches Fastify: answer it on the socket, in the protocol's
 * error shape, and close the connection.
 */
function answerBrokenRequest(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request headers are too large (16 KiB at most).']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request took too long to arrive.']
        : [400, 'The request is not valid HTTP/1.1.'];
  writeErrorToSocket(socket, status, message, codeFor(status));
  socket.destroy();
}

function codeFor(status: number): string {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 408:
      return 'request_timeout';
    case 413:
      return 'payload_too_large';
    case 431:
      return 'headers_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    default:
      return 'bad_request';
  }
}

function clientErrorMessage(error: Error & { code?: string }, status: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported Content-Type: send JSON (application/json), or for uploads multipart/form-data or application/octet-stream.';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'The body is empty; send a JSON object like {"type": "passthru"}.';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The JSON body is too large.';
    default:
      if (error instanceof SyntaxError || /JSON/.test(error.message)) {
        return `The body is not valid JSON: ${error.message}.`;
      }
      return status === 413 ? 'The request is too large.' : error.message;
  }
}
