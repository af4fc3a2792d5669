/**
 * The numbers of the Overview page, computed from the jobs the dashboard
 * holds (the person's own, newest first): jobs per state now, finished and
 * failed per time bucket, queue wait percentiles, workers and types.
 */
import type { Job } from 'bsubio';
import { type ShownState, STATES, shownState } from './job-model.js';

export const RANGES = {
  hour: { span: 3600e3, bucket: 5 * 60e3, label: 'last hour', bucketLabel: '5 minutes' },
  day: { span: 24 * 3600e3, bucket: 3600e3, label: 'last day', bucketLabel: 'hour' },
} as const;
export type RangeName = keyof typeof RANGES;

export interface Bucket {
  start: number;
  finished: number;
  failed: number;
}

export interface Overview {
  byState: Record<ShownState, number>;
  buckets: Bucket[];
  finished: number;
  failed: number;
  waitP50: number | undefined;
  waitP95: number | undefined;
  workers: { id: string; lastSeen: string; jobs: number }[];
  byType: { type: string; total: number; failed: number }[];
}

export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

export function computeOverview(jobs: Iterable<Job>, range: RangeName, now = Date.now()): Overview {
  const { span, bucket } = RANGES[range];
  const start = Math.floor((now - span) / bucket) * bucket + bucket;
  const buckets: Bucket[] = [];
  for (let t = start - bucket; t < now; t += bucket) buckets.push({ start: t, finished: 0, failed: 0 });
  const byState = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<ShownState, number>;
  const waits: number[] = [];
  const workers = new Map<string, { id: string; lastSeen: string; jobs: number }>();
  const types = new Map<string, { type: string; total: number; failed: number }>();
  let finished = 0;
  let failed = 0;
  for (const job of jobs) {
    const state = shownState(job);
    byState[state]++;
    const type = types.get(job.type) ?? { type: job.type, total: 0, failed: 0 };
    type.total++;
    if (job.status === 'failed') type.failed++;
    types.set(job.type, type);
    if (job.claimed_by && job.claimed_at) {
      const worker = workers.get(job.claimed_by) ?? { id: job.claimed_by, lastSeen: job.claimed_at, jobs: 0 };
      worker.jobs++;
      const seen = job.finished_at && !['claimed', 'preparing', 'processing'].includes(job.status) ? job.finished_at : job.updated_at;
      if (seen > worker.lastSeen) worker.lastSeen = seen;
      workers.set(job.claimed_by, worker);
    }
    const ended = job.finished_at ? Date.parse(job.finished_at) : undefined;
    if (ended !== undefined && ended >= now - span) {
      const slot = buckets[Math.floor((ended - buckets[0]!.start) / bucket)];
      if (job.status === 'finished') {
        finished++;
        if (slot) slot.finished++;
      } else {
        failed++;
        if (slot) slot.failed++;
      }
    }
    if (job.claimed_at && Date.parse(job.claimed_at) >= now - span) {
      waits.push(Date.parse(job.claimed_at) - Date.parse(job.created_at));
    }
  }
  waits.sort((a, b) => a - b);
  return {
    byState,
    buckets,
    finished,
    failed,
    waitP50: percentile(waits, 50),
    waitP95: percentile(waits, 95),
    workers: [...workers.values()].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen)),
    byType: [...types.values()].sort((a, b) => b.total - a.total),
  };
}
