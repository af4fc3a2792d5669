/**
 * The job states and their moves, for validating `--status`, `cancel -a` and completion.
 * Imported from the protocol's `states` entry, which loads nothing else: the
 * package's main entry builds the schemas and the OpenAPI document, which
 * takes longer to load than the whole CLI.
 */
import { JOB_STATES, type JobState } from '@bsubio/protocol/states';

export { isCancellable, JOB_STATES, MOVES, TERMINAL_STATES } from '@bsubio/protocol/states';

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}
