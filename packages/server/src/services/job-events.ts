/**
 * In-process notifications between the service, the worker pool and waiting
 * requests: a job became pending (wake a worker), a job was cancelled (kill
 * its tool), a job changed (answer whoever waits for it), its stderr grew, it
 * was deleted, the server stops (end streams and waits).
 */
import { EventEmitter } from 'node:events';
import type { JobRow } from '../store/job-repository.js';

/** `remote`: the event happened on another replica and came here by the cluster notifier. */
export type EventOrigin = 'remote' | undefined;

/** What is left of a deleted job: enough to tell its owner. */
export interface DeletedJob {
  id: string;
  user_id: string;
}

interface Events {
  pending: [origin?: EventOrigin];
  cancel: [jobId: string, origin?: EventOrigin];
  /** A change made by this process (metrics and webhooks count these, once in a cluster). */
  change: [job: JobRow];
  /**
   * Cluster mode: a change made on another replica, with the row as it was
   * then. Kept apart from `change` so that what counts a change once (metrics,
   * webhooks, the notifier itself) never counts it on every replica.
   */
  remoteChange: [job: JobRow];
  /** A job and its data are gone (its owner deleted it, or retention did). */
  deleted: [job: DeletedJob, origin?: EventOrigin];
  /**
   * A running job's stderr grew by `chunk`, which starts at byte `offset` of
   * the attempt's log (already in JobService.live when the origin is local).
   */
  log: [jobId: string, offset: number, chunk: Buffer, origin?: EventOrigin];
  /** The server is stopping: long-lived requests answer now. */
  shutdown: [];
}

export class JobEvents extends EventEmitter<Events> {
  constructor() {
    super();
    // Every waiting request and every idle worker slot listens.
    this.setMaxListeners(0);
  }
}
