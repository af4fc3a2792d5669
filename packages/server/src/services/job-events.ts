/**
 * In-process notifications between the service, the worker pool and waiting
 * requests: a job became pending (wake a worker), a job was cancelled (kill
 * its tool), a job changed (answer whoever waits for it), the server stops
 * (end streams and waits).
 */
import { EventEmitter } from 'node:events';
import type { JobRow } from '../store/job-repository.js';

/** `remote`: the event happened on another replica and came here by the cluster notifier. */
export type EventOrigin = 'remote' | undefined;

interface Events {
  pending: [origin?: EventOrigin];
  cancel: [jobId: string, origin?: EventOrigin];
  change: [job: JobRow];
  /** Cluster mode: a job ended on another replica (re-read it to see how). */
  remoteEnd: [jobId: string];
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
