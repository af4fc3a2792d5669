/**
 * One server-sent event connection with a bounded queue. Frames wait here
 * only while the client reads slower than events come; Fastify pipes this
 * stream to the socket with backpressure, so Node's own buffers stay at
 * their high-water marks and this queue is the only thing that can grow.
 *
 * Past the bound the connection is given up, not buffered further: the
 * queued frames are dropped, a `reset` goes out (the client then refetches
 * its lists, which is cheaper than catching up event by event), and the
 * stream ends. A client that does not even read that is cut off after
 * OVERFLOW_GRACE_MS.
 */
import { Readable } from 'node:stream';

export const EVENT_QUEUE_MAX_BYTES = 1024 * 1024;

/** Live connections, for /metrics: how many, how much they hold, and how many were given up. */
export const eventStreamStats = {
  open: new Set<EventStreamConnection>(),
  dropped: 0,
  /** The most any one connection ever held queued: stays at or under the bound. */
  maxQueuedBytes: 0,
  queuedBytes(): number {
    let sum = 0;
    for (const connection of this.open) sum += connection.queuedBytes;
    return sum;
  },
};

/** The Prometheus lines of the event streams. */
export function eventStreamMetrics(): string {
  return [
    '# HELP bsubio_event_streams Open GET /v1/events streams.',
    '# TYPE bsubio_event_streams gauge',
    `bsubio_event_streams ${eventStreamStats.open.size}`,
    '# HELP bsubio_event_stream_queued_bytes Bytes of events waiting for slow readers, all streams.',
    '# TYPE bsubio_event_stream_queued_bytes gauge',
    `bsubio_event_stream_queued_bytes ${eventStreamStats.queuedBytes()}`,
    '# HELP bsubio_event_stream_queued_bytes_max The most one stream ever held queued (bounded).',
    '# TYPE bsubio_event_stream_queued_bytes_max gauge',
    `bsubio_event_stream_queued_bytes_max ${eventStreamStats.maxQueuedBytes}`,
    '# HELP bsubio_event_streams_dropped_total Streams given up because their reader fell too far behind.',
    '# TYPE bsubio_event_streams_dropped_total counter',
    `bsubio_event_streams_dropped_total ${eventStreamStats.dropped}`,
  ].join('\n');
}

export class EventStreamConnection extends Readable {
  private queue: string[] = [];
  queuedBytes = 0;
  /** Node asked for more and was not given any yet. */
  private wanting = false;
  /** No more frames are taken (finished, given up, or closed). */
  private ended = false;

  constructor(
    private readonly maxBytes: number,
    /** The frame that tells the client it missed events (`reset`), made when needed. */
    private readonly resetFrame: () => string,
    /** Told when the queue overflowed and the stream was given up. */
    private readonly onOverflow: () => void,
  ) {
    super({ highWaterMark: 16 * 1024 });
    eventStreamStats.open.add(this);
    this.once('close', () => {
      this.ended = true;
      eventStreamStats.open.delete(this);
    });
  }

  send(frame: string): void {
    if (this.ended) return;
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (this.queuedBytes > this.maxBytes) {
      this.overflow();
      return;
    }
    if (this.wanting) this.drain();
    eventStreamStats.maxQueuedBytes = Math.max(eventStreamStats.maxQueuedBytes, this.queuedBytes);
  }

  /** End the stream after what is queued (server shutdown). */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.push('');
    if (this.wanting) this.drain();
  }

  override _read(): void {
    this.wanting = true;
    this.drain();
  }

  private drain(): void {
    while (this.wanting && this.queue.length > 0) {
      const frame = this.queue.shift()!;
      this.queuedBytes -= frame.length;
      // The empty frame marks the end.
      if (frame === '') {
        this.push(null);
        return;
      }
      this.wanting = this.push(frame);
    }
  }

  private overflow(): void {
    this.ended = true;
    this.queue = [];
    this.queuedBytes = 0;
    eventStreamStats.dropped++;
    // Straight into the stream's own buffer, past the queue: the client learns why it ends.
    this.push(this.resetFrame());
    this.push(null);
    this.onOverflow();
  }
}
