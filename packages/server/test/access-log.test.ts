/**
 * The access log on its own: one line per request, the same line pino would
 * write for it (the access log builds a request's line itself, see
 * access-log.ts), with the URL's secrets taken out, at pino's level rules.
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { OneLineAccessLog } from '../src/http/access-log.js';
import { redactUrl, requestLogFields } from '../src/http/log-redact.js';

/** The access log as pino writes it: the line the built one has to equal. */
class ThroughPino extends OneLineAccessLog {
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    if (error) return super.requestCompleted(error, request, reply);
    reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** An app logging like the server (its level, the request fields), into `lines`. */
function appLogging(lines: string[], level = 'info', logController = new OneLineAccessLog()) {
  const app = Fastify({
    logger: {
      level,
      stream: { write: (line: string) => lines.push(line) },
      serializers: { req: requestLogFields },
    },
    logController,
    requestIdHeader: 'x-request-id',
  });
  app.get('/v1/jobs/:id', async () => ({ ok: true }));
  app.get('/fails', async () => {
    throw new Error('it broke');
  });
  apps.push(app);
  return app;
}

// A caller's own request id and a URL with a token, quotes and a line separator: all need escaping or redacting.
const request = {
  url: '/v1/jobs/0190?token=secret-token&note=%22q%22',
  headers: { 'x-request-id': 'caller "id" \u2028 \\' },
};

describe('the access log', () => {
  it('writes, for a request that went well, exactly the line pino writes (but for the time taken)', async () => {
    const built: string[] = [];
    const viaPino: string[] = [];
    await appLogging(built).inject(request);
    await appLogging(viaPino, 'info', new ThroughPino()).inject(request);
    expect(built).toHaveLength(1);
    expect(viaPino).toHaveLength(1);
    const [ours, theirs] = [built[0]!, viaPino[0]!];
    expect(ours.endsWith('}\n')).toBe(true);
    const parsed = JSON.parse(ours);
    const expected = JSON.parse(theirs);
    // Same fields in the same order, same values: only the clock and the time taken differ.
    expect(Object.keys(parsed)).toEqual(Object.keys(expected));
    expect({ ...parsed, time: 0, responseTime: 0 }).toEqual({ ...expected, time: 0, responseTime: 0 });
    expect(parsed).toMatchObject({
      level: 30,
      reqId: 'caller "id" \u2028 \\',
      req: { method: 'GET', url: '/v1/jobs/0190?token=[redacted]&note=%22q%22', remoteAddress: '127.0.0.1' },
      res: { statusCode: 200 },
      msg: 'request completed',
    });
    expect(parsed.responseTime).toBeGreaterThan(0);
    expect(Math.abs(parsed.time - Date.now())).toBeLessThan(60_000);
    expect(ours).not.toContain('secret-token');
  });

  it('gives a failed request one access line with its status, beside the error line of the error handler', async () => {
    const lines: string[] = [];
    await appLogging(lines).inject('/fails');
    const parsed = lines.map((line) => JSON.parse(line));
    expect(parsed.filter((line) => line.msg === 'request completed')).toEqual([
      expect.objectContaining({
        level: 30,
        res: { statusCode: 500 },
        req: expect.objectContaining({ url: '/fails' }),
      }),
    ]);
    expect(parsed.filter((line) => line.err)).toEqual([
      expect.objectContaining({ level: 50, err: expect.objectContaining({ message: 'it broke' }) }),
    ]);
  });

  it('writes no line when the level is above info', async () => {
    const lines: string[] = [];
    const app = appLogging(lines, 'warn');
    expect((await app.inject(request)).statusCode).toBe(200);
    expect(lines).toEqual([]);
  });
});

describe('redactUrl', () => {
  it('takes out the values of credential parameters, and leaves URLs without any as they are', () => {
    expect(redactUrl('/v1/upload/j?token=abc&x=1')).toBe('/v1/upload/j?token=[redacted]&x=1');
    expect(redactUrl('/x?a=1&device_code=zz#f')).toBe('/x?a=1&device_code=[redacted]#f');
    expect(redactUrl('/x&key=in-the-path')).toBe('/x&key=[redacted]');
    expect(redactUrl('/v1/jobs/0190')).toBe('/v1/jobs/0190');
  });
});
