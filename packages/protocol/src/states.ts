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

/** Who moves a job: its owner (the API), the worker holding it, or the server's own sweeps. */
export type Mover = 'user' | 'worker' | 'sweeper';

export interface Move {
  /** The states the move starts from; from any other it is refused. */
  readonly from: readonly JobState[];
  readonly to: JobState;
  readonly by: Mover;
}

/**
 * The state machine, in one place: every move a job can make, from where
 * to where, and who makes it. The store's guarded updates, the service, the
 * dashboard and the CLI take their states from here; a test drives every
 * move from every state on SQLite and PostgreSQL and checks that exactly
 * these succeed.
 */
export const MOVES = {
  /** The input arrived (`POST /v1/upload/{id}`). */
  upload: { from: ['created'], to: 'loaded', by: 'user' },
  /** `POST /v1/jobs/{id}/submit`: into the queue. */
  submit: { from: ['loaded'], to: 'pending', by: 'user' },
  /** Submit answered from the result cache: finished at once, never queued. */
  submitCached: { from: ['loaded'], to: 'finished', by: 'user' },
  /** `POST /v1/jobs/{id}/cancel`: failed with ECANCELED, from any state not yet terminal. */
  cancel: { from: NON_TERMINAL_STATES, to: 'failed', by: 'user' },
  /** A worker takes the oldest pending job it can run, under a lease. */
  claim: { from: ['pending'], to: 'claimed', by: 'worker' },
  /** The worker fetches the input and sets up the sandbox. */
  prepare: { from: ['claimed'], to: 'preparing', by: 'worker' },
  /** The tool starts. */
  process: { from: ['preparing'], to: 'processing', by: 'worker' },
  /** The worker is done: its output is stored. */
  finish: { from: LEASED_STATES, to: 'finished', by: 'worker' },
  /** The worker gives up on the job (the tool failed, timed out, ran out of memory...). */
  fail: { from: LEASED_STATES, to: 'failed', by: 'worker' },
  /** The worker gives the job back (it is stopping). */
  release: { from: LEASED_STATES, to: 'pending', by: 'worker' },
  /** The lease ran out (the worker died): back to the queue while attempts remain... */
  requeue: { from: LEASED_STATES, to: 'pending', by: 'sweeper' },
  /** ...else failed with ELOST. */
  lose: { from: LEASED_STATES, to: 'failed', by: 'sweeper' },
} as const satisfies Record<string, Move>;

export type MoveName = keyof typeof MOVES;

/** Whether some move takes a job from `from` to `to` (by this mover, when given). */
export function canMove(from: JobState, to: JobState, by?: Mover): boolean {
  return Object.values(MOVES).some(
    (m: Move) => m.to === to && m.from.includes(from) && (by === undefined || m.by === by),
  );
}

/** Whether the job's owner can still cancel a job in this state. */
export function isCancellable(state: JobState): boolean {
  return (MOVES.cancel.from as readonly JobState[]).includes(state);
}
