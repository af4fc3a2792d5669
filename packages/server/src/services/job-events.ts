/**
 * In-process notifications between the service, the worker pool and waiting
 * requests: a job became pending (wake a worker), a job was cancelled (kill
 * its tool), a job changed (answer whoever waits for it), the server stops
 * (end streams and waits).
 */
import { EventEmitter } from 'node:events';
import type { JobRow } from '../store/job-repository.js';

interface Events {
  pending: [];
  cancel: [jobId: string];
  change: [job: JobRow];
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
