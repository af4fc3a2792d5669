/**
 * Pipelines (a bsubio extension): one job of several steps, each running the
 * next processing type on the previous step's output. The job's output is
 * the last step's; the server checks at create that each step can read what
 * the step before it writes.
 *
 *   const thumb = pipeline('office/pdf').pipe('pdf/thumbnail', { width: 300 });
 *   const { output } = await client.processFile(thumb, 'deck.pptx');
 *
 * The builder has `pipe`, not `then`: an object with a `then` method would
 * be taken for a promise by `await`.
 */
import type { CreateJobRequest, PipelineStepRequest } from '@bsubio/protocol';

export type StepParams = NonNullable<PipelineStepRequest['params']>;

export interface PipelineStep {
  type: string;
  params?: StepParams;
}

export class Pipeline {
  /** The steps in order; the first is the job's type. */
  readonly steps: readonly PipelineStep[];

  constructor(steps: readonly PipelineStep[]) {
    if (steps.length === 0) throw new TypeError('A pipeline needs at least one step.');
    this.steps = steps;
  }

  /** A new pipeline with one more step, run on this one's output. */
  pipe(type: string, params?: StepParams): Pipeline {
    return new Pipeline([...this.steps, params === undefined ? { type } : { type, params }]);
  }

  /** The create request: the first step as the job's `type` and `params`, the rest as `then`. */
  toRequest(): CreateJobRequest {
    const [first, ...rest] = this.steps as [PipelineStep, ...PipelineStep[]];
    const request: CreateJobRequest = { type: first.type };
    if (first.params !== undefined) request.params = first.params;
    if (rest.length > 0) {
      // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
      request.then = rest.map((s) => (s.params === undefined ? { type: s.type } : { ...s }));
    }
    return request;
  }

  /** `office/pdf → pdf/thumbnail`, for messages. */
  toString(): string {
    return this.steps.map((s) => s.type).join(' → ');
  }
}

/** Start a pipeline with its first step; add more with `pipe`. */
export function pipeline(type: string, params?: StepParams): Pipeline {
  return new Pipeline([params === undefined ? { type } : { type, params }]);
}
