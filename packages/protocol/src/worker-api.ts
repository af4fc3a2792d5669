/**
 * The worker extension of the API (`/v1/worker/...`), spoken between the
 * server and remote worker agents only, authenticated by a worker token
 * (`Authorization: Bearer bsubw_...`), never by a user's API key. It is not
 * part of the bsub.io contract and changes nothing in it.
 *
 *   POST /v1/worker/claim                      WorkerClaimRequest → WorkerClaimResponse (long poll)
 *   POST /v1/worker/jobs/{id}/lease            WorkerLeaseRequest → WorkerOkResponse
 *   POST /v1/worker/jobs/{id}/advance          WorkerAdvanceRequest → WorkerOkResponse
 *   GET  /v1/worker/jobs/{id}/input?worker_id= the input bytes (404 when not this worker's)
 *   PUT  /v1/worker/jobs/{id}/output?worker_id= raw stdout → WorkerBlobResponse
 *   PUT  /v1/worker/jobs/{id}/logs?worker_id=   raw stderr → WorkerBlobResponse
 *   POST /v1/worker/jobs/{id}/log?worker_id=&offset=  stderr written so far → WorkerOkResponse
 *   POST /v1/worker/jobs/{id}/step             WorkerStepRequest → WorkerOkResponse (a pipeline's step is done)
 *   POST /v1/worker/jobs/{id}/complete         WorkerCompleteRequest → WorkerOkResponse
 *   POST /v1/worker/jobs/{id}/release          WorkerReleaseRequest → WorkerOkResponse
 *
 * Every call about a job is guarded by the lease: `ok: false` (or 404 for
 * the blob calls) means the job is no longer this worker's.
 */
import type { JobErrorCode } from './states.js';

export const WORKER_TOKEN_PREFIX = 'bsubw_';

/** Longest a claim may wait for work, in milliseconds. */
export const WORKER_CLAIM_MAX_WAIT_MS = 30_000;

export interface WorkerClaimRequest {
  /** Shows in the job's `claimed_by`: `<name>-<slot>`. */
  worker_id: string;
  types: string[];
  lease_ms: number;
  /** Wait this long for a job when none is pending (at most WORKER_CLAIM_MAX_WAIT_MS). */
  wait_ms: number;
}

export interface WorkerClaimedJob {
  id: string;
  type: string;
  params: Record<string, string | number>;
  attempt: number;
  input_name: string | null;
  /**
   * A pipeline's steps (the first is `type` with `params`) and the step to
   * run first, from 1: a later one when an earlier attempt finished some.
   * The input then is the output of the step before it. Absent for an
   * ordinary job.
   */
  steps?: { type: string; params: Record<string, string | number> }[];
  step?: number;
  /** A resumed pipeline: bytes of live log the server already holds (the finished steps'); live log posts start there. */
  log_offset?: number;
}

export interface WorkerClaimResponse {
  job: WorkerClaimedJob | null;
}

/**
 * Live logs of a remote worker: while the tool runs, the agent posts its new
 * stderr (raw bytes, `application/octet-stream`) with the byte offset where
 * they start in this attempt's log, one post at a time, at most this many
 * bytes each. The server passes them to everyone following the job on any
 * replica; the complete log still arrives with the logs upload.
 */
export const WORKER_LOG_CHUNK_MAX_BYTES = 256 * 1024;

export interface WorkerLeaseRequest {
  worker_id: string;
  lease_ms: number;
}

export interface WorkerAdvanceRequest {
  worker_id: string;
  to: 'preparing' | 'processing';
}

export interface WorkerBlobResponse {
  key: string;
  size: number;
}

export interface WorkerCompleteRequest {
  worker_id: string;
  status: 'finished' | 'failed';
  error_code: JobErrorCode | null;
  error_message: string | null;
  /** From the output and logs uploads. */
  output_key: string;
  output_size: number;
  log_key: string;
  /** A pipeline's step this outcome is of (its last, or the one that failed). */
  step?: number;
  /** Optional: the sandbox's peak memory in bytes and its CPU seconds (older workers send neither). */
  peak_memory_bytes?: number | null;
  cpu_seconds?: number | null;
}

/**
 * A pipeline's step `step` (from 1, not the last) finished: its output and
 * logs (uploaded first, like complete's) are kept and the job moves to the
 * next step. `ok: false` when the job is not this worker's or not on `step`.
 */
export interface WorkerStepRequest {
  worker_id: string;
  step: number;
  output_key: string;
  log_key: string;
}

export interface WorkerReleaseRequest {
  worker_id: string;
}

export interface WorkerOkResponse {
  ok: boolean;
}
