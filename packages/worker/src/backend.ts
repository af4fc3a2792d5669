/**
 * What a worker needs from the service, and nothing more. The embedded server
 * implements it over its store and blob storage; a remote worker agent would
 * implement it over HTTP (RemoteBackend). Every call that changes a job is guarded by the
 * worker's lease, so a worker that lost its job can never overwrite it.
 */
import type { JobErrorCode } from '@bsubio/protocol';

export interface ClaimedJob {
  id: string;
  /** The type as the job names it (possibly an alias). */
  type: string;
  params: Record<string, string | number>;
  /** 1 on the first claim, 2 on the first retry, ... */
  attempt: number;
  inputName: string | null;
  /**
   * A pipeline's steps (the first is `type` with `params`) and the one to
   * run first, from 1: later than 1 when an earlier attempt finished some,
   * and then `fetchInput` gives the output of the step before. Absent for
   * an ordinary job.
   */
  steps?: PipelineStep[];
  step?: number;
}

export interface PipelineStep {
  type: string;
  params: Record<string, string | number>;
}

export interface JobOutcome {
  status: 'finished' | 'failed';
  errorCode: JobErrorCode | null;
  errorMessage: string | null;
  /** Host files holding stdout and stderr; the backend takes them over. */
  outputPath: string;
  logPath: string;
  /** What the sandbox used: its peak memory in bytes and CPU seconds (absent when no tool ran). */
  peakMemoryBytes?: number | null;
  cpuSeconds?: number | null;
  /** A pipeline's step this outcome is of (its last, or the one that failed). */
  step?: number;
}

export interface WorkerBackend {
  /** Move one pending job of the given types to `claimed` under a lease, or null when none waits. */
  claim(workerId: string, types: readonly string[], leaseMs: number): Promise<ClaimedJob | null>;
  /** Resolve when new work may be pending, or after timeoutMs. */
  waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Extend the lease; false when the job is no longer this worker's (cancelled, reclaimed). */
  renewLease(jobId: string, workerId: string, leaseMs: number): Promise<boolean>;
  /** `claimed` → `preparing` → `processing`; false when the job is no longer this worker's. */
  advance(jobId: string, workerId: string, to: 'preparing' | 'processing'): Promise<boolean>;
  /** Copy the job's input to a local file; `workerId` is the lease holder asking. */
  fetchInput(jobId: string, destPath: string, workerId: string): Promise<void>;
  /** Store output and logs and make the job terminal; false when it was no longer this worker's. */
  complete(jobId: string, workerId: string, outcome: JobOutcome): Promise<boolean>;
  /**
   * A pipeline's step `step` (not its last) finished: keep its output and
   * logs (the backend takes the files over) and move the job to the next
   * step, so that a lost worker's successor resumes there. False when the
   * job is no longer this worker's.
   */
  finishStep(
    jobId: string,
    workerId: string,
    step: number,
    outputPath: string,
    logPath: string,
  ): Promise<boolean>;
  /** Hand an unfinished job back to `pending` (shutdown). */
  release(jobId: string, workerId: string): Promise<void>;
  /**
   * Optional: a piece of the tool's stderr as it is written, in order, for
   * live logs. The complete logs still arrive with `complete`.
   */
  appendLog?(jobId: string, workerId: string, chunk: Buffer): void;
  /** Subscribe to cancellations, so a running tool is killed at once. */
  onCancel(listener: (jobId: string) => void): () => void;
}
