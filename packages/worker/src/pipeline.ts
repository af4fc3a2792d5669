/**
 * A pipeline job on the worker: its steps run one after the other, each in
 * a sandbox of its own, each on the output of the step before. After each
 * step but the last, its output and logs go to the backend and the job moves
 * to the next step, so a worker that is lost resumes there, not at step 1.
 * The job's logs are each step's stderr under a header line; its output is
 * the last step's.
 */
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  linkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ClaimedJob, JobOutcome, PipelineStep } from './backend.js';
import type { JobRunner } from './runner.js';

/** The line above each step's stderr in a pipeline's logs (a resumed attempt says which it is). */
export function stepHeader(step: number, total: number, type: string, attempt: number): string {
  return `== step ${step}/${total}: ${type}${attempt > 1 ? ` (attempt ${attempt})` : ''} ==\n`;
}

/** Move a file, copying when `to` is on another file system (the sandbox's base may be). */
export function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}

/** `to` = `header` followed by the file `from` (none when the sandbox could not even make it: a full disk). */
async function withHeader(header: string, from: string, to: string): Promise<void> {
  writeFileSync(to, header);
  if (!existsSync(from)) return;
  await pipeline(createReadStream(from), createWriteStream(to, { flags: 'a' }));
}

/** Run the pipeline from its current step to its last; null when the job is no longer ours. */
export async function runPipeline(
  runner: JobRunner,
  job: ClaimedJob,
  steps: PipelineStep[],
  scratch: string,
  visible: string,
  signal: AbortSignal,
): Promise<JobOutcome | null> {
  const { backend, workerId } = runner.options;
  let input: string | undefined;
  // What the steps of this attempt used: their CPU time added up, the most memory any one held.
  const usage = new Usage();
  for (let n = Math.min(job.step ?? 1, steps.length); n <= steps.length; n++) {
    const step = steps[n - 1]!;
    const header = stepHeader(n, steps.length, step.type, job.attempt);
    backend.appendLog?.(job.id, workerId, Buffer.from(header));
    // Each step sees only its own input.
    rmSync(visible, { recursive: true, force: true });
    const outputPath = join(scratch, `step-${n}.out`);
    const stderrPath = join(scratch, `step-${n}.err`);
    const outcome = await runner.runTool(job, step, outputPath, stderrPath, visible, signal, input);
    if (!outcome) return null;
    usage.add(outcome);
    const logPath = join(scratch, `step-${n}.log`);
    await withHeader(header, stderrPath, logPath);
    if (outcome.status === 'failed') {
      const errorMessage = `Step ${n} (${step.type}) failed: ${outcome.errorMessage}`;
      return { ...outcome, ...usage.total(), errorMessage, logPath, step: n };
    }
    if (n === steps.length) return { ...outcome, ...usage.total(), logPath, step: n };
    // The backend takes the output over; the next step reads a link of it.
    input = join(scratch, `step-${n}.next`);
    linkSync(outputPath, input);
    if (!(await backend.finishStep(job.id, workerId, n, outputPath, logPath))) return null;
    if (signal.aborted) return null;
  }
  return null;
}

/** The sandboxes' use over several steps; null when no step measured it. */
class Usage {
  private cpuSeconds: number | null = null;
  private peakMemoryBytes: number | null = null;

  add(outcome: JobOutcome): void {
    if (outcome.cpuSeconds != null) this.cpuSeconds = (this.cpuSeconds ?? 0) + outcome.cpuSeconds;
    if (outcome.peakMemoryBytes != null)
      this.peakMemoryBytes = Math.max(this.peakMemoryBytes ?? 0, outcome.peakMemoryBytes);
  }

  total(): Pick<JobOutcome, 'cpuSeconds' | 'peakMemoryBytes'> {
    return { cpuSeconds: this.cpuSeconds, peakMemoryBytes: this.peakMemoryBytes };
  }
}
