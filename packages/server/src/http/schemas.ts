/**
 * Route schemas at work: requests are validated with the protocol's TypeBox
 * schemas (each route's `schema`), and a wrong value is answered 400 with
 * one sentence that says what to fix, in the protocol's error shape.
 * Answers are serialized with plain JSON.stringify, as without schemas:
 * response schemas document answers and check them in tests
 * (BSUBIO_VALIDATE_RESPONSES=1), they never trim or coerce what is sent.
 */
import { ErrorBodySchema } from '@bsubio/protocol';
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { ApiError } from '../services/api-error.js';

type Json = Record<string, unknown>;
type SchemaError = {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Json;
  message: string;
};

/** Upload bodies are streamed by their routes: their schemas only document them. */
export const STREAMED = 'x-bsubio-streamed';

/** The schema at a JSON pointer (`#/properties/limit`) inside `root`. */
function schemaAt(root: unknown, pointer: string): Json | undefined {
  let node = root as Json | undefined;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    node = (node as Record<string, unknown> | undefined)?.[decodeURIComponent(part)] as Json | undefined;
  }
  return node;
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const part of pointer.split('/').slice(1)) {
    node = (node as Record<string, unknown> | null | undefined)?.[
      part.replace(/~1/g, '/').replace(/~0/g, '~')
    ];
  }
  return node;
}

const PART_NAMES: Record<string, string> = {
  body: 'body',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

/**
 * The sentence for the first thing wrong: the `errorMessage` of the nearest
 * schema that has one (the field, else what holds it, short of the whole
 * body), else a plain one naming the field.
 */
export function describeError(schema: TSchema, value: unknown, errors: SchemaError[], part: string): string {
  const first = errors[0];
  if (!first) return `The ${PART_NAMES[part]}s are not valid.`;
  const missing = first.keyword === 'required' ? (first.params.requiredProperties as string[])[0] : undefined;
  const path = missing ? `${first.schemaPath}/properties/${missing}` : first.schemaPath;
  const parts = path.replace(/^#\/?/, '').split('/').filter(Boolean);
  // The whole body's sentence is for the body as a whole (not an object, a
  // field missing), not for a wrong field that has no sentence of its own.
  const lowest = first.instancePath === '' ? 0 : 1;
  for (let n = parts.length; n >= lowest; n--) {
    const message = schemaAt(schema, `#/${parts.slice(0, n).join('/')}`)?.errorMessage;
    if (typeof message === 'string') {
      const shown = missing ? undefined : valueAt(value, first.instancePath);
      return message.replace('{value}', String(shown));
    }
  }
  const field = missing ?? first.instancePath.split('/').filter(Boolean).join('.');
  if (!field)
    return part === 'body' ? 'The body must be a JSON object.' : `The ${PART_NAMES[part]}s are not valid.`;
  if (missing) return `The ${PART_NAMES[part]} "${field}" is required.`;
  return `The ${PART_NAMES[part]} "${field}" ${first.message}.`;
}

/** An empty query parameter (`?status=`) is the same as none, as it always was. */
function withoutEmpty(query: unknown): unknown {
  if (!query || typeof query !== 'object') return query;
  // The usual query has no empty value: look before copying anything.
  let empty = false;
  for (const key in query) if ((query as Json)[key] === '') empty = true;
  if (!empty) return query;
  return Object.fromEntries(Object.entries(query as Json).filter(([, v]) => v !== ''));
}

/** A text turned number only when it was that number: `1.5` does not pass as the integer 1. */
function convertedExactly(text: unknown, converted: unknown): boolean {
  if (!text || typeof text !== 'object' || !converted || typeof converted !== 'object') return true;
  return Object.entries(converted as Json).every(([key, value]) => {
    const sent = (text as Json)[key];
    return typeof value !== 'number' || typeof sent !== 'string' || Number(sent) === value;
  });
}

/**
 * Fastify's validator compiler. Query strings, path parameters and headers
 * are text: numbers in them are converted before checking (only when the
 * text alone does not pass, so the usual request costs one check). Bodies
 * are JSON and taken as sent. A missing body is `{}` when the schema
 * requires nothing of it.
 */
export const compileValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = httpPart ?? 'body';
  if ((schema as Json)[STREAMED]) return () => true;
  const check = Compile(schema);
  const optionalBody =
    part === 'body' &&
    (schema as Json).type === 'object' &&
    !((schema as Json).required as unknown[] | undefined)?.length;
  return (input: unknown) => {
    let value = input;
    if (part === 'querystring') value = withoutEmpty(value);
    if (value == null && optionalBody) value = {};
    if (check.Check(value)) return { value };
    if (part !== 'body') {
      // Convert works in place: on a copy, to compare with what was sent.
      const converted = Value.Convert(schema, structuredClone(value));
      if (!check.Check(converted)) value = converted;
      else if (convertedExactly(value, converted)) return { value: converted };
    }
    const errors = [...check.Errors(value)] as unknown as SchemaError[];
    return { error: new ApiError('bad_request', describeError(schema, value, errors, part)) };
  };
};

/**
 * The error answers a route may give, each with what it means there:
 * `{ 404: 'No such job for this user' }`.
 */
export function errors<const M extends Record<number, string>>(
  meanings: M,
): { [K in keyof M]: typeof ErrorAnswer } {
  const out: Record<number, TSchema> = {};
  for (const [status, description] of Object.entries(meanings)) {
    const retry = status === '429' || status === '503';
    out[Number(status)] = errorResponse(description, retry);
  }
  return out as { [K in keyof M]: typeof ErrorAnswer };
}

/** The protocol's error body, without its $id: each status describes it its own way. */
const ErrorAnswer = Type.Object(ErrorBodySchema.properties);

function errorResponse(description: string, retryAfter: boolean): TSchema {
  const schema = { ...ErrorAnswer, description } as Json;
  if (retryAfter) {
    schema.headers = {
      'Retry-After': Type.Integer({ description: 'Seconds to wait before retrying' }),
    };
  }
  return schema as unknown as TSchema;
}

/** An answer that is not JSON: `{ 'text/plain': 'Logs' }`. */
export function rawResponse(description: string, mime: string, headers?: Record<string, TSchema>): TSchema {
  const schema: Json = {
    description,
    content: { [mime]: { schema: Type.String({ format: mime.startsWith('text/') ? undefined : 'binary' }) } },
  };
  if (headers) schema.headers = headers;
  return schema as unknown as TSchema;
}

/** An answer without a body (204). */
export function emptyResponse(description: string): TSchema {
  return { description, type: 'null' } as unknown as TSchema;
}

/** A success answer with its meaning in the document. */
export function described<T extends TSchema>(schema: T, description: string): T {
  // Without the $id: one named schema, many descriptions of it.
  const { $id: _id, ...rest } = schema as Json;
  return { ...rest, description } as unknown as T;
}

/** Answers are written with JSON.stringify: extension fields pass, nothing is coerced. */
export function serializeWithJson(app: FastifyInstance): void {
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

/**
 * Tests only (BSUBIO_VALIDATE_RESPONSES=1): every JSON answer is checked
 * against the schema its route declares for that status (an error without
 * one against the error shape). A mismatch is logged and answered 500, so
 * that no test passes with an answer the official clients would reject.
 * Never on in production: it parses every answer again.
 */
export function validateResponses(app: FastifyInstance): void {
  const byRoute = new Map<string, Map<number, ReturnType<typeof Compile>>>();
  const errorCheck = Compile(ErrorAnswer);
  app.addHook('onRoute', (route) => {
    const responses = (route.schema as FastifySchema | undefined)?.response as Json | undefined;
    if (!responses) return;
    const checks = new Map<number, ReturnType<typeof Compile>>();
    for (const [status, schema] of Object.entries(responses)) {
      const s = schema as Json;
      if (s.content || s.type === 'null') continue;
      const { description: _d, headers: _h, ...body } = s;
      checks.set(Number(status), Compile(body as TSchema));
    }
    for (const method of [route.method].flat()) byRoute.set(`${method} ${route.url}`, checks);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload !== 'string') return payload;
    if (!String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    const route = request.routeOptions.url;
    const checks = route ? byRoute.get(`${request.method} ${route}`) : undefined;
    if (!checks) return payload;
    const status = reply.statusCode;
    const check = checks.get(status) ?? (status >= 400 ? errorCheck : undefined);
    const problem = !check
      ? `status ${status} is not declared`
      : check.Check(JSON.parse(payload))
        ? undefined
        : JSON.stringify([...check.Errors(JSON.parse(payload))].slice(0, 3));
    if (!problem) return payload;
    request.log.error(
      { route, status, problem, payload: payload.slice(0, 2000) },
      'response does not match its schema',
    );
    reply.code(500);
    return JSON.stringify({
      success: false,
      error: `The answer of ${request.method} ${route} (${status}) does not match its schema: ${problem}`,
      code: 'internal',
    });
  });
}
