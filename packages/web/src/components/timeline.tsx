/**
 * A job's way through the states, from the times the job carries:
 * created → uploaded → queued → claimed → running → finished/failed, each
 * with how long it took to get there, and the attempts and the worker.
 */
import type { Job } from 'bsubio';
import { now } from '../clock.js';
import { formatDuration, formatExact } from '../format.js';
import { isTerminal, shownState } from '../job-model.js';

interface Step {
  label: string;
  at: string | null;
  reached: boolean;
  detail?: string;
}

const ORDER = ['created', 'loaded', 'pending', 'claimed', 'preparing', 'processing', 'finished', 'failed'];

export function Timeline({ job }: { job: Job }) {
  const reached = (state: string) => ORDER.indexOf(job.status) >= ORDER.indexOf(state) || isTerminal(job);
  const ended = shownState(job);
  const steps: Step[] = [
    { label: 'created', at: job.created_at, reached: true },
    { label: 'uploaded', at: null, reached: job.data_size > 0 || reached('loaded'), detail: job.data_size > 0 ? undefined : undefined },
    { label: 'queued', at: null, reached: reached('pending') && (job.claimed_at !== null || job.status === 'pending') },
    {
      label: 'claimed',
      at: job.claimed_at,
      reached: job.claimed_at !== null,
      detail: job.claimed_by ? `by ${job.claimed_by}${(job.attempts ?? 1) > 1 ? `, attempt ${job.attempts}` : ''}` : undefined,
    },
    { label: 'running', at: job.started_at ?? null, reached: Boolean(job.started_at) || reached('processing') },
    {
      label: isTerminal(job) ? ended : 'finished',
      at: job.finished_at,
      reached: isTerminal(job),
      detail: job.status === 'failed' ? (job.error_code ?? undefined) : undefined,
    },
  ];
  let previous = Date.parse(job.created_at);
  return (
    <ol class="timeline" aria-label="Timeline">
      {steps.map((step) => {
        const at = step.at ? Date.parse(step.at) : undefined;
        const took = at !== undefined ? at - previous : undefined;
        if (at !== undefined) previous = at;
        const current = !isTerminal(job) && step.reached && !steps.slice(steps.indexOf(step) + 1).some((s) => s.reached);
        return (
          <li key={step.label} class={`${step.reached ? 'reached' : 'ahead'}${current ? ' current' : ''} step-${step.label}`}>
            <span class="step">{step.label}</span>
            {step.at && <time dateTime={step.at} title={formatExact(step.at)}>{new Date(step.at).toLocaleTimeString()}</time>}
            {took !== undefined && step.label !== 'created' && <span class="took">+{formatDuration(took)}</span>}
            {current && <span class="took">for {formatDuration(now.value - previous)}</span>}
            {step.detail && <span class="detail">{step.detail}</span>}
          </li>
        );
      })}
    </ol>
  );
}
