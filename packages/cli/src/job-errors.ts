/** Turn an SDK failure about one job into the CLI's one-line error naming that job. */
import { CliError, errorLine } from './errors.js';

export function aboutJob(jobId: string) {
  return (error: unknown): never => {
    throw new CliError(errorLine(error, { jobId }));
  };
}
