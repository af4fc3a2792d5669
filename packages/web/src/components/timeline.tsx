/**
 * A job's way through the states: created → uploaded → queued → claimed →
 * running → finished/failed, each with its time and how long the step before
 * took, and the attempts and the worker. From the server's timeline
 * (`GET /v1/jobs/{id}/timeline`); until that answers, from the job's own times.
 */
import type { Job, JobTimeline } from 'bsubio';
import { now } from '../clock.js';
import { formatDuration, formatExact } from '../format.js';
import { isTerminal, shownState } from '../job-model.js';

interface Step {
  label: string;
  at: string | null | undefined;
  /** How long it took to get here from the step before. */
  took: number | null | undefined;
  reached: boolean;
  detail?: string;
}

function steps(job: Job, timeline: JobTimeline | undefined): Step[] {
  const t = timeline;
  const d = t?.durations_ms;
  const worker = t?.worker ?? job.claimed_by;
  const attempts = t?.attempts ?? job.attempts ?? 0;
  const ended = isTerminal(job);
  const queuedOrLater = !['created', 'loaded'].includes(job.status);
  return [
    { label: 'created', at: job.created_at, took: undefined, reached: true },
    {
      label: 'uploaded',
      at: t?.uploaded_at,
      took: d?.upload,
      reached: job.data_size > 0 || job.status !== 'created',
    },
    {
      label: 'queued',
      at: t?.submitted_at,
      took: undefined,
      reached: queuedOrLater && (!ended || Boolean(job.claimed_at ?? t?.submitted_at)),
    },
    {
      label: 'claimed',
      at: t?.claimed_at ?? job.claimed_at,
      took: d?.queued,
      reached: Boolean(t?.claimed_at ?? job.claimed_at),
      detail: worker ? `by ${worker}${attempts > 1 ? `, attempt ${attempts}` : ''}` : undefined,
    },
    {
      label: 'running',
      at: t?.started_at ?? job.started_at,
      took: d?.preparing,
      reached: Boolean(t?.started_at ?? job.started_at),
    },
    {
      label: ended ? shownState(job) : 'finished',
      at: job.finished_at,
      took: d?.running,
      reached: ended,
      detail:
        job.status === 'failed' && job.error_code !== 'ECANCELED' ? (job.error_code ?? undefined) : undefined,
    },
  ];
}

export function Timeline({ job, timeline }: { job: Job; timeline: JobTimeline | undefined }) {
  const list = steps(job, timeline);
  const lastReached = list.map((s) => s.reached).lastIndexOf(true);
  return (
    <>
      <ol class="timeline" aria-label="Timeline">
        {list.map((step, i) => {
          const current = !isTerminal(job) && i === lastReached;
          const since = current && step.at ? now.value - Date.parse(step.at) : undefined;
          return (
            <li
              key={step.label}
              class={`${step.reached ? 'reached' : 'ahead'}${current ? ' current' : ''} step-${step.label}`}
            >
              <span class="step">{step.label}</span>
              {step.at && (
                <time dateTime={step.at} title={formatExact(step.at)}>
                  {new Date(step.at).toLocaleTimeString()}
                </time>
              )}
              {step.took !== undefined && step.took !== null && (
                <span class="took">after {formatDuration(step.took)}</span>
              )}
              {since !== undefined && <span class="took">for {formatDuration(since)}</span>}
              {step.detail && <span class="detail">{step.detail}</span>}
            </li>
          );
        })}
      </ol>
      {timeline?.durations_ms.total !== null && timeline?.durations_ms.total !== undefined && (
        <p class="hint">In all {formatDuration(timeline.durations_ms.total)}, from creation to the end.</p>
      )}
    </>
  );
}
