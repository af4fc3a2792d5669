/**
 * Live logs from a remote worker: the tool's stderr, as it is written, is
 * posted to the API (`POST /v1/worker/jobs/{id}/log`), so that clients
 * following the job on any replica see its lines while it runs. One post at
 * a time per job, each with the byte offset where it starts, so the server
 * can put them in order and ignore repeats; what piles up while a post is on
 * its way goes in the next one.
 *
 * Live logs are a convenience: the complete log is uploaded when the job
 * ends whatever happens here. So this never holds much and never retries
 * for long: when the server falls behind, refuses, or cannot be reached,
 * shipping stops for that job and followers get the rest at its end.
 */

/** Posts `bytes` at `offset` of the job's log; false when the job is not this worker's any more. */
export type LogPoster = (jobId: string, workerId: string, offset: number, bytes: Buffer) => Promise<boolean>;

/** One post carries at most this much (under the server's WORKER_LOG_CHUNK_MAX_BYTES). */
const POST_BYTES = 64 * 1024;
/** Bytes waiting for the server before shipping gives up for the job. */
const MAX_WAITING_BYTES = 1024 * 1024;
/** The server keeps this much of a running job's log live (LIVE_LOG_CAP_BYTES); more is not sent. */
const MAX_SHIPPED_BYTES = 4 * 1024 * 1024;

interface Shipment {
  /** Offset of the first byte not yet posted. */
  posted: number;
  waiting: Buffer[];
  waitingBytes: number;
  sending: Promise<void> | undefined;
  stopped: boolean;
}

export class LogShipper {
  private readonly shipments = new Map<string, Shipment>();

  constructor(private readonly post: LogPoster) {}

  /** The attempt's log starts at `offset`, not 0 (the server holds what comes before). */
  startAt(jobId: string, workerId: string, offset: number): void {
    const shipment = { posted: offset, waiting: [], waitingBytes: 0, sending: undefined, stopped: false };
    this.shipments.set(`${workerId}\n${jobId}`, shipment);
  }

  append(jobId: string, workerId: string, chunk: Buffer): void {
    const key = `${workerId}\n${jobId}`;
    let shipment = this.shipments.get(key);
    if (!shipment) {
      shipment = { posted: 0, waiting: [], waitingBytes: 0, sending: undefined, stopped: false };
      this.shipments.set(key, shipment);
    }
    if (shipment.stopped) return;
    const room = MAX_SHIPPED_BYTES - shipment.posted - shipment.waitingBytes;
    const part = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
    if (part.length === 0) return;
    if (shipment.waitingBytes + part.length > MAX_WAITING_BYTES) {
      this.stop(shipment);
      return;
    }
    // The caller may reuse its buffer: keep a copy.
    shipment.waiting.push(Buffer.from(part));
    shipment.waitingBytes += part.length;
    shipment.sending ??= this.pump(jobId, workerId, shipment);
  }

  /**
   * The tool ended: wait (a little) for what is on its way, so its last lines
   * are live before the job ends, then forget the job.
   */
  async finish(jobId: string, workerId: string, timeoutMs = 2000): Promise<void> {
    const key = `${workerId}\n${jobId}`;
    const shipment = this.shipments.get(key);
    if (!shipment) return;
    if (shipment.sending) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        shipment.sending,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.forget(jobId, workerId);
  }

  /** Stop shipping the job (released, or claimed anew: a new attempt's log starts at 0). */
  forget(jobId: string, workerId: string): void {
    const key = `${workerId}\n${jobId}`;
    const shipment = this.shipments.get(key);
    if (shipment) this.stop(shipment);
    this.shipments.delete(key);
  }

  private stop(shipment: Shipment): void {
    shipment.stopped = true;
    shipment.waiting = [];
    shipment.waitingBytes = 0;
  }

  private async pump(jobId: string, workerId: string, shipment: Shipment): Promise<void> {
    while (!shipment.stopped && shipment.waitingBytes > 0) {
      const all = shipment.waiting.length === 1 ? shipment.waiting[0]! : Buffer.concat(shipment.waiting);
      const body = all.subarray(0, POST_BYTES);
      shipment.waiting = all.length > body.length ? [all.subarray(body.length)] : [];
      shipment.waitingBytes = all.length - body.length;
      let ours: boolean;
      try {
        ours = await this.post(jobId, workerId, shipment.posted, body);
      } catch {
        // Unreachable: stop, but remember where we were (a later post from 0 would be wrong).
        this.stop(shipment);
        break;
      }
      if (!ours) {
        // Cancelled or lost: nothing more of this attempt is wanted, and nothing is kept for it.
        this.stop(shipment);
        const key = `${workerId}\n${jobId}`;
        if (this.shipments.get(key) === shipment) this.shipments.delete(key);
        break;
      }
      shipment.posted += body.length;
    }
    shipment.sending = undefined;
  }
}
