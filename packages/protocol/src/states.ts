/**
 * The eight job states of the bsub.io contract, in lifecycle order.
 * Official clients reject any other value, so there is deliberately no
 * `cancelled`: a cancelled job is `failed` with `ECANCELED`.
 */
export const JOB_STATES = [
  'created',
  'loaded',
  'pending',
  'claimed',
  'preparing',
  'processing',
  'finished',
  'failed',
] as const;

export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['finished', 'failed'];

/** States a job can still leave: cancel takes a job from any of these to `failed`. */
export const NON_TERMINAL_STATES: readonly JobState[] = JOB_STATES.filter(
  (s) => !TERMINAL_STATES.includes(s),
);

/** States in which a worker holds the job under a lease. */
export const LEASED_STATES: readonly JobState[] = ['claimed', 'preparing', 'processing'];

export function isJobState(value: unknown): value is JobState {
  return typeof value === 'string' && (JOB_STATES as readonly string[]).includes(value);
}

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** `error_code` values a failed job may carry. */
export const ERROR_CODES = [
  'ECANCELED',
  'ETIMEDOUT',
  'ENOMEM',
  'EFBIG',
  'EEXIT',
  'EINPUT',
  'ELOST',
  'EINTERNAL',
] as const;

export type JobErrorCode = (typeof ERROR_CODES)[number];
