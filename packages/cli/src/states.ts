/**
 * The job states, for validating `--status`, `cancel -a` and completion.
 * They are the protocol's JOB_STATES and NON_TERMINAL_STATES, repeated so
 * that starting the CLI does not load the protocol package at run time (its
 * schemas and OpenAPI document take longer to load than the whole CLI). The
 * compiler checks them against the protocol's JobState type, and a test
 * checks them against the protocol's lists, so they cannot drift.
 */
import type { JobState } from '@bsubio/protocol';

export const JOB_STATES = [
  'created',
  'loaded',
  'pending',
  'claimed',
  'preparing',
  'processing',
  'finished',
  'failed',
] as const satisfies readonly JobState[];

export const NON_TERMINAL_STATES = JOB_STATES.filter((s) => s !== 'finished' && s !== 'failed');

// Fails to compile if the protocol gains a state that is missing above.
const everyState: [Exclude<JobState, (typeof JOB_STATES)[number]>] extends [never] ? true : false = true;
void everyState;

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}
