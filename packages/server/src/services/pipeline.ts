/**
 * Pipelines: a job of several steps, each running the next type's tool on
 * the previous step's output (create's `then`). This module checks a chain
 * when the job is created and reads a job's steps back; the job service
 * runs the state machine and the worker runs the steps.
 *
 * A job's steps live in one place, the `steps` column (JSON, the first step
 * included), null for an ordinary job: `stepsOf` gives every job's steps, an
 * ordinary job's being its one type and params.
 */
import {
  type JobState,
  type JobStep,
  LEASED_STATES,
  MAX_PIPELINE_STEPS,
  type PipelineStepState,
} from '@bsubio/protocol';
import { describeAccepted, describeKind } from '@bsubio/protocol/file-kinds';
import { type Catalog, type CatalogEntry, checkParams, matchAccepted, outputFormat } from '@bsubio/worker';
import type { JobRow } from '../store/job-repository.js';
import { ApiError } from './api-error.js';

export interface PipelineStep {
  type: string;
  params: Record<string, string | number>;
}

/** The blob keys of one finished step's output and logs, kept until the job ends. */
export interface KeptStep {
  output: string;
  logs: string;
}

/** A step named as errors name it: `step 2 (pdf/thumbnail)`. */
function stepName(index: number, type: string): string {
  return `step ${index + 1} (${type})`;
}

/** The type of a step, resolved and installed, or a 400 naming the step. */
function resolveStep(catalog: Catalog, type: unknown, index: number): CatalogEntry {
  if (typeof type !== 'string' || type === '') {
    throw new ApiError(
      'bad_request',
      `Step ${index + 1} of "then" needs a "type": a processing type from GET /v1/types.`,
    );
  }
  const entry = catalog.resolve(type);
  if (!entry) {
    throw new ApiError(
      'bad_request',
      `Unknown processing type "${type}" in ${stepName(index, type)}; GET /v1/types lists the types.`,
    );
  }
  if (!entry.available) {
    throw new ApiError(
      'bad_request',
      `The type "${type}" of ${stepName(index, type)} is not available on this server: ${entry.missing.join(', ')} is not installed.`,
    );
  }
  return entry;
}

/**
 * The steps of a job created with `then` after its first step (already
 * checked by create), or undefined when there is no `then`. Each step's type
 * and params are checked like the first's, and each step's output kind
 * (the type's output MIME, or the one its params pick) must be one the next
 * type accepts: an impossible chain is a 400 naming the step, not a failure
 * after the upload.
 */
export function checkPipeline(
  catalog: Catalog,
  first: { type: string; entry: CatalogEntry; params: Record<string, string | number> },
  then: unknown,
): PipelineStep[] | undefined {
  if (then === undefined) return undefined;
  if (!Array.isArray(then)) {
    throw new ApiError(
      'bad_request',
      'The "then" field must be an array of steps like [{"type": "pdf/thumbnail", "params": {}}].',
    );
  }
  if (then.length === 0) return undefined;
  if (then.length + 1 > MAX_PIPELINE_STEPS) {
    throw new ApiError(
      'bad_request',
      `A pipeline has at most ${MAX_PIPELINE_STEPS} steps, the job's own type included; "then" has ${then.length}.`,
    );
  }
  const steps: PipelineStep[] = [{ type: first.type, params: first.params }];
  const entries: CatalogEntry[] = [first.entry];
  then.forEach((raw, i) => {
    const index = i + 1;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ApiError(
        'bad_request',
        `Step ${index + 1} of the pipeline must be an object like {"type": "pdf/thumbnail", "params": {}}.`,
      );
    }
    const { type, params } = raw as Record<string, unknown>;
    const entry = resolveStep(catalog, type, index);
    const checked = checkParams(entry.definition, params);
    if (!checked.ok) {
      throw new ApiError('bad_request', `In ${stepName(index, type as string)}: ${checked.error}`);
    }
    steps.push({ type: type as string, params: checked.values });
    entries.push(entry);
  });
  // What each step produces, as the next one sees it. An identity step
  // (passthru) hands on what it was given, which for the first is unknown.
  let produced: string | undefined;
  for (let i = 0; i < steps.length - 1; i++) {
    const { definition } = entries[i]!;
    if (definition.builtin !== 'identity') produced = outputFormat(definition, steps[i]!.params).mime;
    if (produced === undefined) continue;
    const next = entries[i + 1]!.definition;
    if (!matchAccepted(produced, next.mime_in)) {
      throw new ApiError(
        'bad_request',
        `${capitalize(stepName(i + 1, steps[i + 1]!.type))} does not accept ${describeKind(produced)}, which ${stepName(i, steps[i]!.type)} produces; it accepts ${describeAccepted(next.mime_in)}.`,
      );
    }
  }
  return steps;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Every job's steps: a pipeline's from its column, an ordinary job's one type and params. */
export function stepsOf(row: Pick<JobRow, 'type' | 'params' | 'steps'>): PipelineStep[] {
  if (row.steps) return JSON.parse(row.steps) as PipelineStep[];
  return [{ type: row.type, params: JSON.parse(row.params) as PipelineStep['params'] }];
}

/**
 * The MIME type and extension of a job's output: its last step's (the
 * job's own type for an ordinary job), as that type's params pick it
 * (image/convert's format).
 */
export function outputKindOf(
  catalog: Catalog,
  row: Pick<JobRow, 'type' | 'params' | 'steps'>,
): { mime: string; ext: string } {
  const last = stepsOf(row).at(-1)!;
  const definition = catalog.resolve(last.type)?.definition;
  return definition
    ? outputFormat(definition, last.params)
    : { mime: 'application/octet-stream', ext: '.bin' };
}

/** The finished steps' kept outputs and logs, in step order. */
export function keptSteps(row: Pick<JobRow, 'step_outputs'>): KeptStep[] {
  return row.step_outputs ? (JSON.parse(row.step_outputs) as KeptStep[]) : [];
}

/** The pipeline fields of the wire job (`steps`, `step`, `failed_step`); none for an ordinary job. */
export function wirePipeline(
  row: Pick<JobRow, 'steps' | 'step' | 'status'>,
): { steps: JobStep[]; step: number; failed_step: number | null } | undefined {
  if (!row.steps) return undefined;
  const steps = JSON.parse(row.steps) as PipelineStep[];
  const status = row.status as JobState;
  // A finished pipeline is on its last step, also when the result cache answered it without running.
  const current =
    status === 'finished' ? steps.length : Math.min(Math.max(1, Number(row.step ?? 1)), steps.length);
  const failed = status === 'failed';
  const stateOf = (n: number): PipelineStepState => {
    if (status === 'finished' || n < current) return 'done';
    if (n > current) return failed ? 'skipped' : 'waiting';
    if (failed) return 'failed';
    return LEASED_STATES.includes(status) ? 'running' : 'waiting';
  };
  return {
    steps: steps.map((s, i) => ({ type: s.type, params: s.params, status: stateOf(i + 1) })),
    step: current,
    failed_step: failed ? current : null,
  };
}
