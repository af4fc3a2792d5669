/**
 * The worker backend of a remote worker agent: the service over HTTP (the
 * `/v1/worker/...` extension) with a worker token, so a worker machine holds
 * no database or storage credentials. Claims long-poll; input, output and
 * logs are streamed, never held whole in memory. Given several server URLs
 * (API replicas), a call that cannot reach one tries the next.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type {
  WorkerBlobResponse,
  WorkerClaimRequest,
  WorkerClaimResponse,
  WorkerCompleteRequest,
  WorkerOkResponse,
  WorkerStepRequest,
} from '@bsubio/protocol';
import type { ClaimedJob, JobOutcome, WorkerBackend } from './backend.js';
import { LogShipper } from './log-shipper.js';

export interface RemoteBackendOptions {
  /** API replicas; calls go to the first that answers. */
  servers: string[];
  token: string;
  /** How long one claim waits on the server for work. */
  claimWaitMs?: number;
  /** Time one call (other than a claim's wait and a transfer) may take. */
  requestTimeoutMs?: number;
}

/** The server answered, but not with success. */
export class RemoteError extends Error {
  override name = 'RemoteError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Answers that mean "this replica cannot serve now; another may". */
const RETRY_ELSEWHERE = new Set([502, 503, 504]);

export class RemoteBackend implements WorkerBackend {
  private current = 0;
  private readonly servers: string[];
  /** Aborted by stopClaiming: waiting claims end at once. */
  private readonly claiming = new AbortController();
  /** The tool's stderr, posted as it is written (live logs on every replica). */
  private readonly logs = new LogShipper((jobId, workerId, offset, bytes) =>
    this.postLog(jobId, workerId, offset, bytes),
  );

  constructor(private readonly options: RemoteBackendOptions) {
    if (options.servers.length === 0) throw new Error('a remote worker needs at least one server URL');
    this.servers = options.servers.map((s) => s.replace(/\/+$/, ''));
  }

  /**
   * One call, on the current server, moving on to the next while the servers
   * cannot be reached (each tried twice). `init` makes the request anew for
   * each try, since a streamed body can be sent only once.
   */
  private async call(
    path: string,
    init: () => RequestInit,
    timeoutMs?: number,
    cancel?: AbortSignal,
  ): Promise<Response> {
    const tries = this.servers.length * 2;
    let lastError: unknown;
    for (let i = 0; i < tries; i++) {
      const index = this.current;
      const base = this.servers[index]!;
      try {
        const request = init();
        const res = await fetch(`${base}${path}`, {
          ...request,
          headers: { authorization: `Bearer ${this.options.token}`, ...(request.headers as object) },
          signal: AbortSignal.any([
            AbortSignal.timeout(timeoutMs ?? this.options.requestTimeoutMs ?? 120_000),
            ...(cancel ? [cancel] : []),
          ]),
        });
        if (RETRY_ELSEWHERE.has(res.status)) {
          await res.arrayBuffer().catch(() => {});
          throw new RemoteError(res.status, `${base} answered ${res.status}`);
        }
        return res;
      } catch (err) {
        if (cancel?.aborted) throw err;
        lastError = err;
        // Another call may have moved on already.
        if (this.current === index) this.current = (index + 1) % this.servers.length;
        if (i + 1 < tries) await new Promise((r) => setTimeout(r, 250 * (i + 1)));
      }
    }
    throw lastError;
  }

  private async json<T>(path: string, body: unknown, timeoutMs?: number, cancel?: AbortSignal): Promise<T> {
    const res = await this.call(
      path,
      () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
      timeoutMs,
      cancel,
    );
    const text = await res.text();
    if (!res.ok) throw new RemoteError(res.status, `POST ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /** Shutdown: claims waiting on the server end now, and no new ones start. */
  stopClaiming(): void {
    this.claiming.abort();
  }

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<ClaimedJob | null> {
    if (this.claiming.signal.aborted) return null;
    const waitMs = this.options.claimWaitMs ?? 20_000;
    const request: WorkerClaimRequest = {
      worker_id: workerId,
      types: [...types],
      lease_ms: leaseMs,
      wait_ms: waitMs,
    };
    let response: WorkerClaimResponse;
    try {
      response = await this.json<WorkerClaimResponse>(
        '/v1/worker/claim',
        request,
        waitMs + 60_000,
        this.claiming.signal,
      );
    } catch (err) {
      if (this.claiming.signal.aborted) return null;
      throw err;
    }
    const { job } = response;
    if (!job) return null;
    this.logs.forget(job.id, workerId);
    // A resumed pipeline's live log already holds its finished steps' logs.
    if (job.log_offset) this.logs.startAt(job.id, workerId, job.log_offset);
    return {
      id: job.id,
      type: job.type,
      params: job.params,
      attempt: job.attempt,
      inputName: job.input_name,
      ...(job.steps ? { steps: job.steps, step: job.step ?? 1 } : {}),
    };
  }

  /** The claim itself waited on the server; nothing more to wait for. */
  async waitForWork(_timeoutMs: number, _signal: AbortSignal): Promise<void> {}

  async renewLease(jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/lease`;
    return (await this.json<WorkerOkResponse>(path, { worker_id: workerId, lease_ms: leaseMs })).ok;
  }

  async advance(jobId: string, workerId: string, to: 'preparing' | 'processing'): Promise<boolean> {
    const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/advance`;
    return (await this.json<WorkerOkResponse>(path, { worker_id: workerId, to })).ok;
  }

  /** Download the input of a job this worker holds, streamed to `destPath`. */
  async fetchInput(jobId: string, destPath: string, workerId: string): Promise<void> {
    const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/input?worker_id=${encodeURIComponent(workerId)}`;
    const res = await this.call(path, () => ({ method: 'GET' }), 3_600_000);
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      throw new RemoteError(res.status, `GET input of ${jobId}: ${res.status} ${text.slice(0, 300)}`);
    }
    await pipeline(
      Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
      createWriteStream(destPath, { flags: 'wx' }),
    );
  }

  private async upload(
    jobId: string,
    workerId: string,
    kind: 'output' | 'logs',
    filePath: string,
  ): Promise<WorkerBlobResponse | undefined> {
    const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/${kind}?worker_id=${encodeURIComponent(workerId)}`;
    const { size } = await stat(filePath);
    const res = await this.call(
      path,
      () => ({
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: Readable.toWeb(createReadStream(filePath)) as never,
        duplex: 'half',
      }),
      3_600_000,
    );
    const text = await res.text();
    if (res.status === 404) return undefined;
    if (!res.ok)
      throw new RemoteError(res.status, `PUT ${kind} of ${jobId}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as WorkerBlobResponse;
  }

  appendLog(jobId: string, workerId: string, chunk: Buffer): void {
    this.logs.append(jobId, workerId, chunk);
  }

  /** False when the job is not this worker's, or the server has no live logs (404: an older server). */
  private async postLog(jobId: string, workerId: string, offset: number, bytes: Buffer): Promise<boolean> {
    const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/log?worker_id=${encodeURIComponent(workerId)}&offset=${offset}`;
    const res = await this.call(
      path,
      () => ({
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        // A Buffer is typed over ArrayBufferLike, which fetch's body type does not take; Node's are ArrayBuffers.
        body: bytes as Uint8Array<ArrayBuffer>,
      }),
      30_000,
    );
    const text = await res.text();
    if (!res.ok) return false;
    return (JSON.parse(text) as WorkerOkResponse).ok;
  }

  async complete(jobId: string, workerId: string, outcome: JobOutcome): Promise<boolean> {
    // The last live lines go before the job ends, so followers see them in order.
    await this.logs.finish(jobId, workerId);
    try {
      const output = await this.upload(jobId, workerId, 'output', outcome.outputPath);
      const logs = output && (await this.upload(jobId, workerId, 'logs', outcome.logPath));
      if (!output || !logs) return false;
      const request: WorkerCompleteRequest = {
        worker_id: workerId,
        status: outcome.status,
        error_code: outcome.errorCode,
        error_message: outcome.errorMessage,
        output_key: output.key,
        output_size: output.size,
        log_key: logs.key,
        ...(outcome.step !== undefined ? { step: outcome.step } : {}),
        ...(outcome.peakMemoryBytes !== undefined ? { peak_memory_bytes: outcome.peakMemoryBytes } : {}),
        ...(outcome.cpuSeconds !== undefined ? { cpu_seconds: outcome.cpuSeconds } : {}),
      };
      const path = `/v1/worker/jobs/${encodeURIComponent(jobId)}/complete`;
      return (await this.json<WorkerOkResponse>(path, request)).ok;
    } finally {
      // The backend takes the files over: once sent (or refused) they go.
      await Promise.all([
        unlink(outcome.outputPath).catch(() => {}),
        unlink(outcome.logPath).catch(() => {}),
      ]);
    }
  }

  /** A pipeline's step finished: its output and logs are uploaded, then the job moves on. */
  async finishStep(
    jobId: string,
    workerId: string,
    step: number,
    outputPath: string,
    logPath: string,
  ): Promise<boolean> {
    try {
      const output = await this.upload(jobId, workerId, 'output', outputPath);
      const logs = output && (await this.upload(jobId, workerId, 'logs', logPath));
      if (!output || !logs) return false;
      const request: WorkerStepRequest = {
        worker_id: workerId,
        step,
        output_key: output.key,
        log_key: logs.key,
      };
      return (await this.json<WorkerOkResponse>(`/v1/worker/jobs/${encodeURIComponent(jobId)}/step`, request))
        .ok;
    } finally {
      await Promise.all([unlink(outputPath).catch(() => {}), unlink(logPath).catch(() => {})]);
    }
  }

  async release(jobId: string, workerId: string): Promise<void> {
    this.logs.forget(jobId, workerId);
    await this.json<WorkerOkResponse>(`/v1/worker/jobs/${encodeURIComponent(jobId)}/release`, {
      worker_id: workerId,
    });
  }

  /** Cancels reach a remote worker through its lease: the next renewal fails and the tool is stopped. */
  onCancel(_listener: (jobId: string) => void): () => void {
    return () => {};
  }
}
