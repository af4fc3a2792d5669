/** The worker pool's view of the service when both run in one process. */
import type { ClaimedJob, JobOutcome, WorkerBackend } from '@bsubio/worker';
import type { JobService } from './job-service.js';
import { stepsOf } from './pipeline.js';

export class EmbeddedBackend implements WorkerBackend {
  /**
   * The pool's idle slots, first asleep first woken. A job that becomes
   * pending wakes one of them, not all: with 32 slots idle, waking all made
   * 31 claims that found nothing for every job submitted.
   */
  private readonly sleeping: (() => void)[] = [];
  private readonly wakeOne = () => this.sleeping[0]?.();

  constructor(private readonly service: JobService) {}

  async claim(workerId: string, types: readonly string[], leaseMs: number): Promise<ClaimedJob | null> {
    const row = await this.service.claim(workerId, types, leaseMs);
    if (!row) return null;
    // One wake-up may stand for several jobs (leases that lapsed together,
    // another server's jobs): whoever got one passes the word on, and the
    // chain ends at the first slot that finds nothing.
    this.wakeOne();
    return {
      id: row.id,
      type: row.type,
      params: JSON.parse(row.params) as ClaimedJob['params'],
      attempt: Number(row.attempts),
      inputName: row.input_name,
      ...(row.steps ? { steps: stepsOf(row), step: Number(row.step ?? 1) } : {}),
    };
  }

  waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const at = this.sleeping.indexOf(done);
        if (at >= 0) this.sleeping.splice(at, 1);
        if (this.sleeping.length === 0) this.service.events.off('pending', this.wakeOne);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      if (this.sleeping.length === 0) this.service.events.on('pending', this.wakeOne);
      this.sleeping.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  renewLease(jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
    return this.service.renewLease(jobId, workerId, leaseMs);
  }

  advance(jobId: string, workerId: string, to: 'preparing' | 'processing'): Promise<boolean> {
    return this.service.advance(jobId, workerId, to);
  }

  fetchInput(jobId: string, destPath: string, _workerId: string): Promise<void> {
    return this.service.copyInputTo(jobId, destPath);
  }

  complete(jobId: string, workerId: string, outcome: JobOutcome): Promise<boolean> {
    return this.service.complete(jobId, workerId, outcome);
  }

  finishStep(jobId: string, workerId: string, step: number, outputPath: string, logPath: string) {
    return this.service.finishStep(jobId, workerId, step, outputPath, logPath);
  }

  appendLog(jobId: string, _workerId: string, chunk: Buffer): void {
    this.service.appendLog(jobId, chunk);
  }

  async release(jobId: string, workerId: string): Promise<void> {
    await this.service.release(jobId, workerId);
  }

  onCancel(listener: (jobId: string) => void): () => void {
    this.service.events.on('cancel', listener);
    return () => this.service.events.off('cancel', listener);
  }
}
