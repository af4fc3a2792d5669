/**
 * A pipeline job's steps (created with `then`), in order, each with its
 * state: done, running, failed (or cancelled), waiting, or skipped after a
 * failed step. Nothing for an ordinary job.
 */
import type { Job, JobStep } from 'bsubio';

function stateLabel(job: Job, step: JobStep): string {
  if (step.status === 'failed' && job.error_code === 'ECANCELED') return 'cancelled';
  return step.status;
}

function paramsText(params: JobStep['params']): string {
  return Object.entries(params)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
}

export function PipelineSteps({ job }: { job: Job }) {
  const steps = job.steps;
  if (!steps || steps.length < 2) return null;
  return (
    <section aria-labelledby="steps-title" class="pipeline">
      <h2 id="steps-title">Steps</h2>
      <ol class="pipeline-steps">
        {steps.map((step, i) => {
          const state = stateLabel(job, step);
          const params = paramsText(step.params);
          return (
            <li
              key={i}
              class={`pipeline-step step-${state}`}
              aria-current={step.status === 'running' ? 'step' : undefined}
            >
              <span class="number" aria-hidden="true">
                {i + 1}
              </span>
              <span class="type">
                <span class="visually-hidden">Step {i + 1}: </span>
                {step.type}
              </span>
              {params && <span class="params">{params}</span>}
              <span class="step-state">{state}</span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

/** The type as a person reads it: `office/pdf → pdf/thumbnail` for a pipeline. */
export function chainOf(job: Job): string {
  return job.steps && job.steps.length > 1 ? job.steps.map((s) => s.type).join(' → ') : job.type;
}

/** The type whose output the job gives: a pipeline's last step's. */
export function outputTypeOf(job: Job): string {
  return job.steps?.at(-1)?.type ?? job.type;
}
