/**
 * The server's small pure parts on their own: the per-user rate limiter,
 * the sign-in throttle, the parser of header parameters, and the schema
 * checks (the 400 sentences, and the test-only check of answers).
 */

import Fastify, { type FastifySchema } from 'fastify';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../src/http/login-throttle.js';
import { parseParams } from '../src/http/multipart.js';
import { RateLimiter } from '../src/http/rate-limit.js';
import { compileValidator, errors, serializeWithJson, validateResponses } from '../src/http/schemas.js';
import { ApiError } from '../src/services/api-error.js';

describe('RateLimiter', () => {
  it('lets a burst of twice the rate through, then asks for the seconds until a token is back', () => {
    const limiter = new RateLimiter(2);
    const t = 1_000_000;
    for (let i = 0; i < 4; i++) expect(limiter.take('u', t)).toBe(0);
    expect(limiter.take('u', t)).toBe(1);
    // Half a second refills one token at 2 per second.
    expect(limiter.take('u', t + 500)).toBe(0);
    expect(limiter.take('u', t + 500)).toBe(1);
  });

  it('keeps one bucket per user', () => {
    const limiter = new RateLimiter(1);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(1);
    expect(limiter.take('b', 0)).toBe(0);
  });

  it('says whole seconds, at least one, at a low rate', () => {
    const limiter = new RateLimiter(0.25);
    expect(limiter.take('u', 0)).toBe(0);
    expect(limiter.take('u', 0)).toBe(4);
  });
});

describe('LoginThrottle', () => {
  it('refuses after the failures allowed in the window, until the oldest leaves it', () => {
    const throttle = new LoginThrottle(3, 60_000);
    const keys = ['a@example.com'];
    for (const t of [0, 10_000, 20_000]) {
      expect(throttle.retryAfter(keys, t)).toBe(0);
      throttle.fail(keys, t);
    }
    expect(throttle.retryAfter(keys, 30_000)).toBe(30);
    expect(throttle.retryAfter(keys, 60_000)).toBe(0);
  });

  it('waits for the worst of several keys (address and email)', () => {
    const throttle = new LoginThrottle(1, 60_000);
    throttle.fail(['1.2.3.4'], 0);
    expect(throttle.retryAfter(['1.2.3.4', 'b@example.com'], 15_000)).toBe(45);
    expect(throttle.retryAfter(['b@example.com'], 15_000)).toBe(0);
  });

  it('takes back one attempt with forgive, and every one with succeed', () => {
    const throttle = new LoginThrottle(2, 60_000);
    throttle.fail(['k'], 1);
    throttle.fail(['k'], 2);
    throttle.forgive(['k'], 2);
    expect(throttle.retryAfter(['k'], 3)).toBe(0);
    throttle.fail(['k'], 4);
    expect(throttle.retryAfter(['k'], 5)).toBeGreaterThan(0);
    throttle.succeed(['k']);
    expect(throttle.retryAfter(['k'], 6)).toBe(0);
  });
});

describe('parseParams (header parameters)', () => {
  it('reads plain and quoted values, names lower-cased, the first of a repeated name', () => {
    const params = parseParams('; Name="file"; filename="a \\"b\\".pdf"; name=other; size=3');
    expect(Object.fromEntries(params)).toEqual({ name: 'file', filename: 'a "b".pdf', size: '3' });
  });

  it('decodes an RFC 5987 value under its starred name, and skips one that does not decode', () => {
    const params = parseParams("; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf; x*=bad");
    expect(params.get('filename*')).toBe('résumé.pdf');
    expect(params.has('x*')).toBe(false);
  });

  it('stops at text without a value', () => {
    expect(Object.fromEntries(parseParams('; a=1; junk'))).toEqual({ a: '1' });
  });
});

describe('the schema checks', () => {
  const Query = Type.Object({
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, errorMessage: 'The limit must be 1 to 100, not "{value}".' }),
    ),
    name: Type.Optional(Type.String({ maxLength: 3 })),
  });
  const Body = Type.Object(
    { type: Type.String({ minLength: 1, errorMessage: 'Send a type.' }), n: Type.Optional(Type.Integer()) },
    { errorMessage: 'Send a JSON object.' },
  );
  const query = compileValidator({ schema: Query, httpPart: 'querystring', method: 'GET', url: '/' }) as (
    v: unknown,
  ) => { value?: unknown; error?: ApiError };
  const body = compileValidator({ schema: Body, httpPart: 'body', method: 'POST', url: '/' }) as (
    v: unknown,
  ) => { value?: unknown; error?: ApiError };

  it('converts numbers in a query only when the text is exactly that number', () => {
    expect(query({ limit: '5' })).toEqual({ value: { limit: 5 } });
    expect(query({ limit: '1.5' }).error?.message).toBe('The limit must be 1 to 100, not "1.5".');
    expect(query({ limit: 'abc' }).error?.message).toBe('The limit must be 1 to 100, not "abc".');
    expect(query({ limit: '0' }).error?.message).toBe('The limit must be 1 to 100, not "0".');
  });

  it('takes an empty query parameter as not given', () => {
    expect(query({ limit: '' })).toEqual({ value: {} });
  });

  it('names the field when the schema has no sentence of its own', () => {
    expect(query({ name: 'long' }).error?.message).toMatch(/^The query parameter "name" must/);
  });

  it('answers a wrong body with its sentence, a wrong field with its own or one naming it', () => {
    expect(body({}).error?.message).toBe('Send a type.');
    expect(body({ type: 5 }).error?.message).toBe('Send a type.');
    expect(body([]).error?.message).toBe('Send a JSON object.');
    expect(body({ type: 'a', n: 1.5 }).error?.message).toBe('The body "n" must be integer.');
    expect(body({ type: 'a', n: 1.5 }).error).toBeInstanceOf(ApiError);
    expect(body({ type: 'a', n: 1.5 }).error?.statusCode).toBe(400);
  });

  it('does not convert a body: "5" is not a number there', () => {
    expect(body({ type: 'a', n: '5' }).error?.message).toBe('The body "n" must be integer.');
  });

  it('answers 500, and logs, when an answer does not match its declared schema (tests only)', async () => {
    const logged: string[] = [];
    const app = Fastify({
      logger: { level: 'error', stream: { write: (line: string) => logged.push(line) } },
    });
    app.setValidatorCompiler(compileValidator);
    serializeWithJson(app);
    validateResponses(app);
    const schema = { response: { 200: Type.Object({ ok: Type.Boolean() }), ...errors({ 404: 'none' }) } };
    app.get('/good', { schema }, async () => ({ ok: true, extra: 'kept' }));
    app.get('/bad', { schema }, async () => ({ ok: 'yes' }));
    // A status the route does not declare (typed loosely, as a handler could only do by mistake).
    app.get('/undeclared', { schema: schema as FastifySchema }, async (_request, reply) =>
      reply.code(201).send({ ok: true }),
    );
    try {
      const good = await app.inject('/good');
      expect(good.statusCode).toBe(200);
      // Serialized as sent: a field the schema does not name is not dropped.
      expect(good.json()).toEqual({ ok: true, extra: 'kept' });
      const bad = await app.inject('/bad');
      expect(bad.statusCode).toBe(500);
      expect(bad.json().error).toMatch(/does not match its schema/);
      expect((await app.inject('/undeclared')).statusCode).toBe(500);
      expect(logged.join('')).toMatch(/response does not match its schema/);
    } finally {
      await app.close();
    }
  });
});
