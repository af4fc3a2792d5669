/**
 * What the dashboard says about a job beyond its wire fields: the state a
 * person sees (a cancelled job is `failed` with ECANCELED on the wire, shown
 * as cancelled), and how long it waited, ran and took.
 */
import { isCancellable, JOB_STATES, type JobState, TERMINAL_STATES } from '@bsubio/protocol/states';
import type { Job } from 'bsubio';

/** The protocol's eight states, in lifecycle order, and the one a person also sees: cancelled. */
export const STATES = [...JOB_STATES, 'cancelled'] as const;
export type ShownState = (typeof STATES)[number];

export function shownState(job: Job): ShownState {
  return job.status === 'failed' && job.error_code === 'ECANCELED' ? 'cancelled' : job.status;
}

/** Finished or failed: the job will not change again (the protocol's table of moves). */
export function isTerminal(job: Job): boolean {
  return TERMINAL_STATES.includes(job.status as JobState);
}

/** Whether its owner can still cancel it. */
export function canCancel(job: Job): boolean {
  return isCancellable(job.status as JobState);
}

export function jobTitle(job: Job): string {
  return job.name || job.input_name || job.id.slice(0, 8);
}

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : undefined);

/** From creation until a worker claimed it (still waiting: until now). */
export function waitedMs(job: Job, now = Date.now()): number | undefined {
  const created = ms(job.created_at)!;
  const claimed = ms(job.claimed_at);
  if (claimed !== undefined) return claimed - created;
  if (isTerminal(job)) return undefined;
  return now - created;
}

/** From the tool's start (or the claim) until the end (still running: until now). */
export function ranMs(job: Job, now = Date.now()): number | undefined {
  const start = ms(job.started_at) ?? ms(job.claimed_at);
  if (start === undefined) return undefined;
  return (ms(job.finished_at) ?? now) - start;
}

/** From creation to the end (still going: until now). */
export function totalMs(job: Job, now = Date.now()): number {
  return (ms(job.finished_at) ?? now) - ms(job.created_at)!;
}

/** The reason a failed job gives, for the row. */
export function failureReason(job: Job): string | undefined {
  if (job.status !== 'failed') return undefined;
  // Its badge already says cancelled.
  if (job.error_code === 'ECANCELED') return undefined;
  return job.error_message ?? job.error_code ?? 'Failed.';
}
