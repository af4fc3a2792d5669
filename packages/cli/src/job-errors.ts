/** Turning failures about one job into the CLI's one-line error naming that job. */
import type { Job } from 'bsubio';
import { CliError, errorLine } from './errors.js';

export function aboutJob(jobId: string) {
  return (error: unknown): never => {
    throw new CliError(errorLine(error, { jobId }));
  };
}

/**
 * "job 01a2… (a.pdf) failed with EINPUT: The input is not a PDF", with
 * `more` joined on as part of the same sentence ("; it has no output"): the
 * server's message ends in a full stop, which must not end up mid-sentence.
 */
export function failedJob(job: Job, file?: string, more = ''): CliError {
  const message = (job.error_message ?? 'no message').trim().replace(/\.$/, '');
  return new CliError(
    `job ${job.id}${file ? ` (${file})` : ''} failed with ${job.error_code ?? 'no code'}: ${message}${more}`,
    `Run 'bsubio logs ${job.id}' to see its stderr.`,
  );
}
