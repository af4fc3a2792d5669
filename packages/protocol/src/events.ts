/**
 * The per-user event stream, `GET /v1/events` (an extension): one
 * server-sent event stream that carries every change of any of the user's
 * jobs, so a dashboard holds one connection whatever the number of jobs.
 *
 * Each event is `id: <cursor>`, `event: <name>`, `data: <one line of JSON>`.
 * The cursor is opaque; send the last one seen back as `Last-Event-ID` (or
 * `?last_event_id=`) to resume. Comments (`: ping`) come every 15 s.
 *
 *   ready    {}                         the stream is live (after any replay); fetch lists now
 *   job      <Job>                      a job was created or changed (as GET /v1/jobs/{id} shows it,
 *                                       but never with its upload_token, a credential)
 *   deleted  {"id"}                     a job is gone (deleted, or removed by retention)
 *   log      {"id", "text", "offset"}   new stderr of a running job (only with `?logs=1`)
 *   reset    {}                         events were lost (unknown or too old cursor, or the
 *                                       client read too slowly): refetch lists, then go on
 */
import { type Static, Type } from 'typebox';
import type { JobSchema } from './schemas.js';

export const USER_EVENT_NAMES = ['ready', 'job', 'deleted', 'log', 'reset'] as const;
export type UserEventName = (typeof USER_EVENT_NAMES)[number];

/** Seconds between `: ping` comments, so that proxies keep an idle stream open. */
export const EVENT_STREAM_PING_SECONDS = 15;

export const DeletedEventSchema = Type.Object(
  { id: Type.String({ format: 'uuid', description: 'The job that is gone' }) },
  { $id: 'DeletedEvent', description: 'Data of `event: deleted`' },
);
export type DeletedEvent = Static<typeof DeletedEventSchema>;

export const LogEventSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'The job whose stderr grew' }),
    text: Type.String({
      description: 'New stderr text, usually whole lines (a line without end is sent once it is 16 KiB long)',
    }),
    offset: Type.Integer({
      minimum: 0,
      description:
        'Byte offset of `text` in the log of the current attempt; GET /v1/jobs/{id}/logs with Range: bytes=0-<offset-1> gives what came before',
    }),
  },
  { $id: 'LogEvent', description: 'Data of `event: log` (only with ?logs=1)' },
);
export type LogEvent = Static<typeof LogEventSchema>;

export const EmptyEventSchema = Type.Object(
  {},
  { $id: 'EmptyEvent', description: 'Data of `event: ready` and `event: reset`' },
);
export type EmptyEvent = Static<typeof EmptyEventSchema>;

/** Data of each event, by name; `job` carries the Job object itself. */
export interface UserEventData {
  ready: EmptyEvent;
  job: Static<typeof JobSchema>;
  deleted: DeletedEvent;
  log: LogEvent;
  reset: EmptyEvent;
}

export const EVENT_SCHEMAS = [DeletedEventSchema, LogEventSchema, EmptyEventSchema] as const;
