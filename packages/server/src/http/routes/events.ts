/**
 * `GET /v1/events` (extension): one server-sent event stream per user with
 * every change of any of their jobs (see @bsubio/protocol events.ts for the
 * events). The dashboard holds this one connection whatever the number of
 * jobs it shows; a browser allows only six per host.
 */
import {
  EVENT_STREAM_PING_SECONDS,
  flagIsSet,
  LastEventIdHeadersSchema,
  USER_EVENTS_DESCRIPTION,
  UserEventsQuerySchema,
} from '@bsubio/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { UserFeed } from '../../services/user-feed.js';
import type { AppDeps } from '../app.js';
import { EVENT_QUEUE_MAX_BYTES, EventStreamConnection } from '../event-stream.js';
import { errors, rawResponse } from '../schemas.js';

/** A client that stopped reading gets this long to take its `reset` before it is cut off. */
const OVERFLOW_GRACE_MS = 30_000;

export function registerEventRoutes(app: FastifyInstance, { jobs }: AppDeps, feed: UserFeed): void {
  const schema = {
    'x-bsubio-extension': true,
    tags: ['Events'],
    operationId: 'streamUserEvents',
    summary: "Extension: every change of the caller's jobs, as one server-sent event stream",
    description: USER_EVENTS_DESCRIPTION,
    querystring: UserEventsQuerySchema,
    headers: LastEventIdHeadersSchema,
    response: {
      200: rawResponse(
        'The event stream; data of `job` is a Job, of `deleted` a DeletedEvent, of `log` a LogEvent',
        'text/event-stream',
      ),
      ...errors({
        400: 'logs is not 1 or 0, or job is not a job id',
        401: 'Missing, malformed or unknown API key',
        404: 'The job given in `job` does not exist for this user',
      }),
    },
  };
  app.withTypeProvider<TypeBoxTypeProvider>().get('/v1/events', { schema }, async (request, reply) => {
    const logs = flagIsSet(request.query.logs);
    // Someone else's job or none: 404, as everywhere.
    const job = request.query.job ? (await jobs.get(request.userId, request.query.job)).id : undefined;
    const header = request.headers['last-event-id'];
    const lastEventId =
      (Array.isArray(header) ? header[0] : header) || request.query.last_event_id || undefined;

    const frame = (name: 'ready' | 'reset') => `id: ${feed.cursor()}\nevent: ${name}\ndata: {}\n\n`;
    let subscription: { unsubscribe(): void } | undefined;
    let cutOff: NodeJS.Timeout | undefined;
    const connection = new EventStreamConnection(
      EVENT_QUEUE_MAX_BYTES,
      () => frame('reset'),
      () => {
        stop();
        cutOff = setTimeout(() => reply.raw.destroy(), OVERFLOW_GRACE_MS);
        cutOff.unref();
      },
    );
    const ping = setInterval(() => connection.send(': ping\n\n'), EVENT_STREAM_PING_SECONDS * 1000);
    ping.unref();
    const onShutdown = () => connection.finish();
    const stop = () => {
      clearInterval(ping);
      jobs.events.off('shutdown', onShutdown);
      subscription?.unsubscribe();
    };
    jobs.events.once('shutdown', onShutdown);
    reply.raw.once('close', () => {
      clearTimeout(cutOff);
      stop();
    });

    const subscribed = feed.subscribe(
      request.userId,
      { logs, job, deliver: (event) => connection.send(event.frame) },
      lastEventId,
    );
    subscription = subscribed;
    // A replay bigger than half the queue would only overflow it: refetching is cheaper.
    const replay = subscribed.replay;
    const replayBytes = replay === 'reset' ? 0 : replay.reduce((n, e) => n + e.frame.length, 0);
    if (replay === 'reset' || replayBytes > EVENT_QUEUE_MAX_BYTES / 2) connection.send(frame('reset'));
    else for (const event of replay) connection.send(event.frame);
    connection.send(frame('ready'));

    return reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      .send(connection);
  });
}
