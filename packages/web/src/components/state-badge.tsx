import type { Job } from 'bsubio';
import { type ShownState, shownState } from '../job-model.js';

/** A job's state as a person reads it (cancelled rather than failed/ECANCELED). */
export function StateBadge({ job, state }: { job?: Job; state?: ShownState }) {
  const shown = state ?? shownState(job!);
  return <span class={`badge state-${shown}`}>{shown}</span>;
}
