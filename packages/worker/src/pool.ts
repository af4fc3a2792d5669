/**
 * A pool of workers in this process: each slot claims a pending job, runs it,
 * and claims the next. Idle slots sleep until the backend says work may be
 * waiting (or a short poll interval passes, as a safety net).
 */
import { availableParallelism, hostname } from 'node:os';
import type { WorkerBackend } from './backend.js';
import type { Catalog } from './catalog.js';
import { JobRunner } from './runner.js';

export interface PoolOptions {
  backend: WorkerBackend;
  catalog: Catalog;
  scratchDir: string;
  /** Slots; defaults to one per core. */
  concurrency?: number;
  /** Claimed jobs are leased for this long and renewed at a third of it. */
  leaseMs?: number;
  /** Worker ids are `<prefix>-<slot>`; they show in a job's `claimed_by`. */
  idPrefix?: string;
  /** Types this pool takes; defaults to every type in the catalog. */
  types?: readonly string[];
  /** How long an idle slot sleeps when nothing wakes it. */
  pollMs?: number;
  onError?: (err: unknown, jobId?: string) => void;
}

export const EMBEDDED_WORKER_PREFIX = 'embedded';

export class WorkerPool {
  private readonly stopping = new AbortController();
  private readonly running = new Map<string, AbortController>();
  private loops: Promise<void>[] = [];
  private unsubscribe: (() => void) | undefined;
  readonly concurrency: number;
  private readonly idPrefix: string;

  constructor(private readonly options: PoolOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? availableParallelism());
    this.idPrefix = options.idPrefix ?? `${EMBEDDED_WORKER_PREFIX}-${hostname()}`;
  }

  start(): void {
    this.unsubscribe = this.options.backend.onCancel((jobId) => this.running.get(jobId)?.abort('cancel'));
    for (let slot = 1; slot <= this.concurrency; slot++) {
      this.loops.push(this.loop(`${this.idPrefix}-${slot}`));
    }
  }

  /** Jobs running now, by id. */
  get activeJobs(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Stop claiming. Running jobs get `graceMs` to finish; the rest are killed
   * and handed back to `pending` for another worker or the next start.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping.abort();
    this.unsubscribe?.();
    const all = Promise.all(this.loops);
    if (graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    for (const controller of this.running.values()) controller.abort('shutdown');
    await all;
  }

  private async loop(workerId: string): Promise<void> {
    const { backend, catalog, scratchDir } = this.options;
    const leaseMs = this.options.leaseMs ?? 15_000;
    const types = this.options.types ?? catalog.names();
    const runner = new JobRunner({ backend, catalog, workerId, scratchDir, leaseMs });
    while (!this.stopping.signal.aborted) {
      let jobId: string | undefined;
      try {
        const job = await backend.claim(workerId, types, leaseMs);
        if (!job) {
          await backend.waitForWork(this.options.pollMs ?? 1000, this.stopping.signal);
          continue;
        }
        jobId = job.id;
        const controller = new AbortController();
        this.running.set(job.id, controller);
        try {
          await runner.run(job, controller.signal);
        } finally {
          this.running.delete(job.id);
        }
      } catch (err) {
        this.options.onError?.(err, jobId);
        // Do not spin on a persistent error (store unreachable, disk full).
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
