/**
 * The stderr of running jobs, held in memory as the worker reports it, so
 * clients can follow it before the job ends. Once a job is terminal its
 * logs blob is the truth; the live copy is a prefix of the same bytes and is
 * dropped. Each job's copy is capped: past the cap, followers see the rest
 * when the job ends. So are all copies together: in a cluster every replica
 * keeps a copy of every running job's log (followers may be on any of
 * them), and a fleet of verbose jobs must not take a replica's memory.
 */

type Listener = () => void;
/**
 * Told of every job's growth, and where the new bytes start: the per-user
 * event stream follows all of a user's jobs at once.
 */
type GrowthListener = (jobId: string, userId: string, start: number) => void;

export const LIVE_LOG_CAP_BYTES = 4 * 1024 * 1024;
/** All live copies together, in bytes allocated. */
export const LIVE_LOGS_TOTAL_CAP_BYTES = 256 * 1024 * 1024;

export class LiveLogs {
  /**
   * Per job: a buffer grown by doubling, of which the first `size` bytes are
   * the log; whose job it is; and whether bytes were refused (then nothing
   * more is taken: a live copy is always a prefix of the log).
   */
  private readonly logs = new Map<string, { buffer: Buffer; size: number; userId: string; full: boolean }>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly growthListeners = new Set<GrowthListener>();
  /** Bytes of all the copies' buffers. */
  private allocated = 0;

  constructor(
    private readonly capBytes = LIVE_LOG_CAP_BYTES,
    private readonly totalCapBytes = LIVE_LOGS_TOTAL_CAP_BYTES,
  ) {}

  /** A new attempt starts: forget what an earlier one wrote. */
  reset(jobId: string, userId: string): void {
    this.drop(jobId);
    this.logs.set(jobId, { buffer: Buffer.alloc(0), size: 0, userId, full: false });
  }

  /** Bytes held by all the live copies (for tests and metrics). */
  allocatedBytes(): number {
    return this.allocated;
  }

  /** Whether the job has a live log (it runs, and was reset at its claim). */
  has(jobId: string): boolean {
    return this.logs.has(jobId);
  }

  append(jobId: string, chunk: Buffer): void {
    // Only jobs that are running (reset at claim): a cancelled tool's last words are not kept.
    const log = this.logs.get(jobId);
    if (!log || log.full || chunk.length === 0) return;
    let room = this.capBytes - log.size;
    let needed = log.size + Math.min(chunk.length, room);
    if (needed > log.buffer.length) {
      const length = Math.min(this.capBytes, Math.max(needed, log.buffer.length * 2, 4096));
      const spare = this.totalCapBytes - this.allocated + log.buffer.length;
      // Past the total, this copy keeps what its buffer holds; the rest comes with the job's end.
      if (spare >= needed) {
        // Readers may hold views of the old buffer; they stay valid, as bytes are only ever appended.
        const grown = Buffer.allocUnsafe(Math.min(length, spare));
        log.buffer.copy(grown, 0, 0, log.size);
        this.allocated += grown.length - log.buffer.length;
        log.buffer = grown;
      }
      room = Math.min(room, log.buffer.length - log.size);
      needed = log.size + Math.min(chunk.length, room);
    }
    if (needed - log.size < chunk.length) log.full = true;
    if (needed === log.size) return;
    const part = chunk.subarray(0, needed - log.size);
    part.copy(log.buffer, log.size);
    const start = log.size;
    log.size = needed;
    for (const listener of this.listeners.get(jobId) ?? []) listener();
    for (const listener of this.growthListeners) listener(jobId, log.userId, start);
  }

  /**
   * Bytes that start at `offset` (from another replica or a remote worker):
   * what this copy already has is skipped, and a chunk past its end (a gap:
   * bytes were lost on the way) is dropped, since live logs are only ever a
   * prefix of the real log. The rest of the log comes when the job ends.
   */
  appendAt(jobId: string, offset: number, chunk: Buffer): void {
    const size = this.size(jobId);
    if (offset > size || offset + chunk.length <= size) return;
    this.append(jobId, chunk.subarray(size - offset));
  }

  /** Bytes from `offset` on (empty when there are none). */
  read(jobId: string, offset: number): Buffer {
    const log = this.logs.get(jobId);
    if (!log || offset >= log.size) return Buffer.alloc(0);
    return log.buffer.subarray(offset, log.size);
  }

  size(jobId: string): number {
    return this.logs.get(jobId)?.size ?? 0;
  }

  drop(jobId: string): void {
    const log = this.logs.get(jobId);
    if (log) this.allocated -= log.buffer.length;
    this.logs.delete(jobId);
  }

  /** Call `listener` whenever any job's live log grows; returns the unsubscribe. */
  subscribeAll(listener: GrowthListener): () => void {
    this.growthListeners.add(listener);
    return () => this.growthListeners.delete(listener);
  }

  /** Call `listener` whenever the job's live log grows; returns the unsubscribe. */
  subscribe(jobId: string, listener: Listener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }
}
