/**
 * The dashboard's overview of a user's queue (GET /v1/overview), a pending
 * job's place in the queue, and a job's timeline, read from the store: the
 * job counters for "now", finished_at for throughput, submitted_at and
 * claimed_at for queue wait; and the workers heard from (WorkerRegistry).
 */
import {
  JOB_STATES,
  type JobState,
  type JobTimeline,
  type Overview,
  type QueuePosition,
  toWireTime,
} from '@bsubio/protocol';
import type { JobRepository, JobRow } from '../store/job-repository.js';
import type { WorkerRegistry } from './worker-registry.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const FIVE_MINUTES = 5 * MINUTE;
/** Queue waits looked at for the percentiles: the newest this many of the last day. */
const WAIT_SAMPLE = 20_000;

type StateCounts = Record<JobState, number>;

function zeroCounts(): StateCounts {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts;
}

/** The value below which `p` of the sorted values lie (nearest rank); null without values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function waitStats(waits: number[]) {
  const sorted = [...waits].sort((a, b) => a - b);
  return { jobs: sorted.length, p50_ms: percentile(sorted, 0.5), p95_ms: percentile(sorted, 0.95) };
}

export async function buildOverview(
  repo: JobRepository,
  workers: WorkerRegistry,
  userId: string,
  now: number,
): Promise<Overview> {
  // Windows end with the current, partial one: 12 × 5 min and 24 × 1 h.
  const hourStart = Math.floor(now / FIVE_MINUTES) * FIVE_MINUTES - 11 * FIVE_MINUTES;
  const dayStart = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
  const [counts, cancelled, ended, waits, held] = await Promise.all([
    repo.countsByTypeAndStatus(userId),
    repo.countCancelled(userId),
    repo.endedPerBucket(userId, dayStart, FIVE_MINUTES),
    repo.queueWaits(userId, now - 24 * HOUR, WAIT_SAMPLE),
    repo.heldByWorker(userId),
  ]);

  const jobs = zeroCounts();
  const byType = new Map<string, StateCounts>();
  for (const { type, status, n } of counts) {
    if (!(status in jobs)) continue;
    jobs[status as JobState] += n;
    const typeCounts = byType.get(type) ?? zeroCounts();
    byType.set(type, typeCounts);
    typeCounts[status as JobState] += n;
  }
  const total = Object.values(jobs).reduce((a, n) => a + n, 0);
  const types = [...byType]
    .map(([type, c]) => ({ type, total: Object.values(c).reduce((a, n) => a + n, 0), jobs: c }))
    .sort((a, b) => b.total - a.total || a.type.localeCompare(b.type));

  const buckets = (start: number, size: number, count: number) =>
    Array.from({ length: count }, (_, i) => ({ at: start + i * size, finished: 0, failed: 0 }));
  const lastHour = buckets(hourStart, FIVE_MINUTES, 12);
  const lastDay = buckets(dayStart, HOUR, 24);
  for (const { bucket, status, n } of ended) {
    const at = bucket * FIVE_MINUTES;
    const key = status === 'finished' ? 'finished' : 'failed';
    const day = lastDay[Math.floor((at - dayStart) / HOUR)];
    if (day) day[key] += n;
    if (at >= hourStart) {
      const hour = lastHour[(at - hourStart) / FIVE_MINUTES];
      if (hour) hour[key] += n;
    }
  }
  const wire = (b: { at: number; finished: number; failed: number }) => ({
    start: toWireTime(b.at),
    finished: b.finished,
    failed: b.failed,
  });

  // Workers heard from lately, and any that hold this user's jobs (heard or not).
  const heldBy = new Map(held.map((h) => [h.worker, h.n]));
  const listed = workers.list(now).map((w) => ({
    id: w.id,
    last_seen: toWireTime(w.lastSeen) as string | null,
    running: heldBy.get(w.id) ?? 0,
  }));
  for (const [id, n] of heldBy) {
    if (!listed.some((w) => w.id === id)) listed.push({ id, last_seen: null, running: n });
  }

  return {
    generated_at: toWireTime(now),
    total,
    jobs,
    cancelled,
    types,
    throughput: { last_hour: lastHour.map(wire), last_day: lastDay.map(wire) },
    queue_wait: {
      last_hour: waitStats(waits.filter((w) => w.claimedAt >= now - HOUR).map((w) => w.waitMs)),
      last_day: waitStats(waits.map((w) => w.waitMs)),
    },
    workers: listed,
  };
}

/** Where a job stands in the queue: 1 is claimed next; null when it is not pending. */
export async function queuePosition(repo: JobRepository, job: JobRow): Promise<QueuePosition> {
  const pending = await repo.countPendingOfType(job.type);
  if (job.status !== 'pending') return { position: null, pending };
  return { position: (await repo.pendingBefore(job.type, job.id)) + 1, pending };
}

export function timeline(job: JobRow): JobTimeline {
  const ms = (v: number | string | null) => (v === null ? null : Number(v));
  const time = (v: number | string | null) => (v === null ? null : toWireTime(Number(v)));
  const span = (from: number | null, to: number | null) =>
    from === null || to === null ? null : Math.max(0, to - from);
  const created = Number(job.created_at);
  const [uploaded, submitted, claimed, started, finished] = [
    ms(job.uploaded_at),
    ms(job.submitted_at),
    ms(job.claimed_at),
    ms(job.started_at),
    ms(job.finished_at),
  ];
  return {
    id: job.id,
    status: job.status as JobState,
    attempts: Number(job.attempts),
    worker: job.claimed_by,
    error_code: job.error_code,
    created_at: toWireTime(created),
    uploaded_at: time(job.uploaded_at),
    submitted_at: time(job.submitted_at),
    claimed_at: time(job.claimed_at),
    started_at: time(job.started_at),
    finished_at: time(job.finished_at),
    durations_ms: {
      upload: span(created, uploaded),
      queued: span(submitted, claimed),
      preparing: span(claimed, started),
      running: span(started, finished),
      total: span(created, finished),
    },
  };
}
