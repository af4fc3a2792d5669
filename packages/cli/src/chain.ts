/**
 * `bsubio submit office/pdf,pdf/thumbnail deck.pptx`: a comma-separated
 * chain of types is one pipeline job, each step run on the previous step's
 * output. `--param key=value` goes to the step whose type declares `key`;
 * when several do, `--param 2:key=value` names the step (from 1).
 */
import { type Job, Pipeline, type ProcessingType } from 'bsubio';
import { CliError } from './errors.js';
import { parseParams } from './params.js';
import { findType } from './type-lookup.js';

export interface Chain {
  /** The types as /v1/types describes them, in order. */
  specs: ProcessingType[];
  /** What to create: the type itself for one step, a pipeline for several. */
  request: string | Pipeline;
  /** The params of each step (undefined: none given). */
  params: (Record<string, string | number> | undefined)[];
}

export function parseChain(typeArg: string, known: ProcessingType[], given: string[]): Chain {
  const names = typeArg.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) {
    throw new CliError(
      `"${typeArg}" has an empty step`,
      'Name the types of a pipeline separated by commas: office/pdf,pdf/thumbnail',
    );
  }
  const specs = names.map((name) => findType(name, known));
  const byStep: string[][] = specs.map(() => []);
  for (const pair of given) {
    const step = /^(\d+):(.*)$/s.exec(pair);
    if (step) {
      const index = Number(step[1]) - 1;
      if (index < 0 || index >= specs.length) {
        throw new CliError(
          `--param ${pair} names step ${step[1]}, but the chain has ${specs.length} step${specs.length === 1 ? '' : 's'}`,
          'Number the steps from 1, in the order of the types.',
        );
      }
      byStep[index]!.push(step[2]!);
      continue;
    }
    byStep[stepTaking(pair, specs)]!.push(pair);
  }
  const params = specs.map((spec, i) => (byStep[i]!.length > 0 ? parseParams(byStep[i]!, spec) : undefined));
  if (specs.length === 1) return { specs, request: names[0]!, params };
  const pipeline = new Pipeline(
    names.map((type, i) => (params[i] === undefined ? { type } : { type, params: params[i] })),
  );
  return { specs, request: pipeline, params };
}

/** The step a `key=value` belongs to: the one whose type declares `key`. */
function stepTaking(pair: string, specs: ProcessingType[]): number {
  if (specs.length === 1) return 0;
  const name = pair.slice(0, Math.max(0, pair.indexOf('=')));
  const takers = specs.flatMap((spec, i) => (spec.params?.some((p) => p.name === name) ? [i] : []));
  if (takers.length === 1) return takers[0]!;
  const list = specs.map((s) => s.type).join(', ');
  if (takers.length === 0) {
    throw new CliError(
      `no step of the pipeline takes the parameter "${name || pair}" (${list})`,
      `Run 'bsubio types <type>' to see each type's parameters.`,
    );
  }
  const steps = takers.map((i) => `${i + 1}:${name}=...`).join(' or ');
  throw new CliError(
    `several steps of the pipeline take the parameter "${name}"`,
    `Say which with the step's number: --param ${steps}`,
  );
}

/** `step 2/3 pdf/thumbnail` for a pipeline that is running, else undefined. */
export function stepLabel(job: Job): string | undefined {
  const { steps, step } = job;
  if (!steps || step === undefined || steps.length < 2) return undefined;
  if (job.status === 'finished' || job.status === 'failed') return undefined;
  return `step ${step}/${steps.length} ${steps[step - 1]?.type ?? ''}`.trimEnd();
}
