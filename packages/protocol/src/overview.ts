/**
 * Extensions for the dashboard's overview and job pages, each its own route
 * (the Job object stays as the official clients know it):
 *
 *   GET /v1/overview                → OverviewResponse   the caller's queue at a glance
 *   GET /v1/jobs/{id}/position      → PositionResponse   where a pending job stands in the queue
 *   GET /v1/jobs/{id}/timeline      → TimelineResponse   when each step of a job happened
 */
import { type Static, type TSchema, Type } from 'typebox';
import { JobStatusSchema } from './schemas.js';
import { JOB_STATES } from './states.js';

const Timestamp = (description: string) =>
  Type.String({ format: 'date-time', description: `${description} (RFC 3339 UTC, milliseconds)` });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Millis = (description: string) => Nullable(Type.Integer({ minimum: 0, description }));

export const StateCountsSchema = Type.Object(
  Object.fromEntries(JOB_STATES.map((state) => [state, Count(`Jobs ${state} now`)])),
  { $id: 'StateCounts', description: 'Jobs per state (all eight, zeros included)' },
);

export const ThroughputBucketSchema = Type.Object(
  {
    start: Timestamp('Start of the window'),
    finished: Count('Jobs that finished in the window'),
    failed: Count('Jobs that failed (cancelled included) in the window'),
  },
  { $id: 'ThroughputBucket' },
);

export const WaitStatsSchema = Type.Object(
  {
    jobs: Count('Jobs claimed in the period'),
    p50_ms: Millis('Median time from submit to claim'),
    p95_ms: Millis('95th percentile of the time from submit to claim'),
  },
  {
    $id: 'WaitStats',
    description: 'Queue wait (submitted → claimed) of the jobs claimed in the period; null without any',
  },
);

export const OverviewWorkerSchema = Type.Object(
  {
    id: Type.String({ description: 'Worker id, as a job shows it in claimed_by' }),
    last_seen: Nullable(
      Timestamp('Last claim, lease renewal or report heard from it (null: not heard lately, but holds jobs)'),
    ),
    running: Count("The caller's jobs it holds now"),
  },
  { $id: 'OverviewWorker' },
);

export const OverviewTypeSchema = Type.Object(
  {
    type: Type.String(),
    total: Count('Jobs of this type'),
    jobs: StateCountsSchema,
  },
  { $id: 'OverviewType' },
);

export const OverviewSchema = Type.Object(
  {
    generated_at: Timestamp('When this was computed'),
    total: Count("The caller's jobs"),
    jobs: StateCountsSchema,
    cancelled: Count('Of the failed jobs, those cancelled (error_code ECANCELED)'),
    types: Type.Array(OverviewTypeSchema, { description: 'Per processing type, most jobs first' }),
    throughput: Type.Object({
      last_hour: Type.Array(ThroughputBucketSchema, {
        description: '12 windows of 5 minutes, oldest first; the last one is the current, partial window',
      }),
      last_day: Type.Array(ThroughputBucketSchema, {
        description: '24 windows of an hour, oldest first; the last one is the current, partial hour',
      }),
    }),
    queue_wait: Type.Object({ last_hour: WaitStatsSchema, last_day: WaitStatsSchema }),
    workers: Type.Array(OverviewWorkerSchema, {
      description: "Workers heard from in the last hour or holding the caller's jobs, most recent first",
    }),
  },
  { $id: 'Overview' },
);
export type Overview = Static<typeof OverviewSchema>;

export const OverviewResponseSchema = Type.Object(
  { success: Type.Literal(true), data: OverviewSchema },
  { $id: 'OverviewResponse' },
);
export type OverviewResponse = Static<typeof OverviewResponseSchema>;

export const QueuePositionSchema = Type.Object(
  {
    position: Nullable(
      Type.Integer({
        minimum: 1,
        description:
          'Place of the job among the pending jobs of its type, all users: 1 is claimed next (null: not pending)',
      }),
    ),
    pending: Count('Pending jobs of its type, all users'),
  },
  { $id: 'QueuePosition' },
);
export type QueuePosition = Static<typeof QueuePositionSchema>;

export const PositionResponseSchema = Type.Object(
  { success: Type.Literal(true), data: QueuePositionSchema },
  { $id: 'PositionResponse' },
);

export const JobTimelineSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: JobStatusSchema,
    attempts: Count('Times a worker claimed it'),
    worker: Nullable(Type.String({ description: 'The worker holding it, or that ran it last' })),
    error_code: Nullable(Type.String()),
    created_at: Timestamp('Created'),
    uploaded_at: Nullable(Timestamp('Input stored (null before, and for jobs older than this field)')),
    submitted_at: Nullable(Timestamp('Submitted (a retry keeps the first submit)')),
    claimed_at: Nullable(Timestamp('Claimed by a worker (this attempt)')),
    started_at: Nullable(Timestamp('The tool started (processing)')),
    finished_at: Nullable(Timestamp('Finished or failed')),
    durations_ms: Type.Object(
      {
        upload: Millis('created → uploaded'),
        queued: Millis('submitted → claimed'),
        preparing: Millis('claimed → started'),
        running: Millis('started → finished'),
        total: Millis('created → finished'),
      },
      { description: 'Each step that has both ends; null while a step is under way or was skipped' },
    ),
  },
  { $id: 'JobTimeline' },
);
export type JobTimeline = Static<typeof JobTimelineSchema>;

export const TimelineResponseSchema = Type.Object(
  { success: Type.Literal(true), data: JobTimelineSchema },
  { $id: 'TimelineResponse' },
);

export const OVERVIEW_SCHEMAS = [
  StateCountsSchema,
  ThroughputBucketSchema,
  WaitStatsSchema,
  OverviewWorkerSchema,
  OverviewTypeSchema,
  OverviewSchema,
  OverviewResponseSchema,
  QueuePositionSchema,
  PositionResponseSchema,
  JobTimelineSchema,
  TimelineResponseSchema,
] as const;
